// The table of every CPU op with its random test cases, fast and reference kernels: the tests iterate over it, so no op skips a check.
using GraphCompiler.Backends.Cpu;
using GraphCompiler.Backends.Reference;

namespace GraphCompiler.Tests.Kernels;

/// <summary>
/// One concrete test case of one op: its inputs and the four functions every op must supply. Inputs are
/// (name, values, role); backward fills one gradient per differentiable input.
/// </summary>
public sealed class OpCase
{
    public required string Description { get; init; }

    public required Input[] Inputs { get; init; }

    public required int OutputLength { get; init; }

    /// <summary>Fast kernel forward: (inputs, y).</summary>
    public required Action<float[][], float[]> FastForward { get; init; }

    /// <summary>Reference forward in double: inputs → y.</summary>
    public required Func<double[][], double[]> ReferenceForward { get; init; }

    /// <summary>
    /// Fast kernel backward: (inputs, y from FastForward, dy, grads). grads[i] is null for non-differentiable inputs;
    /// input gradients are overwritten, parameter gradients accumulated, exactly as the kernels promise.
    /// </summary>
    public required Action<float[][], float[], float[], float[]?[]> FastBackward { get; init; }

    /// <summary>Reference backward in double: (inputs, dy) → gradient per differentiable input (null otherwise).</summary>
    public required Func<double[][], double[], double[]?[]> ReferenceBackward { get; init; }

    /// <summary>How many elements per input the finite-difference check perturbs (all, for small inputs).</summary>
    public int FiniteDifferenceSamples { get; init; } = 40;

    public override string ToString() => Description;
}

public enum Role { Input, Param }

public sealed record Input(string Name, float[] Values, Role Role);

public sealed record OpSpec(string Name, int CaseCount, Func<Rng, int, OpCase> MakeCase)
{
    // Seeded from a stable hash of the name (string.GetHashCode is randomised per process), so every run draws the same cases.
    public OpCase Case(int index) => MakeCase(new Rng(StableHash(Name) * 1000 + (ulong)index), index);

    private static ulong StableHash(string text)
    {
        ulong hash = 14695981039346656037UL; // FNV-1a
        foreach (char c in text) hash = (hash ^ c) * 1099511628211UL;
        return hash & 0x7fffffff;
    }
}

public static partial class OpsTable
{
    // A property, not a field: the shape tables below must be initialised before the specs read them.
    public static OpSpec[] All =>
    [
        new("Linear", LinearShapes.Length + 1, Linear),
        new("Conv2d", ConvShapes.Length + 1, Conv2d),
        new("MaxPool2d", PoolShapes.Length, MaxPool2d),
        new("Relu", ReluLengths.Length, Relu),
        new("LogSoftmax", RowShapes.Length, LogSoftmax),
        new("CrossEntropy", RowShapes.Length + ClassLossOptions.Length, (rng, i) => i < RowShapes.Length ? CrossEntropy(rng, i) : CrossEntropyWithOptions(rng, i - RowShapes.Length)),
        new("Nll", RowShapes.Length + ClassLossOptions.Length, (rng, i) => i < RowShapes.Length ? Nll(rng, i) : NllWithOptions(rng, i - RowShapes.Length)),
        new("NllOfLogSoftmax", RowShapes.Length + RowClassLossOptions.Length, (rng, i) => i < RowShapes.Length ? NllOfLogSoftmax(rng, i) : NllOfLogSoftmaxWithOptions(rng, i - RowShapes.Length)),
        new("Mse", ElementwiseLengths.Length, Mse),
        new("L1", ElementwiseLengths.Length, L1),
        new("SmoothL1", ElementwiseLengths.Length, SmoothL1),
        new("Bce", ElementwiseLengths.Length, Bce),
        new("BceWithLogits", ElementwiseLengths.Length, BceWithLogits),
        new("BatchNorm1d", BatchNorm1dShapes.Length, BatchNorm1d),
        new("BatchNorm2d", BatchNorm2dShapes.Length, BatchNorm2d),
        new("LayerNorm", LayerNormShapes.Length, LayerNorm),
        new("Dropout", DropoutShapes.Length, Dropout),
        new("Add", BroadcastShapes.Length, (rng, i) => Broadcast(rng, i, multiply: false)),
        new("Mul", BroadcastShapes.Length, (rng, i) => Broadcast(rng, i, multiply: true)),
        new("Cat", CatShapes.Length, Cat),
    ];

