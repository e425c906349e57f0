// SiLU (swish) on the CPU: y = x·σ(x); its derivative σ(x)(1 + x(1 − σ(x))) needs the input, so it is not an epilogue.
using System.Runtime.Intrinsics;
using static GraphCompiler.Backends.Cpu.BufferChecks;

namespace GraphCompiler.Backends.Cpu;

public static class SiluKernels
{
    private const int ParallelThreshold = 1 << 15;

    /// <summary>y = x·σ(x). y may be x.</summary>
    public static unsafe void Forward(ReadOnlySpan<float> x, Span<float> y)
    {
        CheckLength(y, x.Length, nameof(y));
        fixed (float* px = x, py = y)
        {
            var body = new Body((nint)px, 0, (nint)py, backward: false);
            Elementwise.For(x.Length, ParallelThreshold, ref body);
        }
    }

    /// <summary>dx = dy · σ(x)(1 + x(1 − σ(x))), from the forward input x. dx may be dy.</summary>
    public static unsafe void Backward(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dx)
    {
        CheckLength(dy, x.Length, nameof(dy)); CheckLength(dx, x.Length, nameof(dx));
        fixed (float* px = x, pdy = dy, pdx = dx)
        {
            var body = new Body((nint)px, (nint)pdy, (nint)pdx, backward: true);
            Elementwise.For(x.Length, ParallelThreshold, ref body);
        }
    }

    private readonly unsafe struct Body(nint x, nint dy, nint outp, bool backward) : IElementwiseBody
    {
        public void Run(int start, int count)
        {
            float* px = (float*)x + start, pdy = (float*)dy + start, po = (float*)outp + start;
            int i = 0;
            if (Vector512.IsHardwareAccelerated)
                for (; i <= count - 16; i += 16)
                {
                    var v = Vector512.Load(px + i);
                    (backward ? Vector512.Load(pdy + i) * Derivative(v) : Value(v)).Store(po + i);
                }
            for (; i < count; i++) po[i] = backward ? pdy[i] * Derivative(px[i]) : Value(px[i]);
        }
    }

    private static Vector512<float> Sigmoid(Vector512<float> x) => Vector512<float>.One / (Vector512<float>.One + Vector512.Exp(-x));

    private static float Sigmoid(float x) => 1f / (1f + MathF.Exp(-x));

    /// <summary>x·σ(x) (shared with the fused element-wise chains).</summary>
    internal static Vector512<float> Value(Vector512<float> x) => x * Sigmoid(x);

    /// <summary>σ(x)(1 + x(1 − σ(x))).</summary>
    internal static Vector512<float> Derivative(Vector512<float> x)
    {
        var s = Sigmoid(x);
        return s * (Vector512<float>.One + x * (Vector512<float>.One - s));
    }

    internal static float Value(float x) => x * Sigmoid(x);

    internal static float Derivative(float x)
    {
        float s = Sigmoid(x);
        return s * (1f + x * (1f - s));
    }
}
