// The ILGPU kernels of the optimizers and gradient clipping: one thread per parameter element, with the scalar factors
// computed on the host in double as the CPU's SgdKernels/AdamKernels compute them.
using ILGPU;

namespace GraphCompiler.Backends.Ilgpu;

/// <summary>One SGD update's options, PyTorch's semantics; Nesterov and FirstStep are 0 or 1.</summary>
public readonly record struct SgdParams(float Lr, float Momentum, float Dampening, float WeightDecay, int Nesterov, int FirstStep);

/// <summary>
/// One Adam/AdamW update's factors for step t: Decay = 1 − lr·wd (AdamW, else 1), Wd (Adam, else 0), the betas and
/// their complements, √(1 − β2ᵗ), eps, −lr/(1 − β1ᵗ); Amsgrad is 0 or 1.
/// </summary>
public readonly record struct AdamParams(float Decay, float Wd, float B1, float OneMinusB1, float B2, float OneMinusB2, float Bc2Sqrt, float Eps,
    float NegStepSize, int Amsgrad)
{
    public static AdamParams Of(long step, double lr, double beta1, double beta2, double eps, double weightDecay, bool decoupled, bool amsgrad)
    {
        double bc1 = 1 - Math.Pow(beta1, step), bc2 = 1 - Math.Pow(beta2, step);
        return new AdamParams(decoupled ? (float)(1 - lr * weightDecay) : 1f, decoupled ? 0f : (float)weightDecay, (float)beta1, (float)(1 - beta1),
            (float)beta2, (float)(1 - beta2), (float)Math.Sqrt(bc2), (float)eps, (float)-(lr / bc1), amsgrad ? 1 : 0);
    }
}

public static partial class IlgpuKernels
{
    /// <summary>
    /// PyTorch's SGD on one element: g = grad + wd·p; with momentum buf = first ? g : m·buf + (1 − dampening)·g and
    /// g = nesterov ? g + m·buf : buf; then p −= lr·g.
    /// </summary>
    public static void SgdStep(Index1D i, ArrayView<float> param, ArrayView<float> grad, ArrayView<float> momentumBuffer, SgdParams o)
    {
        float g = grad[i] + o.WeightDecay * param[i];
        if (o.Momentum != 0f)
        {
            float buf = o.FirstStep != 0 ? g : o.Momentum * momentumBuffer[i] + (1f - o.Dampening) * g;
            momentumBuffer[i] = buf;
            g = o.Nesterov != 0 ? g + o.Momentum * buf : buf;
        }
        param[i] -= o.Lr * g;
    }

    /// <summary>
    /// PyTorch 1.13's single-tensor Adam/AdamW on one element, in the CPU kernel's order: p *= decay; g += wd·p;
    /// m = β1·m + (1 − β1)·g; v = β2·v + (1 − β2)·g²; v̂ = amsgrad ? vmax = max(vmax, v) : v; p += −lr/bc1 · m / (√v̂/√bc2 + eps).
    /// </summary>
    public static void AdamStep(Index1D i, ArrayView<float> param, ArrayView<float> grad, ArrayView<float> expAvg, ArrayView<float> expAvgSq,
        ArrayView<float> maxExpAvgSq, AdamParams k)
    {
        float p = param[i] * k.Decay;
        float g = grad[i];
        if (k.Wd != 0f) g += p * k.Wd;
        float m = g * k.OneMinusB1 + expAvg[i] * k.B1;
        float v = k.OneMinusB2 * g * g + expAvgSq[i] * k.B2;
        expAvg[i] = m;
        expAvgSq[i] = v;
        if (k.Amsgrad != 0)
        {
            v = Math.Max(maxExpAvgSq[i], v);
            maxExpAvgSq[i] = v;
        }
        param[i] = p + k.NegStepSize * m / (MathF.Sqrt(v) / k.Bc2Sqrt + k.Eps);
    }

    /// <summary>Σ g² of one parameter's gradient into sums[slot], one thread per parameter slot (double, as the host combines).</summary>
    public static void SumOfSquares(Index1D slot, ArrayView<float> grad, ArrayView<double> sums, int count)
    {
        double s = 0;
        for (int j = 0; j < count; j++) s += grad[j] * (double)grad[j];
        sums[slot] = s;
    }

    /// <summary>grad *= s.</summary>
    public static void Scale(Index1D i, ArrayView<float> grad, float s) => grad[i] *= s;

    /// <summary>grad = clamp(grad, −c, c).</summary>
    public static void Clamp(Index1D i, ArrayView<float> grad, float c) => grad[i] = Math.Min(Math.Max(grad[i], -c), c);
}
