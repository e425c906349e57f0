// Plain double-precision losses with every PyTorch option, written from the definitions: the yardstick LossKernels is tested against.
using GraphCompiler.Nn;

namespace GraphCompiler.Backends.Reference;

/// <summary>
/// Each function returns the reduced loss (for <see cref="Reduction.None"/>, the sum of the per-element losses) and
/// overwrites <c>grad</c>, when non-empty, with its gradient. The gradients are derived independently of the fast
/// kernels: class losses through dLoss/dlogp and the log-softmax chain rule, element-wise losses from each formula.
/// </summary>
public static class ReferenceLosses
{
    /// <summary>Cross-entropy with class weights, ignore_index, label smoothing and spatial positions (outputs (n, c, inner)).</summary>
    public static double CrossEntropy(ReadOnlySpan<double> logits, ReadOnlySpan<int> targets, Span<double> grad, int n, int c, int inner,
        ReadOnlySpan<double> weight, int ignoreIndex, double labelSmoothing, Reduction reduction) =>
        ClassLoss(true, logits, targets, grad, n, c, inner, weight, ignoreIndex, labelSmoothing, reduction);

    /// <summary>NLL over log-probabilities with class weights, ignore_index and spatial positions.</summary>
    public static double Nll(ReadOnlySpan<double> logProbs, ReadOnlySpan<int> targets, Span<double> grad, int n, int c, int inner,
        ReadOnlySpan<double> weight, int ignoreIndex, Reduction reduction) =>
        ClassLoss(false, logProbs, targets, grad, n, c, inner, weight, ignoreIndex, 0, reduction);

    private static double ClassLoss(bool logits, ReadOnlySpan<double> x, ReadOnlySpan<int> targets, Span<double> grad, int n, int c, int inner,
        ReadOnlySpan<double> weight, int ignoreIndex, double eps, Reduction reduction)
    {
        int count = n * inner;
        double[] w = weight.ToArray();
        double W(int k) => w.Length == 0 ? 1 : w[k];
        double totalWeight = 0;
        for (int e = 0; e < count; e++)
        {
            if (targets[e] == ignoreIndex) continue;
            if ((uint)targets[e] >= (uint)c) throw new ArgumentException($"Target {targets[e]} at element {e} is outside [0, {c}).", nameof(targets));
            totalWeight += W(targets[e]);
        }
        // The scale of the NLL part and of the smoothing part, as torch 1.13's cross_entropy applies them.
        double nllScale = 1 - eps, smoothScale = eps / c;
        if (reduction == Reduction.Mean)
        {
            nllScale /= totalWeight;
            smoothScale /= totalWeight;
        }
        var logp = new double[c];
        var dlogp = new double[c];
        double total = 0;
        for (int e = 0; e < count; e++)
        {
            int i = e / inner, j = e % inner, t = targets[e];
            for (int k = 0; k < c; k++) logp[k] = x[(i * c + k) * inner + j];
            if (logits)
            {
                double max = double.NegativeInfinity;
                for (int k = 0; k < c; k++) max = Math.Max(max, logp[k]);
                double s = 0;
                for (int k = 0; k < c; k++) s += Math.Exp(logp[k] - max);
                double lse = max + Math.Log(s);
                for (int k = 0; k < c; k++) logp[k] -= lse;
            }
            Array.Clear(dlogp);
            if (t != ignoreIndex)
            {
                total += nllScale * W(t) * -logp[t];
                dlogp[t] -= nllScale * W(t);
                for (int k = 0; k < c; k++)
                {
                    total += smoothScale * W(k) * -logp[k];
                    dlogp[k] -= smoothScale * W(k);
                }
            }
            if (grad.IsEmpty) continue;
            // Through log_softmax: dz_k = dlogp_k − softmax_k · Σ dlogp.
            double sum = 0;
            for (int k = 0; k < c; k++) sum += dlogp[k];
            for (int k = 0; k < c; k++)
                grad[(i * c + k) * inner + j] = logits ? dlogp[k] - Math.Exp(logp[k]) * sum : dlogp[k];
        }
        return reduction == Reduction.Mean && totalWeight == 0 ? double.NaN : total;
    }

