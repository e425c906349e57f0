// Classification losses on the CPU: mean cross-entropy on logits and mean NLL on log-probabilities, each with its gradient.
using System.Numerics.Tensors;
using static GraphCompiler.Backends.Cpu.BufferChecks;

namespace GraphCompiler.Backends.Cpu;

public static class LossKernels
{
    /// <summary>
    /// Mean over n rows of −log softmax(logits)[target]. If grad is non-empty it receives dLoss/dlogits (n, c) =
    /// (softmax − onehot) / n. Targets are checked before anything is written.
    /// </summary>
    public static float CrossEntropy(ReadOnlySpan<float> logits, ReadOnlySpan<int> targets, Span<float> grad, int n, int c)
    {
        CheckLength(logits, (long)n * c, nameof(logits));
        CheckTargets(targets, n, c);
        if (!grad.IsEmpty) CheckLength(grad, (long)n * c, nameof(grad));
        Span<float> e = LogSoftmaxKernels.RowScratch(c); // exp(x − max) (c)
        float invN = 1f / n;
        double total = 0;
        for (int i = 0; i < n; i++)
        {
            var xi = logits.Slice(i * c, c);
            float lse = LogSoftmaxKernels.LogSumExp(xi, e);
            int t = targets[i];
            total += lse - xi[t];
            if (!grad.IsEmpty)
            {
                var gi = grad.Slice(i * c, c);
                // softmax = exp(x − lse); scaling by 1/n here folds the mean into the gradient.
                TensorPrimitives.Subtract(xi, lse, gi);
                TensorPrimitives.Exp(gi, gi);
                TensorPrimitives.Multiply(gi, invN, gi);
                gi[t] -= invN;
            }
        }
        return (float)(total / n);
    }

    /// <summary>Mean of −logProbs[i, target_i] over (n, c); grad (if non-empty) = −onehot / n.</summary>
    public static float Nll(ReadOnlySpan<float> logProbs, ReadOnlySpan<int> targets, Span<float> grad, int n, int c)
    {
        CheckLength(logProbs, (long)n * c, nameof(logProbs));
        CheckTargets(targets, n, c);
        if (!grad.IsEmpty)
        {
            CheckLength(grad, (long)n * c, nameof(grad));
            grad.Slice(0, n * c).Clear();
        }
        double total = 0;
        for (int i = 0; i < n; i++)
        {
            int t = targets[i];
            total -= logProbs[i * c + t];
            if (!grad.IsEmpty) grad[i * c + t] = -1f / n;
        }
        return (float)(total / n);
    }

    /// <summary>
    /// NLL of a LogSoftmax output with the LogSoftmax backward folded in: the mean of −logProbs[i, target_i], and
    /// gradLogits (n, c) = (exp(logProbs) − onehot) / n, the gradient with respect to the logits that fed the LogSoftmax.
    /// One pass replaces NLL's gradient kernel plus LogSoftmax's backward.
    /// </summary>
    public static float NllOfLogSoftmax(ReadOnlySpan<float> logProbs, ReadOnlySpan<int> targets, Span<float> gradLogits, int n, int c)
    {
        CheckLength(logProbs, (long)n * c, nameof(logProbs));
        CheckTargets(targets, n, c);
        CheckLength(gradLogits, (long)n * c, nameof(gradLogits));
        float invN = 1f / n;
        double total = 0;
        for (int i = 0; i < n; i++)
        {
            int t = targets[i];
            total -= logProbs[i * c + t];
            var gi = gradLogits.Slice(i * c, c);
            TensorPrimitives.Exp(logProbs.Slice(i * c, c), gi);
            TensorPrimitives.Multiply(gi, invN, gi);
            gi[t] -= invN;
        }
        return (float)(total / n);
    }

    private static void CheckTargets(ReadOnlySpan<int> targets, int n, int c)
    {
        CheckLength(targets, n, nameof(targets));
        for (int i = 0; i < n; i++)
            if ((uint)targets[i] >= (uint)c)
                throw new ArgumentException($"Target {targets[i]} in row {i} is outside the class range [0, {c}).", nameof(targets));
    }
}