    public static OpSpec Get(string name) => All.Single(s => s.Name == name);

    /// <summary>Every (op, case index) pair, for [MemberData].</summary>
    public static IEnumerable<object[]> Cases() => All.SelectMany(s => Enumerable.Range(0, s.CaseCount).Select(i => new object[] { s.Name, i }));

    /// <summary>Only the cases whose op has parameters (whose gradients accumulate).</summary>
    public static IEnumerable<object[]> CasesWithParams() =>
        Cases().Where(c => Get((string)c[0]).Case((int)c[1]).Inputs.Any(i => i.Role == Role.Param));

    // ---------------------------------------------------------------- Linear

    // (n, inF, outF, bias): single elements, odd sizes, more than one register tile, and K beyond one cache block.
    private static readonly (int N, int In, int Out, bool Bias)[] LinearShapes =
        [(1, 1, 1, true), (1, 7, 5, false), (3, 17, 33, true), (5, 40, 9, true), (64, 100, 70, true), (13, 300, 37, true), (70, 131, 140, false)];

    private static OpCase Linear(Rng rng, int index)
    {
        var (n, inF, outF, bias) = index < LinearShapes.Length ? LinearShapes[index] : (1 + rng.NextInt(20), 1 + rng.NextInt(70), 1 + rng.NextInt(70), rng.NextInt(2) == 0);
        var inputs = new List<Input> { new("x", Data.Uniform(rng, n * inF), Role.Input), new("w", Data.Uniform(rng, outF * inF), Role.Param) };
        if (bias) inputs.Add(new("b", Data.Uniform(rng, outF), Role.Param));
        return new OpCase
        {
            Description = $"Linear n={n} in={inF} out={outF} bias={bias}",
            Inputs = [.. inputs],
            OutputLength = n * outF,
            FiniteDifferenceSamples = n * inF * outF > 100_000 ? 12 : 40,
            FastForward = (i, y) => LinearKernels.Forward(i[0], i[1], bias ? i[2] : default, y, n, inF, outF),
            ReferenceForward = i =>
            {
                var y = new double[n * outF];
                ReferenceKernels.LinearForward(i[0], i[1], bias ? i[2] : default, y, n, inF, outF);
                return y;
            },
            FastBackward = (i, y, dy, g) =>
            {
                LinearKernels.BackwardInput(dy, i[1], g[0], n, inF, outF);
                LinearKernels.BackwardParams(dy, i[0], g[1], bias ? g[2] : default, n, inF, outF);
            },
            ReferenceBackward = (i, dy) =>
            {
                double[] dx = new double[n * inF], dw = new double[outF * inF], db = new double[bias ? outF : 0];
                ReferenceKernels.LinearBackward(i[0], i[1], dy, dx, dw, db, n, inF, outF);
                return bias ? [dx, dw, db] : [dx, dw];
            },
        };
    }

    // ---------------------------------------------------------------- Conv2d

