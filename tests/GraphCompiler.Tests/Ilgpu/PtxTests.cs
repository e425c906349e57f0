// Every ILGPU kernel of the backend compiles to PTX for sm_75 and sm_90, with no GPU present, in the instances (activation
// functors) that training the test models, every loss, Adam and gradient clipping launch.
using System.Reflection;
using Cifar;
using FashionMnist;
using GraphCompiler.Backends.Ilgpu;
using GraphCompiler.Compiler;
using GraphCompiler.Nn;
using GraphCompiler.Optim;
using GraphCompiler.Tests.Models;
using GraphCompiler.Tests.Training;
using ILGPU;
using ILGPU.Runtime.Cuda;
using Xunit;

namespace GraphCompiler.Tests.Ilgpu;

[Collection(IlgpuCollection.Name)]
public class PtxTests
{
    /// <summary>The kernels one training step of <paramref name="model"/> loads: its steps', its loss's and the optimizer's.</summary>
    private static IEnumerable<MethodInfo> KernelsOf(ICompiledModel model, Loss loss, Func<ICompiledModel, Optimizer> optimizer, bool clip = false,
        IlgpuGemmRoute route = IlgpuGemmRoute.Auto)
    {
        using var trainer = new IlgpuTrainer(model, loss, optimizer(model), 2, Device.IlgpuCpu, route);
        int classes = model.OutputShape[0], outputs = model.OutputShape.Aggregate(1, (a, b) => a * b);
        var (x, y) = TrainerTests.RandomBatch(2, model.InputShape.Aggregate(1, (a, b) => a * b), 1);
        if (loss.TakesClassTargets) trainer.Step(x, [.. y.Select(t => t % classes)], 2);
        else trainer.Step(x, new float[2 * outputs], 2);
        // An eval-mode forward: BatchNorm's running statistics, Dropout's copy.
        model.Eval();
        trainer.Model.Forward();
        model.Train();
        if (clip)
        {
            trainer.Model.ClipGradNorm(1f);
            trainer.Model.ClipGradValue(0.1f);
        }
        return [.. trainer.Model.KernelMethods];
    }

    private static Optimizer Sgd(ICompiledModel m) => new Sgd(m.Parameters(), lr: 0.01, momentum: 0.9);

    [Fact]
    public void Every_kernel_compiles_to_ptx_for_sm_75_and_sm_90()
    {
        var kernels = KernelsOf(new Mlp(), Loss.Nll, Sgd, clip: true)
            .Concat(KernelsOf(new CifarNet(), Loss.CrossEntropy, m => new AdamW(m.Parameters(), amsgrad: true)))
            .Concat(KernelsOf(new ResNetMini(), Loss.CrossEntropy, Sgd))
            .Concat(KernelsOf(new LayersNet(), Loss.Nll, Sgd))
            .Concat(KernelsOf(new NormNet(), Loss.CrossEntropy, Sgd))
            .Concat(KernelsOf(new ResidualNet(), Loss.CrossEntropy, Sgd))
            .Concat(KernelsOf(new ChainNet(), Loss.CrossEntropy, Sgd))
            .Concat(KernelsOf(new DropNet(), Loss.CrossEntropy, Sgd))
            .Concat(KernelsOf(new Regressor(), new MseLoss(), Sgd))
            // The GEMM route's kernels (im2col, col2im, the ILGPU GEMM, epilogues), which CUDA runs around cuBLAS.
            .Concat(KernelsOf(new Mlp(), Loss.Nll, Sgd, route: IlgpuGemmRoute.Im2colGemm))
            .Concat(KernelsOf(new CifarNet(), Loss.CrossEntropy, Sgd, route: IlgpuGemmRoute.Im2colGemm))
            .Distinct().ToList();

        // Every kernel of the backend is among them: a kernel no model launches would go unchecked.
        var all = typeof(IlgpuKernels).GetMethods(BindingFlags.Public | BindingFlags.Static)
            .Where(k => k.GetParameters() is [{ ParameterType: var t }, ..] && t == typeof(Index1D)).Select(k => k.Name).Distinct().Order().ToList();
        Assert.Equal(all, kernels.Select(k => k.Name).Distinct().Order());
        Assert.Equal(49, all.Count);
        // Each activation of the catalog is its own specialised instance.
        var maps = kernels.Where(k => k.Name is "Map" or "MapGrad" or "LinearForward" or "Conv2dForward" or "BiasActivation" or "ConvEpilogue").Select(k => k.GetGenericArguments()[0]).Distinct().ToList();
        foreach (Type def in new[] { typeof(IdentityDef), typeof(ReluDef), typeof(LeakyReluDef), typeof(SigmoidDef), typeof(TanhDef), typeof(GeluDef), typeof(SiluDef) })
            Assert.Contains(def, maps);

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

    [Fact]
    public void Every_activation_instance_of_every_generic_kernel_compiles_to_ptx()
    {
        // The models above launch only the instances their layers need; a fused LeakyReLU epilogue or a sigmoid mask in a
        // max-pool backward must compile too. The definitions are the catalog's (ElementwiseMath.Dispatch's targets).
        Type[] defs = [typeof(IdentityDef), typeof(ReluDef), typeof(LeakyReluDef), typeof(SigmoidDef), typeof(TanhDef), typeof(GeluDef), typeof(GeluTanhDef), typeof(SiluDef)];
        var generic = typeof(IlgpuKernels).GetMethods(BindingFlags.Public | BindingFlags.Static).Where(k => k.IsGenericMethodDefinition).ToList();
        Assert.Equal(["BiasActivation", "Col2im", "Conv2dBackwardInput", "Conv2dForward", "ConvEpilogue", "LinearBackwardInput", "LinearForward", "Map", "MapGrad",
            "MaxPool2dBackward", "ScaleByDerivative"], generic.Select(k => k.Name).Order());
        int compiled = 0;
        foreach (MethodInfo kernel in generic)
            foreach (Type def in defs)
                foreach (var (arch, target) in new[] { (CudaArchitecture.SM_75, "sm_75"), (CudaArchitecture.SM_90, "sm_90") })
                {
                    string ptx = IlgpuPtx.Compile(kernel.MakeGenericMethod(def), arch);
                    Assert.True(ptx.Contains($".target {target}", StringComparison.Ordinal) && ptx.Contains(".entry ", StringComparison.Ordinal),
                        $"{kernel.Name}<{def.Name}> for {target}");
                    compiled++;
                }
        Assert.Equal(11 * 8 * 2, compiled);
    }
}
