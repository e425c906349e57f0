// Every ILGPU kernel that training either reference model launches compiles to PTX for sm_75 and sm_90, with no GPU present.
using System.Reflection;
using Cifar;
using FashionMnist;
using GraphCompiler.Backends.Ilgpu;
using GraphCompiler.Nn;
using GraphCompiler.Optim;
using GraphCompiler.Tests.Training;
using ILGPU.Runtime.Cuda;
using Xunit;

namespace GraphCompiler.Tests.Ilgpu;

public class PtxTests
{
    /// <summary>The kernels one training step of <paramref name="model"/> loads: its steps', its loss's and SGD's.</summary>
    private static IReadOnlyCollection<MethodInfo> KernelsOf(ICompiledModel model, Loss loss)
    {
        using var trainer = new IlgpuTrainer(model, loss, new Sgd(model.Parameters(), lr: 0.01, momentum: 0.9), 1, Device.IlgpuCpu);
        var (x, y) = TrainerTests.RandomBatch(1, model.InputShape.Aggregate(1, (a, b) => a * b), 1);
        trainer.Step(x, y, 1);
        return [.. trainer.Model.KernelMethods];
    }

    [Fact]
    public void Every_kernel_of_both_reference_models_compiles_to_ptx_for_sm_75_and_sm_90()
    {
        var kernels = KernelsOf(new Mlp(), Loss.Nll).Concat(KernelsOf(new CifarNet(), Loss.CrossEntropy)).Distinct().ToList();
        // Mlp: linear forward (relu, identity), log-softmax and its backward (for losses that do not fuse it), fused NLL,
        // linear backward (params, input with relu), SGD;
        // CifarNet adds conv forward/backward (params, input), pool forward/backward with the relu mask, cross-entropy.
        string[] expected =
        [
            "LinearForward", "LinearBackwardInput", "LinearBackwardParams", "LogSoftmaxForward", "LogSoftmaxBackward", "LossGradient", "SgdStep",
            "Conv2dForward", "Conv2dBackwardInput", "Conv2dBackwardParams", "MaxPool2dForward", "MaxPool2dBackward",
        ];
        Assert.Equal(expected.Order(), kernels.Select(k => k.Name).Distinct().Order());
        Assert.Contains(kernels, k => k.Name == "LossGradient" && k.GetGenericArguments()[0] == typeof(NllOfLogSoftmaxRow));
        Assert.Contains(kernels, k => k.Name == "LossGradient" && k.GetGenericArguments()[0] == typeof(CrossEntropyRow));
        Assert.Contains(kernels, k => k.Name == "LinearForward" && k.GetGenericArguments()[0] == typeof(ReluActivation));
        Assert.Contains(kernels, k => k.Name == "LinearForward" && k.GetGenericArguments()[0] == typeof(IdentityActivation));
        foreach (MethodInfo kernel in kernels)
        {
            foreach (var (arch, target) in new[] { (CudaArchitecture.SM_75, "sm_75"), (CudaArchitecture.SM_90, "sm_90") })
            {
                string ptx = IlgpuPtx.Compile(kernel, arch);
                string what = $"{kernel.Name}<{string.Join(", ", kernel.GetGenericArguments().Select(t => t.Name))}> for {target}";
                Assert.True(ptx.Contains($".target {target}", StringComparison.Ordinal), $"{what}: no .target {target}");
                Assert.True(ptx.Contains(".entry ", StringComparison.Ordinal), $"{what}: no .entry point");
                Assert.True(ptx.Contains(kernel.Name, StringComparison.Ordinal), $"{what}: the entry does not name the kernel");
            }
        }
    }
}
