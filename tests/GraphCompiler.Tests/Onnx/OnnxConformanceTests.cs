// ONNX's own node test cases (copied from Debian's libonnx-testdata into Onnx/cases) run on GraphCompiler's CPU kernels.
using GraphCompiler.Tests.Onnx.Protos;
using Xunit;
using Xunit.Abstractions;

namespace GraphCompiler.Tests.Onnx;

public class OnnxConformanceTests(ITestOutputHelper output)
{
    // Every output element: |ours − ONNX| ≤ 1e-4·max(1, |ONNX|) — absolute 1e-4 for values up to 1, relative 1e-4 above.
    private const double Tolerance = 1e-4;

    // The cases the runners cover today; raise it as kernels and runners are added (issue 3 asks for at least 60).
    private const int MinimumRunnable = 147;

    private static readonly Lazy<IReadOnlyList<(OnnxCase Case, string? Skip)>> Cases = new(() =>
        OnnxCase.All().Select(name => OnnxCase.Load(name)).Select(c => (c, OnnxRunners.WhySkipped(c))).ToList());

    public static IEnumerable<object[]> RunnableCases() => Cases.Value.Where(c => c.Skip is null).Select(c => new object[] { c.Case.Name });

    [Theory]
    [MemberData(nameof(RunnableCases))]
    public void Case_matches_ONNX(string name)
    {
        OnnxCase c = Cases.Value.Single(x => x.Case.Name == name).Case;
        OnnxRunner runner = OnnxRunners.ByOpType[c.Node.OpType];
        foreach (OnnxDataSet set in c.DataSets)
        {
            OnnxTensor[] actual = runner.Run(c.Node, set.Inputs);
            Assert.Equal(set.Outputs.Length, actual.Length);
            for (int o = 0; o < actual.Length; o++)
                AssertClose(actual[o], set.Outputs[o], $"{name}/{set.Name} output {o} ({c.Node.OpType} {c.Node.AttributesText})");
        }
    }

    [Fact]
    public void Skipped_cases_are_listed_with_their_reasons_and_the_rest_run()
    {
        var all = Cases.Value;
        foreach (var group in all.GroupBy(c => c.Case.Node.OpType).OrderBy(g => g.Key, StringComparer.Ordinal))
            output.WriteLine($"{group.Key,-26} {group.Count(),3} cases  {group.Count(c => c.Skip is null),3} run  {group.Count(c => c.Skip is not null),3} skipped");
        output.WriteLine("");
        foreach (var (c, skip) in all.Where(c => c.Skip is not null))
            output.WriteLine($"skipped {c.Name}: {skip}");
        Assert.All(all.Where(c => c.Skip is not null), c => Assert.False(string.IsNullOrWhiteSpace(c.Skip)));
        int runnable = all.Count(c => c.Skip is null);
        Assert.True(runnable >= MinimumRunnable, $"only {runnable} of {all.Count} ONNX cases can run; expected at least {MinimumRunnable}");
    }

    [Fact]
    public void Every_copied_case_loads_with_its_node_and_data()
    {
        var all = Cases.Value;
        Assert.Equal(152, all.Count);
        string[] ops = ["Conv", "MaxPool", "AveragePool", "Gemm", "MatMul", "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Softmax", "LogSoftmax",
            "Flatten", "BatchNormalization", "LayerNormalization", "NegativeLogLikelihoodLoss", "SoftmaxCrossEntropyLoss"];
        Assert.Equal(ops.Order(StringComparer.Ordinal), all.Select(c => c.Case.Node.OpType).Distinct().Order(StringComparer.Ordinal));
        foreach (var (c, _) in all)
            foreach (OnnxDataSet set in c.DataSets)
            {
                Assert.True(set.Inputs.Length >= c.Node.InputCount, $"{c.Name}/{set.Name}: {set.Inputs.Length} inputs for {c.Node.InputCount} node inputs");
                Assert.Equal(c.Node.OutputCount, set.Outputs.Length);
            }
        // A known value: test_relu's input and output agree element by element on max(x, 0).
        var relu = all.Single(c => c.Case.Name == "test_relu").Case.DataSets[0];
        float[] x = relu.Inputs[0].AsFloat(), y = relu.Outputs[0].AsFloat();
        Assert.Equal([3, 4, 5], relu.Inputs[0].Shape);
        Assert.Equal(x.Select(v => Math.Max(v, 0f)), y);
    }

