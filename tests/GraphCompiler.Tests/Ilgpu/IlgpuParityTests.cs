// The ILGPU backend, run on ILGPU's CPU accelerator, against the native CPU backend: forward, loss, every parameter
// gradient, three optimizer steps (SGD, Adam, AdamW), running statistics and optimizer state, for the reference models,
// their unfused forms and the test models that hold every step kind (norms, dropout, chains, residual adds, cat, pools).
using Cifar;
using FashionMnist;
using GraphCompiler.Backends.Ilgpu;
using GraphCompiler.Compiler;
using GraphCompiler.Nn;
using GraphCompiler.Optim;
using GraphCompiler.Tests.Models;
using GraphCompiler.Tests.Training;
using GraphCompiler.Training;
using System.Numerics.Tensors;
using Xunit;

namespace GraphCompiler.Tests.Ilgpu;

[Collection(IlgpuCollection.Name)]
public class IlgpuParityTests
{
    private const float Tolerance = 1e-4f;

    /// <summary>max|got − want| ≤ 1e-4 · max|want| (and want is not all zeros, so the comparison says something).</summary>
    internal static void Close(ReadOnlySpan<float> want, ReadOnlySpan<float> got, string what, float noiseFloor = 0f)
    {
        Assert.Equal(want.Length, got.Length);
        float scale = 0, diff = 0;
        for (int i = 0; i < want.Length; i++)
        {
            scale = Math.Max(scale, Math.Abs(want[i]));
            diff = Math.Max(diff, Math.Abs(got[i] - want[i]));
        }
        Assert.True(scale > 0, $"{what}: the reference is all zeros");
        Assert.True(diff <= Tolerance * Math.Max(scale, noiseFloor), $"{what}: max |Δ| {diff} > 1e-4 · max |ref| {scale}");
    }

    /// <summary>Σ(got − want)² ≤ tol² · Σ want²: the whole tensor's relative L2 error, for optimizers that amplify rounding per element.</summary>
    internal static void CloseL2(ReadOnlySpan<float> want, ReadOnlySpan<float> got, double tolerance, string what)
    {
        double num = 0, den = 0;
        for (int i = 0; i < want.Length; i++)
        {
            num += (got[i] - (double)want[i]) * (got[i] - (double)want[i]);
            den += want[i] * (double)want[i];
        }
        Assert.True(den > 0, $"{what}: the reference is all zeros");
        Assert.True(Math.Sqrt(num) <= tolerance * Math.Sqrt(den), $"{what}: relative L2 error {Math.Sqrt(num / den)} > {tolerance}");
    }

    /// <summary>A batch of normal inputs and class targets below <paramref name="classes"/>.</summary>
    private static (float[] X, int[] Y) Batch(int n, int perSample, int classes, ulong seed)
    {
        var (x, y) = TrainerTests.RandomBatch(n, perSample, seed);
        return (x, [.. y.Select(t => t % classes)]);
    }

    private static Optimizer Sgd(ICompiledModel m) => new Sgd(m.Parameters(), lr: 0.05, momentum: 0.9, weightDecay: 1e-3);

