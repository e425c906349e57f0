// The rest of a training loop on an ILGPU device, against the CPU backend: the model input's gradient, gradient clipping,
// a learning-rate schedule, float-target losses, scaled micro-batches, and evaluation on the device without copying parameters back.
using GraphCompiler.Backends.Ilgpu;
using GraphCompiler.Data;
using GraphCompiler.Nn;
using GraphCompiler.Optim;
using GraphCompiler.Optim.Schedulers;
using GraphCompiler.Tests.Models;
using GraphCompiler.Tests.Training;
using GraphCompiler.Training;
using Xunit;
using static GraphCompiler.Tests.Ilgpu.IlgpuParityTests;

namespace GraphCompiler.Tests.Ilgpu;

[Collection(IlgpuCollection.Name)]
public class IlgpuTrainingTests
{
    private static (float[] X, int[] Y) Batch(int n, int perSample, int classes, ulong seed)
    {
        var (x, y) = TrainerTests.RandomBatch(n, perSample, seed);
        return (x, [.. y.Select(t => t % classes)]);
    }

    [Fact]
    public void The_input_gradient_matches_the_cpu_backend()
    {
        var cpu = new NormNet(seed: 21);
        var dev = new NormNet(seed: 21);
        const int n = 3;
        var (x, y) = Batch(n, 3 * 8 * 8, 5, 22);
        ModelWorkspace ws = ((ICompiledModel)cpu).CreateWorkspace(n, training: true, inputGrad: true);
        ws.SetInput(x, n);
        ((ICompiledModel)cpu).Forward(ws);
        Loss.CrossEntropy.Compute(ws.Output.AsSpan(0, n * 5), y, ws.OutputGrad.AsSpan(0, n * 5), n, 5);
        ((ICompiledModel)cpu).Backward(ws);

        using var device = IlgpuDevice.Open(Device.IlgpuCpu);
        using var model = new IlgpuModel(dev, device, n, inputGrad: true);
        model.SetInput(x, n);
        model.Forward();
        model.Loss(Loss.CrossEntropy, y);
        model.Backward();
        var inputGrad = new float[n * 3 * 8 * 8];
        model.CopyInputGrad(inputGrad);
        Close(ws.InputGrad.AsSpan(0, inputGrad.Length), inputGrad, "input gradient");
    }

    [Fact]
    public void A_workspace_without_the_input_gradient_says_so()
    {
        using var device = IlgpuDevice.Open(Device.IlgpuCpu);
        using var model = new IlgpuModel(new Regressor(), device, 2);
        model.SetInput(new float[12], 2);
        var e = Assert.Throws<InvalidOperationException>(() => model.CopyInputGrad(new float[12]));
        Assert.Equal("This workspace was created without the input gradient (inputGrad: false).", e.Message);
    }

    [Fact]
    public void Clipping_by_norm_and_by_value_matches_the_cpu()
    {
        var cpu = new Cifar.CifarNet(seed: 23);
        var dev = new Cifar.CifarNet(seed: 23);
        var (x, y) = Batch(2, 3 * 32 * 32, 10, 24);
        var cpuTrainer = new Trainer(cpu, Loss.CrossEntropy, new Sgd(cpu.Parameters(), lr: 0.1), 2);
        using var devTrainer = new IlgpuTrainer(dev, Loss.CrossEntropy, new Sgd(dev.Parameters(), lr: 0.1), 2, Device.IlgpuCpu);
        cpuTrainer.ForwardBackward(x, y, 2);
        devTrainer.ForwardBackward(x, y, 2);
        float cpuNorm = GradClip.ClipGradNorm(cpu.Parameters(), 0.01f);
        float devNorm = devTrainer.Model.ClipGradNorm(0.01f);
        Assert.True(cpuNorm > 0.01f, $"the gradient norm {cpuNorm} must exceed max_norm for the clip to act");
        Assert.True(Math.Abs(cpuNorm - devNorm) <= 1e-4f * cpuNorm, $"norm {devNorm} vs {cpuNorm}");
        GradClip.ClipGradValue(cpu.Parameters(), 1e-5f);
        devTrainer.Model.ClipGradValue(1e-5f);
        devTrainer.Model.CopyGradientsToHost();
        for (int i = 0; i < cpu.Parameters().Count; i++)
            Close(cpu.Parameters()[i].Grad, dev.Parameters()[i].Grad, $"clipped gradient of {cpu.Parameters()[i].Name}");
        Assert.Contains(dev.Parameters()[0].Grad, g => Math.Abs(g) == 1e-5f); // the value clip acted
    }

    [Fact]
    public void A_learning_rate_schedule_set_on_the_host_optimizer_drives_the_device()
    {
        var cpu = new FashionMnist.Mlp(seed: 25);
        var dev = new FashionMnist.Mlp(seed: 25);
        var cpuOpt = new Sgd(cpu.Parameters(), lr: 0.1, momentum: 0.5);
        var devOpt = new Sgd(dev.Parameters(), lr: 0.1, momentum: 0.5);
        var cpuSchedule = new StepLR(cpuOpt, stepSize: 1, gamma: 0.3);
        var devSchedule = new StepLR(devOpt, stepSize: 1, gamma: 0.3);
        var cpuTrainer = new Trainer(cpu, Loss.Nll, cpuOpt, 3);
        using var devTrainer = new IlgpuTrainer(dev, Loss.Nll, devOpt, 3, Device.IlgpuCpu);
        for (int s = 0; s < 3; s++)
        {
            var (x, y) = Batch(3, 784, 10, 26 + (ulong)s);
            cpuTrainer.Step(x, y, 3);
            devTrainer.Step(x, y, 3);
            cpuSchedule.Step();
            devSchedule.Step();
        }
        Assert.Equal(0.0027, devOpt.LearningRate, 1e-9);
        Assert.Equal(cpuOpt.LearningRate, devOpt.LearningRate);
        devTrainer.Synchronize();
        for (int i = 0; i < cpu.Parameters().Count; i++)
            Close(cpu.Parameters()[i].Data, dev.Parameters()[i].Data, $"{cpu.Parameters()[i].Name} after 3 scheduled steps");
    }

