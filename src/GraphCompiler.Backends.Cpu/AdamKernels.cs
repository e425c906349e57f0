// One Adam/AdamW update of one parameter buffer in a single fused SIMD pass, with PyTorch 1.13's single-tensor formulas.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace GraphCompiler.Backends.Cpu;

/// <summary>
/// The update of <c>torch.optim._functional</c>'s <c>_single_tensor_adam</c>/<c>_single_tensor_adamw</c> for step
/// <c>t</c> (already incremented), element by element:
/// <code>
/// p  *= 1 − lr·wd                       (AdamW only: decoupled decay)
/// g   = grad + wd·p                     (Adam only, when wd ≠ 0)
/// m   = β1·m + (1 − β1)·g
/// v   = β2·v + (1 − β2)·g²
/// v̂   = amsgrad ? (vmax = max(vmax, v)) : v
/// p  += −(lr / (1 − β1ᵗ)) · m / (√v̂ / √(1 − β2ᵗ) + eps)
/// </code>
/// One pass reads and writes p, m, v (and vmax) once, where PyTorch makes about eight passes. The scalar factors
/// are computed in double like PyTorch's Python floats and rounded to float once, as its kernels do, and each
/// element sees PyTorch's float operations in PyTorch's order — fused multiply-adds where ATen's <c>add(…, alpha)</c>
/// uses <c>fmadd</c> and where the compiler contracts <c>addcmul</c>'s <c>self + value·t1·t2</c> into
/// <c>fma(value·t1, t2, self)</c>; <c>addcdiv</c>'s <c>self + value·t1/t2</c> stays unfused — so the trajectories equal
/// PyTorch's bit for bit (measured: Optim/OptimizerParityTests).
/// </summary>
public static class AdamKernels
{
    /// <param name="maxExpAvgSq">AMSGrad's running maximum of <paramref name="expAvgSq"/>; empty for plain Adam.</param>
    /// <param name="step">The step number t ≥ 1 of this update (PyTorch's <c>state['step']</c> after its increment).</param>
    /// <param name="decoupled">True for AdamW (decay the parameter), false for Adam (add the decay to the gradient).</param>
    public static void Step(Span<float> param, ReadOnlySpan<float> grad, Span<float> expAvg, Span<float> expAvgSq, Span<float> maxExpAvgSq,
        long step, double lr, double beta1, double beta2, double eps, double weightDecay, bool decoupled)
    {
        int len = param.Length;
        if (grad.Length != len) throw new ArgumentException($"Gradient has {grad.Length} elements, parameter has {len}.", nameof(grad));
        if (expAvg.Length != len || expAvgSq.Length != len)
            throw new ArgumentException($"Moment buffers have {expAvg.Length} and {expAvgSq.Length} elements, parameter has {len}.", nameof(expAvg));
        bool amsgrad = !maxExpAvgSq.IsEmpty;
        if (amsgrad && maxExpAvgSq.Length != len)
            throw new ArgumentException($"AMSGrad buffer has {maxExpAvgSq.Length} elements, parameter has {len}.", nameof(maxExpAvgSq));
        if (step < 1) throw new ArgumentOutOfRangeException(nameof(step), step, "The step number starts at 1.");

        double biasCorrection1 = 1 - Math.Pow(beta1, step);
        double biasCorrection2 = 1 - Math.Pow(beta2, step);
        var k = new Factors
        {
            Decay = decoupled ? (float)(1 - lr * weightDecay) : 1f,
            Wd = decoupled ? 0f : (float)weightDecay,
            B1 = (float)beta1,
            OneMinusB1 = (float)(1 - beta1),
            B2 = (float)beta2,
            OneMinusB2 = (float)(1 - beta2),
            Bc2Sqrt = (float)Math.Sqrt(biasCorrection2),
            Eps = (float)eps,
            NegStepSize = (float)-(lr / biasCorrection1),
        };

        ref float p = ref MemoryMarshal.GetReference(param);
        ref float g = ref MemoryMarshal.GetReference(grad);
        ref float m = ref MemoryMarshal.GetReference(expAvg);
        ref float v = ref MemoryMarshal.GetReference(expAvgSq);
        ref float vmax = ref MemoryMarshal.GetReference(maxExpAvgSq);
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var f = Factors512.From(k);
            for (; i <= len - Vector512<float>.Count; i += Vector512<float>.Count)
                Body512(ref p, ref g, ref m, ref v, ref vmax, (nuint)i, amsgrad, f);
        }
        if (Vector256.IsHardwareAccelerated)
        {
            var f = Factors256.From(k);
            for (; i <= len - Vector256<float>.Count; i += Vector256<float>.Count)
                Body256(ref p, ref g, ref m, ref v, ref vmax, (nuint)i, amsgrad, f);
        }
        // The tail (fewer elements than one vector) with the same operations in the same order.
        for (; i < len; i++)
        {
            float pi = Unsafe.Add(ref p, i) * k.Decay;
            float gi = Unsafe.Add(ref g, i);
            if (k.Wd != 0) gi = MathF.FusedMultiplyAdd(pi, k.Wd, gi);
            float mi = MathF.FusedMultiplyAdd(gi, k.OneMinusB1, Unsafe.Add(ref m, i) * k.B1);
            float vi = MathF.FusedMultiplyAdd(k.OneMinusB2 * gi, gi, Unsafe.Add(ref v, i) * k.B2);
            Unsafe.Add(ref m, i) = mi;
            Unsafe.Add(ref v, i) = vi;
            if (amsgrad) vi = Unsafe.Add(ref vmax, i) = MathF.Max(Unsafe.Add(ref vmax, i), vi);
            float denom = MathF.Sqrt(vi) / k.Bc2Sqrt + k.Eps;
            Unsafe.Add(ref p, i) = pi + k.NegStepSize * mi / denom;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Body512(ref float p, ref float g, ref float m, ref float v, ref float vmax, nuint i, bool amsgrad, in Factors512 f)
    {
        var pv = Vector512.LoadUnsafe(ref p, i) * f.Decay;
        var gv = Vector512.LoadUnsafe(ref g, i);
        if (f.HasWd) gv = Vector512.FusedMultiplyAdd(pv, f.Wd, gv);
        var mv = Vector512.FusedMultiplyAdd(gv, f.OneMinusB1, Vector512.LoadUnsafe(ref m, i) * f.B1);
        var vv = Vector512.FusedMultiplyAdd(f.OneMinusB2 * gv, gv, Vector512.LoadUnsafe(ref v, i) * f.B2);
        mv.StoreUnsafe(ref m, i);
        vv.StoreUnsafe(ref v, i);
        if (amsgrad)
        {
            vv = Vector512.Max(Vector512.LoadUnsafe(ref vmax, i), vv);
            vv.StoreUnsafe(ref vmax, i);
        }
        var denom = Vector512.Sqrt(vv) / f.Bc2Sqrt + f.Eps;
        (pv + f.NegStepSize * mv / denom).StoreUnsafe(ref p, i);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Body256(ref float p, ref float g, ref float m, ref float v, ref float vmax, nuint i, bool amsgrad, in Factors256 f)
    {
        var pv = Vector256.LoadUnsafe(ref p, i) * f.Decay;
        var gv = Vector256.LoadUnsafe(ref g, i);
        if (f.HasWd) gv = Vector256.FusedMultiplyAdd(pv, f.Wd, gv);
        var mv = Vector256.FusedMultiplyAdd(gv, f.OneMinusB1, Vector256.LoadUnsafe(ref m, i) * f.B1);
        var vv = Vector256.FusedMultiplyAdd(f.OneMinusB2 * gv, gv, Vector256.LoadUnsafe(ref v, i) * f.B2);
        mv.StoreUnsafe(ref m, i);
        vv.StoreUnsafe(ref v, i);
        if (amsgrad)
        {
            vv = Vector256.Max(Vector256.LoadUnsafe(ref vmax, i), vv);
            vv.StoreUnsafe(ref vmax, i);
        }
        var denom = Vector256.Sqrt(vv) / f.Bc2Sqrt + f.Eps;
        (pv + f.NegStepSize * mv / denom).StoreUnsafe(ref p, i);
    }

    private struct Factors
    {
        public float Decay, Wd, B1, OneMinusB1, B2, OneMinusB2, Bc2Sqrt, Eps, NegStepSize;
    }

    // The scalar factors broadcast once per call rather than once per vector.
    private readonly struct Factors512(Vector512<float> decay, Vector512<float> wd, bool hasWd, Vector512<float> b1, Vector512<float> oneMinusB1,
        Vector512<float> b2, Vector512<float> oneMinusB2, Vector512<float> bc2Sqrt, Vector512<float> eps, Vector512<float> negStepSize)
    {
        public readonly Vector512<float> Decay = decay, Wd = wd, B1 = b1, OneMinusB1 = oneMinusB1, B2 = b2, OneMinusB2 = oneMinusB2,
            Bc2Sqrt = bc2Sqrt, Eps = eps, NegStepSize = negStepSize;
        public readonly bool HasWd = hasWd;

        public static Factors512 From(in Factors k) => new(Vector512.Create(k.Decay), Vector512.Create(k.Wd), k.Wd != 0, Vector512.Create(k.B1),
            Vector512.Create(k.OneMinusB1), Vector512.Create(k.B2), Vector512.Create(k.OneMinusB2), Vector512.Create(k.Bc2Sqrt),
            Vector512.Create(k.Eps), Vector512.Create(k.NegStepSize));
    }

    private readonly struct Factors256(Vector256<float> decay, Vector256<float> wd, bool hasWd, Vector256<float> b1, Vector256<float> oneMinusB1,
        Vector256<float> b2, Vector256<float> oneMinusB2, Vector256<float> bc2Sqrt, Vector256<float> eps, Vector256<float> negStepSize)
    {
        public readonly Vector256<float> Decay = decay, Wd = wd, B1 = b1, OneMinusB1 = oneMinusB1, B2 = b2, OneMinusB2 = oneMinusB2,
            Bc2Sqrt = bc2Sqrt, Eps = eps, NegStepSize = negStepSize;
        public readonly bool HasWd = hasWd;

        public static Factors256 From(in Factors k) => new(Vector256.Create(k.Decay), Vector256.Create(k.Wd), k.Wd != 0, Vector256.Create(k.B1),
            Vector256.Create(k.OneMinusB1), Vector256.Create(k.B2), Vector256.Create(k.OneMinusB2), Vector256.Create(k.Bc2Sqrt),
            Vector256.Create(k.Eps), Vector256.Create(k.NegStepSize));
    }
}