    // (geometry, n, bias): stride 2, asymmetric kernels/strides/padding, 1×1, CifarNet-like 5×5 pad 2, and one big
    // enough to split images across threads.
    private static readonly (Conv2dGeometry G, int N, bool Bias)[] ConvShapes =
    [
        (new(1, 1, 5, 5, 3, 3, 1, 1, 0, 0), 1, true),
        (new(3, 4, 7, 6, 3, 3, 2, 2, 1, 1), 2, true),
        (new(2, 5, 9, 8, 3, 2, 2, 1, 1, 0), 3, false),
        (new(3, 8, 11, 11, 5, 5, 1, 1, 2, 2), 2, true),
        (new(4, 3, 6, 7, 1, 1, 1, 1, 0, 0), 2, true),
        (new(5, 33, 10, 9, 3, 3, 1, 2, 2, 1), 1, true),
        (new(16, 20, 16, 16, 3, 3, 1, 1, 1, 1), 8, true),
        (new(9, 6, 7, 7, 5, 5, 1, 1, 2, 2), 2, true),   // K = 225 spans two GEMM depth blocks; 7-wide rows straddle slivers
        (new(32, 64, 32, 32, 3, 3, 1, 1, 1, 1), 1, false), // one image, 19M multiply-adds: the multi-threaded GEMM path
        (new(4, 3, 8, 8, 3, 3, 1, 1, 1, 1), 2, true),     // K = 36: one full 32-row sliver (8×8 transposes) and a ragged one
        (new(6, 5, 14, 20, 3, 3, 1, 1, 1, 1), 1, true),   // P = 280 pixels: two depth blocks for the weight gradient
    ];

    private static OpCase Conv2d(Rng rng, int index)
    {
        Conv2dGeometry g; int n; bool bias;
        if (index < ConvShapes.Length) (g, n, bias) = ConvShapes[index];
        else
        {
            int k = 1 + rng.NextInt(4), s = 1 + rng.NextInt(2), p = rng.NextInt(k);
            g = new Conv2dGeometry(1 + rng.NextInt(4), 1 + rng.NextInt(6), k + rng.NextInt(8), k + rng.NextInt(8), k, k, s, s, p, p);
            n = 1 + rng.NextInt(3);
            bias = rng.NextInt(2) == 0;
        }
        var geo = g;
        int inLen = n * g.InChannels * g.InH * g.InW, wLen = g.OutChannels * g.PatchSize, outLen = n * g.OutChannels * g.OutH * g.OutW;
        var inputs = new List<Input> { new("x", Data.Uniform(rng, inLen), Role.Input), new("w", Data.Uniform(rng, wLen), Role.Param) };
        if (bias) inputs.Add(new("b", Data.Uniform(rng, g.OutChannels), Role.Param));
        return new OpCase
        {
            Description = $"Conv2d n={n} {g} bias={bias}",
            Inputs = [.. inputs],
            OutputLength = outLen,
            FiniteDifferenceSamples = (long)outLen * g.PatchSize > 10_000_000 ? 3 : (long)outLen * g.PatchSize > 200_000 ? 6 : 40,
            FastForward = (i, y) => Conv2dKernels.Forward(i[0], i[1], bias ? i[2] : default, y, geo, n),
            ReferenceForward = i =>
            {
                var y = new double[outLen];
                ReferenceKernels.Conv2dForward(i[0], i[1], bias ? i[2] : default, y, geo, n);
                return y;
            },
            FastBackward = (i, y, dy, gr) =>
            {
                Conv2dKernels.BackwardInput(dy, i[1], gr[0], geo, n);
                Conv2dKernels.BackwardParams(dy, i[0], gr[1], bias ? gr[2] : default, geo, n);
            },
            ReferenceBackward = (i, dy) =>
            {
                double[] dx = new double[inLen], dw = new double[wLen], db = new double[bias ? geo.OutChannels : 0];
                ReferenceKernels.Conv2dBackward(i[0], i[1], dy, dx, dw, db, geo, n);
                return bias ? [dx, dw, db] : [dx, dw];
            },
        };
    }

    // ---------------------------------------------------------------- MaxPool2d

    // (geometry, n): the usual 2×2/2 (row-SIMD, gather and scalar paths), overlapping 3×3/2 with padding, odd sizes
    // dropping a last row, and a big parallel one.
    private static readonly (Pool2dGeometry G, int N)[] PoolShapes =
    [
        (new(1, 4, 4, 2, 2, 2, 2, 0, 0), 1),
        (new(3, 7, 9, 3, 3, 2, 2, 1, 1), 2),
        (new(2, 9, 7, 2, 2, 2, 2, 0, 0), 3),
        (new(2, 9, 7, 3, 2, 1, 2, 1, 1), 2),
        (new(4, 5, 5, 3, 3, 3, 3, 1, 1), 1),
        (new(16, 32, 32, 2, 2, 2, 2, 0, 0), 16),
        (new(3, 8, 12, 2, 2, 2, 2, 0, 0), 2),
        (new(5, 16, 16, 2, 2, 2, 2, 0, 0), 3),
    ];

