// The OpsTable's loss cases with PyTorch's options: class weights, ignore_index, label smoothing, reductions, spatial outputs, and the element-wise losses.
using GraphCompiler.Backends.Cpu;
using GraphCompiler.Backends.Reference;
using GraphCompiler.Nn;

namespace GraphCompiler.Tests.Kernels;

public static partial class OpsTable
{
    // ---------------------------------------------------------------- class-index losses with options

    /// <summary>How a case places ignore_index: none present, PyTorch's −100 on some elements, or a class in range.</summary>
    public enum Ignore { None, Default, InRange }

    // (n, c, inner, weighted, ignore, label smoothing (cross-entropy only), reduction): every option alone and combined.
    private static readonly (int N, int C, int Inner, bool Weighted, Ignore Ignore, float Eps, Reduction Reduction)[] ClassLossOptions =
    [
        (6, 5, 1, true, Ignore.None, 0f, Reduction.Mean),
        (7, 4, 1, false, Ignore.Default, 0.1f, Reduction.Mean),
        (6, 5, 1, true, Ignore.Default, 0.2f, Reduction.Mean),
        (5, 6, 1, true, Ignore.InRange, 0.25f, Reduction.Sum),
        (9, 3, 1, false, Ignore.None, 0f, Reduction.Sum),
        (5, 7, 1, true, Ignore.Default, 0.3f, Reduction.None),
        (4, 3, 6, true, Ignore.Default, 0.1f, Reduction.Mean),
        (3, 4, 5, false, Ignore.InRange, 0f, Reduction.None),
        (2, 5, 7, false, Ignore.Default, 0.15f, Reduction.Mean),
    ];

    // The fused NLL-at-logits kernel takes the log-softmax over rows, so its option cases are the (n, c) ones.
    private static readonly (int N, int C, int Inner, bool Weighted, Ignore Ignore, float Eps, Reduction Reduction)[] RowClassLossOptions =
        ClassLossOptions.Where(o => o.Inner == 1).ToArray();

    private sealed record ClassOptions(int N, int C, int Inner, float[] Weight, int IgnoreIndex, float Eps, Reduction Reduction, int[] Targets)
    {
        public double[] WeightD => Data.ToDouble(Weight);

        public override string ToString() =>
            $"n={N} c={C} inner={Inner} weight={(Weight.Length > 0 ? "yes" : "no")} ignore_index={IgnoreIndex} (×{Targets.Count(t => t == IgnoreIndex)}) eps={Eps} reduction={Reduction}";
    }

    private static ClassOptions DrawClassOptions(Rng rng, (int N, int C, int Inner, bool Weighted, Ignore Ignore, float Eps, Reduction Reduction) o)
    {
        int count = o.N * o.Inner;
        int[] targets = Data.Targets(rng, count, o.C);
        int ignoreIndex = o.Ignore == Ignore.InRange ? 1 : -100;
        if (o.Ignore == Ignore.Default)
            for (int e = 0; e < count; e += 3) targets[e] = -100;
        // At least one element kept, so the mean is finite.
        if (targets.All(t => t == ignoreIndex)) targets[0] = 0;
        float[] weight = o.Weighted ? Enumerable.Range(0, o.C).Select(_ => rng.Uniform(0.2f, 2f)).ToArray() : [];
        return new ClassOptions(o.N, o.C, o.Inner, weight, ignoreIndex, o.Eps, o.Reduction, targets);
    }

    private static OpCase CrossEntropyWithOptions(Rng rng, int index)
    {
        var o = DrawClassOptions(rng, ClassLossOptions[index]);
        return LossCase($"CrossEntropy {o}", Data.Uniform(rng, o.N * o.C * o.Inner, 3f), o.N, o.C * o.Inner,
            (x, g) => LossKernels.CrossEntropy(x, o.Targets, g, [], o.N, o.C, o.Inner, o.Weight, o.IgnoreIndex, o.Eps, o.Reduction),
            (x, g) => ReferenceLosses.CrossEntropy(x, o.Targets, g, o.N, o.C, o.Inner, o.WeightD, o.IgnoreIndex, o.Eps, o.Reduction));
    }

    private static OpCase NllWithOptions(Rng rng, int index)
    {
        var o = DrawClassOptions(rng, ClassLossOptions[index]) with { Eps = 0f };
        return LossCase($"Nll {o}", Data.Uniform(rng, o.N * o.C * o.Inner, 3f), o.N, o.C * o.Inner,
            (x, g) => LossKernels.Nll(x, o.Targets, g, [], o.N, o.C, o.Inner, o.Weight, o.IgnoreIndex, o.Reduction),
            (x, g) => ReferenceLosses.Nll(x, o.Targets, g, o.N, o.C, o.Inner, o.WeightD, o.IgnoreIndex, o.Reduction));
    }

    // As a function of the logits (log-softmax first) the fused kernel is the weighted, ignoring cross-entropy without smoothing.
    private static OpCase NllOfLogSoftmaxWithOptions(Rng rng, int index)
    {
        var o = DrawClassOptions(rng, RowClassLossOptions[index]) with { Eps = 0f };
        int n = o.N, c = o.C;
        return LossCase($"NllOfLogSoftmax {o}", Data.Uniform(rng, n * c, 3f), n, c,
            (x, g) =>
            {
                var logProbs = new float[n * c];
                LogSoftmaxKernels.Forward(x, logProbs, n, c);
                return LossKernels.NllOfLogSoftmax(logProbs, o.Targets, g.Length == 0 ? new float[n * c] : g, [], n, c, 1, o.Weight, o.IgnoreIndex, o.Reduction);
            },
            (x, g) => ReferenceLosses.CrossEntropy(x, o.Targets, g, n, c, 1, o.WeightD, o.IgnoreIndex, 0, o.Reduction));
    }

