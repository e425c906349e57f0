// Every loss of Nn/Loss.cs on an ILGPU device: the host checks targets and computes the reduction's scales (as the CPU's
// LossKernels do in their first pass), one kernel writes the gradient and each element's share, the host sums the shares.
using GraphCompiler.Nn;
using ILGPU;
using ILGPU.Runtime;

namespace GraphCompiler.Backends.Ilgpu;

/// <summary>
/// Runs losses over device outputs for one <see cref="IlgpuSteps"/> binder; its scratch buffers (targets, weights, each
/// element's loss) grow to the largest batch seen and are then reused.
/// </summary>
public sealed class IlgpuLosses(IlgpuSteps steps)
{
    private ArrayView<int> _intTargets;
    private ArrayView<float> _floatTargets, _elementLoss, _weight, _posWeight;
    private float[] _elementLossHost = [];
    private object? _weightsOf;

    /// <summary>
    /// A class-index loss over outputs (n, c, inner); writes dLoss/doutput to <paramref name="grad"/> (empty: loss only)
    /// and returns the reduced loss. With <paramref name="atLogits"/> (an <see cref="NllLoss"/> reading a LogSoftmax over
    /// rows) the gradient is the logits', the LogSoftmax backward folded in.
    /// </summary>
    public float Class(ClassIndexLoss loss, ArrayView<float> output, ReadOnlySpan<int> targets, ArrayView<float> grad, int n, int c, int inner, bool atLogits = false)
    {
        ArgumentNullException.ThrowIfNull(loss);
        string name = loss.Name;
        long count = (long)n * inner;
        if (targets.Length != count) throw new ArgumentException($"{name}: {targets.Length} targets for {n} samples{(inner > 1 ? $" of {inner} positions" : "")}; expected {count}.", nameof(targets));
        ReadOnlySpan<float> weight = loss.Weight;
        if (!weight.IsEmpty && weight.Length != c) throw new ArgumentException($"{name}: weight has {weight.Length} entries but the output has {c} classes.");
        double totalWeight = 0;
        for (int e = 0; e < count; e++)
        {
            int t = targets[e];
            if (t == loss.IgnoreIndex) continue;
            if ((uint)t >= (uint)c)
            {
                string where = inner > 1 ? $"sample {e / inner}, position {e % inner}" : $"sample {e}";
                throw new ArgumentException($"{name}: target {t} at {where} is outside the class range [0, {c}) and is not ignore_index ({loss.IgnoreIndex}).", nameof(targets));
            }
            totalWeight += weight.IsEmpty ? 1f : weight[t];
        }
        float eps = loss is CrossEntropyLoss ce ? ce.LabelSmoothing : 0f;
        double a = 1 - eps, b = eps / c;
        if (loss.Reduction == Reduction.Mean)
        {
            a /= totalWeight;
            b /= totalWeight;
        }
        double sumWeights = c;
        if (!weight.IsEmpty)
        {
            sumWeights = 0;
            foreach (float w in weight) sumWeights += w;
        }
        Grow(ref _intTargets, count);
        IlgpuSteps.CopyIn(targets, _intTargets.SubView(0, count));
        if (!ReferenceEquals(_weightsOf, loss))
        {
            Grow(ref _weight, Math.Max(1, weight.Length));
            if (!weight.IsEmpty) IlgpuSteps.CopyIn(weight, _weight.SubView(0, weight.Length));
            _weightsOf = loss;
        }
        ClassLossKind kind = loss is CrossEntropyLoss ? ClassLossKind.CrossEntropy : atLogits ? ClassLossKind.NllAtLogits : ClassLossKind.Nll;
        var p = new ClassLossParams(kind, c, inner, loss.IgnoreIndex, (float)a, (float)b, (float)sumWeights, weight.IsEmpty ? 0 : 1, grad.Length > 0 ? 1 : 0);
        var k = steps.Kernel<ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ClassLossParams>(IlgpuKernels.ClassLoss);
        Grow(ref _elementLoss, count);
        k((int)count, output, _intTargets.SubView(0, count), _weight, grad.Length > 0 ? grad : steps.Dummy, _elementLoss.SubView(0, count), p);
        double total = SumElements(count);
        // All elements ignored (or zero total weight) under a mean: 0 / 0, NaN as in torch.
        return loss.Reduction == Reduction.Mean && totalWeight == 0 ? float.NaN : (float)total;
    }