    private static OpCase MaxPool2d(Rng rng, int index)
    {
        var (g, n) = PoolShapes[index];
        var geo = g;
        int inLen = n * g.Channels * g.InH * g.InW, outLen = n * g.Channels * g.OutH * g.OutW;
        return new OpCase
        {
            Description = $"MaxPool2d n={n} {g}",
            // Distinct values spaced well apart, so a finite-difference step never changes a window's winner.
            Inputs = [new("x", Data.DistinctShuffled(rng, inLen), Role.Input)],
            OutputLength = outLen,
            FiniteDifferenceSamples = inLen > 10_000 ? 10 : 40,
            FastForward = (i, y) => MaxPool2dKernels.Forward(i[0], y, new int[outLen], geo, n),
            ReferenceForward = i =>
            {
                var y = new double[outLen];
                ReferenceKernels.MaxPool2dForward(i[0], y, new int[outLen], geo, n);
                return y;
            },
            FastBackward = (i, y, dy, gr) =>
            {
                var argmax = new int[outLen];
                MaxPool2dKernels.Forward(i[0], new float[outLen], argmax, geo, n);
                MaxPool2dKernels.Backward(dy, argmax, gr[0], geo, n);
            },
            ReferenceBackward = (i, dy) =>
            {
                var dx = new double[inLen];
                ReferenceKernels.MaxPool2dBackward(i[0], dy, dx, geo, n);
                return [dx];
            },
        };
    }

    // ---------------------------------------------------------------- ReLU

    // Lengths around the 16-float vector width, and long buffers.
    private static readonly int[] ReluLengths = [1, 15, 16, 33, 1000, 100_003, 1_100_003]; // the last is split across threads

    private static OpCase Relu(Rng rng, int index)
    {
        int len = ReluLengths[index];
        return new OpCase
        {
            Description = $"Relu len={len}",
            // Kept away from the kink at 0, where the finite difference is meaningless.
            Inputs = [new("x", Data.AwayFromZero(rng, len, 0.05f), Role.Input)],
            OutputLength = len,
            FastForward = (i, y) => ReluKernels.Forward(i[0], y),
            ReferenceForward = i =>
            {
                var y = new double[len];
                ReferenceKernels.ReluForward(i[0], y);
                return y;
            },
            FastBackward = (i, y, dy, gr) => ReluKernels.Backward(y, dy, gr[0]),
            ReferenceBackward = (i, dy) =>
            {
                var dx = new double[len];
                ReferenceKernels.ReluBackward(i[0], dy, dx);
                return [dx];
            },
        };
    }

    // ---------------------------------------------------------------- row-wise ops: LogSoftmax and the losses

    private static readonly (int N, int C)[] RowShapes = [(1, 1), (1, 10), (3, 7), (5, 33), (64, 10), (2, 200)];

    private static OpCase LogSoftmax(Rng rng, int index)
    {
        var (n, c) = RowShapes[index];
        return new OpCase
        {
            Description = $"LogSoftmax n={n} c={c}",
            Inputs = [new("x", Data.Uniform(rng, n * c, 4f), Role.Input)],
            OutputLength = n * c,
            FastForward = (i, y) => LogSoftmaxKernels.Forward(i[0], y, n, c),
            ReferenceForward = i =>
            {
                var y = new double[n * c];
                ReferenceKernels.LogSoftmaxForward(i[0], y, n, c);
                return y;
            },
            FastBackward = (i, y, dy, gr) => LogSoftmaxKernels.Backward(y, dy, gr[0], n, c),
            ReferenceBackward = (i, dy) =>
            {
                var dx = new double[n * c];
                ReferenceKernels.LogSoftmaxBackward(i[0], dy, dx, n, c);
                return [dx];
            },
        };
    }

