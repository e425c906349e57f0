// Data-parallel training on a device and the reduction order that makes one process comparable with the ranks, without MPI.
using FashionMnist;
using GraphCompiler.Backends.Ilgpu;
using GraphCompiler.Distributed;
using GraphCompiler.Nn;
using GraphCompiler.Optim;
using GraphCompiler.Tests.Ilgpu;
using GraphCompiler.Tests.Training;
using GraphCompiler.Training;
using Xunit;

namespace GraphCompiler.Tests.Distributed;

[Collection(IlgpuCollection.Name)]
public sealed class DataParallelDeviceTests
{
    /// <summary>
    /// On ILGPU's CPU accelerator the gradients go device → host → all-reduce → device before the device's Adam kernel:
    /// with two identical ranks (the loopback doubles, the average halves, both exact) the parameters end bit for bit
    /// where one device trainer's do, so nothing is lost or applied twice on the way.
    /// </summary>
    [Fact]
    public void On_a_device_the_gradients_are_staged_through_the_host_and_the_step_runs_on_the_device()
    {
        var a = new Mlp(seed: 2);
        var b = new Mlp(seed: 2);
        using var plain = new IlgpuTrainer(a, Loss.Nll, new Adam(a.Parameters(), lr: 1e-3), 8, Device.IlgpuCpu);
        var group = new LoopbackGroup();
        using var ddp = new DistributedDataParallel(b, Loss.Nll, new Adam(b.Parameters(), lr: 1e-3), 8, group, device: Device.IlgpuCpu);
        Assert.Equal(Device.IlgpuCpu, ddp.Device);
        Assert.IsType<IlgpuTrainer>(ddp.Inner);
        Assert.Equal("This DistributedDataParallel trains on ilgpu-cpu, not with the CPU Trainer; see Inner.",
            Assert.Throws<InvalidOperationException>(() => ddp.Trainer).Message);
        for (int step = 0; step < 3; step++)
        {
            (float[] x, int[] y) = TrainerTests.RandomBatch(8, 784, seed: (ulong)(10 + step));
            plain.Step(x, y, 8);
            ddp.Step(x, y, 8);
        }
        plain.Synchronize();
        ddp.Synchronize();
        Assert.Equal(3, ddp.Stats.Steps);
        Assert.Equal(Enumerable.Repeat("all-reduce of gradient bucket 0", 3), group.Started);
        foreach ((Parameter p, Parameter q) in a.Parameters().Zip(b.Parameters())) Assert.Equal(p.Data, q.Data);
        Assert.NotEqual(new Mlp(seed: 2).Fc1.Weight.Data, b.Fc1.Weight.Data);
    }

    /// <summary>Each rank takes the GPU of its local rank, as torchrun's LOCAL_RANK is used; the other devices stay as asked.</summary>
    [Fact]
    public void Each_rank_takes_the_cuda_device_of_its_local_rank()
    {
        Assert.Equal(Device.Cuda(1), DistributedDataParallel.DeviceFor(Device.Cuda(0), new LoopbackGroup(localRank: 1)));
        Assert.Equal(Device.Cuda(0), DistributedDataParallel.DeviceFor(Device.Cuda(3), new LoopbackGroup(localRank: 0)));
        Assert.Equal(Device.IlgpuCpu, DistributedDataParallel.DeviceFor(Device.IlgpuCpu, new LoopbackGroup(localRank: 1)));
        Assert.Equal(Device.Cpu, DistributedDataParallel.DeviceFor(Device.Cpu, new LoopbackGroup(localRank: 1)));
    }

    /// <summary>
    /// Trainer.BlockwiseAccumulation: the second micro-batch is summed from zero and then added, so the accumulated
    /// gradient is exactly (first batch's) + (second batch's), the sum two ranks' all-reduce forms. Without it the
    /// kernels continue their sums from the first batch's values and the last bits differ.
    /// </summary>
    [Fact]
    public void Blockwise_accumulation_adds_each_micro_batch_summed_from_zero()
    {
        (float[] x1, int[] y1) = TrainerTests.RandomBatch(32, 784, seed: 21);
        (float[] x2, int[] y2) = TrainerTests.RandomBatch(32, 784, seed: 22);
        float[][] Grads(Mlp m) => [.. m.Parameters().Select(p => (float[])p.Grad.Clone())];

        var first = new Mlp(seed: 4);
        var one = new Trainer(first, Loss.Nll, new Sgd(first.Parameters(), lr: 0.1), 32);
        one.ForwardBackward(x1, y1, 32, lossScale: 0.5f);
        float[][] g1 = Grads(first);
        one.ForwardBackward(x2, y2, 32, lossScale: 0.5f);
        float[][] expected = [.. g1.Zip(Grads(first), (a, b) => a.Zip(b, (u, v) => u + v).ToArray())];

        var blockwise = new Mlp(seed: 4);
        var trainer = new Trainer(blockwise, Loss.Nll, new Sgd(blockwise.Parameters(), lr: 0.1), 32) { BlockwiseAccumulation = true };
        trainer.ForwardBackward(x1, y1, 32, lossScale: 0.5f);
        trainer.ForwardBackward(x2, y2, 32, zeroGrad: false, lossScale: 0.5f);
        Assert.Equal(expected, Grads(blockwise));

        var fused = new Mlp(seed: 4);
        var plain = new Trainer(fused, Loss.Nll, new Sgd(fused.Parameters(), lr: 0.1), 32);
        plain.ForwardBackward(x1, y1, 32, lossScale: 0.5f);
        plain.ForwardBackward(x2, y2, 32, zeroGrad: false, lossScale: 0.5f);
        Assert.NotEqual(expected, Grads(fused));
    }
}
