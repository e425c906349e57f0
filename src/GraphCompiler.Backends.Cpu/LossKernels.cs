// Losses on the CPU with PyTorch's options and semantics: class-index losses (cross-entropy, NLL) and element-wise losses over float targets.
using System.Numerics.Tensors;
using GraphCompiler.Nn;
using static GraphCompiler.Backends.Cpu.BufferChecks;

namespace GraphCompiler.Backends.Cpu;

/// <summary>
/// Every kernel returns the reduced loss and, when <c>grad</c> is non-empty, writes dLoss/dinput there (overwriting it);
/// when <c>losses</c> is non-empty it receives the per-element losses PyTorch returns for <c>reduction='none'</c>.
/// With <see cref="Reduction.None"/> the returned value is the sum of those losses and <c>grad</c> is the gradient of that
/// sum, i.e. what <c>loss(…, reduction='none').sum().backward()</c> gives. Arguments are checked before anything is written.
/// Class-index losses take outputs (n, c, inner…) — <c>inner</c> is the product of PyTorch's spatial dims d1…dk, 1 for (n, c) —
/// and n·inner targets (n, d1…dk).
/// </summary>
public static class LossKernels
{
    [ThreadStatic] private static float[]? t_scratch;

    /// <summary>Mean over n rows of −log softmax(logits)[target]; grad (if non-empty) = (softmax − onehot) / n.</summary>
    public static float CrossEntropy(ReadOnlySpan<float> logits, ReadOnlySpan<int> targets, Span<float> grad, int n, int c) =>
        CrossEntropy(logits, targets, grad, [], n, c, 1, [], -100, 0f, Reduction.Mean);

    /// <summary>
    /// <c>F.cross_entropy(logits, targets, weight, ignore_index, reduction, label_smoothing)</c> exactly as torch 1.13 computes
    /// it. Per element: (1 − ε)·w[t]·(−logp[t]) + (ε / c)·Σₖ wₖ·(−logp[k]), and 0 where t = ignoreIndex. The mean divides
    /// both parts by Σ w[t] over the elements not ignored (their count without weights). <paramref name="weight"/> is
    /// empty or has c entries.
    /// </summary>
    public static float CrossEntropy(ReadOnlySpan<float> logits, ReadOnlySpan<int> targets, Span<float> grad, Span<float> losses,
        int n, int c, int inner, ReadOnlySpan<float> weight, int ignoreIndex, float labelSmoothing, Reduction reduction)
    {
        if (!(labelSmoothing >= 0f && labelSmoothing <= 1f))
            throw new ArgumentOutOfRangeException(nameof(labelSmoothing), labelSmoothing, "cross_entropy: label_smoothing must be in [0, 1].");
        return ClassLoss(Kind.CrossEntropy, logits, targets, grad, losses, n, c, inner, weight, ignoreIndex, labelSmoothing, reduction);
    }

    /// <summary>Mean of −logProbs[i, target_i] over (n, c); grad (if non-empty) = −onehot / n.</summary>
    public static float Nll(ReadOnlySpan<float> logProbs, ReadOnlySpan<int> targets, Span<float> grad, int n, int c) =>
        Nll(logProbs, targets, grad, [], n, c, 1, [], -100, Reduction.Mean);

    /// <summary>
    /// <c>F.nll_loss(logProbs, targets, weight, ignore_index, reduction)</c>: per element −w[t]·logProbs[t] (0 where ignored);
    /// the mean divides by Σ w[t] over the elements not ignored (their count without weights).
    /// </summary>
    public static float Nll(ReadOnlySpan<float> logProbs, ReadOnlySpan<int> targets, Span<float> grad, Span<float> losses,
        int n, int c, int inner, ReadOnlySpan<float> weight, int ignoreIndex, Reduction reduction) =>
        ClassLoss(Kind.Nll, logProbs, targets, grad, losses, n, c, inner, weight, ignoreIndex, 0f, reduction);