    [Fact]
    public void Tensors_read_from_raw_data_and_from_the_typed_fields_alike()
    {
        var typed = new TensorProto { DataType = (int)TensorProto.Types.DataType.Float, Name = "t" };
        typed.Dims.Add([2, 2]);
        typed.FloatData.Add([1.5f, -2f, 0f, 3.25f]);
        var raw = new TensorProto { DataType = typed.DataType, Name = "t" };
        raw.Dims.Add([2, 2]);
        raw.RawData = Google.Protobuf.ByteString.CopyFrom(new[] { 1.5f, -2f, 0f, 3.25f }.SelectMany(BitConverter.GetBytes).ToArray());
        Assert.Equal(OnnxTensor.FromProto(typed).AsFloat(), OnnxTensor.FromProto(raw).AsFloat());
        Assert.Equal([2, 2], OnnxTensor.FromProto(raw).Shape);

        var longs = new TensorProto { DataType = (int)TensorProto.Types.DataType.Int64 };
        longs.Dims.Add(3);
        longs.Int64Data.Add([-100, 0, 7]);
        Assert.Equal([-100, 0, 7], OnnxTensor.FromProto(longs).AsInt32());
        var rawLongs = new TensorProto { DataType = longs.DataType, RawData = Google.Protobuf.ByteString.CopyFrom(new long[] { -100, 0, 7 }.SelectMany(BitConverter.GetBytes).ToArray()) };
        rawLongs.Dims.Add(3);
        Assert.Equal([-100, 0, 7], OnnxTensor.FromProto(rawLongs).AsInt32());

        var doubles = new TensorProto { DataType = (int)TensorProto.Types.DataType.Double };
        doubles.DoubleData.Add(2.5); // no dims: a scalar
        Assert.Equal([2.5f], OnnxTensor.FromProto(doubles).AsFloat());
        var bools = new TensorProto { DataType = (int)TensorProto.Types.DataType.Bool, RawData = Google.Protobuf.ByteString.CopyFrom(1, 0, 1) };
        bools.Dims.Add(3);
        Assert.Equal(new[] { true, false, true }, (bool[])OnnxTensor.FromProto(bools).Values);
        var ints = new TensorProto { DataType = (int)TensorProto.Types.DataType.Int32 };
        ints.Dims.Add(2);
        ints.Int32Data.Add([4, -5]);
        Assert.Equal([4, -5], OnnxTensor.FromProto(ints).AsInt32());

        var short_ = new TensorProto { DataType = typed.DataType, RawData = Google.Protobuf.ByteString.CopyFrom(1, 2, 3) };
        short_.Dims.Add(2);
        var e = Assert.Throws<InvalidDataException>(() => OnnxTensor.FromProto(short_));
        Assert.Contains("raw_data holds 3 bytes but 2 elements of 4 bytes need 8", e.Message);
    }

    private static void AssertClose(OnnxTensor actual, OnnxTensor expected, string what)
    {
        Assert.True(actual.Shape.SequenceEqual(expected.Shape), $"{what}: shape {actual.ShapeText}, ONNX expects {expected.ShapeText}");
        float[] a = actual.AsFloat(), r = expected.AsFloat();
        for (int i = 0; i < r.Length; i++)
        {
            double tol = Tolerance * Math.Max(1, Math.Abs(r[i]));
            if (!(Math.Abs(a[i] - r[i]) <= tol) && !(float.IsNaN(r[i]) && float.IsNaN(a[i])))
                Assert.Fail($"{what}[{i}]: {a[i]:R}, ONNX expects {r[i]:R} (|diff| {Math.Abs(a[i] - r[i]):E2} > {tol:E2})");
        }
    }
}