    [Fact]
    public void A_float_target_loss_trains_on_the_device_as_on_the_cpu()
    {
        var cpu = new Regressor(seed: 27);
        var dev = new Regressor(seed: 27);
        var cpuTrainer = new Trainer(cpu, new SmoothL1Loss(0.5f), new Adam(cpu.Parameters(), lr: 1e-2), 4);
        using var devTrainer = new IlgpuTrainer(dev, new SmoothL1Loss(0.5f), new Adam(dev.Parameters(), lr: 1e-2), 4, Device.IlgpuCpu);
        var rng = new Rng(28);
        float[] x = Kernels.Data.Uniform(rng, 4 * 6, 2f), t = Kernels.Data.Uniform(rng, 4 * 3, 2f);
        for (int s = 0; s < 3; s++)
        {
            float cpuLoss = cpuTrainer.Step(x, t, 4);
            float devLoss = devTrainer.Step(x, t, 4);
            Assert.True(Math.Abs(cpuLoss - devLoss) <= 1e-4f * cpuLoss, $"step {s}: loss {devLoss} vs {cpuLoss}");
        }
        devTrainer.Synchronize();
        for (int i = 0; i < cpu.Parameters().Count; i++)
            CloseL2(cpu.Parameters()[i].Data, dev.Parameters()[i].Data, 1e-5, $"{cpu.Parameters()[i].Name} after 3 Adam steps");
    }

    [Fact]
    public void Accumulating_scaled_micro_batches_matches_the_cpu()
    {
        var cpu = new FashionMnist.Mlp(seed: 31);
        var dev = new FashionMnist.Mlp(seed: 31);
        var cpuTrainer = new Trainer(cpu, Loss.Nll, new Sgd(cpu.Parameters(), lr: 0.1), 2);
        using var devTrainer = new IlgpuTrainer(dev, Loss.Nll, new Sgd(dev.Parameters(), lr: 0.1), 2, Device.IlgpuCpu);
        var (x1, y1) = Batch(2, 784, 10, 32);
        var (x2, y2) = Batch(2, 784, 10, 33);
        cpuTrainer.ForwardBackward(x1, y1, 2, lossScale: 0.5f);
        cpuTrainer.ForwardBackward(x2, y2, 2, zeroGrad: false, lossScale: 0.5f);
        devTrainer.ForwardBackward(x1, y1, 2, lossScale: 0.5f);
        devTrainer.ForwardBackward(x2, y2, 2, zeroGrad: false, lossScale: 0.5f);
        devTrainer.Model.CopyGradientsToHost();
        for (int i = 0; i < cpu.Parameters().Count; i++)
            Close(cpu.Parameters()[i].Grad, dev.Parameters()[i].Grad, $"accumulated gradient of {cpu.Parameters()[i].Name}");
    }

    /// <summary>Random images with labels below 5, NormNet's input.</summary>
    private sealed class Images(int count) : IDataset
    {
        public int Count => count;

        public int[] SampleShape => [3, 8, 8];

        public int NumClasses => 5;

        public void Get(int index, Span<float> sample, out int label)
        {
            var rng = new Rng(1000 + (ulong)index);
            for (int j = 0; j < sample.Length; j++) sample[j] = rng.Normal();
            label = index % 5;
        }
    }

    [Fact]
    public void Accuracy_runs_on_the_device_in_eval_mode_without_copying_parameters_back()
    {
        var cpu = new NormNet(seed: 29);
        var dev = new NormNet(seed: 29);
        float[] initial = [.. dev.Fc2.Weight.Data];
        var cpuTrainer = new Trainer(cpu, Loss.CrossEntropy, new Sgd(cpu.Parameters(), lr: 0.5), 4);
        using var devTrainer = new IlgpuTrainer(dev, Loss.CrossEntropy, new Sgd(dev.Parameters(), lr: 0.5), 4, Device.IlgpuCpu);
        for (int s = 0; s < 3; s++)
        {
            var (x, y) = Batch(4, 3 * 8 * 8, 5, 30 + (ulong)s);
            cpuTrainer.Step(x, y, 4);
            devTrainer.Step(x, y, 4);
        }
        var data = new Images(10);
        float want = Evaluation.Accuracy(cpu, data);
        float got = devTrainer.Accuracy(data);
        Assert.Equal(want, got);
        Assert.Equal(initial, dev.Fc2.Weight.Data); // the host copy was never written: evaluation read the device's
        Assert.True(dev.Training, "the model is back in training mode");
        // The device's running statistics are the CPU's, once copied back.
        devTrainer.Synchronize();
        Close(cpu.Bn1.RunningMean!.Data, dev.Bn1.RunningMean!.Data, "bn1.running_mean");
        Close(cpu.Bn2.RunningVar!.Data, dev.Bn2.RunningVar!.Data, "bn2.running_var");
        Assert.Equal(cpu.Bn1.NumBatchesTracked!.Int64Data, dev.Bn1.NumBatchesTracked!.Int64Data);
    }
}