    /// <summary>
    /// Two identically initialised copies of a model, one trained by <see cref="Trainer"/> and one by
    /// <see cref="IlgpuTrainer"/> on the CPU accelerator: the forward output, the loss and every parameter gradient of the
    /// first batch compared, then <paramref name="steps"/> optimizer steps on fresh batches, after which every parameter,
    /// the running statistics and the optimizer state are compared (SGD: 1e-4 of max; Adam: 1e-3 of max and 1e-5 in L2).
    /// </summary>
    private static void SameAsCpu(Func<ICompiledModel> create, Loss loss, int batch, Func<ICompiledModel, Optimizer>? optimizer = null, int steps = 3,
        IlgpuGemmRoute route = IlgpuGemmRoute.Auto)
    {
        optimizer ??= Sgd;
        ICompiledModel cpu = create(), dev = create();
        int perSample = cpu.InputShape.Aggregate(1, (a, b) => a * b), outputs = cpu.OutputShape.Aggregate(1, (a, b) => a * b), classes = cpu.OutputShape[0];
        Optimizer cpuOpt = optimizer(cpu), devOpt = optimizer(dev);
        bool adam = cpuOpt is AdamBase;
        var cpuTrainer = new Trainer(cpu, loss, cpuOpt, batch);
        using var devTrainer = new IlgpuTrainer(dev, loss, devOpt, batch, Device.IlgpuCpu, route);
        Assert.Equal(route == IlgpuGemmRoute.Auto ? IlgpuGemmRoute.DirectKernel : route, devTrainer.Model.Device.Route);
        var (x, y) = Batch(batch, perSample, classes, 7);

        // Loss and every parameter gradient, then the forward output of that batch (a second forward: running statistics
        // move on both sides alike).
        float cpuLoss = cpuTrainer.ForwardBackward(x, y, batch);
        float devLoss = devTrainer.ForwardBackward(x, y, batch);
        Assert.True(Math.Abs(cpuLoss - devLoss) <= Tolerance * Math.Abs(cpuLoss), $"loss {devLoss} vs {cpuLoss}");
        var output = new float[batch * outputs];
        devTrainer.Model.CopyOutput(output);
        Close(cpuTrainer.Workspace.Output.AsSpan(0, batch * outputs), output, "output");
        devTrainer.Model.CopyGradientsToHost();
        var cpuParams = cpu.Parameters();
        var devParams = dev.Parameters();
        // A gradient that is zero in exact arithmetic (a bias before BatchNorm, which subtracts the mean) is rounding noise
        // on both backends, so it is compared on the scale of the model's largest gradient (a tenth of it) rather than its own.
        float largest = cpuParams.Max(p => p.Grad.Max(Math.Abs));
        for (int i = 0; i < cpuParams.Count; i++) Close(cpuParams[i].Grad, devParams[i].Grad, $"gradient of {cpuParams[i].Name}", 0.1f * largest);

        // The step of those gradients, then full steps on fresh batches.
        cpuOpt.Step();
        devTrainer.Model.OptimizerStep(devOpt);
        for (int s = 1; s < steps; s++)
        {
            var (xs, ys) = Batch(batch, perSample, classes, 8 + (ulong)s);
            cpuTrainer.Step(xs, ys, batch);
            devTrainer.Step(xs, ys, batch);
        }
        devTrainer.Synchronize();
        for (int i = 0; i < cpuParams.Count; i++)
        {
            string what = $"{cpuParams[i].Name} after {steps} {cpuOpt.Name} steps";
            if (adam)
            {
                float scale = cpuParams[i].Data.Max(Math.Abs), diff = cpuParams[i].Data.Zip(devParams[i].Data, (a, b) => Math.Abs(a - b)).Max();
                Assert.True(diff <= 1e-3f * scale, $"{what}: max |Δ| {diff} > 1e-3 · max |ref| {scale}");
                CloseL2(cpuParams[i].Data, devParams[i].Data, 1e-5, what);
                Close(((AdamBase)cpuOpt).State(cpuParams[i])!.ExpAvg, ((AdamBase)devOpt).State(devParams[i])!.ExpAvg, $"exp_avg of {cpuParams[i].Name}");
                Assert.Equal(((AdamBase)cpuOpt).State(cpuParams[i])!.Step, ((AdamBase)devOpt).State(devParams[i])!.Step);
            }
            else
            {
                Close(cpuParams[i].Data, devParams[i].Data, what);
                // Momentum carries the gradient, so the same noise floor: a tenth of the model's largest momentum.
                float largestMomentum = cpuParams.Max(p => Math.Abs(TensorPrimitives.MaxMagnitude(((Sgd)cpuOpt).MomentumBuffer(p))));
                Close(((Sgd)cpuOpt).MomentumBuffer(cpuParams[i]), ((Sgd)devOpt).MomentumBuffer(devParams[i]), $"momentum of {cpuParams[i].Name}", 0.1f * largestMomentum);
            }
        }
        var cpuBuffers = cpu.Buffers();
        var devBuffers = dev.Buffers();
        for (int i = 0; i < cpuBuffers.Count; i++)
        {
            if (cpuBuffers[i].DType == BufferDType.Int64) Assert.Equal(cpuBuffers[i].Int64Data, devBuffers[i].Int64Data);
            else Close(cpuBuffers[i].Data, devBuffers[i].Data, $"{cpuBuffers[i].Name} after {steps} steps");
        }
    }

    [Fact]
    public void Mlp_with_fused_nll_matches_the_cpu_backend() => SameAsCpu(() => new Mlp(seed: 3), Loss.Nll, batch: 4);

    [Fact]
    public void Mlp_with_cross_entropy_on_log_probabilities_matches_the_cpu_backend() => SameAsCpu(() => new Mlp(seed: 4), Loss.CrossEntropy, batch: 3);

    [Fact]
    public void Mlp_with_adam_matches_the_cpu_backend() => SameAsCpu(() => new Mlp(seed: 11), Loss.Nll, batch: 4, m => new Adam(m.Parameters(), lr: 1e-3));