    /// <summary>An element-wise loss against float targets shaped like the output; writes dLoss/doutput to <paramref name="grad"/> (empty: loss only).</summary>
    public float Elementwise(ElementwiseLoss loss, ArrayView<float> output, ReadOnlySpan<float> targets, ArrayView<float> grad)
    {
        ArgumentNullException.ThrowIfNull(loss);
        long m = output.Length;
        if (m == 0) throw new ArgumentException($"{loss.Name}: the output is empty.", nameof(output));
        if (targets.Length != m) throw new ArgumentException($"{loss.Name}: {targets.Length} targets for {m} output values; targets must be shaped like the output.", nameof(targets));
        var (kind, beta) = loss switch
        {
            MseLoss => (ElementwiseLossKind.Mse, 0f),
            L1Loss => (ElementwiseLossKind.L1, 0f),
            SmoothL1Loss s => (ElementwiseLossKind.SmoothL1, s.Beta),
            BceLoss => (ElementwiseLossKind.Bce, 0f),
            BceWithLogitsLoss => (ElementwiseLossKind.BceWithLogits, 0f),
            _ => throw new NotSupportedException($"Loss '{loss.Name}' has no kernel on {steps.Device.Name}."),
        };
        ReadOnlySpan<float> weight = loss is BceLoss bce ? bce.Weight : loss is BceWithLogitsLoss bl ? bl.Weight : default;
        ReadOnlySpan<float> posWeight = loss is BceWithLogitsLoss blp ? blp.PosWeight : default;
        CheckBroadcast(loss.Name, "weight", weight.Length, m);
        CheckBroadcast(loss.Name, "pos_weight", posWeight.Length, m);
        Grow(ref _floatTargets, m);
        IlgpuSteps.CopyIn(targets, _floatTargets.SubView(0, m));
        if (!ReferenceEquals(_weightsOf, loss))
        {
            Grow(ref _weight, Math.Max(1, weight.Length));
            Grow(ref _posWeight, Math.Max(1, posWeight.Length));
            if (!weight.IsEmpty) IlgpuSteps.CopyIn(weight, _weight.SubView(0, weight.Length));
            if (!posWeight.IsEmpty) IlgpuSteps.CopyIn(posWeight, _posWeight.SubView(0, posWeight.Length));
            _weightsOf = loss;
        }
        var p = new ElementwiseLossParams(kind, loss.Reduction == Reduction.Mean ? 1f / m : 1f, beta, weight.Length, posWeight.Length, grad.Length > 0 ? 1 : 0);
        var k = steps.Kernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ElementwiseLossParams>(IlgpuKernels.ElementwiseLoss);
        Grow(ref _elementLoss, m);
        k((int)m, output, _floatTargets.SubView(0, m), _weight, _posWeight, grad.Length > 0 ? grad : steps.Dummy, _elementLoss.SubView(0, m), p);
        return (float)SumElements(m);
    }

    private static void CheckBroadcast(string name, string what, int length, long m)
    {
        if (length > 0 && m % length != 0)
            throw new ArgumentException($"{name}: {what} has {length} entries, which does not broadcast over {m} output values (it must divide them: the trailing dims).", what);
    }

    /// <summary>The elements' shares summed on the host in double, as the CPU kernels total.</summary>
    private double SumElements(long count)
    {
        if (_elementLossHost.Length < count) _elementLossHost = new float[count];
        IlgpuSteps.CopyOut(_elementLoss.SubView(0, count), _elementLossHost.AsSpan(0, (int)count));
        double total = 0;
        for (int i = 0; i < count; i++) total += _elementLossHost[i];
        return total;
    }

    private void Grow<T>(ref ArrayView<T> view, long length) where T : unmanaged
    {
        if (view.Length < length)
        {
            view = steps.Allocate<T>(length);
            if (typeof(T) == typeof(float)) _weightsOf = null; // a new weight buffer must be filled again
        }
    }
}
