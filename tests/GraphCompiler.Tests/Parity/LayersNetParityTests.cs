// LayersNet (every layer option and activation of the layer set in one model) against PyTorch 1.13: forward output, loss,
// every parameter gradient and the input gradient, fused and unfused (reference from tests/reference/make_ops_reference.py).
using GraphCompiler.IO;
using GraphCompiler.Nn;
using GraphCompiler.Tests.Models;
using Xunit;

namespace GraphCompiler.Tests.Parity;

public class LayersNetParityTests
{
    private static IReadOnlyDictionary<string, SafeTensor> Reference() =>
        SafeTensors.Read(Path.Combine(AppContext.BaseDirectory, "Reference", "LayersNet.safetensors"));

    public static TheoryData<bool> Fused => new() { true, false };

    [Theory]
    [MemberData(nameof(Fused))]
    public void Forward_loss_and_every_gradient_match_pytorch(bool fused)
    {
        var reference = Reference();
        ICompiledModel model = fused ? new LayersNet() : new LayersNetUnfused();
        StateDict.Load(model, reference, strict: false);
        int[] target = reference["target"].AsInt32();
        int n = target.Length;
        ModelWorkspace ws = model.CreateWorkspace(n, training: true, inputGrad: true);
        ws.SetInput(reference["input"].AsFloat(), n);
        foreach (Parameter p in model.Parameters()) p.ZeroGrad();
        model.Forward(ws);
        float loss = Loss.Nll.Compute(ws.Output, target, ws.OutputGrad, n, model.OutputShape[0]);
        model.Backward(ws);

        string name = fused ? "LayersNet" : "LayersNetUnfused";
        PyTorchParityTests.AssertClose(name + " output", reference["output"].AsFloat(), ws.Output);
        PyTorchParityTests.AssertClose(name + " loss", reference["loss"].AsFloat(), [loss]);
        Assert.Equal(["conv1.weight", "conv1.bias", "depthwise.weight", "conv2.weight", "conv2.bias", "fc1.weight", "fc1.bias", "fc2.weight"],
            model.Parameters().Select(p => p.Name));
        foreach (Parameter p in model.Parameters())
            PyTorchParityTests.AssertClose($"{name} grad.{p.Name}", reference["grad." + p.Name].AsFloat(), p.Grad);
        PyTorchParityTests.AssertClose(name + " grad.input", reference["grad.input"].AsFloat(), ws.InputGrad);
    }

    [Fact]
    public void Compiled_forward_matches_the_eager_forward_body()
    {
        var reference = Reference();
        var model = new LayersNet();
        StateDict.Load(model, reference, strict: false);
        Tensor input = reference["input"].ToTensor();
        Tensor eager = model.Forward(input);
        Tensor compiled = GraphCompiler.Training.Evaluation.Predict(model, input);
        Assert.Equal(compiled.Shape, eager.Shape);
        PyTorchParityTests.AssertClose("LayersNet eager vs compiled", eager.Data, compiled.Data);
    }

    [Fact]
    public void Summary_names_every_op_with_its_options_and_shape()
    {
        Assert.Equal(
        [
            ("Conv1", "Conv2d 'Conv1'", "8,16,16"), ("LeakyRelu1", "LeakyReLU(0.1)", "8,16,16"), ("Depthwise", "Conv2d 'Depthwise'", "8,16,16"),
            ("Sigmoid1", "Sigmoid", "8,16,16"), ("Pool1", "MaxPool2d(3, stride: 2, padding: 1, ceilMode: true)", "8,9,9"),
            ("Conv2", "Conv2d 'Conv2'", "12,9,9"), ("Tanh1", "Tanh", "12,9,9"),
            ("AvgPool1", "AvgPool2d(3, stride: 2, padding: 1, ceilMode: true, countIncludePad: false)", "12,5,5"),
            ("Softmax1", "Softmax(dim: 1)", "12,5,5"), ("Gelu1", "GELU", "12,5,5"), ("LogSoftmax1", "LogSoftmax(dim: -1)", "12,5,5"),
            ("AdaptivePool1", "AdaptiveAvgPool2d(2)", "12,2,2"), ("Flatten1", "Flatten", "48"), ("Fc1", "Linear 'Fc1'", "10"),
            ("Silu1", "SiLU", "10"), ("Fc2", "Linear 'Fc2'", "6"), ("LeakyRelu2", "LeakyReLU(-0.2)", "6"), ("LogSoftmax2", "LogSoftmax(dim: 1)", "6"),
        ], LayersNet.Summary.Select(r => (r.Name, r.Description, string.Join(",", r.OutputShape))));
        // Depthwise: 8 · 1 · 3 · 3 weights, no bias; Conv2: 12 · (8 / 2) · 4 · 4 + 12.
        Assert.Equal(72, LayersNet.Summary.Single(r => r.Name == "Depthwise").Parameters);
        Assert.Equal(12 * 4 * 16 + 12, LayersNet.Summary.Single(r => r.Name == "Conv2").Parameters);
    }
}