    /// <summary>
    /// NLL of a LogSoftmax output with the LogSoftmax backward folded in: the mean of −logProbs[i, target_i], and
    /// gradLogits (n, c) = (exp(logProbs) − onehot) / n, the gradient with respect to the logits that fed the LogSoftmax.
    /// One pass replaces NLL's gradient kernel plus LogSoftmax's backward.
    /// </summary>
    public static float NllOfLogSoftmax(ReadOnlySpan<float> logProbs, ReadOnlySpan<int> targets, Span<float> gradLogits, int n, int c) =>
        NllOfLogSoftmax(logProbs, targets, gradLogits, [], n, c, 1, [], -100, Reduction.Mean);

    /// <summary>
    /// <see cref="Nll(ReadOnlySpan{float}, ReadOnlySpan{int}, Span{float}, Span{float}, int, int, int, ReadOnlySpan{float}, int, Reduction)"/>
    /// of a LogSoftmax (over dim 1) output, with the gradient written at the logits: a·w[t]·(exp(logProbs) − onehot) per
    /// element not ignored, a the reduction's scale. <paramref name="gradLogits"/> is required.
    /// </summary>
    public static float NllOfLogSoftmax(ReadOnlySpan<float> logProbs, ReadOnlySpan<int> targets, Span<float> gradLogits, Span<float> losses,
        int n, int c, int inner, ReadOnlySpan<float> weight, int ignoreIndex, Reduction reduction)
    {
        CheckLength(gradLogits, (long)n * c * inner, nameof(gradLogits));
        return ClassLoss(Kind.NllAtLogits, logProbs, targets, gradLogits, losses, n, c, inner, weight, ignoreIndex, 0f, reduction);
    }

    private enum Kind { CrossEntropy, Nll, NllAtLogits }

    private static string NameOf(Kind kind) => kind == Kind.CrossEntropy ? "cross_entropy" : "nll_loss";

