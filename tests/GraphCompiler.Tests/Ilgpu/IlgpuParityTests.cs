// The ILGPU backend, run on ILGPU's CPU accelerator, against the native CPU backend: forward, loss, every parameter
// gradient and SGD steps with momentum and weight decay, for both reference models, their unfused forms and StridedNet.
using Cifar;
using FashionMnist;
using GraphCompiler.Backends.Ilgpu;
using GraphCompiler.Compiler;
using GraphCompiler.Nn;
using GraphCompiler.Optim;
using GraphCompiler.Tests.Models;
using GraphCompiler.Tests.Training;
using GraphCompiler.Training;
using Xunit;

namespace GraphCompiler.Tests.Ilgpu;

public class IlgpuParityTests
{
    private const float Tolerance = 1e-4f;

    /// <summary>max|got − want| ≤ 1e-4 · max|want| (and want is not all zeros, so the comparison says something).</summary>
    internal static void Close(ReadOnlySpan<float> want, ReadOnlySpan<float> got, string what)
    {
        Assert.Equal(want.Length, got.Length);
        float scale = 0, diff = 0;
        for (int i = 0; i < want.Length; i++)
        {
            scale = Math.Max(scale, Math.Abs(want[i]));
            diff = Math.Max(diff, Math.Abs(got[i] - want[i]));
        }
        Assert.True(scale > 0, $"{what}: the reference is all zeros");
        Assert.True(diff <= Tolerance * scale, $"{what}: max |Δ| {diff} > 1e-4 · max |ref| {scale}");
    }

    /// <summary>
    /// Two identically initialised copies of a model, one trained by <see cref="Trainer"/> and one by
    /// <see cref="IlgpuTrainer"/> on the CPU accelerator, compared after the forward, after the backward and after two SGD steps.
    /// </summary>
    private static void SameAsCpu(Func<ICompiledModel> create, Loss loss, int batch)
    {
        ICompiledModel cpu = create(), dev = create();
        int perSample = cpu.InputShape.Aggregate(1, (a, b) => a * b), classes = cpu.OutputShape[0];
        Optimizer Sgd(ICompiledModel m) => new Sgd(m.Parameters(), lr: 0.05, momentum: 0.9, weightDecay: 1e-3);
        Optimizer cpuOpt = Sgd(cpu), devOpt = Sgd(dev);
        var cpuTrainer = new Trainer(cpu, loss, cpuOpt, batch);
        using var devTrainer = new IlgpuTrainer(dev, loss, devOpt, batch, Device.IlgpuCpu);
        var (x, y) = TrainerTests.RandomBatch(batch, perSample, 7);

        // Forward.
        cpuTrainer.Workspace.SetInput(x, batch);
        cpu.Forward(cpuTrainer.Workspace);
        devTrainer.Model.SetInput(x, batch);
        devTrainer.Model.Forward();
        var output = new float[batch * classes];
        devTrainer.Model.CopyOutput(output);
        Close(cpuTrainer.Workspace.Output.AsSpan(0, batch * classes), output, "output");

        // Loss and every parameter gradient.
        float cpuLoss = cpuTrainer.ForwardBackward(x, y, batch);
        float devLoss = devTrainer.ForwardBackward(x, y, batch);
        Assert.True(Math.Abs(cpuLoss - devLoss) <= Tolerance * Math.Abs(cpuLoss), $"loss {devLoss} vs {cpuLoss}");
        devTrainer.Model.CopyGradientsToHost();
        var cpuParams = cpu.Parameters();
        var devParams = dev.Parameters();
        for (int i = 0; i < cpuParams.Count; i++) Close(cpuParams[i].Grad, devParams[i].Grad, $"gradient of {cpuParams[i].Name}");

        // The SGD step of those gradients (starting momentum), then a full step on a second batch (decaying it).
        cpuOpt.Step();
        devTrainer.Model.OptimizerStep(devOpt);
        var (x2, y2) = TrainerTests.RandomBatch(batch, perSample, 8);
        cpuTrainer.Step(x2, y2, batch);
        devTrainer.Step(x2, y2, batch);
        devTrainer.Synchronize();
        for (int i = 0; i < cpuParams.Count; i++)
        {
            Close(cpuParams[i].Data, devParams[i].Data, $"{cpuParams[i].Name} after two SGD steps");
            Close(((Sgd)cpuOpt).MomentumBuffer(cpuParams[i]), ((Sgd)devOpt).MomentumBuffer(devParams[i]), $"momentum of {cpuParams[i].Name}");
        }
    }

    [Fact]
    public void Mlp_with_fused_nll_matches_the_cpu_backend() => SameAsCpu(() => new Mlp(seed: 3), Loss.Nll, batch: 4);

    [Fact]
    public void Mlp_with_cross_entropy_on_log_probabilities_matches_the_cpu_backend() => SameAsCpu(() => new Mlp(seed: 4), Loss.CrossEntropy, batch: 3);

    [Fact]
    public void CifarNet_matches_the_cpu_backend() => SameAsCpu(() => new CifarNet(seed: 5), Loss.CrossEntropy, batch: 2);

    [Fact]
    public void Unfused_Mlp_matches_the_cpu_backend() => SameAsCpu(() => new MlpUnfused(seed: 6), Loss.Nll, batch: 3);

    [Fact]
    public void Unfused_CifarNet_matches_the_cpu_backend() => SameAsCpu(() => new CifarNetUnfused(seed: 7), Loss.CrossEntropy, batch: 1);

    [Fact]
    public void StridedNet_matches_the_cpu_backend() => SameAsCpu(() => new StridedNet(seed: 8), Loss.CrossEntropy, batch: 2);

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
    public void A_step_kind_without_an_ilgpu_kernel_is_named_with_the_device()
    {
        var softmax = new SoftmaxForward(new Buf("Fc3Out", 10), new Buf("Fc3Out", 10), new ReduceDims(1, 10, 1, OverBatch: false)) { Comment = "Softmax1: (N, 10)" };
        using var device = IlgpuDevice.Open(Device.IlgpuCpu);
        var e = Assert.Throws<NotSupportedException>(() => new IlgpuModel(new WithStep(new Mlp(), softmax), device, 2));
        Assert.Equal("The ILGPU backend (ilgpu-cpu (" + device.Accelerator.Name + ")) cannot run SoftmaxForward (Softmax1: (N, 10)) " +
            "of model 'Mlp': no kernel for this step.", e.Message);
    }

    [Fact]
    public void A_fused_elementwise_chain_is_named_as_unsupported()
    {
        using var device = IlgpuDevice.Open(Device.IlgpuCpu);
        var e = Assert.Throws<NotSupportedException>(() => new IlgpuModel(new GraphCompiler.Tests.Models.ChainNet(), device, 2));
        Assert.StartsWith("The ILGPU backend (ilgpu-cpu (" + device.Accelerator.Name + ")) cannot run ElementwiseChainForward (LeakyRelu1: ", e.Message);
        Assert.EndsWith("of model 'ChainNet': no kernel for this step.", e.Message);
    }

    [Fact]
    public void Optimizers_and_losses_without_a_device_kernel_are_named_in_the_error()
    {
        var model = new Mlp();
        var adam = Assert.Throws<NotSupportedException>(() => new IlgpuTrainer(model, Loss.Nll, new Adam(model.Parameters(), lr: 1e-3), 2, Device.IlgpuCpu));
        Assert.Contains("Adam", adam.Message);
        Assert.Contains("ilgpu-cpu", adam.Message);
    }
}
