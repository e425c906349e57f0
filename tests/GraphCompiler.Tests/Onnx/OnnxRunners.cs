// The one table from ONNX op type to a runner that executes the node with GraphCompiler's CPU kernels; add an op here.
using GraphCompiler.Backends.Cpu;
using GraphCompiler.Nn;
using GraphCompiler.Tests.Onnx.Protos;
using GraphCompiler.Compiler;

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
        ["LeakyRelu"] = Activated(node => Elementwise.LeakyRelu(node.Float("alpha", 0.01f))),
        ["Sigmoid"] = Activated(_ => Elementwise.Sigmoid),
        ["Tanh"] = Activated(_ => Elementwise.Tanh),
        ["Flatten"] = new((_, _) => null, Flatten),
        ["Softmax"] = new(SoftmaxUnsupported, Softmax),
        ["LogSoftmax"] = new(SoftmaxUnsupported, LogSoftmax),
        ["BatchNormalization"] = new(BatchNormUnsupported, BatchNormalization),
        ["LayerNormalization"] = new(LayerNormUnsupported, LayerNormalization),
        ["Conv"] = new(ConvUnsupported, Conv),
        ["MaxPool"] = new(MaxPoolUnsupported, MaxPool),
        ["AveragePool"] = new(AveragePoolUnsupported, AveragePool),
        ["NegativeLogLikelihoodLoss"] = new(LossUnsupported, NegativeLogLikelihoodLoss),
        ["SoftmaxCrossEntropyLoss"] = new(LossUnsupported, SoftmaxCrossEntropyLoss),
    };

    /// <summary>
    /// Cases a kernel is known to fail, with the defect: reported among the skipped cases (never as passing) until the
    /// kernel is fixed, when the entry must go.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, string> KnownKernelDefects = new Dictionary<string, string>();

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

    private static int Product(IEnumerable<int> dims) => dims.Aggregate(1, (p, q) => p * q);

    private static OnnxTensor[] Relu(OnnxNode node, OnnxTensor[] x)
    {
        var y = new float[x[0].Count];
        ElementwiseKernels.Forward(x[0].AsFloat(), y, Elementwise.Relu);
        return [Output(node, 0, x[0].Shape, y)];
    }

    private static OnnxRunner Activated(Func<OnnxNode, Elementwise> activation) => new((node, x) => NotFloat(x[0]), (node, x) =>
    {
        var y = new float[x[0].Count];
        ElementwiseKernels.Forward(x[0].AsFloat(), y, activation(node));
        return [Output(node, 0, x[0].Shape, y)];
    });

    // Flatten moves no data: what is checked is the shape rule, (Π dims[..axis], Π dims[axis..]), and row-major order.
    private static OnnxTensor[] Flatten(OnnxNode node, OnnxTensor[] x)
    {
        int[] s = x[0].Shape;
        int axis = (int)node.Int("axis", 1);
        if (axis < 0) axis += s.Length;
        return [Output(node, 0, [Product(s[..axis]), Product(s[axis..])], (float[])x[0].AsFloat().Clone())];
    }

    // ---------------------------------------------------------------- Softmax and LogSoftmax over any axis

    private static int Axis(OnnxNode node, int rank, long fallback)
    {
        long axis = node.Int("axis", fallback);
        return (int)(axis < 0 ? axis + rank : axis);
    }

    /// <summary>
    /// The (outer, dim, inner) view the kernels reduce over dim. Since opset 13 the op reduces over the one axis (default
    /// −1); before, the input is flattened to 2-D at axis (default 1) and each row of Π dims[axis..] is reduced.
    /// </summary>
    private static (int Outer, int Dim, int Inner) SoftmaxView(OnnxNode node, int[] s)
    {
        bool singleAxis = node.Opset >= 13;
        int axis = Axis(node, s.Length, singleAxis ? -1 : 1);
        return singleAxis ? (Product(s[..axis]), s[axis], Product(s[(axis + 1)..])) : (Product(s[..axis]), Product(s[axis..]), 1);
    }

    private static string? SoftmaxUnsupported(OnnxNode node, OnnxTensor[] x) =>
        x[0].Shape.Length == 0 ? $"{node.OpType} of a scalar: needs at least one axis" : NotFloat(x[0]);

    private static OnnxTensor[] Softmax(OnnxNode node, OnnxTensor[] x)
    {
        var (outer, dim, inner) = SoftmaxView(node, x[0].Shape);
        var y = new float[x[0].Count];
        SoftmaxKernels.Forward(x[0].AsFloat(), y, outer, dim, inner);
        return [Output(node, 0, x[0].Shape, y)];
    }

    private static OnnxTensor[] LogSoftmax(OnnxNode node, OnnxTensor[] x)
    {
        var (outer, dim, inner) = SoftmaxView(node, x[0].Shape);
        float[] input = x[0].AsFloat();
        var y = new float[input.Length];
        LogSoftmaxKernels.Forward(input, y, outer, dim, inner);
        if (inner == 1)
        {
            // Rows are contiguous: the per-row kernel models use for the last dim must give the very same values.
            var rows = new float[input.Length];
            LogSoftmaxKernels.Forward(input, rows, outer, dim);
            if (!rows.AsSpan().SequenceEqual(y))
                throw new InvalidOperationException($"LogSoftmaxKernels: the (n, c) and (outer, dim, inner) overloads differ on {x[0].ShapeText}.");
        }
        return [Output(node, 0, x[0].Shape, y)];
    }

    // ---------------------------------------------------------------- BatchNormalization and LayerNormalization

    private static string? BatchNormUnsupported(OnnxNode node, OnnxTensor[] x)
    {
        if (x[0].Shape.Length < 2) return $"BatchNormalization of {x[0].ShapeText}: needs (N, C, …)";
        bool training = node.Int("training_mode", 0) != 0;
        if (!training && node.OutputCount > 1)
            return $"BatchNormalization (opset {node.Opset}) with {node.OutputCount} outputs outside training_mode: the pre-14 saved-statistics outputs";
        return x.Take(5).Select(NotFloat).FirstOrDefault(r => r is not null);
    }

    private static OnnxTensor[] BatchNormalization(OnnxNode node, OnnxTensor[] x)
    {
        int[] s = x[0].Shape;
        int n = s[0], c = s[1], spatial = Product(s[2..]);
        float eps = node.Float("epsilon", 1e-5f);
        float[] scale = x[1].AsFloat(), bias = x[2].AsFloat(), inputMean = x[3].AsFloat(), inputVar = x[4].AsFloat();
        var y = new float[x[0].Count];
        var mean = new float[c];
        var invStd = new float[c];
        if (node.Int("training_mode", 0) == 0)
        {
            BatchNormKernels.ForwardInference(x[0].AsFloat(), scale, bias, inputMean, inputVar, y, mean, invStd, n, c, spatial, eps);
            return [Output(node, 0, s, y)];
        }
        // ONNX: running = input·momentum + batch·(1 − momentum); the kernel's momentum (PyTorch's) weighs the batch.
        float momentum = node.Float("momentum", 0.9f);
        float[] runningMean = (float[])inputMean.Clone(), runningVar = (float[])inputVar.Clone();
        BatchNormKernels.ForwardTraining(x[0].AsFloat(), scale, bias, y, mean, invStd, runningMean, runningVar, n, c, spatial, eps, 1f - momentum);
        // The kernel, as PyTorch, averages in the unbiased batch variance; ONNX's spec the biased one, (m − 1)/m of it.
        double m = (double)n * spatial;
        for (int k = 0; k < c; k++)
        {
            double kept = (double)momentum * inputVar[k];
            runningVar[k] = (float)(kept + (runningVar[k] - kept) * (m - 1) / m);
        }
        OnnxTensor[] outputs = [Output(node, 0, s, y), Output(node, 1, [c], runningMean), Output(node, 2, [c], runningVar)];
        return outputs[..node.OutputCount];
    }

    private static string? LayerNormUnsupported(OnnxNode node, OnnxTensor[] x)
    {
        int[] s = x[0].Shape;
        int axis = Axis(node, s.Length, -1), size = Product(s[axis..]);
        if (node.Int("stash_type", 1) != 1) return $"LayerNormalization stash_type={node.Int("stash_type", 1)}: the kernel computes its statistics in float32";
        for (int i = 1; i < node.InputCount; i++)
            if (x[i].Count != size) return $"LayerNormalization input {i} of {x[i].ShapeText} broadcasts to {ShapeText(s[axis..])}: the kernel takes the full normalized shape";
        return x.Take(node.InputCount).Select(NotFloat).FirstOrDefault(r => r is not null);
    }

    private static string ShapeText(int[] shape) => $"[{string.Join(", ", shape)}]";

    private static OnnxTensor[] LayerNormalization(OnnxNode node, OnnxTensor[] x)
    {
        int[] s = x[0].Shape;
        int axis = Axis(node, s.Length, -1), rows = Product(s[..axis]), size = Product(s[axis..]);
        var y = new float[x[0].Count];
        var mean = new float[rows];
        var invStd = new float[rows];
        LayerNormKernels.Forward(x[0].AsFloat(), x[1].AsFloat(), node.InputCount > 2 ? x[2].AsFloat() : [], y, mean, invStd, rows, size,
            node.Float("epsilon", 1e-5f));
        // Mean and InvStdDev keep the input's rank: the normalized dims become 1.
        int[] statShape = [.. s[..axis], .. Enumerable.Repeat(1, s.Length - axis)];
        OnnxTensor[] outputs = [Output(node, 0, s, y), Output(node, 1, statShape, mean), Output(node, 2, statShape, invStd)];
        return outputs[..node.OutputCount];
    }

    // ---------------------------------------------------------------- Conv, MaxPool and AveragePool (2-D, NCHW)

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
                // Output ceil(in / stride); the total padding that needs, the odd one at the end (UPPER) or the start (LOWER).
                int outSize = (inSpatial[d] + strides[d] - 1) / strides[d];
                int total = Math.Max((outSize - 1) * strides[d] + (kernel[d] - 1) * dilations[d] + 1 - inSpatial[d], 0);
                int small = total / 2, large = total - small;
                pads[d] = autoPad == "SAME_UPPER" ? (small, large) : (large, small);
            }
            else if (autoPad == "VALID") pads[d] = (0, 0);
            else if (autoPad == "NOTSET") pads[d] = ((int)explicitPads[d], (int)explicitPads[d + dims]);
            else throw new InvalidDataException($"{node.OpType}: unknown auto_pad '{autoPad}'.");
        }
        return pads;
    }

    private static int[] IntsOr(OnnxNode node, string name, int count, int fallback) =>
        node.Ints(name)?.Select(v => (int)v).ToArray() ?? Enumerable.Repeat(fallback, count).ToArray();

    private static string? WindowUnsupported(OnnxNode node, OnnxTensor x) =>
        x.Shape.Length != 4 ? $"{node.OpType} over {x.ShapeText}: {x.Shape.Length - 2}-D, the CPU kernels are 2-D (NCHW) only" : NotFloat(x);

    private static string? ConvUnsupported(OnnxNode node, OnnxTensor[] x) => WindowUnsupported(node, x[0]) ?? NotFloat(x[1]);

    private static OnnxTensor[] Conv(OnnxNode node, OnnxTensor[] x)
    {
        int[] s = x[0].Shape, ws = x[1].Shape;
        int[] kernel = ws[2..], strides = IntsOr(node, "strides", 2, 1), dilations = IntsOr(node, "dilations", 2, 1);
        var pads = Pads(node, s[2..], kernel, strides, dilations);
        var g = new Conv2dGeometry(s[1], ws[0], s[2], s[3], kernel[0], kernel[1], strides[0], strides[1],
            pads[0].Begin, pads[1].Begin, pads[0].End, pads[1].End, dilations[0], dilations[1], (int)node.Int("group", 1));
        var y = new float[s[0] * g.OutChannels * g.OutH * g.OutW];
        Conv2dKernels.Forward(x[0].AsFloat(), x[1].AsFloat(), node.InputCount > 2 ? x[2].AsFloat() : [], y, g, s[0]);
        return [Output(node, 0, [s[0], g.OutChannels, g.OutH, g.OutW], y)];
    }

    /// <summary>A pool's geometry: kernel_shape, strides, pads or auto_pad, dilations, ceil_mode and count_include_pad (default 0 in ONNX).</summary>
    private static Pool2dGeometry PoolGeometry(OnnxNode node, int[] s)
    {
        int[] kernel = node.Ints("kernel_shape")?.Select(v => (int)v).ToArray() ?? throw new InvalidDataException($"{node.OpType} without kernel_shape.");
        int[] strides = IntsOr(node, "strides", 2, 1), dilations = IntsOr(node, "dilations", 2, 1);
        var pads = Pads(node, s[2..], kernel, strides, dilations);
        return new Pool2dGeometry(s[1], s[2], s[3], kernel[0], kernel[1], strides[0], strides[1], pads[0].Begin, pads[1].Begin, pads[0].End, pads[1].End,
            dilations[0], dilations[1], (int)node.Int("ceil_mode", 0), (int)node.Int("count_include_pad", 0));
    }

    private static string? MaxPoolUnsupported(OnnxNode node, OnnxTensor[] x)
    {
        if (node.OutputCount > 1) return "MaxPool with an Indices output: the kernel's argmax is per plane, not ONNX's flattened index";
        return WindowUnsupported(node, x[0]);
    }

    private static OnnxTensor[] MaxPool(OnnxNode node, OnnxTensor[] x)
    {
        int[] s = x[0].Shape;
        Pool2dGeometry g = PoolGeometry(node, s);
        int outputs = s[0] * s[1] * g.OutH * g.OutW;
        var y = new float[outputs];
        MaxPool2dKernels.Forward(x[0].AsFloat(), y, new int[outputs], g, s[0]);
        return [Output(node, 0, [s[0], s[1], g.OutH, g.OutW], y)];
    }

    private static string? AveragePoolUnsupported(OnnxNode node, OnnxTensor[] x)
    {
        if (WindowUnsupported(node, x[0]) is { } reason) return reason;
        int[] dilations = IntsOr(node, "dilations", 2, 1);
        return dilations.Any(d => d != 1) ? $"AveragePool dilations=[{string.Join(", ", dilations)}]: AvgPool2dKernels has no dilation (as in PyTorch)" : null;
    }

    private static OnnxTensor[] AveragePool(OnnxNode node, OnnxTensor[] x)
    {
        int[] s = x[0].Shape;
        Pool2dGeometry g = PoolGeometry(node, s);
        var y = new float[s[0] * s[1] * g.OutH * g.OutW];
        AvgPool2dKernels.Forward(x[0].AsFloat(), y, g, s[0]);
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