    private static float ClassLoss(Kind kind, ReadOnlySpan<float> x, ReadOnlySpan<int> targets, Span<float> grad, Span<float> losses,
        int n, int c, int inner, ReadOnlySpan<float> weight, int ignoreIndex, float eps, Reduction reduction)
    {
        string name = NameOf(kind);
        if (n <= 0 || c <= 0 || inner <= 0)
            throw new ArgumentException($"{name}: needs at least one sample, class and position (n={n}, c={c}, inner={inner}).");
        long count = (long)n * inner;
        CheckLength(x, count * c, "output");
        if (targets.Length != count)
            throw new ArgumentException($"{name}: {targets.Length} targets for {n} samples{(inner > 1 ? $" of {inner} positions" : "")}; expected {count}.", nameof(targets));
        if (!weight.IsEmpty && weight.Length != c)
            throw new ArgumentException($"{name}: weight has {weight.Length} entries but the output has {c} classes.", nameof(weight));
        if (!grad.IsEmpty) CheckLength(grad, count * c, nameof(grad));
        if (!losses.IsEmpty) CheckLength(losses, count, nameof(losses));

        // First pass: check every target and total the weights the mean divides by, before any output is written.
        double totalWeight = 0;
        for (int e = 0; e < count; e++)
        {
            int t = targets[e];
            if (t == ignoreIndex) continue;
            if ((uint)t >= (uint)c)
            {
                string where = inner > 1 ? $"sample {e / inner}, position {e % inner}" : $"sample {e}";
                throw new ArgumentException($"{name}: target {t} at {where} is outside the class range [0, {c}) and is not ignore_index ({ignoreIndex}).", nameof(targets));
            }
            totalWeight += weight.IsEmpty ? 1f : weight[t];
        }

        // loss = a·Σ nll_e + b·Σ smooth_e, with nll_e = w[t]·(−logp[t]) and smooth_e = Σₖ wₖ·(−logp[k]).
        double a = 1 - eps, b = eps / c;
        if (reduction == Reduction.Mean)
        {
            a /= totalWeight;
            b /= totalWeight;
        }
        double sumWeights = weight.IsEmpty ? c : TensorPrimitives.Sum(weight);
        bool spatial = inner > 1;
        Span<float> scratch = Scratch(4 * c);
        Span<float> row = spatial ? scratch.Slice(0, c) : default;     // the element's c values, gathered (c)
        Span<float> shifted = scratch.Slice(c, c);                     // x − max (c)
        Span<float> e2 = scratch.Slice(2 * c, c);                      // exp(x − max) (c)
        Span<float> g = spatial ? scratch.Slice(3 * c, c) : default;   // the element's gradient before scattering (c)
        double total = 0;
        for (int e = 0; e < count; e++)
        {
            int i = e / inner, j = e % inner;
            ReadOnlySpan<float> xe;
            if (spatial)
            {
                for (int k = 0; k < c; k++) row[k] = x[(i * c + k) * inner + j];
                xe = row;
            }
            else xe = x.Slice(e * c, c);
            Span<float> ge = grad.IsEmpty ? default : spatial ? g : grad.Slice(e * c, c);
            int t = targets[e];
            if (t == ignoreIndex)
            {
                if (!losses.IsEmpty) losses[e] = 0f;
                if (!ge.IsEmpty) ge.Clear();
            }
            else
            {
                float wt = weight.IsEmpty ? 1f : weight[t];
                double nll, smooth = 0;
                if (kind == Kind.CrossEntropy)
                {
                    // −logp = log Σ exp(x − max) − (x − max): never x − (max + log Σ), whose rounding at large |x| (float's
                    // ulp at 1e4 is 1e-3) would swamp the result.
                    float max = TensorPrimitives.Max(xe);
                    TensorPrimitives.Subtract(xe, max, shifted);
                    TensorPrimitives.Exp(shifted, e2);
                    float sumExp = TensorPrimitives.Sum(e2);
                    double logSum = Math.Log(sumExp);
                    nll = wt * (logSum - shifted[t]);
                    if (eps > 0)
                        smooth = logSum * sumWeights - (weight.IsEmpty ? TensorPrimitives.Sum(shifted) : TensorPrimitives.Dot(weight, shifted));
                    if (!ge.IsEmpty)
                    {
                        // d/dz_k = p_k·(a·w[t] + b·Σw) − b·w_k − a·w[t]·[k = t], p = softmax = exp(x − max) / Σ.
                        TensorPrimitives.Multiply(e2, (float)((a * wt + b * sumWeights) / sumExp), ge);
                        if (b != 0)
                        {
                            if (weight.IsEmpty) TensorPrimitives.Subtract(ge, (float)b, ge);
                            else TensorPrimitives.MultiplyAdd(weight, (float)-b, ge, ge);
                        }
                        ge[t] -= (float)(a * wt);
                    }
                }
                else
                {
                    nll = -(double)wt * xe[t];
                    if (!ge.IsEmpty)
                    {
                        if (kind == Kind.Nll) ge.Clear();
                        else
                        {
                            // The LogSoftmax backward folded in: d/dz = a·w[t]·(exp(logp) − onehot).
                            TensorPrimitives.Exp(xe, ge);
                            TensorPrimitives.Multiply(ge, (float)(a * wt), ge);
                        }
                        ge[t] -= (float)(a * wt);
                    }
                }
                total += a * nll + b * smooth;
                if (!losses.IsEmpty) losses[e] = (float)((1 - eps) * nll + eps / c * smooth);
            }
            if (spatial && !ge.IsEmpty)
                for (int k = 0; k < c; k++) grad[(i * c + k) * inner + j] = g[k];
        }
        // All elements ignored (or zero total weight) under a mean: 0 / 0, NaN as in torch.
        if (reduction == Reduction.Mean && totalWeight == 0) return float.NaN;
        return (float)total;
    }

