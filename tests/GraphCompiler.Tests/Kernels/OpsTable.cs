// The table of every CPU op with its random test cases, fast and reference kernels: the tests iterate over it, so no op skips a check.
using GraphCompiler.Backends.Cpu;
using GraphCompiler.Backends.Reference;
using GraphCompiler.Compiler;

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
    public OpCase Case(int index) => MakeCase(Seeded(index), index);

    /// <summary>The generator case <paramref name="index"/> draws from: another backend's form of the case replays it.</summary>
    public Rng Seeded(int index) => new(StableHash(Name) * 1000 + (ulong)index);

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
        new("AvgPool2d", AvgPoolShapes.Length, AvgPool2d),
        new("AdaptiveAvgPool2d", AdaptiveShapes.Length, AdaptiveAvgPool2d),
        new("Relu", ReluLengths.Length, Relu),
        new("LeakyRelu", LeakyCases.Length, LeakyRelu),
        new("Sigmoid", ActivationLengths.Length, Sigmoid),
        new("Tanh", ActivationLengths.Length, Tanh),
        new("Gelu", 2 * ActivationLengths.Length, Gelu),
        new("Silu", ActivationLengths.Length, Silu),
        new("ElementwiseChain", ChainCases.Length, ElementwiseChain),
        new("Softmax", SoftmaxShapes.Length, Softmax),
        new("LogSoftmax", RowShapes.Length + SoftmaxShapes.Length, LogSoftmax),
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
        // (C, F, H, W, kh, kw, sh, sw, pad top, left, bottom, right, dilation h, w, groups)
        (new(3, 4, 9, 9, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 1), 2, true),        // dilation 2 on the packed stride-1 path
        (new(2, 3, 11, 12, 3, 2, 2, 2, 1, 0, 1, 0, 2, 3, 1), 2, true),      // dilation (2, 3) with stride 2: the general im2col
        (new(4, 6, 7, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2), 2, true),        // two groups
        (new(8, 8, 10, 10, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 8), 3, true),      // depthwise
        (new(3, 6, 9, 9, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 3), 2, false),       // depthwise, channel multiplier 2, stride 2
        (new(2, 3, 8, 8, 4, 4, 1, 1, 1, 1, 2, 2, 1, 1, 1), 1, true),        // padding='same' with an even kernel: 1 before, 2 after
        (new(2, 2, 7, 8, 3, 3, 2, 2, 0, 1, 2, 1, 1, 1, 1), 2, true),        // ONNX-style asymmetric pads, stride 2
        (new(32, 64, 16, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 4), 8, true),    // four groups, big enough to split images across threads
        (new(16, 16, 20, 20, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 16), 4, false),  // dilated depthwise (direct path: vector body and tail)
        (new(4, 8, 9, 19, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 4), 2, true),       // depthwise, channel multiplier 2, on the direct path
        (new(3, 3, 7, 6, 4, 2, 1, 1, 1, 0, 2, 1, 1, 1, 3), 2, false),       // depthwise with asymmetric ('same', even kernel) pads
    ];

    private static OpCase Conv2d(Rng rng, int index)
    {
        Conv2dGeometry g; int n; bool bias;
        if (index < ConvShapes.Length) (g, n, bias) = ConvShapes[index];
        else
        {
            int k = 1 + rng.NextInt(4), s = 1 + rng.NextInt(2), p = rng.NextInt(k), d = 1 + rng.NextInt(2), groups = 1 + rng.NextInt(2);
            int span = d * (k - 1) + 1;
            g = new Conv2dGeometry(groups * (1 + rng.NextInt(3)), groups * (1 + rng.NextInt(4)), span + rng.NextInt(8), span + rng.NextInt(8), k, k, s, s,
                p, p, p, p, d, d, groups);
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
        // (C, H, W, kh, kw, sh, sw, pad top, left, bottom, right, dilation h, w, ceil_mode, count_include_pad)
        (new(2, 9, 9, 3, 3, 2, 2, 1, 1, 1, 1, 2, 2, 0, 1), 2),   // dilation 2
        (new(3, 8, 8, 3, 3, 2, 2, 0, 0, 0, 0, 1, 1, 1, 1), 2),   // ceil_mode: a last, clipped window
        (new(2, 7, 7, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1), 1),   // ceil_mode with padding: the window that would start in the padding is dropped
        (new(2, 7, 9, 2, 2, 2, 2, 0, 0, 0, 0, 1, 1, 1, 1), 2),   // 2×2/2 with ceil_mode on odd sizes: must leave the 2×2 fast path
        (new(2, 6, 7, 3, 3, 1, 2, 0, 1, 2, 1, 1, 1, 0, 1), 2),   // ONNX-style asymmetric pads
        (new(2, 10, 11, 3, 2, 3, 2, 1, 1, 1, 1, 2, 3, 1, 1), 2), // dilation (2, 3) with ceil_mode
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

    // ---------------------------------------------------------------- AvgPool2d

    // (geometry, n): plain 2×2, padding with and without count_include_pad, ceil_mode (with and without padding),
    // asymmetric pads, and a big parallel one whose 20-wide windows take the vector row sums.
    private static readonly (Pool2dGeometry G, int N)[] AvgPoolShapes =
    [
        (new(1, 4, 4, 2, 2, 2, 2, 0, 0), 1),
        (new(3, 7, 9, 3, 3, 2, 2, 1, 1), 2),
        (new(3, 7, 9, 3, 3, 2, 2, 1, 1) { CountIncludePad = false }, 2),
        (new(2, 8, 8, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1), 2),
        (new(2, 8, 8, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, 0), 2),
        (new(2, 7, 7, 2, 2, 2, 2, 0, 0, 0, 0, 1, 1, 1, 1), 1),
        (new(2, 6, 7, 3, 3, 1, 2, 0, 1, 2, 1, 1, 1, 0, 0), 2),
        (new(2, 6, 7, 3, 3, 1, 2, 0, 1, 2, 1, 1, 1, 0, 1), 2),
        (new(8, 64, 64, 3, 20, 2, 4, 1, 2), 8),
    ];

    private static OpCase AvgPool2d(Rng rng, int index)
    {
        var (g, n) = AvgPoolShapes[index];
        var geo = g;
        int inLen = n * g.Channels * g.InH * g.InW, outLen = n * g.Channels * g.OutH * g.OutW;
        return new OpCase
        {
            Description = $"AvgPool2d n={n} {g}",
            Inputs = [new("x", Data.Uniform(rng, inLen), Role.Input)],
            OutputLength = outLen,
            FiniteDifferenceSamples = inLen > 10_000 ? 10 : 40,
            FastForward = (i, y) => AvgPool2dKernels.Forward(i[0], y, geo, n),
            ReferenceForward = i =>
            {
                var y = new double[outLen];
                ReferenceKernels.AvgPool2dForward(i[0], y, geo, n);
                return y;
            },
            FastBackward = (i, y, dy, gr) => AvgPool2dKernels.Backward(dy, gr[0], geo, n),
            ReferenceBackward = (i, dy) =>
            {
                var dx = new double[inLen];
                ReferenceKernels.AvgPool2dBackward(dy, dx, geo, n);
                return [dx];
            },
        };
    }

    // ---------------------------------------------------------------- AdaptiveAvgPool2d

    // (geometry, n): overlapping windows, global pooling, identity, uneven splits, output larger than input, big.
    private static readonly (AdaptivePool2dGeometry G, int N)[] AdaptiveShapes =
    [
        (new(2, 7, 7, 3, 3), 2),
        (new(3, 8, 8, 1, 1), 2),
        (new(2, 5, 9, 5, 9), 1),
        (new(2, 10, 6, 4, 4), 2),
        (new(1, 3, 3, 5, 5), 1),
        (new(16, 32, 32, 7, 7), 8),
    ];

    private static OpCase AdaptiveAvgPool2d(Rng rng, int index)
    {
        var (g, n) = AdaptiveShapes[index];
        var geo = g;
        int inLen = n * g.Channels * g.InH * g.InW, outLen = n * g.Channels * g.OutH * g.OutW;
        return new OpCase
        {
            Description = $"AdaptiveAvgPool2d n={n} {g}",
            Inputs = [new("x", Data.Uniform(rng, inLen), Role.Input)],
            OutputLength = outLen,
            FiniteDifferenceSamples = inLen > 10_000 ? 10 : 40,
            FastForward = (i, y) => AdaptiveAvgPool2dKernels.Forward(i[0], y, geo, n),
            ReferenceForward = i =>
            {
                var y = new double[outLen];
                ReferenceKernels.AdaptiveAvgPool2dForward(i[0], y, geo, n);
                return y;
            },
            FastBackward = (i, y, dy, gr) => AdaptiveAvgPool2dKernels.Backward(dy, gr[0], geo, n),
            ReferenceBackward = (i, dy) =>
            {
                var dx = new double[inLen];
                ReferenceKernels.AdaptiveAvgPool2dBackward(dy, dx, geo, n);
                return [dx];
            },
        };
    }

    // ---------------------------------------------------------------- element-wise activations

    // Lengths around the 16-float vector width, and one long enough for the transcendental kernels to split across cores.
    private static readonly int[] ActivationLengths = [1, 15, 16, 33, 1000, 100_003];

    // (length, negative slope): PyTorch's default, a large one, 0 (ReLU), a negative one (backward given x), and long ones.
    private static readonly (int Len, float Slope)[] LeakyCases = [(1, 0.01f), (33, 0.2f), (1000, 0f), (1000, -0.5f), (100_003, 0.01f), (1_100_003, 0.3f)];

    private static OpCase LeakyRelu(Rng rng, int index)
    {
        var (len, slope) = LeakyCases[index];
        var act = Elementwise.LeakyRelu(slope);
        // A negative slope flips the sign of y, so its derivative must come from x.
        return ElementwiseCase($"LeakyRelu len={len} slope={slope}", Data.AwayFromZero(rng, len, 0.05f),
            (x, y) => ElementwiseKernels.Forward(x, y, act),
            (x, y, dy, dx) => ElementwiseKernels.Backward(act.DerivativeFromOutput ? y : x, dy, dx, act),
            v => ReferenceKernels.LeakyRelu(v, slope), v => ReferenceKernels.LeakyReluGrad(v, slope));
    }

    private static OpCase Sigmoid(Rng rng, int index) =>
        ElementwiseCase($"Sigmoid len={ActivationLengths[index]}", Data.Uniform(rng, ActivationLengths[index], 6f),
            (x, y) => ElementwiseKernels.Forward(x, y, Elementwise.Sigmoid),
            (x, y, dy, dx) => ElementwiseKernels.Backward(y, dy, dx, Elementwise.Sigmoid),
            ReferenceKernels.Sigmoid, ReferenceKernels.SigmoidGrad);

    private static OpCase Tanh(Rng rng, int index) =>
        ElementwiseCase($"Tanh len={ActivationLengths[index]}", Data.Uniform(rng, ActivationLengths[index], 3f),
            (x, y) => ElementwiseKernels.Forward(x, y, Elementwise.Tanh),
            (x, y, dy, dx) => ElementwiseKernels.Backward(y, dy, dx, Elementwise.Tanh),
            Math.Tanh, ReferenceKernels.TanhGrad);

    // Even cases exact (erf), odd cases approximate='tanh'.
    private static OpCase Gelu(Rng rng, int index)
    {
        int len = ActivationLengths[index / 2];
        bool tanh = index % 2 == 1;
        return ElementwiseCase($"Gelu len={len} approximate={(tanh ? "tanh" : "none")}", Data.Uniform(rng, len, 5f),
            (x, y) => ElementwiseKernels.Forward(x, y, Elementwise.Gelu(tanh)),
            (x, y, dy, dx) => ElementwiseKernels.Backward(x, dy, dx, Elementwise.Gelu(tanh)),
            tanh ? ReferenceKernels.GeluTanh : ReferenceKernels.Gelu, tanh ? ReferenceKernels.GeluTanhGrad : ReferenceKernels.GeluGrad);
    }

    private static OpCase Silu(Rng rng, int index) =>
        ElementwiseCase($"Silu len={ActivationLengths[index]}", Data.Uniform(rng, ActivationLengths[index], 6f),
            (x, y) => ElementwiseKernels.Forward(x, y, Elementwise.Silu),
            (x, y, dy, dx) => ElementwiseKernels.Backward(x, dy, dx, Elementwise.Silu),
            ReferenceKernels.Silu, ReferenceKernels.SiluGrad);

    /// <summary>An element-wise op: fast backward (x, y, dy, dx); reference f and f′ at the input.</summary>
    // ---------------------------------------------------------------- fused element-wise chains

    // Stage combinations and lengths: across the 16-float vector and the 256-float block, and split across cores (the third
    // passes the transcendental threshold, the last the cheap one). Inputs in ±3, 0.05 away from ReLU's kink.
    private static readonly (int Len, Elementwise[] Stages)[] ChainCases =
    [
        (1000, [Elementwise.Relu, Elementwise.Sigmoid, Elementwise.Tanh]),
        (33, [Elementwise.Gelu(approximateTanh: true), Elementwise.Silu]),
        (100_003, [Elementwise.LeakyRelu(-0.2f), Elementwise.Tanh, Elementwise.Gelu(approximateTanh: false)]),
        (15, [Elementwise.Sigmoid, Elementwise.LeakyRelu(0.1f)]),
        (257, [Elementwise.Silu, Elementwise.Relu, Elementwise.LeakyRelu(-0.5f), Elementwise.Sigmoid]),
        (1_100_003, [Elementwise.Relu, Elementwise.LeakyRelu(0.3f)]),
    ];

    private static OpCase ElementwiseChain(Rng rng, int index)
    {
        (int len, Elementwise[] stages) = ChainCases[index];
        var chain = new ElementwiseChain(stages);
        return ElementwiseCase($"ElementwiseChain len={len} {chain}", [.. Data.AwayFromZero(rng, len, 0.05f / 3).Select(v => 3 * v)],
            (x, y) => ElementwiseChainKernels.Forward(x, y, chain),
            (x, y, dy, dx) => ElementwiseChainKernels.Backward(x, dy, dx, chain),
            x => stages.Aggregate(x, (v, s) => Stage(s).F(v)),
            x =>
            {
                double d = 1;
                foreach (Elementwise s in stages)
                {
                    d *= Stage(s).FPrime(x);
                    x = Stage(s).F(x);
                }
                return d;
            });
    }

    /// <summary>A chain stage in double precision: its function and derivative from the reference kernels.</summary>
    private static (Func<double, double> F, Func<double, double> FPrime) Stage(Elementwise s) => s.Kind switch
    {
        ElementwiseKind.Relu => (v => Math.Max(v, 0), v => v > 0 ? 1 : 0),
        ElementwiseKind.LeakyRelu => (v => ReferenceKernels.LeakyRelu(v, s.Slope), v => ReferenceKernels.LeakyReluGrad(v, s.Slope)),
        ElementwiseKind.Sigmoid => (ReferenceKernels.Sigmoid, ReferenceKernels.SigmoidGrad),
        ElementwiseKind.Tanh => (Math.Tanh, ReferenceKernels.TanhGrad),
        ElementwiseKind.Gelu => (ReferenceKernels.Gelu, ReferenceKernels.GeluGrad),
        ElementwiseKind.GeluTanh => (ReferenceKernels.GeluTanh, ReferenceKernels.GeluTanhGrad),
        _ => (ReferenceKernels.Silu, ReferenceKernels.SiluGrad),
    };

    private static OpCase ElementwiseCase(string description, float[] x, Action<float[], float[]> forward, Action<float[], float[], float[], float[]> backward,
        Func<double, double> f, Func<double, double> fPrime) => new()
    {
        Description = description,
        Inputs = [new("x", x, Role.Input)],
        OutputLength = x.Length,
        FastForward = (i, y) => forward(i[0], y),
        ReferenceForward = i =>
        {
            var y = new double[i[0].Length];
            ReferenceKernels.Map(i[0], y, f);
            return y;
        },
        FastBackward = (i, y, dy, gr) => backward(i[0], y, dy, gr[0]!),
        ReferenceBackward = (i, dy) =>
        {
            var dx = new double[i[0].Length];
            ReferenceKernels.MapGrad(i[0], dy, dx, fPrime);
            return [dx];
        },
    };

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
            FastForward = (i, y) => ElementwiseKernels.Forward(i[0], y, Elementwise.Relu),
            ReferenceForward = i =>
            {
                var y = new double[len];
                ReferenceKernels.ReluForward(i[0], y);
                return y;
            },
            FastBackward = (i, y, dy, gr) => ElementwiseKernels.Backward(y, dy, gr[0], Elementwise.Relu),
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

    // (outer, dim, inner): rows (inner 1), a class dim in the middle of NCHW-like shapes, a singleton dim, and one large
    // enough to split across cores.
    private static readonly (int Outer, int Dim, int Inner)[] SoftmaxShapes =
        [(1, 1, 1), (3, 7, 1), (2, 5, 3), (4, 3, 17), (1, 4, 40), (3, 33, 20), (5, 1, 6), (8, 16, 1024), (700, 100, 1)];

    private static OpCase LogSoftmax(Rng rng, int index)
    {
        if (index < RowShapes.Length)
        {
            var (n, c) = RowShapes[index];
            return SoftmaxCase($"LogSoftmax n={n} c={c}", rng, n, c, 1, log: true,
                (x, y) => LogSoftmaxKernels.Forward(x, y, n, c), (y, dy, dx) => LogSoftmaxKernels.Backward(y, dy, dx, n, c));
        }
        var (o, d, inner) = SoftmaxShapes[index - RowShapes.Length];
        return SoftmaxCase($"LogSoftmax (outer, dim, inner)=({o}, {d}, {inner})", rng, o, d, inner, log: true,
            (x, y) => LogSoftmaxKernels.Forward(x, y, o, d, inner), (y, dy, dx) => LogSoftmaxKernels.Backward(y, dy, dx, o, d, inner));
    }

    private static OpCase Softmax(Rng rng, int index)
    {
        var (o, d, inner) = SoftmaxShapes[index];
        return SoftmaxCase($"Softmax (outer, dim, inner)=({o}, {d}, {inner})", rng, o, d, inner, log: false,
            (x, y) => SoftmaxKernels.Forward(x, y, o, d, inner), (y, dy, dx) => SoftmaxKernels.Backward(y, dy, dx, o, d, inner));
    }

    private static OpCase SoftmaxCase(string description, Rng rng, int outer, int dim, int inner, bool log,
        Action<float[], float[]> forward, Action<float[], float[], float[]> backward)
    {
        int len = outer * dim * inner;
        return new OpCase
        {
            Description = description,
            Inputs = [new("x", Data.Uniform(rng, len, 4f), Role.Input)],
            OutputLength = len,
            FiniteDifferenceSamples = len > 10_000 ? 10 : 40,
            FastForward = (i, y) => forward(i[0], y),
            ReferenceForward = i =>
            {
                var y = new double[len];
                ReferenceKernels.SoftmaxForward(i[0], y, outer, dim, inner, log);
                return y;
            },
            FastBackward = (i, y, dy, gr) => backward(y, dy, gr[0]!),
            ReferenceBackward = (i, dy) =>
            {
                var dx = new double[len];
                ReferenceKernels.SoftmaxBackward(i[0], dy, dx, outer, dim, inner, log);
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
        BroadcastGeometry g = Broadcasting.Of(aDims, bDims)!;
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