    private static OpCase CrossEntropy(Rng rng, int index)
    {
        var (n, c) = RowShapes[index];
        int[] t = Data.Targets(rng, n, c);
        return LossCase($"CrossEntropy n={n} c={c}", Data.Uniform(rng, n * c, 3f), n, c,
            (x, g) => LossKernels.CrossEntropy(x, t, g, n, c),
            (x, g) => ReferenceKernels.CrossEntropy(x, t, g, n, c));
    }

    private static OpCase Nll(Rng rng, int index)
    {
        var (n, c) = RowShapes[index];
        int[] t = Data.Targets(rng, n, c);
        return LossCase($"Nll n={n} c={c}", Data.Uniform(rng, n * c, 3f), n, c,
            (x, g) => LossKernels.Nll(x, t, g, n, c),
            (x, g) => ReferenceKernels.Nll(x, t, g, n, c));
    }

    // The fused loss takes log-probabilities and returns the gradient at the logits, so as a function of the logits
    // (log-softmax first) it is cross-entropy, and the reference is cross-entropy's.
    private static OpCase NllOfLogSoftmax(Rng rng, int index)
    {
        var (n, c) = RowShapes[index];
        int[] t = Data.Targets(rng, n, c);
        return LossCase($"NllOfLogSoftmax n={n} c={c}", Data.Uniform(rng, n * c, 3f), n, c,
            (x, g) =>
            {
                var logProbs = new float[n * c];
                LogSoftmaxKernels.Forward(x, logProbs, n, c);
                return LossKernels.NllOfLogSoftmax(logProbs, t, g.Length == 0 ? new float[n * c] : g, n, c);
            },
            (x, g) => ReferenceKernels.CrossEntropy(x, t, g, n, c));
    }

    // ---------------------------------------------------------------- Add and Mul (broadcasting) and Cat

    // (n, a's per-sample dims, b's): equal shapes (flat SIMD path), a per-channel gate, the left operand broadcast, ranks
    // that differ, an outer product (both broadcast), a repeated last element, and long rows.
    private static readonly (int N, int[] A, int[] B)[] BroadcastShapes =
    [
        (2, [5], [5]), (3, [4, 3, 3], [4, 1, 1]), (2, [4, 1, 1], [4, 3, 3]), (2, [3, 4], [4]),
        (1, [2, 1, 5], [1, 3, 1]), (2, [6, 7], [6, 1]), (2, [1], [33]), (3, [8, 300], [1, 300]), (4, [16, 8, 8], [16, 8, 8]),
    ];

    private static OpCase Broadcast(Rng rng, int index, bool multiply)
    {
        var (n, aDims, bDims) = BroadcastShapes[index];
        BroadcastGeometry g = BroadcastGeometry.Of(aDims, bDims)!;
        int aLen = n * g.APerSample, bLen = n * g.BPerSample, yLen = n * g.YPerSample;
        return new OpCase
        {
            Description = $"{(multiply ? "Mul" : "Add")} n={n} [{string.Join(",", aDims)}] and [{string.Join(",", bDims)}]",
            Inputs = [new("a", Data.Uniform(rng, aLen), Role.Input), new("b", Data.Uniform(rng, bLen), Role.Input)],
            OutputLength = yLen,
            FastForward = (i, y) =>
            {
                if (multiply) MulKernels.Forward(i[0], i[1], y, g, n);
                else AddKernels.Forward(i[0], i[1], y, g, n);
            },
            ReferenceForward = i =>
            {
                var y = new double[yLen];
                ReferenceKernels.BroadcastForward(i[0], aDims, i[1], bDims, y, n, multiply);
                return y;
            },
            FastBackward = (i, y, dy, gr) =>
            {
                if (multiply)
                {
                    MulKernels.BackwardLeft(dy, i[1], gr[0], g, n);
                    MulKernels.BackwardRight(dy, i[0], gr[1], g, n);
                }
                else
                {
                    AddKernels.BackwardLeft(dy, gr[0], g, n);
                    AddKernels.BackwardRight(dy, gr[1], g, n);
                }
            },
            ReferenceBackward = (i, dy) =>
            {
                double[] da = new double[aLen], db = new double[bLen];
                ReferenceKernels.BroadcastBackward(i[0], aDims, i[1], bDims, dy, da, db, n, multiply);
                return [da, db];
            },
        };
    }

