// Loss functions with PyTorch's names, options and semantics: class-index losses over int targets, element-wise losses over float targets.
using GraphCompiler.Backends.Cpu;

namespace GraphCompiler.Nn;

/// <summary>
/// A loss over a model's output and its targets. Class-index losses (<see cref="CrossEntropyLoss"/>, <see cref="NllLoss"/>)
/// take outputs (N, C) or (N, C, d1…) and int targets (N) or (N, d1…); the others take float targets shaped like the output.
/// Every <c>Compute</c> returns the reduced loss, writes dLoss/doutput to <c>grad</c> when it is non-empty and the
/// per-element losses (PyTorch's <c>reduction='none'</c> result) to <c>losses</c> when that is non-empty.
/// </summary>
public abstract class Loss
{
    protected Loss(Reduction reduction)
    {
        if (!Enum.IsDefined(reduction)) throw new ArgumentOutOfRangeException(nameof(reduction), reduction, "Reduction must be None, Mean or Sum.");
        Reduction = reduction;
    }

    /// <summary><c>F.cross_entropy</c> with its defaults: log-softmax and NLL over raw logits, mean over the batch.</summary>
    public static readonly Loss CrossEntropy = new CrossEntropyLoss();

    /// <summary><c>F.nll_loss</c> with its defaults, over log-probabilities (a model ending in LogSoftmax).</summary>
    public static readonly Loss Nll = new NllLoss();

    /// <summary>PyTorch's functional name, e.g. <c>cross_entropy</c>, used in error messages.</summary>
    public abstract string Name { get; }

    public Reduction Reduction { get; }

    /// <summary>True for losses whose targets are class indices (int); false for float targets shaped like the output.</summary>
    public abstract bool TakesClassTargets { get; }

    /// <summary>The loss of <paramref name="n"/> rows of (n, classes) outputs; if <paramref name="grad"/> is not empty, dLoss/doutput goes there.</summary>
    public float Compute(ReadOnlySpan<float> output, ReadOnlySpan<int> targets, Span<float> grad, int n, int classes) =>
        Compute(output, targets, grad, [], n, classes, 1);

    /// <summary>
    /// The loss of outputs (n, classes, inner) — inner the product of the spatial dims, 1 for (n, classes) — against n·inner
    /// class indices; <paramref name="losses"/> (n·inner, optional) receives the per-element losses.
    /// </summary>
    public virtual float Compute(ReadOnlySpan<float> output, ReadOnlySpan<int> targets, Span<float> grad, Span<float> losses, int n, int classes, int inner) =>
        throw new ArgumentException($"{Name} takes float targets shaped like the output, not class indices.", nameof(targets));

    /// <summary>The loss of an output against float targets of the same length; <paramref name="losses"/> (optional) receives the per-element losses.</summary>
    public virtual float Compute(ReadOnlySpan<float> output, ReadOnlySpan<float> targets, Span<float> grad, Span<float> losses = default) =>
        throw new ArgumentException($"{Name} takes class-index (int) targets, not float targets.", nameof(targets));

    /// <summary>
    /// For an output that is a LogSoftmax of logits: the loss, with dLoss/dlogits written to <paramref name="logitsGrad"/>
    /// in the same kernel, so the LogSoftmax backward is skipped. Called when the schedule's fusion names this loss
    /// (<see cref="GraphCompiler.Compiler.Schedule.LossAtLogits"/>); returns false when this loss has no such fused form.
    /// </summary>
    public virtual bool TryComputeAtLogits(ReadOnlySpan<float> logProbs, ReadOnlySpan<int> targets, Span<float> logitsGrad, int n, int classes,
        out float loss)
    {
        loss = 0;
        return false;
    }

    private protected static string ReductionText(Reduction r) => r.ToString().ToLowerInvariant();
}

/// <summary>The options the class-index losses share: per-class weights, a target value to ignore, the reduction.</summary>
public abstract class ClassIndexLoss : Loss
{
    private readonly float[] _weight;

    private protected ClassIndexLoss(float[]? weight, int ignoreIndex, Reduction reduction) : base(reduction)
    {
        _weight = weight is null ? [] : (float[])weight.Clone();
        IgnoreIndex = ignoreIndex;
    }

    /// <summary>One weight per class, or empty for none (all 1).</summary>
    public ReadOnlySpan<float> Weight => _weight;

    /// <summary>Targets equal to this contribute neither loss nor gradient and do not count in the mean (PyTorch's default −100).</summary>
    public int IgnoreIndex { get; }

    public override bool TakesClassTargets => true;
}

/// <summary><c>nn.CrossEntropyLoss(weight, ignore_index, reduction, label_smoothing)</c> over raw logits, as torch 1.13 computes it.</summary>
public sealed class CrossEntropyLoss : ClassIndexLoss
{
    public CrossEntropyLoss(float[]? weight = null, int ignoreIndex = -100, float labelSmoothing = 0f, Reduction reduction = Reduction.Mean)
        : base(weight, ignoreIndex, reduction)
    {
        if (!(labelSmoothing >= 0f && labelSmoothing <= 1f))
            throw new ArgumentOutOfRangeException(nameof(labelSmoothing), labelSmoothing, "cross_entropy: label_smoothing must be in [0, 1].");
        LabelSmoothing = labelSmoothing;
    }

    public float LabelSmoothing { get; }

    public override string Name => "cross_entropy";

    public override float Compute(ReadOnlySpan<float> output, ReadOnlySpan<int> targets, Span<float> grad, Span<float> losses, int n, int classes, int inner) =>
        LossKernels.CrossEntropy(output, targets, grad, losses, n, classes, inner, Weight, IgnoreIndex, LabelSmoothing, Reduction);

