// The ILGPU kernels of every loss of Nn/Loss.cs: one thread per loss element writes its gradient and its share of the
// reduced loss, which the host sums in double; the host validates targets and computes the reduction's scales first, as
// the CPU's LossKernels do in their first pass.
using ILGPU;

namespace GraphCompiler.Backends.Ilgpu;

/// <summary>Which class-index loss: cross-entropy on logits, NLL on log-probabilities, or NLL with the LogSoftmax backward folded in.</summary>
public enum ClassLossKind { CrossEntropy, Nll, NllAtLogits }

/// <summary>
/// A class-index loss over (N, C, Inner): A scales nll terms and B the label-smoothing term (both include the mean's
/// 1/Σw), SumWeights is Σ weight (C without weights), HasGrad is 0 when only the loss is wanted.
/// </summary>
public readonly record struct ClassLossParams(ClassLossKind Kind, int C, int Inner, int IgnoreIndex, float A, float B, float SumWeights,
    int HasWeight, int HasGrad);

/// <summary>Which element-wise loss over float targets.</summary>
public enum ElementwiseLossKind { Mse, L1, SmoothL1, Bce, BceWithLogits }

/// <summary>An element-wise loss: Scale is 1/m for the mean, else 1; weight lengths 0 mean none.</summary>
public readonly record struct ElementwiseLossParams(ElementwiseLossKind Kind, float Scale, float Beta, int WeightLength, int PosWeightLength, int HasGrad);

public static partial class IlgpuKernels
{
    /// <summary>
    /// Element e = (sample, position) of a class-index loss: writes a·w[t]·(−logp[t]) + b·Σₖ wₖ·(−logp[k]) to
    /// <paramref name="elementLoss"/> and dLoss/dx for its C values to <paramref name="grad"/>; an ignored target writes
    /// zeros. The same formulas as the CPU's LossKernels.ClassLoss.
    /// </summary>
    public static void ClassLoss(Index1D e, ArrayView<float> x, ArrayView<int> targets, ArrayView<float> weight, ArrayView<float> grad,
        ArrayView<float> elementLoss, ClassLossParams p)
    {
        int i = e / p.Inner, j = e % p.Inner, t = targets[e];
        int baseIndex = i * p.C * p.Inner + j;
        if (t == p.IgnoreIndex)
        {
            elementLoss[e] = 0f;
            if (p.HasGrad != 0)
                for (int k = 0; k < p.C; k++) grad[baseIndex + k * p.Inner] = 0f;
            return;
        }
        float wt = p.HasWeight != 0 ? weight[t] : 1f;
        double nll, smooth = 0;
        if (p.Kind == ClassLossKind.CrossEntropy)
        {
            float max = x[baseIndex];
            for (int k = 1; k < p.C; k++) max = Math.Max(max, x[baseIndex + k * p.Inner]);
            float sumExp = 0f, sumShifted = 0f, dotShifted = 0f;
            for (int k = 0; k < p.C; k++)
            {
                float shifted = x[baseIndex + k * p.Inner] - max;
                sumExp += MathF.Exp(shifted);
                sumShifted += shifted;
                if (p.HasWeight != 0) dotShifted += weight[k] * shifted;
            }
            double logSum = Math.Log(sumExp);
            nll = wt * (logSum - (x[baseIndex + t * p.Inner] - max));
            if (p.B != 0f) smooth = logSum * p.SumWeights - (p.HasWeight != 0 ? dotShifted : sumShifted);
            if (p.HasGrad != 0)
            {
                float scale = (float)((p.A * wt + p.B * (double)p.SumWeights) / sumExp);
                for (int k = 0; k < p.C; k++)
                {
                    int at = baseIndex + k * p.Inner;
                    float g = MathF.Exp(x[at] - max) * scale;
                    if (p.B != 0f) g -= p.HasWeight != 0 ? p.B * weight[k] : p.B;
                    if (k == t) g -= p.A * wt;
                    grad[at] = g;
                }
            }
        }
        else
        {
            nll = -(double)wt * x[baseIndex + t * p.Inner];
            if (p.HasGrad != 0)
                for (int k = 0; k < p.C; k++)
                {
                    int at = baseIndex + k * p.Inner;
                    float g = p.Kind == ClassLossKind.Nll ? 0f : MathF.Exp(x[at]) * (p.A * wt);
                    if (k == t) g -= p.A * wt;
                    grad[at] = g;
                }
        }
        elementLoss[e] = (float)(p.A * nll + p.B * smooth);
    }

    /// <summary>
    /// Element i of an element-wise loss: its loss times the reduction's scale to <paramref name="elementLoss"/>, its
    /// gradient to <paramref name="grad"/>. The formulas (and torch's clamps) of the CPU's LossKernels, in double.
    /// </summary>
    public static void ElementwiseLoss(Index1D i, ArrayView<float> output, ArrayView<float> targets, ArrayView<float> weight, ArrayView<float> posWeight,
        ArrayView<float> grad, ArrayView<float> elementLoss, ElementwiseLossParams p)
    {
        double x = output[i], y = targets[i], s = p.Scale, l, g;
        double w = p.WeightLength == 0 ? 1 : weight[i % p.WeightLength];
        switch (p.Kind)
        {
            case ElementwiseLossKind.Mse:
            {
                double d = x - y;
                l = d * d;
                g = 2 * d * s;
                break;
            }
            case ElementwiseLossKind.L1:
            {
                double d = x - y;
                l = Math.Abs(d);
                g = (d > 0 ? 1 : d < 0 ? -1 : 0) * s;
                break;
            }
            case ElementwiseLossKind.SmoothL1:
            {
                double d = x - y, ad = Math.Abs(d);
                l = ad < p.Beta ? 0.5 * d * d / p.Beta : ad - 0.5 * p.Beta;
                g = (ad < p.Beta ? d / p.Beta : d > 0 ? 1 : d < 0 ? -1 : 0) * s;
                break;
            }
            case ElementwiseLossKind.Bce:
            {
                l = -w * (y * Math.Max(Math.Log(x), -100) + (1 - y) * Math.Max(Math.Log(1 - x), -100));
                g = w * s * (x - y) / Math.Max((1 - x) * x, 1e-12);
                break;
            }
            default:
            {
                double pw = p.PosWeightLength == 0 ? 1 : posWeight[i % p.PosWeightLength];
                double m = Math.Max(-x, 0);
                double softplusNeg = m + Math.Log(Math.Exp(-m) + Math.Exp(-x - m)); // log(1 + e^−x)
                l = w * ((1 - y) * x + (1 + (pw - 1) * y) * softplusNeg);
                double py = pw * y, sigmoid = 1 / (1 + Math.Exp(-x));
                g = w * s * ((py + 1 - y) * sigmoid - py);
                break;
            }
        }
        elementLoss[i] = (float)(l * s);
        if (p.HasGrad != 0) grad[i] = (float)g;
    }
}
