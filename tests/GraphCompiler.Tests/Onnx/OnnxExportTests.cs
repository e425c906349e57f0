// ONNX export: every test model is exported, run by ONNX Runtime and compared with this library's own inference; the file's
// opset, symbolic batch and initializer names; refusal of what ONNX cannot express; and the full checker's recorded verdict.
using GraphCompiler.Compiler;
using GraphCompiler.IO.Onnx;
using GraphCompiler.Tests.Models;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Xunit;
using Xunit.Abstractions;
using TestProtos = GraphCompiler.Tests.Onnx.Protos;

namespace GraphCompiler.Tests.Onnx;

public class OnnxExportTests(ITestOutputHelper output)
{
    /// <summary>Every generated model the tests and samples compile (BatchStatsNet apart: it cannot be exported).</summary>
    public static readonly Dictionary<string, Func<ICompiledModel>> Models = new()
    {
        ["Mlp"] = () => new FashionMnist.Mlp(seed: 3),
        ["MlpUnfused"] = () => new MlpUnfused(seed: 3),
        ["CifarNet"] = () => new Cifar.CifarNet(seed: 3),
        ["CifarNetUnfused"] = () => new CifarNetUnfused(seed: 3),
        ["ResNetMini"] = () => new ResNetMini(seed: 3),
        ["ResidualNet"] = () => new ResidualNet(seed: 3),
        ["ResidualNetUnfused"] = () => new ResidualNetUnfused(seed: 3),
        ["LayersNet"] = () => new LayersNet(seed: 3),
        ["LayersNetUnfused"] = () => new LayersNetUnfused(seed: 3),
        ["ChainNet"] = () => new ChainNet(seed: 3),
        ["ChainNetUnfused"] = () => new ChainNetUnfused(seed: 3),
        ["NormNet"] = () => new NormNet(seed: 3),
        ["DropNet"] = () => new DropNet(seed: 3),
        ["StridedNet"] = () => new StridedNet(seed: 3),
        ["PixelClassifier"] = () => new PixelClassifier(seed: 3),
        ["Regressor"] = () => new Regressor(seed: 3),
        ["OnnxOpsNet"] = () => new OnnxOpsNet(seed: 3),
        ["BlockMlp"] = () => new BlockMlp(seed: 3),
    };

    public static IEnumerable<object[]> ModelNames => Models.Keys.Select(k => new object[] { k });

    /// <summary>
    /// A model in eval mode whose norm layers hold statistics and affine parameters other than their initial ones, so a
    /// mix-up of mean and variance, or of scale and bias, shows.
    /// </summary>
    private static ICompiledModel Prepared(string name)
    {
        ICompiledModel model = Models[name]();
        var rng = new Random(17);
        float Uniform(float lo, float hi) => lo + (hi - lo) * (float)rng.NextDouble();
        foreach (LayerDecl layer in model.Schedule.Layers.Where(l => l.Kind.Contains("Norm", StringComparison.Ordinal)))
        {
            foreach (var p in model.Parameters().Where(p => p.Name == layer.StateName + ".weight"))
                for (int i = 0; i < p.Count; i++) p.Data[i] = Uniform(0.5f, 1.5f);
            foreach (var p in model.Parameters().Where(p => p.Name == layer.StateName + ".bias"))
                for (int i = 0; i < p.Count; i++) p.Data[i] = Uniform(-0.5f, 0.5f);
            foreach (var b in model.Buffers().Where(b => b.Name == layer.StateName + ".running_mean"))
                for (int i = 0; i < b.Count; i++) b.Data[i] = Uniform(-0.5f, 0.5f);
            foreach (var b in model.Buffers().Where(b => b.Name == layer.StateName + ".running_var"))
                for (int i = 0; i < b.Count; i++) b.Data[i] = Uniform(0.5f, 2f);
        }
        model.Eval();
        return model;
    }

    private static float[] Input(ICompiledModel model, int batch)
    {
        var rng = new Random(5);
        return [.. Enumerable.Range(0, batch * model.InputShape.Aggregate(1, (p, d) => p * d)).Select(_ => (float)(2 * rng.NextDouble() - 1))];
    }

    private static float[] Own(ICompiledModel model, float[] x, int batch)
    {
        ModelWorkspace ws = model.CreateWorkspace(batch, training: false);
        ws.SetInput(x, batch);
        model.Forward(ws);
        return ws.Output.AsSpan(0, batch * model.OutputShape.Aggregate(1, (p, d) => p * d)).ToArray();
    }