    public override string ToString() =>
        $"CrossEntropyLoss(weight: {(Weight.IsEmpty ? "none" : $"[{Weight.Length}]")}, ignore_index: {IgnoreIndex}, label_smoothing: {LabelSmoothing}, reduction: {ReductionText(Reduction)})";
}

/// <summary><c>nn.NLLLoss(weight, ignore_index, reduction)</c> over log-probabilities.</summary>
public sealed class NllLoss : ClassIndexLoss
{
    public NllLoss(float[]? weight = null, int ignoreIndex = -100, Reduction reduction = Reduction.Mean) : base(weight, ignoreIndex, reduction)
    {
    }

    public override string Name => "nll_loss";

    public override float Compute(ReadOnlySpan<float> output, ReadOnlySpan<int> targets, Span<float> grad, Span<float> losses, int n, int classes, int inner) =>
        LossKernels.Nll(output, targets, grad, losses, n, classes, inner, Weight, IgnoreIndex, Reduction);

    public override bool TryComputeAtLogits(ReadOnlySpan<float> logProbs, ReadOnlySpan<int> targets, Span<float> logitsGrad, int n, int classes,
        out float loss)
    {
        loss = LossKernels.NllOfLogSoftmax(logProbs, targets, logitsGrad, [], n, classes, 1, Weight, IgnoreIndex, Reduction);
        return true;
    }

    public override string ToString() =>
        $"NllLoss(weight: {(Weight.IsEmpty ? "none" : $"[{Weight.Length}]")}, ignore_index: {IgnoreIndex}, reduction: {ReductionText(Reduction)})";
}

/// <summary>A loss over float targets shaped like the output, element by element.</summary>
public abstract class ElementwiseLoss : Loss
{
    private protected ElementwiseLoss(Reduction reduction) : base(reduction)
    {
    }

    public override bool TakesClassTargets => false;
}

/// <summary><c>nn.MSELoss(reduction)</c>: (x − y)².</summary>
public sealed class MseLoss(Reduction reduction = Reduction.Mean) : ElementwiseLoss(reduction)
{
    public override string Name => "mse_loss";

    public override float Compute(ReadOnlySpan<float> output, ReadOnlySpan<float> targets, Span<float> grad, Span<float> losses = default) =>
        LossKernels.Mse(output, targets, grad, losses, Reduction);
}

/// <summary><c>nn.L1Loss(reduction)</c>: |x − y|.</summary>
public sealed class L1Loss(Reduction reduction = Reduction.Mean) : ElementwiseLoss(reduction)
{
    public override string Name => "l1_loss";

    public override float Compute(ReadOnlySpan<float> output, ReadOnlySpan<float> targets, Span<float> grad, Span<float> losses = default) =>
        LossKernels.L1(output, targets, grad, losses, Reduction);
}

/// <summary><c>nn.SmoothL1Loss(reduction, beta)</c>: quadratic within <see cref="Beta"/> of the target, linear beyond.</summary>
public sealed class SmoothL1Loss : ElementwiseLoss
{
    public SmoothL1Loss(float beta = 1f, Reduction reduction = Reduction.Mean) : base(reduction)
    {
        if (!(beta >= 0f)) throw new ArgumentOutOfRangeException(nameof(beta), beta, "smooth_l1_loss: beta must be non-negative.");
        Beta = beta;
    }

    public float Beta { get; }

    public override string Name => "smooth_l1_loss";

    public override float Compute(ReadOnlySpan<float> output, ReadOnlySpan<float> targets, Span<float> grad, Span<float> losses = default) =>
        LossKernels.SmoothL1(output, targets, grad, losses, Beta, Reduction);
}

/// <summary>
/// <c>nn.BCELoss(weight, reduction)</c> on probabilities (a model ending in Sigmoid). The weight is broadcast like
/// PyTorch's over the trailing dims: element j uses weight[j mod weight.Length].
/// </summary>
public sealed class BceLoss(float[]? weight = null, Reduction reduction = Reduction.Mean) : ElementwiseLoss(reduction)
{
    private readonly float[] _weight = weight is null ? [] : (float[])weight.Clone();

    public ReadOnlySpan<float> Weight => _weight;

    public override string Name => "binary_cross_entropy";

    public override float Compute(ReadOnlySpan<float> output, ReadOnlySpan<float> targets, Span<float> grad, Span<float> losses = default) =>
        LossKernels.Bce(output, targets, grad, losses, _weight, Reduction);
}

/// <summary>
/// <c>nn.BCEWithLogitsLoss(weight, reduction, pos_weight)</c> on raw logits. Weight and pos_weight broadcast over the
/// trailing dims (element j uses entry j mod length); pos_weight usually has one entry per class, the last dim.
/// </summary>
public sealed class BceWithLogitsLoss(float[]? weight = null, float[]? posWeight = null, Reduction reduction = Reduction.Mean)
    : ElementwiseLoss(reduction)
{
    private readonly float[] _weight = weight is null ? [] : (float[])weight.Clone();
    private readonly float[] _posWeight = posWeight is null ? [] : (float[])posWeight.Clone();

    public ReadOnlySpan<float> Weight => _weight;

    public ReadOnlySpan<float> PosWeight => _posWeight;

    public override string Name => "binary_cross_entropy_with_logits";

    public override float Compute(ReadOnlySpan<float> output, ReadOnlySpan<float> targets, Span<float> grad, Span<float> losses = default) =>
        LossKernels.BceWithLogits(output, targets, grad, losses, _weight, _posWeight, Reduction);
}