    /// <summary><c>F.mse_loss</c>: (x − y)² per element; grad = 2·(x − y)·scale.</summary>
    public static float Mse(ReadOnlySpan<float> output, ReadOnlySpan<float> targets, Span<float> grad, Span<float> losses, Reduction reduction)
    {
        double s = CheckElementwise("mse_loss", output, targets, grad, losses, reduction);
        double total = 0;
        for (int i = 0; i < output.Length; i++)
        {
            double d = (double)output[i] - targets[i], l = d * d;
            total += l;
            if (!losses.IsEmpty) losses[i] = (float)l;
            if (!grad.IsEmpty) grad[i] = (float)(2 * d * s);
        }
        return (float)(total * s);
    }

    /// <summary><c>F.l1_loss</c>: |x − y| per element; grad = sign(x − y)·scale (0 where x = y, as torch).</summary>
    public static float L1(ReadOnlySpan<float> output, ReadOnlySpan<float> targets, Span<float> grad, Span<float> losses, Reduction reduction)
    {
        double s = CheckElementwise("l1_loss", output, targets, grad, losses, reduction);
        double total = 0;
        for (int i = 0; i < output.Length; i++)
        {
            double d = (double)output[i] - targets[i], l = Math.Abs(d);
            total += l;
            if (!losses.IsEmpty) losses[i] = (float)l;
            if (!grad.IsEmpty) grad[i] = (float)(Math.Sign(d) * s);
        }
        return (float)(total * s);
    }

    /// <summary>
    /// <c>F.smooth_l1_loss(beta)</c>: 0.5·d²/β where |d| &lt; β, else |d| − 0.5·β, d = x − y; β = 0 is L1 (as torch).
    /// grad = d/β inside, sign(d) outside, times the reduction's scale.
    /// </summary>
    public static float SmoothL1(ReadOnlySpan<float> output, ReadOnlySpan<float> targets, Span<float> grad, Span<float> losses, float beta, Reduction reduction)
    {
        if (!(beta >= 0f)) throw new ArgumentOutOfRangeException(nameof(beta), beta, "smooth_l1_loss: beta must be non-negative.");
        if (beta == 0f) return L1(output, targets, grad, losses, reduction);
        double s = CheckElementwise("smooth_l1_loss", output, targets, grad, losses, reduction);
        double total = 0;
        for (int i = 0; i < output.Length; i++)
        {
            double d = (double)output[i] - targets[i], ad = Math.Abs(d);
            double l = ad < beta ? 0.5 * d * d / beta : ad - 0.5 * beta;
            total += l;
            if (!losses.IsEmpty) losses[i] = (float)l;
            if (!grad.IsEmpty) grad[i] = (float)((ad < beta ? d / beta : Math.Sign(d)) * s);
        }
        return (float)(total * s);
    }

    /// <summary>
    /// <c>F.binary_cross_entropy(weight)</c> on probabilities in [0, 1]: −w·(y·max(log x, −100) + (1 − y)·max(log(1 − x), −100)).
    /// The gradient is torch's: w·(x − y) / max((1 − x)·x, 1e−12), times the reduction's scale. Element j uses
    /// weight[j mod weight.Length] (PyTorch's broadcast of a weight shaped like the trailing dims); empty means 1.
    /// </summary>
    public static float Bce(ReadOnlySpan<float> output, ReadOnlySpan<float> targets, Span<float> grad, Span<float> losses,
        ReadOnlySpan<float> weight, Reduction reduction)
    {
        const string name = "binary_cross_entropy";
        double s = CheckElementwise(name, output, targets, grad, losses, reduction);
        CheckBroadcast(name, "weight", weight, output.Length);
        for (int i = 0; i < output.Length; i++)
            if (!(output[i] >= 0f && output[i] <= 1f))
                throw new ArgumentException($"{name}: input {output[i]} at element {i} is outside [0, 1] (it takes probabilities; use binary_cross_entropy_with_logits for logits).", nameof(output));
        double total = 0;
        for (int i = 0; i < output.Length; i++)
        {
            float x = output[i], y = targets[i];
            double w = weight.IsEmpty ? 1 : weight[i % weight.Length];
            double l = -w * (y * Math.Max(Math.Log(x), -100) + (1 - y) * Math.Max(Math.Log(1 - (double)x), -100));
            total += l;
            if (!losses.IsEmpty) losses[i] = (float)l;
            if (!grad.IsEmpty) grad[i] = (float)(w * s * (x - y) / Math.Max((1 - (double)x) * x, 1e-12));
        }
        return (float)(total * s);
    }