    [Fact]
    public void CifarNet_matches_the_cpu_backend() => SameAsCpu(() => new CifarNet(seed: 5), Loss.CrossEntropy, batch: 2);

    [Fact]
    public void CifarNet_with_amsgrad_adamw_matches_the_cpu_backend() =>
        SameAsCpu(() => new CifarNet(seed: 12), Loss.CrossEntropy, batch: 1, m => new AdamW(m.Parameters(), lr: 1e-3, weightDecay: 0.01, amsgrad: true));

    // The GEMM route (im2col, col2im, GEMMs, epilogues) that CUDA takes with cuBLAS, here with the ILGPU GEMM kernel in
    // cuBLAS's place: fused ReLU epilogues, masks, groups, dilation and strides, three SGD steps.

    [Fact]
    public void CifarNet_on_the_gemm_route_matches_the_cpu_backend() =>
        SameAsCpu(() => new CifarNet(seed: 5), Loss.CrossEntropy, batch: 2, route: IlgpuGemmRoute.Im2colGemm);

    [Fact]
    public void Mlp_on_the_gemm_route_matches_the_cpu_backend() => SameAsCpu(() => new Mlp(seed: 3), Loss.Nll, batch: 4, route: IlgpuGemmRoute.Im2colGemm);

    [Fact]
    public void LayersNet_on_the_gemm_route_matches_the_cpu_backend() =>
        SameAsCpu(() => new LayersNet(seed: 15), Loss.Nll, batch: 2, route: IlgpuGemmRoute.Im2colGemm);

    [Fact]
    public void StridedNet_on_the_gemm_route_matches_the_cpu_backend() =>
        SameAsCpu(() => new StridedNet(seed: 8), Loss.CrossEntropy, batch: 2, route: IlgpuGemmRoute.Im2colGemm);

    [Fact]
    public void ResNetMini_matches_the_cpu_backend() => SameAsCpu(() => new ResNetMini(seed: 13), Loss.CrossEntropy, batch: 2);

    [Fact]
    public void Unfused_Mlp_matches_the_cpu_backend() => SameAsCpu(() => new MlpUnfused(seed: 6), Loss.Nll, batch: 3);

    [Fact]
    public void Unfused_CifarNet_matches_the_cpu_backend() => SameAsCpu(() => new CifarNetUnfused(seed: 7), Loss.CrossEntropy, batch: 1);

    [Fact]
    public void StridedNet_matches_the_cpu_backend() => SameAsCpu(() => new StridedNet(seed: 8), Loss.CrossEntropy, batch: 2);

    [Fact]
    public void ChainNet_with_fused_chains_matches_the_cpu_backend() => SameAsCpu(() => new ChainNet(seed: 14), Loss.CrossEntropy, batch: 3);

    [Fact]
    public void LayersNet_with_dilation_groups_pools_and_softmax_over_dims_matches_the_cpu_backend() =>
        SameAsCpu(() => new LayersNet(seed: 15), Loss.Nll, batch: 2);

    [Fact]
    public void NormNet_with_batch_and_layer_norm_matches_the_cpu_backend() => SameAsCpu(() => new NormNet(seed: 16), Loss.CrossEntropy, batch: 3);

    [Fact]
    public void BlockMlp_with_layer_arrays_matches_the_cpu_backend() => SameAsCpu(() => new BlockMlp(seed: 18), Loss.CrossEntropy, batch: 3);

    [Fact]
    public void ResidualNet_with_adds_and_cat_matches_the_cpu_backend() => SameAsCpu(() => new ResidualNet(seed: 17), Loss.CrossEntropy, batch: 2);

    [Fact]
    public void DropNet_draws_the_cpu_masks() => SameAsCpu(() => new DropNet(seed: 18), Loss.CrossEntropy, batch: 4);

    [Fact]
    public void A_frozen_layer_keeps_its_weights_and_gets_no_gradient()
    {
        var model = new Mlp(seed: 9);
        foreach (Parameter p in model.Fc1.Parameters()) p.RequiresGrad = false;
        float[] before = [.. model.Fc1.Weight.Data];
        using var trainer = new IlgpuTrainer(model, Loss.Nll, new Sgd(model.Parameters(), lr: 0.1), 4, Device.IlgpuCpu);
        var (x, y) = TrainerTests.RandomBatch(4, 784, 10);
        trainer.Step(x, y, 4);
        trainer.Synchronize();
        trainer.Model.CopyGradientsToHost();
        Assert.Equal(before, model.Fc1.Weight.Data);
        Assert.All(model.Fc1.Weight.Grad, g => Assert.Equal(0f, g));
        Assert.Contains(model.Fc2.Weight.Grad, g => g != 0f);
    }