    /// <summary>(x − y)², reduced.</summary>
    public static double Mse(ReadOnlySpan<double> x, ReadOnlySpan<double> y, Span<double> grad, Reduction reduction) =>
        Elementwise(x, y, grad, reduction, (a, b, _) => ((a - b) * (a - b), 2 * (a - b)));

    /// <summary>|x − y|, reduced; derivative 0 at x = y.</summary>
    public static double L1(ReadOnlySpan<double> x, ReadOnlySpan<double> y, Span<double> grad, Reduction reduction) =>
        Elementwise(x, y, grad, reduction, (a, b, _) => (Math.Abs(a - b), Math.Sign(a - b)));

    /// <summary>Huber-like: 0.5·d²/β inside |d| &lt; β, |d| − β/2 outside; β = 0 is L1.</summary>
    public static double SmoothL1(ReadOnlySpan<double> x, ReadOnlySpan<double> y, Span<double> grad, double beta, Reduction reduction) =>
        Elementwise(x, y, grad, reduction, (a, b, _) =>
        {
            double d = a - b;
            return Math.Abs(d) < beta ? (0.5 * d * d / beta, d / beta) : (Math.Abs(d) - 0.5 * beta, Math.Sign(d));
        });

    /// <summary>−w·(y·log x + (1 − y)·log(1 − x)), each log clamped at −100; weight broadcast as entry j mod length.</summary>
    public static double Bce(ReadOnlySpan<double> x, ReadOnlySpan<double> y, Span<double> grad, ReadOnlySpan<double> weight, Reduction reduction)
    {
        double[] w = weight.ToArray();
        return Elementwise(x, y, grad, reduction, (a, b, j) =>
        {
            double wj = w.Length == 0 ? 1 : w[j % w.Length];
            double loss = -wj * (b * Math.Max(Math.Log(a), -100) + (1 - b) * Math.Max(Math.Log(1 - a), -100));
            return (loss, wj * (-b / a + (1 - b) / (1 - a)));
        });
    }

    /// <summary>w·[(1 − y)·x + (1 + (p − 1)·y)·log(1 + e^−x)], weight and pos_weight broadcast as entry j mod length.</summary>
    public static double BceWithLogits(ReadOnlySpan<double> x, ReadOnlySpan<double> y, Span<double> grad, ReadOnlySpan<double> weight,
        ReadOnlySpan<double> posWeight, Reduction reduction)
    {
        double[] w = weight.ToArray(), pw = posWeight.ToArray();
        return Elementwise(x, y, grad, reduction, (a, b, j) =>
        {
            double wj = w.Length == 0 ? 1 : w[j % w.Length], p = pw.Length == 0 ? 1 : pw[j % pw.Length];
            double logWeight = 1 + (p - 1) * b;
            double softplusNeg = a < 0 ? -a + Math.Log(1 + Math.Exp(a)) : Math.Log(1 + Math.Exp(-a)); // log(1 + e^−a)
            double sigmoidNeg = 1 / (1 + Math.Exp(a));                                                   // d/da of −softplus(−a)
            return (wj * ((1 - b) * a + logWeight * softplusNeg), wj * ((1 - b) - logWeight * sigmoidNeg));
        });
    }

    private static double Elementwise(ReadOnlySpan<double> x, ReadOnlySpan<double> y, Span<double> grad, Reduction reduction,
        Func<double, double, int, (double Loss, double Derivative)> f)
    {
        if (x.Length != y.Length) throw new ArgumentException($"{y.Length} targets for {x.Length} outputs.", nameof(y));
        double scale = reduction == Reduction.Mean ? 1.0 / x.Length : 1.0, total = 0;
        for (int j = 0; j < x.Length; j++)
        {
            var (loss, derivative) = f(x[j], y[j], j);
            total += loss;
            if (!grad.IsEmpty) grad[j] = derivative * scale;
        }
        return total * scale;
    }
}