    /// <summary>
    /// <c>F.binary_cross_entropy_with_logits(weight, pos_weight)</c>: w·[(1 − y)·x + (1 + (p − 1)·y)·log(1 + exp(−x))], computed
    /// stably; grad = w·((p·y + 1 − y)·σ(x) − p·y) times the reduction's scale. Element j uses weight[j mod |weight|] and
    /// posWeight[j mod |posWeight|] (pos_weight is per class, the last dim); empty means 1.
    /// </summary>
    public static float BceWithLogits(ReadOnlySpan<float> output, ReadOnlySpan<float> targets, Span<float> grad, Span<float> losses,
        ReadOnlySpan<float> weight, ReadOnlySpan<float> posWeight, Reduction reduction)
    {
        const string name = "binary_cross_entropy_with_logits";
        double s = CheckElementwise(name, output, targets, grad, losses, reduction);
        CheckBroadcast(name, "weight", weight, output.Length);
        CheckBroadcast(name, "pos_weight", posWeight, output.Length);
        double total = 0;
        for (int i = 0; i < output.Length; i++)
        {
            double x = output[i], y = targets[i];
            double w = weight.IsEmpty ? 1 : weight[i % weight.Length];
            double p = posWeight.IsEmpty ? 1 : posWeight[i % posWeight.Length];
            double softplusNeg = Math.Max(-x, 0) + Math.Log(Math.Exp(-Math.Max(-x, 0)) + Math.Exp(-x - Math.Max(-x, 0))); // log(1 + e^−x)
            double l = w * ((1 - y) * x + (1 + (p - 1) * y) * softplusNeg);
            total += l;
            if (!losses.IsEmpty) losses[i] = (float)l;
            if (!grad.IsEmpty)
            {
                double py = p * y, sigmoid = 1 / (1 + Math.Exp(-x));
                grad[i] = (float)(w * s * ((py + 1 - y) * sigmoid - py));
            }
        }
        return (float)(total * s);
    }

    // Checks an element-wise loss's buffers and returns the reduction's scale: 1/m for the mean, 1 otherwise.
    private static double CheckElementwise(string name, ReadOnlySpan<float> output, ReadOnlySpan<float> targets, Span<float> grad,
        Span<float> losses, Reduction reduction)
    {
        if (output.IsEmpty) throw new ArgumentException($"{name}: the output is empty.", nameof(output));
        if (targets.Length != output.Length)
            throw new ArgumentException($"{name}: {targets.Length} targets for {output.Length} output values; targets must be shaped like the output.", nameof(targets));
        if (!grad.IsEmpty) CheckLength(grad, output.Length, nameof(grad));
        if (!losses.IsEmpty) CheckLength(losses, output.Length, nameof(losses));
        return reduction == Reduction.Mean ? 1.0 / output.Length : 1.0;
    }

    private static void CheckBroadcast(string name, string what, ReadOnlySpan<float> w, int length)
    {
        if (!w.IsEmpty && length % w.Length != 0)
            throw new ArgumentException($"{name}: {what} has {w.Length} entries, which does not broadcast over {length} output values (it must divide them: the trailing dims).", what);
    }

    private static Span<float> Scratch(int length)
    {
        if (t_scratch is null || t_scratch.Length < length) t_scratch = new float[Math.Max(length, 192)];
        return t_scratch.AsSpan(0, length);
    }
}
