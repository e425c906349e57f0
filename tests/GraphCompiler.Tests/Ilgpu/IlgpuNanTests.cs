// Non-finite values go through the ILGPU activations as through the CPU backend's (and PyTorch's): ReLU(NaN) is NaN.
using GraphCompiler.Backends.Cpu;
using GraphCompiler.Backends.Ilgpu;
using GraphCompiler.Compiler;
using Xunit;

namespace GraphCompiler.Tests.Ilgpu;

[Collection(IlgpuCollection.Name)]
public class IlgpuNanTests
{
    [Theory]
    [InlineData("Relu")]
    [InlineData("LeakyRelu")]
    [InlineData("Sigmoid")]
    [InlineData("Tanh")]
    [InlineData("Gelu")]
    [InlineData("Silu")]
    public void Non_finite_inputs_give_the_cpu_backends_outputs(string name)
    {
        Elementwise f = name switch
        {
            "Relu" => Elementwise.Relu,
            "LeakyRelu" => Elementwise.LeakyRelu(0.1f),
            "Sigmoid" => Elementwise.Sigmoid,
            "Tanh" => Elementwise.Tanh,
            "Gelu" => Elementwise.Gelu(false),
            _ => Elementwise.Silu,
        };
        float[] x = [float.NaN, float.PositiveInfinity, float.NegativeInfinity, -1f, 0f, 2f];
        var cpu = new float[x.Length];
        ElementwiseKernels.Forward(x, cpu, f);

        using var device = IlgpuDevice.Open(Device.IlgpuCpu);
        using var steps = new IlgpuSteps(device, "Nan");
        var input = steps.Allocate<float>(x.Length);
        var output = steps.Allocate<float>(x.Length);
        IlgpuSteps.CopyIn<float>(x, input);
        steps.AddBuffer("X", input);
        steps.AddBuffer("Y", output);
        steps.Bind(new ElementwiseForward(new Buf("X", x.Length), new Buf("Y", x.Length), f))(1);
        var onDevice = new float[x.Length];
        IlgpuSteps.CopyOut(output, onDevice);

        Assert.True(float.IsNaN(cpu[0]), $"{name}(NaN) on the CPU is {cpu[0]}");
        for (int i = 0; i < x.Length; i++)
            Assert.True(cpu[i].Equals(onDevice[i]) || Math.Abs(cpu[i] - onDevice[i]) <= 1e-6f, $"{name}({x[i]}): cpu {cpu[i]}, ilgpu {onDevice[i]}");
    }
}
