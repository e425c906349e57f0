// Writes a compiled model as an ONNX inference model (opset 17): one ONNX node per op of the forward schedule, fused
// epilogues and chains taken apart again, the parameters and running statistics as initializers named as in the state_dict.
using GraphCompiler.Compiler;
using GraphCompiler.IO.Onnx.Protos;
using Google.Protobuf;

namespace GraphCompiler.IO.Onnx;

/// <summary>
/// ONNX export of a compiled model, PyTorch's <c>torch.onnx.export</c> for the static graph: <c>model.ExportOnnx(path)</c>.
/// The file holds the model in inference mode (Dropout is the identity, BatchNorm uses its running statistics) with a
/// symbolic batch dimension <c>N</c> on the input <c>input</c> and the output <c>output</c>, and every parameter and
/// running statistic as an initializer under its <c>state_dict</c> name. The opset is 17, the newest Debian's ONNX 1.12
/// checker knows: GELU and SiLU are written as the primitives they are made of (Erf, Tanh, Sigmoid, Mul, Add).
/// </summary>
public static class OnnxExport
{
    /// <summary>The default domain's opset the exported files import.</summary>
    public const int Opset = 17;

    /// <summary>ONNX's IR version that goes with opset 17 (ONNX 1.12).</summary>
    public const int IrVersion = 8;

    /// <summary>The names of the graph's input and output.</summary>
    public const string InputName = "input", OutputName = "output";

    /// <summary>The symbolic batch dimension of the input and the output.</summary>
    public const string BatchDim = "N";

    /// <summary>
    /// Writes <paramref name="model"/> to <paramref name="path"/> as an ONNX model, through a temporary file renamed over
    /// the target (a failed export leaves an existing file as it was). An op ONNX cannot express is refused with a
    /// <see cref="NotSupportedException"/> naming it, before anything is written.
    /// </summary>
    public static void ExportOnnx(this ICompiledModel model, string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        byte[] bytes = model.ToOnnx();
        AtomicFile.Write(path, stream => stream.Write(bytes));
    }

    /// <summary>
    /// Checks, before a long run, that <paramref name="path"/> can receive an export later: its folder exists. Throws an
    /// <see cref="ArgumentException"/> naming the path otherwise.
    /// </summary>
    public static void CheckTarget(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        string? folder = Path.GetDirectoryName(Path.GetFullPath(path));
        if (folder is null || !Directory.Exists(folder))
            throw new ArgumentException($"cannot export ONNX to {path}: the folder {folder ?? path} does not exist.", nameof(path));
        if (Directory.Exists(path)) throw new ArgumentException($"cannot export ONNX to {path}: it is a folder.", nameof(path));
    }

    /// <summary>The ONNX model file's bytes (what <see cref="ExportOnnx"/> writes).</summary>
    public static byte[] ToOnnx(this ICompiledModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return OnnxGraphWriter.Write(model).ToByteArray();
    }
}

/// <summary>
/// Walks the forward steps of a model's schedule (every step kind has its method here, so a new kind breaks this build until
/// it can be exported) and writes the ONNX nodes that compute each. Values are named after the schedule's buffers; a buffer
/// written twice gets a fresh name per write. A Flatten or Reshape has no step (it aliases its input's buffer): each op
/// reshapes its inputs to the shape it reads them in, so the alias becomes an ONNX Reshape exactly where the shape changes.
/// </summary>
internal sealed class OnnxGraphWriter : IStepHandler<bool>
{
    private readonly ICompiledModel _model;
    private readonly Schedule _schedule;
    private readonly GraphProto _graph = new();
    private readonly Dictionary<string, string> _current = new(StringComparer.Ordinal); // buffer → its live ONNX value
    private readonly Dictionary<string, int[]> _dims = new(StringComparer.Ordinal);      // ONNX value → per-sample dims
    private readonly Dictionary<string, int> _writes = new(StringComparer.Ordinal);
    private readonly HashSet<string> _initializers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, float[]> _tensors = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<CatForward>> _pendingCats = new(StringComparer.Ordinal);
    private int _nodes;