    // ---------------------------------------------------------------- element-wise losses over float targets

    private static readonly int[] ElementwiseLengths = [1, 7, 24, 33, 64, 100];

    private static Reduction ReductionOf(int index) => (Reduction)((index + 1) % 3); // Mean, Sum, None, Mean, …

    private static OpCase Mse(Rng rng, int index)
    {
        int m = ElementwiseLengths[index];
        Reduction r = ReductionOf(index);
        float[] y = Data.Uniform(rng, m, 2f);
        double[] yd = Data.ToDouble(y);
        return LossCase($"Mse m={m} reduction={r}", Data.Uniform(rng, m, 2f), 1, m,
            (x, g) => LossKernels.Mse(x, y, g, [], r),
            (x, g) => ReferenceLosses.Mse(x, yd, g, r));
    }

    // Outputs at least 0.05 from their targets: the finite differences never straddle the kink of |d|.
    private static OpCase L1(Rng rng, int index)
    {
        int m = ElementwiseLengths[index];
        Reduction r = ReductionOf(index);
        float[] x = Data.Uniform(rng, m, 2f);
        float[] d = Data.AwayFromZero(rng, m, 0.05f);
        float[] y = x.Select((v, i) => v - d[i]).ToArray();
        double[] yd = Data.ToDouble(y);
        return LossCase($"L1 m={m} reduction={r}", x, 1, m,
            (xs, g) => LossKernels.L1(xs, y, g, [], r),
            (xs, g) => ReferenceLosses.L1(xs, yd, g, r));
    }

    private static readonly float[] SmoothL1Betas = [1f, 0.5f, 0f, 2f, 1f, 0.3f];

    // Differences drawn in [−3, 3] but kept 0.02 away from 0 and from ±β, where the loss changes formula.
    private static OpCase SmoothL1(Rng rng, int index)
    {
        int m = ElementwiseLengths[index];
        Reduction r = ReductionOf(index);
        float beta = SmoothL1Betas[index];
        float[] x = Data.Uniform(rng, m, 2f);
        var y = new float[m];
        for (int i = 0; i < m; i++)
        {
            float d;
            do d = rng.Uniform(-3f, 3f); while (MathF.Abs(d) < 0.02f || MathF.Abs(MathF.Abs(d) - beta) < 0.02f);
            y[i] = x[i] - d;
        }
        double[] yd = Data.ToDouble(y);
        return LossCase($"SmoothL1 m={m} beta={beta} reduction={r}", x, 1, m,
            (xs, g) => LossKernels.SmoothL1(xs, y, g, [], beta, r),
            (xs, g) => ReferenceLosses.SmoothL1(xs, yd, g, beta, r));
    }

    // Weight broadcast: none, one per element of the trailing dim, one per element.
    private static float[] BroadcastWeight(Rng rng, int index, int m, float lo, float hi)
    {
        int length = (index % 3) switch { 0 => 0, 1 => m % 4 == 0 ? 4 : 1, _ => m };
        return Enumerable.Range(0, length).Select(_ => rng.Uniform(lo, hi)).ToArray();
    }

    // Probabilities in [0.05, 0.95], away from the log clamp; targets soft or hard.
    private static OpCase Bce(Rng rng, int index)
    {
        int m = ElementwiseLengths[index];
        Reduction r = ReductionOf(index);
        float[] x = Enumerable.Range(0, m).Select(_ => rng.Uniform(0.05f, 0.95f)).ToArray();
        float[] y = Enumerable.Range(0, m).Select(_ => index % 2 == 0 ? rng.NextInt(2) : rng.Uniform(0f, 1f)).ToArray();
        float[] w = BroadcastWeight(rng, index, m, 0.2f, 2f);
        double[] yd = Data.ToDouble(y), wd = Data.ToDouble(w);
        return LossCase($"Bce m={m} weight[{w.Length}] reduction={r}", x, 1, m,
            (xs, g) => LossKernels.Bce(xs, y, g, [], w, r),
            (xs, g) => ReferenceLosses.Bce(xs, yd, g, wd, r));
    }

    private static OpCase BceWithLogits(Rng rng, int index)
    {
        int m = ElementwiseLengths[index];
        Reduction r = ReductionOf(index);
        float[] x = Data.Uniform(rng, m, 5f);
        float[] y = Enumerable.Range(0, m).Select(_ => index % 2 == 0 ? rng.NextInt(2) : rng.Uniform(0f, 1f)).ToArray();
        float[] w = BroadcastWeight(rng, index, m, 0.2f, 2f);
        float[] pw = BroadcastWeight(rng, index + 1, m, 0.5f, 3f);
        double[] yd = Data.ToDouble(y), wd = Data.ToDouble(w), pwd = Data.ToDouble(pw);
        return LossCase($"BceWithLogits m={m} weight[{w.Length}] pos_weight[{pw.Length}] reduction={r}", x, 1, m,
            (xs, g) => LossKernels.BceWithLogits(xs, y, g, [], w, pw, r),
            (xs, g) => ReferenceLosses.BceWithLogits(xs, yd, g, wd, pwd, r));
    }
}