    private static float[] Ort(InferenceSession session, ICompiledModel model, float[] x, int batch)
    {
        var tensor = new DenseTensor<float>(x, [batch, .. model.InputShape]);
        using var results = session.Run([NamedOnnxValue.CreateFromTensor(OnnxExport.InputName, tensor)]);
        var y = results.Single(r => r.Name == OnnxExport.OutputName).AsTensor<float>();
        Assert.Equal([batch, .. model.OutputShape], y.Dimensions.ToArray());
        return [.. y];
    }

    [Theory]
    [MemberData(nameof(ModelNames))]
    public void Exported_model_matches_own_inference_in_ONNX_Runtime(string name)
    {
        ICompiledModel model = Prepared(name);
        byte[] bytes = model.ToOnnx();
        if (Environment.GetEnvironmentVariable("GRAPHCOMPILER_ONNX_EXPORT_DIR") is { Length: > 0 } dir)
            model.ExportOnnx(Path.Combine(dir, name + ".onnx")); // for tests/reference/check_onnx_export.py

        using var session = new InferenceSession(bytes);
        // Two batch sizes through one session: the batch dimension is symbolic.
        foreach (int batch in new[] { 3, 1 })
        {
            float[] x = Input(model, batch);
            float[] expected = Own(model, x, batch), actual = Ort(session, model, x, batch);
            Assert.Equal(expected.Length, actual.Length);
            double scale = expected.Max(v => Math.Abs((double)v));
            double error = expected.Zip(actual, (e, a) => Math.Abs((double)e - a)).Max();
            output.WriteLine($"{name} batch {batch}: max |ours − ORT| = {error:E2}, max |ours| = {scale:G4}, relative {error / scale:E2}");
            Assert.True(scale > 0, $"{name}: the output is all zeros, which compares nothing.");
            Assert.True(error <= 1e-5 * scale, $"{name} batch {batch}: ONNX Runtime differs by {error:E3} where the output's max is {scale:G4}.");
        }
    }

