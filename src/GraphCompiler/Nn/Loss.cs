// Loss functions over a model's output and integer class targets, each returning the mean loss and writing its gradient.
using GraphCompiler.Backends.Cpu;

namespace GraphCompiler.Nn;

/// <summary>A loss over (N, C) outputs and N class indices, mean-reduced like PyTorch's default.</summary>
public abstract class Loss
{
    /// <summary><c>F.cross_entropy</c>: log-softmax and NLL over raw logits.</summary>
    public static readonly Loss CrossEntropy = new CrossEntropyLoss();

    /// <summary><c>F.nll_loss</c> over log-probabilities (a model ending in LogSoftmax).</summary>
    public static readonly Loss Nll = new NllLoss();

    public abstract string Name { get; }

    /// <summary>The mean loss of <paramref name="n"/> rows; if <paramref name="grad"/> is not empty, dLoss/doutput goes there.</summary>
    public abstract float Compute(ReadOnlySpan<float> output, ReadOnlySpan<int> targets, Span<float> grad, int n, int classes);

    /// <summary>
    /// For an output that is a LogSoftmax of logits: the mean loss, with dLoss/dlogits written to <paramref name="logitsGrad"/>
    /// in the same kernel, so the LogSoftmax backward is skipped. Returns false when this loss has no such fused form.
    /// </summary>
    public virtual bool TryComputeAtLogits(ReadOnlySpan<float> logProbs, ReadOnlySpan<int> targets, Span<float> logitsGrad, int n, int classes,
        out float loss)
    {
        loss = 0;
        return false;
    }

    private sealed class CrossEntropyLoss : Loss
    {
        public override string Name => "cross_entropy";

        public override float Compute(ReadOnlySpan<float> output, ReadOnlySpan<int> targets, Span<float> grad, int n, int classes) =>
            LossKernels.CrossEntropy(output, targets, grad, n, classes);
    }

    private sealed class NllLoss : Loss
    {
        public override string Name => "nll_loss";

        public override float Compute(ReadOnlySpan<float> output, ReadOnlySpan<int> targets, Span<float> grad, int n, int classes) =>
            LossKernels.Nll(output, targets, grad, n, classes);

        public override bool TryComputeAtLogits(ReadOnlySpan<float> logProbs, ReadOnlySpan<int> targets, Span<float> logitsGrad, int n, int classes,
            out float loss)
        {
            loss = LossKernels.NllOfLogSoftmax(logProbs, targets, logitsGrad, n, classes);
            return true;
        }
    }
}