    private OnnxGraphWriter(ICompiledModel model)
    {
        _model = model;
        _schedule = model.Schedule;
        foreach (var p in model.Parameters()) _tensors[p.Name] = p.Data;
        foreach (var b in model.Buffers())
            if (b.DType == Nn.BufferDType.Float32) _tensors[b.Name] = b.Data;
    }

    public static ModelProto Write(ICompiledModel model)
    {
        var w = new OnnxGraphWriter(model);
        Schedule s = w._schedule;
        w._graph.Name = s.Model;
        w._graph.Input.Add(ValueInfo(OnnxExport.InputName, s.Input.SampleDims));
        w._current[s.InputBuffer] = OnnxExport.InputName;
        w._writes[OnnxExport.InputName] = w._writes[OnnxExport.OutputName] = 1;
        w._dims[OnnxExport.InputName] = s.Input.SampleDims;
        foreach (KernelStep step in s.Forward) step.Accept(w);
        if (w._pendingCats.Count > 0)
            throw new InvalidOperationException($"ONNX export of {s.Model}: the concatenation into {string.Join(", ", w._pendingCats.Keys)} is missing inputs.");
        string last = w.Read(new Buf(s.OutputBuffer, s.Output.PerSample), s.Output.SampleDims);
        w.Node("Identity", [last], OnnxExport.OutputName);
        w._graph.Output.Add(ValueInfo(OnnxExport.OutputName, s.Output.SampleDims));
        return new ModelProto
        {
            IrVersion = OnnxExport.IrVersion,
            OpsetImport = { new OperatorSetIdProto { Domain = "", Version = OnnxExport.Opset } },
            ProducerName = "GraphCompiler",
            ProducerVersion = typeof(OnnxExport).Assembly.GetName().Version?.ToString() ?? "",
            Graph = w._graph,
        };
    }