    [Fact]
    public void The_file_declares_opset_17_a_symbolic_batch_and_the_state_dict_as_initializers()
    {
        ICompiledModel model = Prepared("NormNet");
        string dir = Directory.CreateTempSubdirectory("onnx-export").FullName;
        try
        {
            string path = Path.Combine(dir, "normnet.onnx");
            model.ExportOnnx(path);
            Assert.Equal(["normnet.onnx"], Directory.GetFiles(dir).Select(Path.GetFileName)); // renamed, no temporary left

            TestProtos.ModelProto proto = TestProtos.ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
            Assert.Equal(8, proto.IrVersion);
            Assert.Equal(17, proto.OpsetImport.Single(o => o.Domain == "").Version);
            // Every float tensor of the state_dict (num_batches_tracked, an int64 count, plays no part in inference).
            string[] state = [.. model.Parameters().Select(p => p.Name), .. model.Buffers().Where(b => b.DType == Nn.BufferDType.Float32).Select(b => b.Name)];
            Assert.Subset(proto.Graph.Initializer.Select(t => t.Name).ToHashSet(), state.ToHashSet());
            var conv = proto.Graph.Initializer.Single(t => t.Name == "conv1.weight");
            Assert.Equal([8L, 3, 3, 3], conv.Dims);
            Assert.Equal(model.Parameters().Single(p => p.Name == "conv1.weight").Data, ToFloats(conv.RawData.Span));
            Assert.Equal(model.Buffers().Single(b => b.Name == "bn1.running_var").Data,
                ToFloats(proto.Graph.Initializer.Single(t => t.Name == "bn1.running_var").RawData.Span));
            Assert.Equal(["Conv", "BatchNormalization", "Relu", "MaxPool", "Reshape", "Gemm", "BatchNormalization", "Relu", "LayerNormalization", "Gemm", "Identity"],
                proto.Graph.Node.Select(n => n.OpType));

            using var session = new InferenceSession(path);
            NodeMetadata input = session.InputMetadata[OnnxExport.InputName];
            Assert.Equal([-1, 3, 8, 8], input.Dimensions);
            Assert.Equal(OnnxExport.BatchDim, input.SymbolicDimensions[0]);
            Assert.Equal([-1, 5], session.OutputMetadata[OnnxExport.OutputName].Dimensions);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static float[] ToFloats(ReadOnlySpan<byte> raw) => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(raw).ToArray();

    [Fact]
    public void An_op_ONNX_cannot_express_is_refused_by_name_and_nothing_is_written()
    {
        var model = new BatchStatsNet(seed: 1);
        model.Eval();
        string dir = Directory.CreateTempSubdirectory("onnx-export").FullName;
        try
        {
            string path = Path.Combine(dir, "model.onnx");
            File.WriteAllText(path, "previous");
            var e = Assert.Throws<NotSupportedException>(() => model.ExportOnnx(path));
            Assert.Equal("ONNX export: BatchNorm1d 'Bn' cannot be exported: without running statistics (trackRunningStats: false) it " +
                "normalises with each batch's own, which ONNX's inference BatchNormalization cannot.", e.Message);
            Assert.Equal("previous", File.ReadAllText(path));
            Assert.Single(Directory.GetFiles(dir));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>
    /// tests/reference/check_onnx_export.py ran <c>onnx.checker.check_model(full_check=True)</c> (Debian's python3-onnx) on
    /// every model this class exports; its report is checked in. A model added here without a new report fails.
    /// </summary>
    [Fact]
    public void The_recorded_full_check_passed_for_every_exported_model()
    {
        string[] lines = File.ReadAllLines(Path.Combine(AppContext.BaseDirectory, "Onnx", "onnx_export_check.txt"));
        var verdicts = lines.Where(l => l.Contains(".onnx:", StringComparison.Ordinal))
            .ToDictionary(l => l[..l.IndexOf(".onnx:", StringComparison.Ordinal)], l => l[(l.IndexOf(".onnx:", StringComparison.Ordinal) + 6)..].Trim());
        foreach (string name in Models.Keys)
        {
            Assert.True(verdicts.TryGetValue(name, out string? verdict), $"{name}: no full-check verdict recorded; rerun tests/reference/check_onnx_export.py.");
            Assert.Equal("ok (opset 17)", verdict);
        }
    }

    /// <summary>
    /// The exported models between them run every forward step kind of the schedule and every activation of the catalog
    /// (as an op, an epilogue or a chain stage), so each ONNX mapping above is checked against ONNX Runtime; a new step kind
    /// or activation without a model here fails.
    /// </summary>
    [Fact]
    public void The_exported_models_cover_every_forward_step_kind_and_activation()
    {
        var steps = Models.Values.SelectMany(m => m().Schedule.Forward).ToList();
        string[] kinds = [.. typeof(IStepHandler<bool>).GetMethods().Select(m => m.Name).Where(n => n.EndsWith("Forward", StringComparison.Ordinal)).Order()];
        Assert.Equal(15, kinds.Length);
        Assert.Equal(kinds, steps.Select(s => s.Kind).Distinct().Order());

        IEnumerable<Elementwise> Activations(KernelStep s) => s switch
        {
            LinearForward l => [l.Epilogue],
            Conv2dForward c => [c.Epilogue],
            ElementwiseForward e => [e.F],
            ElementwiseChainForward c => c.Stages.Value,
            _ => [],
        };
        var used = steps.SelectMany(Activations).Select(a => a.Kind).ToHashSet();
        Assert.Equal(Enum.GetValues<ElementwiseKind>().Order(), used.Order());
        // LeakyReLU with a negative slope too, whose sign handling differs from the positive one's.
        Assert.Contains(steps.SelectMany(Activations), a => a.Kind == ElementwiseKind.LeakyRelu && a.Slope < 0);
    }

    [Fact]
    public void A_target_in_a_missing_folder_is_refused_before_a_run_and_by_the_export()
    {
        string missing = Path.Combine(Path.GetTempPath(), "no-such-folder-" + Guid.NewGuid().ToString("N"), "model.onnx");
        var e = Assert.Throws<ArgumentException>(() => OnnxExport.CheckTarget(missing));
        Assert.StartsWith($"cannot export ONNX to {missing}: the folder {Path.GetDirectoryName(missing)} does not exist.", e.Message);
        OnnxExport.CheckTarget(Path.Combine(Path.GetTempPath(), "model.onnx"));
        Assert.Throws<ArgumentException>(() => OnnxExport.CheckTarget(Path.GetTempPath()));
        Assert.ThrowsAny<IOException>(() => new Regressor(seed: 1).ExportOnnx(missing));
    }
}
