// One ONNX node test case (Onnx/cases/test_*): the single node of its model.onnx with its attributes, and its data sets.
using GraphCompiler.Tests.Onnx.Protos;

namespace GraphCompiler.Tests.Onnx;

/// <summary>A <c>test_data_set_N</c> folder: the node's inputs and the outputs ONNX expects, in the node's order.</summary>
public sealed record OnnxDataSet(string Name, OnnxTensor[] Inputs, OnnxTensor[] Outputs);

/// <summary>A case: a model of one node, and one or more data sets to run it on.</summary>
public sealed class OnnxCase
{
    private OnnxCase(string name, OnnxNode node, OnnxDataSet[] dataSets)
    {
        Name = name;
        Node = node;
        DataSets = dataSets;
    }

    /// <summary>The copied cases, next to the test assembly (see tests/reference/copy_onnx_cases.sh).</summary>
    public static string Directory => Path.Combine(AppContext.BaseDirectory, "Onnx", "cases");

    public string Name { get; }

    public OnnxNode Node { get; }

    public IReadOnlyList<OnnxDataSet> DataSets { get; }

    /// <summary>The names of every copied case, sorted.</summary>
    public static IReadOnlyList<string> All() =>
        System.IO.Directory.GetDirectories(Directory).Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal).ToList();

    public static OnnxCase Load(string name)
    {
        string dir = Path.Combine(Directory, name);
        ModelProto model = ReadModel(Path.Combine(dir, "model.onnx"));
        var sets = System.IO.Directory.GetDirectories(dir, "test_data_set_*").Order(StringComparer.Ordinal).Select(d => new OnnxDataSet(
            Path.GetFileName(d),
            ReadNumbered(d, "input"),
            ReadNumbered(d, "output"))).ToArray();
        if (sets.Length == 0) throw new InvalidDataException($"{name}: no test_data_set_* folder.");
        // The default ("" or "ai.onnx") domain's opset decides some semantics, e.g. Softmax's axis before and since opset 13.
        long opset = model.OpsetImport.Where(o => o.Domain is "" or "ai.onnx").Select(o => o.Version).DefaultIfEmpty(0).Max();
        return new OnnxCase(name, new OnnxNode(model.Graph.Node[0], name, opset), sets);
    }

    /// <summary>Reads a node test's model.onnx: a graph of exactly one node; damage is an InvalidDataException naming the file.</summary>
    public static ModelProto ReadModel(string path)
    {
        ModelProto model = OnnxTensor.Parse(path, ModelProto.Parser);
        if (model.Graph is null)
            throw new InvalidDataException($"file {path}: field graph is missing; a node test's model has a graph of one node.");
        if (model.Graph.Node.Count != 1)
            throw new InvalidDataException($"file {path}: field graph.node: a node test has one node, this model has {model.Graph.Node.Count}.");
        return model;
    }

    // input_0.pb, input_1.pb, … in index order (a lexical sort would put input_10 before input_2).
    private static OnnxTensor[] ReadNumbered(string dir, string prefix) =>
        System.IO.Directory.GetFiles(dir, prefix + "_*.pb")
            .OrderBy(f => int.Parse(Path.GetFileNameWithoutExtension(f)[(prefix.Length + 1)..], System.Globalization.CultureInfo.InvariantCulture))
            .Select(OnnxTensor.Read).ToArray();

    public override string ToString() => Name;
}

/// <summary>A node with typed access to its attributes: each getter checks the attribute's declared type.</summary>
public sealed class OnnxNode(NodeProto proto, string caseName, long opset)
{
    public NodeProto Proto { get; } = proto;

    /// <summary>The model's opset version for the default domain: the version of the op's spec that applies.</summary>
    public long Opset { get; } = opset;

    public string OpType => Proto.OpType;

    /// <summary>How many inputs the node names (optional inputs left out are empty names at the end, or absent).</summary>
    public int InputCount => Proto.Input.Count(i => i.Length > 0);

    public int OutputCount => Proto.Output.Count(o => o.Length > 0);

    public bool Has(string name) => Proto.Attribute.Any(a => a.Name == name);

    public long Int(string name, long fallback) => Find(name, AttributeProto.Types.AttributeType.Int)?.I ?? fallback;

    public long? IntOrNull(string name) => Find(name, AttributeProto.Types.AttributeType.Int)?.I;

    public float Float(string name, float fallback) => Find(name, AttributeProto.Types.AttributeType.Float)?.F ?? fallback;

    public string String(string name, string fallback) => Find(name, AttributeProto.Types.AttributeType.String)?.S.ToStringUtf8() ?? fallback;

    public long[]? Ints(string name) => Find(name, AttributeProto.Types.AttributeType.Ints)?.Ints.ToArray();

    public float[]? Floats(string name) => Find(name, AttributeProto.Types.AttributeType.Floats)?.Floats.ToArray();

    /// <summary>The attributes as text, for reports: <c>kernel_shape=[3, 3] pads=[1, 1, 1, 1]</c>.</summary>
    public string AttributesText => string.Join(" ", Proto.Attribute.Select(a => $"{a.Name}={Text(a)}"));

    private AttributeProto? Find(string name, AttributeProto.Types.AttributeType type)
    {
        AttributeProto? a = Proto.Attribute.FirstOrDefault(x => x.Name == name);
        if (a is not null && a.Type != type)
            throw new InvalidDataException($"{caseName}: attribute '{name}' of {OpType} is {a.Type}, expected {type}.");
        return a;
    }

    private static string Text(AttributeProto a) => a.Type switch
    {
        AttributeProto.Types.AttributeType.Int => a.I.ToString(System.Globalization.CultureInfo.InvariantCulture),
        AttributeProto.Types.AttributeType.Float => a.F.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
        AttributeProto.Types.AttributeType.String => a.S.ToStringUtf8(),
        AttributeProto.Types.AttributeType.Ints => $"[{string.Join(", ", a.Ints)}]",
        AttributeProto.Types.AttributeType.Floats => $"[{string.Join(", ", a.Floats)}]",
        _ => a.Type.ToString(),
    };
}