    [Fact]
    public void The_device_runs_the_schedule_the_cpu_code_was_printed_from()
    {
        // The calls the generated Forward prints (Cifar.CifarNet.verified.cs.txt): three fused conv+relu, each with its
        // pool, then two linears, the first with its relu.
        Schedule s = CifarNet.CompiledSchedule;
        Assert.Same(s, ((ICompiledModel)new CifarNet()).Schedule);
        string C(string conv) => $"Conv2dForward {conv} Relu";
        Assert.Equal(
            [C("Conv1"), "MaxPool2dForward Pool1", C("Conv2"), "MaxPool2dForward Pool2", C("Conv3"), "MaxPool2dForward Pool3",
             "LinearForward Fc1 Relu", "LinearForward Fc2 Identity"],
            s.Forward.Select(step => $"{step.Kind} {step.Comment.Split(':')[0]}" + step switch
            {
                Conv2dForward c => " " + c.Epilogue.Member,
                LinearForward l => " " + l.Epilogue.Member,
                _ => "",
            }));
        Assert.Equal(21, s.TrainingStepKernels("cross_entropy"));
        Assert.Equal(49152, s.TrainingPlan.FloatsPerSample); // the arena the generated Workspace allocates
    }

    /// <summary>A model whose schedule holds one more step than the generator printed, as a new op would add.</summary>
    private sealed class WithStep(ICompiledModel inner, KernelStep extra) : ICompiledModel
    {
        public int[] InputShape => inner.InputShape;

        public int[] OutputShape => inner.OutputShape;

        public IReadOnlyList<LayerSummary> Summary => inner.Summary;

        public Schedule Schedule => inner.Schedule with { Forward = EquatableArray.From(inner.Schedule.Forward.Append(extra)) };

        public IReadOnlyList<Parameter> Parameters() => inner.Parameters();

        public ModelWorkspace CreateWorkspace(int capacity, bool training = true, bool inputGrad = false) => inner.CreateWorkspace(capacity, training, inputGrad);

        public void Forward(ModelWorkspace ws) => inner.Forward(ws);

        public void Backward(ModelWorkspace ws) => inner.Backward(ws);

        public IReadOnlyList<KernelSummary> Kernels => inner.Kernels;

        public long PeakBytes(int batch, bool training) => inner.PeakBytes(batch, training);

        public bool Training => inner.Training;

        public void Train(bool mode = true) => inner.Train(mode);

        public void Eval() => inner.Eval();
    }

    [Fact]
    public void A_chain_longer_than_the_device_struct_is_named_with_the_device()
    {
        var stages = EquatableArray.From(Enumerable.Repeat(Elementwise.Tanh, ChainStages.Capacity + 1));
        var chain = new ElementwiseChainForward(new Buf("Fc3Out", 10), new Buf("Fc3Out", 10), new Geo<EquatableArray<Elementwise>>("Fc3Chain", stages)) { Comment = "Chain1: (N, 10)" };
        using var device = IlgpuDevice.Open(Device.IlgpuCpu);
        var e = Assert.Throws<NotSupportedException>(() => new IlgpuModel(new WithStep(new Mlp(), chain), device, 2));
        Assert.Equal("The ILGPU backend (ilgpu-cpu (" + device.Accelerator.Name + ")) cannot run ElementwiseChainForward (Chain1: (N, 10)) " +
            "of model 'Mlp': a device chain holds at most 8 stages, this one 9.", e.Message);
    }

    /// <summary>An optimizer the device has no kernel for.</summary>
    private sealed class Frozen : IOptimizer
    {
        public float LearningRate { get; set; }

        public void Step()
        {
        }

        public void ZeroGrad()
        {
        }
    }

    [Fact]
    public void An_optimizer_without_a_device_kernel_is_named_in_the_error()
    {
        var model = new Mlp();
        var e = Assert.Throws<NotSupportedException>(() => new IlgpuTrainer(model, Loss.Nll, new Frozen(), 2, Device.IlgpuCpu));
        Assert.StartsWith("Optimizer 'Frozen' has no kernel on ilgpu-cpu (", e.Message);
        Assert.EndsWith("the ILGPU backend supports SGD, Adam and AdamW. Train with --device cpu for other optimizers.", e.Message);
    }
}