    // (n, per-sample dims of each input, dim): channels, a middle dim with three inputs, the last dim, 2-D rows, a
    // negative dim, and a larger pair.
    private static readonly (int N, int[][] Dims, int Dim)[] CatShapes =
    [
        (2, [[3, 4, 4], [5, 4, 4]], 1), (3, [[2, 3, 4], [2, 5, 4], [2, 1, 4]], 2), (1, [[2, 3, 4], [2, 3, 1]], 3),
        (4, [[7], [9]], 1), (2, [[3, 2], [3, 2]], -1), (5, [[16, 8, 8], [16, 8, 8]], 1),
    ];

    private static OpCase Cat(Rng rng, int index)
    {
        var (n, dims, dim) = CatShapes[index];
        int axis = dim < 0 ? dim + dims[0].Length + 1 : dim;
        int[] lens = dims.Select(d => n * d.Aggregate(1, (p, x) => p * x)).ToArray();
        int rows = dims[0].Take(axis - 1).Aggregate(1, (p, x) => p * x), after = dims[0].Skip(axis).Aggregate(1, (p, x) => p * x);
        int total = dims.Sum(d => d[axis - 1]);
        int[] offsets = dims.Select((d, k) => dims.Take(k).Sum(e => e[axis - 1]) * after).ToArray();
        return new OpCase
        {
            Description = $"Cat n={n} dim={dim} {string.Join(" ", dims.Select(d => "[" + string.Join(",", d) + "]"))}",
            Inputs = [.. dims.Select((d, k) => new Input("x" + k, Data.Uniform(rng, lens[k]), Role.Input))],
            OutputLength = lens.Sum(),
            FastForward = (i, y) =>
            {
                for (int k = 0; k < dims.Length; k++) CatKernels.Forward(i[k], y, rows, dims[k][axis - 1] * after, total * after, offsets[k], n);
            },
            ReferenceForward = i =>
            {
                var y = new double[lens.Sum()];
                ReferenceKernels.CatForward(i, dims, axis, y, n);
                return y;
            },
            FastBackward = (i, y, dy, gr) =>
            {
                for (int k = 0; k < dims.Length; k++) CatKernels.Backward(dy, gr[k], rows, dims[k][axis - 1] * after, total * after, offsets[k], n);
            },
            ReferenceBackward = (i, dy) =>
            {
                double[][] dx = lens.Select(l => new double[l]).ToArray();
                ReferenceKernels.CatBackward(dx, dims, axis, dy, n);
                return dx;
            },
        };
    }

    // A loss is an op with a one-element output; its backward is the kernel's gradient scaled by that element's dy.
    private static OpCase LossCase(string description, float[] x, int n, int c,
        Func<float[], float[], float> fast, Func<double[], double[], double> reference) => new()
    {
        Description = description,
        Inputs = [new("logits", x, Role.Input)],
        OutputLength = 1,
        FastForward = (i, y) => y[0] = fast(i[0], []),
        ReferenceForward = i => [reference(i[0], [])],
        FastBackward = (i, y, dy, gr) =>
        {
            fast(i[0], gr[0]!);
            for (int j = 0; j < n * c; j++) gr[0]![j] *= dy[0];
        },
        ReferenceBackward = (i, dy) =>
        {
            var g = new double[n * c];
            reference(i[0], g);
            for (int j = 0; j < g.Length; j++) g[j] *= dy[0];
            return [g];
        },
    };
}