    private static ValueInfoProto ValueInfo(string name, int[] sampleDims)
    {
        var shape = new TensorShapeProto();
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = OnnxExport.BatchDim });
        foreach (int d in sampleDims) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = shape } },
        };
    }

    // ---- values, nodes, initializers ----

    /// <summary>The per-sample dims the schedule declares for a buffer.</summary>
    private int[] Declared(Buf b) =>
        _schedule.Buffers.FirstOrDefault(d => d.Name == b.Name)?.Shape.SampleDims
        ?? (b.Name == _schedule.InputBuffer ? _schedule.Input.SampleDims : throw new InvalidOperationException($"ONNX export of {_schedule.Model}: no buffer '{b.Name}' in the schedule."));

    /// <summary>The live value of buffer <paramref name="b"/> in the per-sample shape <paramref name="dims"/>, reshaping if it is held in another.</summary>
    private string Read(Buf b, int[] dims)
    {
        if (!_current.TryGetValue(b.Name, out string? value))
            throw new InvalidOperationException($"ONNX export of {_schedule.Model}: buffer '{b.Name}' is read before any step writes it.");
        if (_dims[value].SequenceEqual(dims)) return value;
        if (_dims[value].Aggregate(1L, (p, d) => p * d) != dims.Aggregate(1L, (p, d) => p * d))
            throw new InvalidOperationException($"ONNX export of {_schedule.Model}: '{b.Name}' holds [{string.Join(", ", _dims[value])}] per sample, not [{string.Join(", ", dims)}].");
        string shape = Int64s($"shape_{string.Join("x", dims)}", [-1, .. dims.Select(d => (long)d)]);
        string reshaped = Fresh(value + "_as_" + string.Join("x", dims));
        Node("Reshape", [value, shape], reshaped);
        _dims[reshaped] = dims;
        return reshaped;
    }

    /// <summary>The name of a new write of buffer <paramref name="b"/>, holding <paramref name="dims"/> per sample.</summary>
    private string Write(Buf b, int[] dims)
    {
        string name = Fresh(b.Name);
        _current[b.Name] = name;
        _dims[name] = dims;
        return name;
    }

    private string Fresh(string name)
    {
        int n = _writes.TryGetValue(name, out int k) ? k + 1 : 1;
        _writes[name] = n;
        return n == 1 ? name : $"{name}_{n}";
    }

    private string Temp(string name, int[] dims)
    {
        string t = Fresh(name);
        _dims[t] = dims;
        return t;
    }

    private NodeProto Node(string op, IEnumerable<string> inputs, string output, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = op, Name = $"{op}_{++_nodes}", Input = { inputs }, Output = { output } };
        node.Attribute.Add(attributes);
        _graph.Node.Add(node);
        return node;
    }

    private static AttributeProto Ints(string name, params long[] values) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Ints, Ints = { values } };

    private static AttributeProto Int(string name, long value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    private static AttributeProto Float(string name, float value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    /// <summary>A float initializer (once per name), its values little-endian in raw_data.</summary>
    private string Floats(string name, long[] dims, ReadOnlySpan<float> values)
    {
        if (!_initializers.Add(name)) return name;
        _writes.TryAdd(name, 1);
        var bytes = new byte[values.Length * sizeof(float)];
        for (int i = 0; i < values.Length; i++) System.Buffers.Binary.BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), values[i]);
        _graph.Initializer.Add(new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float, Dims = { dims }, RawData = ByteString.CopyFrom(bytes) });
        return name;
    }

    private string Int64s(string name, long[] values)
    {
        if (!_initializers.Add(name)) return name;
        _writes.TryAdd(name, 1);
        _graph.Initializer.Add(new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Int64, Dims = { values.Length }, Int64Data = { values } });
        return name;
    }

    private string Scalar(float value) =>
        Floats("const_" + value.ToString("R", System.Globalization.CultureInfo.InvariantCulture), [], [value]);

    /// <summary>A layer's parameter or running statistic, under its state_dict name, with <paramref name="dims"/>.</summary>
    private string State(string stateName, params long[] dims)
    {
        if (!_tensors.TryGetValue(stateName, out float[]? data))
            throw new InvalidOperationException($"ONNX export of {_schedule.Model}: the model has no parameter or buffer '{stateName}'.");
        if (dims.Aggregate(1L, (p, d) => p * d) != data.Length)
            throw new InvalidOperationException($"ONNX export of {_schedule.Model}: '{stateName}' holds {data.Length} values, not [{string.Join(", ", dims)}].");
        return Floats(stateName, dims, data);
    }

    private LayerDecl Layer(string property) =>
        _schedule.Layers.FirstOrDefault(l => l.Property == property)
        ?? throw new InvalidOperationException($"ONNX export of {_schedule.Model}: no layer '{property}' in the schedule.");

    private string Param(ParamRef p, params long[] dims) => State(Layer(p.Layer).StateName + "." + p.Member.ToLowerInvariant(), dims);

    private static NotSupportedException Refuse(string what, string why) => new($"ONNX export: {what} cannot be exported: {why}.");

    // ---- element-wise activations ----

    /// <summary>Writes <paramref name="f"/> applied to <paramref name="x"/> into <paramref name="y"/> (a new value when null); returns it.</summary>
    private string Activation(Elementwise f, string x, string? y = null)
    {
        int[] dims = _dims[x];
        y ??= Temp(x + "_" + f.Kind.ToString().ToLowerInvariant(), dims);
        _dims[y] = dims;
        switch (f.Kind)
        {
            case ElementwiseKind.Identity:
                Node("Identity", [x], y);
                break;
            case ElementwiseKind.Relu:
                Node("Relu", [x], y);
                break;
            case ElementwiseKind.LeakyRelu:
                Node("LeakyRelu", [x], y, Float("alpha", f.Slope));
                break;
            case ElementwiseKind.Sigmoid:
                Node("Sigmoid", [x], y);
                break;
            case ElementwiseKind.Tanh:
                Node("Tanh", [x], y);
                break;
            case ElementwiseKind.Silu:
            {
                // x · σ(x)
                string s = Temp(x + "_sigmoid", dims);
                Node("Sigmoid", [x], s);
                Node("Mul", [x, s], y);
                break;
            }
            case ElementwiseKind.Gelu:
            {
                // x · ½(1 + erf(x / √2))
                string scaled = Temp(x + "_div_sqrt2", dims), erf = Temp(x + "_erf", dims), plus = Temp(x + "_erf_plus1", dims), half = Temp(x + "_half", dims);
                Node("Div", [x, Scalar(MathF.Sqrt(2f))], scaled);
                Node("Erf", [scaled], erf);
                Node("Add", [erf, Scalar(1f)], plus);
                Node("Mul", [x, Scalar(0.5f)], half);
                Node("Mul", [half, plus], y);
                break;
            }
            case ElementwiseKind.GeluTanh:
            {
                // ½x(1 + tanh(√(2/π)(x + 0.044715x³))), PyTorch's approximate='tanh'
                string sq = Temp(x + "_sq", dims), cube = Temp(x + "_cube", dims), k = Temp(x + "_cube_k", dims), inner = Temp(x + "_inner", dims),
                    scaled = Temp(x + "_inner_scaled", dims), t = Temp(x + "_tanh", dims), plus = Temp(x + "_tanh_plus1", dims), half = Temp(x + "_half", dims);
                Node("Mul", [x, x], sq);
                Node("Mul", [sq, x], cube);
                Node("Mul", [cube, Scalar(0.044715f)], k);
                Node("Add", [x, k], inner);
                Node("Mul", [inner, Scalar(MathF.Sqrt(2f / MathF.PI))], scaled);
                Node("Tanh", [scaled], t);
                Node("Add", [t, Scalar(1f)], plus);
                Node("Mul", [x, Scalar(0.5f)], half);
                Node("Mul", [half, plus], y);
                break;
            }
            default:
                throw Refuse($"the activation {f.Readable}", "it has no ONNX form here");
        }
        return y;
    }

    /// <summary>Writes the epilogue of a fused step: the op's own output stays a temporary value, the activation writes <paramref name="y"/>.</summary>
    private string OpOutput(Buf y, int[] dims, Elementwise epilogue) =>
        epilogue.IsIdentity ? Write(y, dims) : Temp(y.Name + "_pre_" + epilogue.Kind.ToString().ToLowerInvariant(), dims);

    private void Epilogue(Buf y, string pre, Elementwise epilogue)
    {
        if (!epilogue.IsIdentity) Activation(epilogue, pre, Write(y, _dims[pre]));
    }

    // ---- forward steps ----

    public bool LinearForward(LinearForward s)
    {
        // y = x · Wᵀ + b on (N, in): Gemm with transB, as PyTorch exports nn.Linear.
        string x = Read(s.X, [s.InFeatures]);
        string pre = OpOutput(s.Y, [s.OutFeatures], s.Epilogue);
        List<string> inputs = [x, Param(s.W, s.OutFeatures, s.InFeatures)];
        if (s.B is { } b) inputs.Add(Param(b, s.OutFeatures));
        Node("Gemm", inputs, pre, Int("transB", 1));
        Epilogue(s.Y, pre, s.Epilogue);
        return true;
    }

    public bool Conv2dForward(Conv2dForward s)
    {
        Conv2dGeometry g = s.G.Value;
        string x = Read(s.X, [g.InChannels, g.InH, g.InW]);
        int[] outDims = [g.OutChannels, g.OutH, g.OutW];
        string pre = OpOutput(s.Y, outDims, s.Epilogue);
        List<string> inputs = [x, Param(s.W, g.OutChannels, g.InChannels / g.Groups, g.KernelH, g.KernelW)];
        if (s.B is { } b) inputs.Add(Param(b, g.OutChannels));
        Node("Conv", inputs, pre,
            Ints("kernel_shape", g.KernelH, g.KernelW), Ints("strides", g.StrideH, g.StrideW),
            Ints("pads", g.PadH, g.PadW, g.PadBottom, g.PadRight), Ints("dilations", g.DilationH, g.DilationW), Int("group", g.Groups));
        Epilogue(s.Y, pre, s.Epilogue);
        return true;
    }

    public bool MaxPool2dForward(MaxPool2dForward s)
    {
        Pool2dGeometry g = s.G.Value;
        string x = Read(s.X, [g.Channels, g.InH, g.InW]);
        Node("MaxPool", [x], Write(s.Y, [g.Channels, g.OutH, g.OutW]),
            Ints("kernel_shape", g.KernelH, g.KernelW), Ints("strides", g.StrideH, g.StrideW),
            Ints("pads", g.PadH, g.PadW, g.PadBottom, g.PadRight), Ints("dilations", g.DilationH, g.DilationW), Int("ceil_mode", g.CeilMode ? 1 : 0));
        return true;
    }

    public bool AvgPool2dForward(AvgPool2dForward s)
    {
        Pool2dGeometry g = s.G.Value;
        if (g.DilationH != 1 || g.DilationW != 1)
            throw Refuse($"AvgPool2d into '{s.Y.Name}' with dilation ({g.DilationH}, {g.DilationW})", "ONNX's AveragePool has no dilations before opset 19");
        string x = Read(s.X, [g.Channels, g.InH, g.InW]);
        Node("AveragePool", [x], Write(s.Y, [g.Channels, g.OutH, g.OutW]),
            Ints("kernel_shape", g.KernelH, g.KernelW), Ints("strides", g.StrideH, g.StrideW),
            Ints("pads", g.PadH, g.PadW, g.PadBottom, g.PadRight), Int("ceil_mode", g.CeilMode ? 1 : 0),
            Int("count_include_pad", g.CountIncludePad ? 1 : 0));
        return true;
    }

    public bool AdaptiveAvgPool2dForward(AdaptiveAvgPool2dForward s)
    {
        AdaptivePool2dGeometry g = s.G.Value;
        string x = Read(s.X, [g.Channels, g.InH, g.InW]);
        int[] outDims = [g.Channels, g.OutH, g.OutW];
        if (g.OutH == 1 && g.OutW == 1)
        {
            Node("GlobalAveragePool", [x], Write(s.Y, outDims));
        }
        else if (UniformWindows(g.InH, g.OutH, out int kh, out int sh) && UniformWindows(g.InW, g.OutW, out int kw, out int sw))
        {
            // PyTorch's windows [⌊i·in/out⌋, ⌈(i+1)·in/out⌉) are all alike here: a plain average pool.
            Node("AveragePool", [x], Write(s.Y, outDims), Ints("kernel_shape", kh, kw), Ints("strides", sh, sw));
        }
        else
        {
            // Windows of different sizes: the pool is linear, y (C, OH·OW) = x (C, H·W) · P with P's column per output window.
            int inSize = g.InH * g.InW, outSize = g.OutH * g.OutW;
            var p = new float[inSize * outSize];
            for (int oh = 0; oh < g.OutH; oh++)
            for (int ow = 0; ow < g.OutW; ow++)
            {
                int h0 = oh * g.InH / g.OutH, h1 = ((oh + 1) * g.InH + g.OutH - 1) / g.OutH;
                int w0 = ow * g.InW / g.OutW, w1 = ((ow + 1) * g.InW + g.OutW - 1) / g.OutW;
                float weight = 1f / ((h1 - h0) * (w1 - w0));
                for (int h = h0; h < h1; h++)
                for (int w = w0; w < w1; w++)
                    p[(h * g.InW + w) * outSize + oh * g.OutW + ow] = weight;
            }
            string flat = Read(s.X, [g.Channels, inSize]);
            string pooled = Temp(s.Y.Name + "_flat", [g.Channels, outSize]);
            Node("MatMul", [flat, Floats($"{s.Y.Name}.adaptive_pool_matrix", [inSize, outSize], p)], pooled);
            string shape = Int64s($"shape_{string.Join("x", outDims)}", [-1, .. outDims.Select(d => (long)d)]);
            Node("Reshape", [pooled, shape], Write(s.Y, outDims));
        }
        return true;
    }

    /// <summary>Whether PyTorch's adaptive windows over <paramref name="input"/> are all <paramref name="kernel"/> wide, <paramref name="stride"/> apart.</summary>
    private static bool UniformWindows(int input, int output, out int kernel, out int stride)
    {
        kernel = (input + output - 1) / output;
        stride = output == 1 ? 1 : input / output;
        for (int i = 0; i < output; i++)
        {
            int start = i * input / output, end = ((i + 1) * input + output - 1) / output;
            if (start != i * stride || end - start != kernel) return false;
        }
        return true;
    }

    public bool ElementwiseForward(ElementwiseForward s)
    {
        int[] dims = Declared(s.Y);
        Activation(s.F, Read(s.X, dims), Write(s.Y, dims));
        return true;
    }

    public bool ElementwiseChainForward(ElementwiseChainForward s)
    {
        int[] dims = Declared(s.Y);
        string v = Read(s.X, dims);
        EquatableArray<Elementwise> stages = s.Stages.Value;
        for (int i = 0; i < stages.Count; i++)
            v = Activation(stages[i], v, i == stages.Count - 1 ? Write(s.Y, dims) : null);
        return true;
    }

    public bool SoftmaxForward(SoftmaxForward s) => Reduce("Softmax", s.X, s.Y, s.R);

    public bool LogSoftmaxForward(LogSoftmaxForward s) => Reduce("LogSoftmax", s.X, s.Y, s.R);

    private bool Reduce(string op, Buf xb, Buf yb, ReduceDims r)
    {
        int[] dims = Declared(yb);
        string x = Read(xb, dims);
        Node(op, [x], Write(yb, dims), Int("axis", Axis(dims, r, op)));
        return true;
    }

    /// <summary>The axis of [N, ...dims] that <paramref name="r"/>'s (outer, dim, inner) split reduces over.</summary>
    private long Axis(int[] dims, ReduceDims r, string op)
    {
        if (r.OverBatch) return 0;
        long outer = 1;
        for (int a = 0; a < dims.Length; a++)
        {
            long inner = dims.Skip(a + 1).Aggregate(1L, (p, d) => p * d);
            if (outer == r.OuterPerSample && dims[a] == r.Dim && inner == r.Inner) return a + 1;
            outer *= dims[a];
        }
        throw new InvalidOperationException($"ONNX export of {_schedule.Model}: no axis of [N, {string.Join(", ", dims)}] splits as {op}'s {r}.");
    }

    public bool AddForward(AddForward s) => Binary("Add", s.A, s.B, s.Y, s.G.Value);

    public bool MulForward(MulForward s) => Binary("Mul", s.A, s.B, s.Y, s.G.Value);

    private bool Binary(string op, Buf ab, Buf bb, Buf yb, BroadcastDims g)
    {
        // Packed as (rank, out dims…, a dims…, b dims…), a and b right-aligned with leading ones: with the shared batch in
        // front, ONNX's NumPy broadcasting of [N, a…] and [N, b…] is the same.
        int[] p = [.. g.Packed];
        int rank = p[0];
        int[] outDims = p[1..(1 + rank)], aDims = p[(1 + rank)..(1 + 2 * rank)], bDims = p[(1 + 2 * rank)..(1 + 3 * rank)];
        string a = Read(ab, aDims), b = Read(bb, bDims);
        Node(op, [a, b], Write(yb, outDims));
        return true;
    }

    public bool CatForward(CatForward s)
    {
        // One step per input; the concatenation is complete when the inputs fill the output's runs.
        if (!_pendingCats.TryGetValue(s.Y.Name, out List<CatForward>? parts)) _pendingCats[s.Y.Name] = parts = [];
        parts.Add(s);
        if (parts.Sum(c => c.Inner) < s.OutInner) return true;
        _pendingCats.Remove(s.Y.Name);
        var inputs = parts.OrderBy(c => c.Offset).Select(c => Read(c.X, [c.Rows, c.Inner])).ToList();
        string joined = Temp(s.Y.Name + "_rows", [s.Rows, s.OutInner]);
        Node("Concat", inputs, joined, Int("axis", 2));
        int[] dims = Declared(s.Y);
        string shape = Int64s($"shape_{string.Join("x", dims)}", [-1, .. dims.Select(d => (long)d)]);
        Node("Reshape", [joined, shape], Write(s.Y, dims));
        return true;
    }

    public bool BatchNormForward(BatchNormForward s)
    {
        LayerDecl layer = Layer(s.Layer);
        string what = $"{layer.Kind} '{layer.Property}'";
        if (!layer.Bool("trackRunningStats"))
            throw Refuse(what, "without running statistics (trackRunningStats: false) it normalises with each batch's own, which ONNX's inference BatchNormalization cannot");
        int[] dims = Declared(s.Y);
        int c = layer.Int("numFeatures");
        string x = Read(s.X, dims);
        string scale = layer.Bool("affine") ? State(layer.StateName + ".weight", c) : Floats(layer.StateName + ".onnx_unit_scale", [c], Enumerable.Repeat(1f, c).ToArray());
        string bias = layer.Bool("affine") ? State(layer.StateName + ".bias", c) : Floats(layer.StateName + ".onnx_zero_bias", [c], new float[c]);
        Node("BatchNormalization", [x, scale, bias, State(layer.StateName + ".running_mean", c), State(layer.StateName + ".running_var", c)],
            Write(s.Y, dims), Float("epsilon", (float)layer.Float("eps")));
        return true;
    }

    public bool LayerNormForward(LayerNormForward s)
    {
        LayerDecl layer = Layer(s.Layer);
        int[] dims = Declared(s.Y);
        int size = dims.Aggregate(1, (p, d) => p * d) / s.RowsPerSample;
        // The normalised dims are the trailing ones whose product is the row length.
        int axis = dims.Length, product = 1;
        while (product < size && axis > 0) product *= dims[--axis];
        if (product != size)
            throw Refuse($"{layer.Kind} '{layer.Property}'", $"its rows of {size} are not trailing dims of [N, {string.Join(", ", dims)}]");
        string x = Read(s.X, dims);
        long[] normalized = [.. dims[axis..].Select(d => (long)d)];
        bool affine = layer.Bool("elementwiseAffine");
        List<string> inputs =
        [
            x,
            affine ? State(layer.StateName + ".weight", normalized) : Floats(layer.StateName + ".onnx_unit_scale", normalized, Enumerable.Repeat(1f, size).ToArray()),
        ];
        if (affine) inputs.Add(State(layer.StateName + ".bias", normalized));
        Node("LayerNormalization", inputs, Write(s.Y, dims), Int("axis", axis + 1), Float("epsilon", (float)layer.Float("eps")));
        return true;
    }

    public bool DropoutForward(DropoutForward s)
    {
        // Inference: the identity, so the output is the input's value under the output's name.
        int[] dims = Declared(s.Y);
        Node("Identity", [Read(s.X, dims)], Write(s.Y, dims));
        return true;
    }

    // ---- backward steps never appear in a forward schedule ----

    private static bool NotForward(KernelStep s) =>
        throw new InvalidOperationException($"ONNX export: {s.Kind} is a backward step, found in a forward schedule.");

    public bool LinearBackwardParams(LinearBackwardParams s) => NotForward(s);
    public bool LinearBackwardInput(LinearBackwardInput s) => NotForward(s);
    public bool Conv2dBackwardParams(Conv2dBackwardParams s) => NotForward(s);
    public bool Conv2dBackwardInput(Conv2dBackwardInput s) => NotForward(s);
    public bool MaxPool2dBackward(MaxPool2dBackward s) => NotForward(s);
    public bool AvgPool2dBackward(AvgPool2dBackward s) => NotForward(s);
    public bool AdaptiveAvgPool2dBackward(AdaptiveAvgPool2dBackward s) => NotForward(s);
    public bool ElementwiseBackward(ElementwiseBackward s) => NotForward(s);
    public bool ElementwiseChainBackward(ElementwiseChainBackward s) => NotForward(s);
    public bool SoftmaxBackward(SoftmaxBackward s) => NotForward(s);
    public bool LogSoftmaxBackward(LogSoftmaxBackward s) => NotForward(s);
    public bool AddBackward(AddBackward s) => NotForward(s);
    public bool MulBackward(MulBackward s) => NotForward(s);
    public bool AccumulateGrad(AccumulateGrad s) => NotForward(s);
    public bool CatBackward(CatBackward s) => NotForward(s);
    public bool BatchNormBackwardParams(BatchNormBackwardParams s) => NotForward(s);
    public bool BatchNormBackwardInput(BatchNormBackwardInput s) => NotForward(s);
    public bool LayerNormBackwardParams(LayerNormBackwardParams s) => NotForward(s);
    public bool LayerNormBackwardInput(LayerNormBackwardInput s) => NotForward(s);
    public bool DropoutBackward(DropoutBackward s) => NotForward(s);
}
