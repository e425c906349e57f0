// Generated models against PyTorch 1.13 on fixed weights and inputs: forward output, loss, every parameter gradient,
// the input gradient and one SGD step (reference files from tests/reference/make_reference.py).
using Cifar;
using FashionMnist;
using GraphCompiler.IO;
using GraphCompiler.Nn;
using GraphCompiler.Optim;
using GraphCompiler.Tests.Models;
using Xunit;

namespace GraphCompiler.Tests.Parity;

public class PyTorchParityTests
{
    public static TheoryData<string> Models => new() { "Mlp", "CifarNet", "StridedNet" };

    private static ICompiledModel Create(string name) => name switch
    {
        "Mlp" => new Mlp(),
        "CifarNet" => new CifarNet(),
        "StridedNet" => new StridedNet(),
        _ => throw new ArgumentException(name),
    };

    private static Loss LossOf(string name) => name == "Mlp" ? Loss.Nll : Loss.CrossEntropy;

    /// <summary>
    /// 1e-4 relative to the tensor's scale: max|a − ref| ≤ 1e-4 · max|ref|, and elementwise |a − ref| ≤ 1e-4·|ref| + 1e-5·max|ref|
    /// (float32 summation order alone moves tiny gradient entries by more than 1e-4 of themselves; see tests/reference/README.md).
    /// </summary>
    internal static void AssertClose(string what, ReadOnlySpan<float> expected, ReadOnlySpan<float> actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        double scale = 0, worst = 0;
        for (int i = 0; i < expected.Length; i++) scale = Math.Max(scale, Math.Abs(expected[i]));
        for (int i = 0; i < expected.Length; i++)
        {
            double diff = Math.Abs((double)actual[i] - expected[i]);
            worst = Math.Max(worst, diff);
            if (diff > 1e-4 * Math.Abs(expected[i]) + 1e-5 * scale)
                Assert.Fail($"{what}[{i}]: expected {expected[i]:R}, got {actual[i]:R} (|diff| {diff:E2}, tensor max {scale:E2})");
        }
        Assert.True(worst <= 1e-4 * scale, $"{what}: max |diff| {worst:E2} exceeds 1e-4 x max|ref| {scale:E2}");
    }

    private static (ICompiledModel Model, ModelWorkspace Ws, IReadOnlyDictionary<string, SafeTensor> Ref, float Loss) RunStep(string name)
    {
        var reference = SafeTensors.Read(Path.Combine(AppContext.BaseDirectory, "Reference", name + ".safetensors"));
        ICompiledModel model = Create(name);
        StateDict.Load(model, reference, strict: false);
        float[] input = reference["input"].AsFloat();
        int[] target = reference["target"].AsInt32();
        int n = target.Length;
        ModelWorkspace ws = model.CreateWorkspace(n, training: true, inputGrad: true);
        ws.SetInput(input, n);
        foreach (Parameter p in model.Parameters()) p.ZeroGrad();
        model.Forward(ws);
        float loss = LossOf(name).Compute(ws.Output, target, ws.OutputGrad, n, model.OutputShape[0]);
        model.Backward(ws);
        return (model, ws, reference, loss);
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void Forward_loss_and_every_gradient_match_pytorch(string name)
    {
        var (model, ws, reference, loss) = RunStep(name);
        AssertClose(name + " output", reference["output"].AsFloat(), ws.Output);
        AssertClose(name + " loss", reference["loss"].AsFloat(), [loss]);
        Assert.Equal(reference.Keys.Count(k => k.StartsWith("grad.", StringComparison.Ordinal)) - 1, model.Parameters().Count);
        foreach (Parameter p in model.Parameters())
            AssertClose($"{name} grad.{p.Name}", reference["grad." + p.Name].AsFloat(), p.Grad);
        AssertClose(name + " grad.input", reference["grad.input"].AsFloat(), ws.InputGrad);
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void One_sgd_step_matches_pytorch(string name)
    {
        var (model, _, reference, _) = RunStep(name);
        new Sgd(model.Parameters(), lr: 0.1f).Step();
        foreach (Parameter p in model.Parameters())
            AssertClose($"{name} sgd1.{p.Name}", reference["sgd1." + p.Name].AsFloat(), p.Data);
    }

    [Fact]
    public void Compiled_forward_matches_the_eager_forward_body()
    {
        var reference = SafeTensors.Read(Path.Combine(AppContext.BaseDirectory, "Reference", "CifarNet.safetensors"));
        var model = new CifarNet();
        StateDict.Load(model, reference, strict: false);
        Tensor input = reference["input"].ToTensor();
        Tensor eager = model.Forward(input);
        Tensor compiled = GraphCompiler.Training.Evaluation.Predict(model, input);
        Assert.Equal(compiled.Shape, eager.Shape);
        Assert.Equal(compiled.Data, eager.Data);
    }

    [Fact]
    public void Loading_a_state_dict_checks_names_and_shapes()
    {
        var model = new Mlp();
        var tensors = StateDict.Save(model);
        tensors.Remove("fc2.bias");
        tensors["fc1.weight"] = SafeTensor.FromFloat(new float[10], 2, 5);
        tensors["extra.weight"] = SafeTensor.FromFloat(new float[1], 1);
        var ex = Assert.Throws<InvalidDataException>(() => StateDict.Load(model, tensors));
        Assert.Contains("Missing key(s): fc2.bias", ex.Message);
        Assert.Contains("Unexpected key(s): extra.weight", ex.Message);
        Assert.Contains("Size mismatch for fc1.weight: expected [128, 784], got [2, 5]", ex.Message);
    }
}
