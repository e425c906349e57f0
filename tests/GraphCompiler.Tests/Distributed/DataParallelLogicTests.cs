// DistributedDataParallel's bookkeeping without MPI: a loopback group of two identical ranks shows when buckets start and what they average.
using Cifar;
using FashionMnist;
using GraphCompiler.Distributed;
using GraphCompiler.Nn;
using GraphCompiler.Optim;
using GraphCompiler.Tests.Training;
using GraphCompiler.Training;
using Xunit;

namespace GraphCompiler.Tests.Distributed;

/// <summary>
/// Two ranks holding the same values: a sum is twice the local values. Each started all-reduce is recorded with what
/// <see cref="OnStart"/> observed at that moment, so a test can see where in the backward it began.
/// </summary>
internal sealed class LoopbackGroup(int localRank = 0) : ProcessGroup(new LauncherEnvironment(0, 2, localRank, 2, "test"), TimeSpan.FromSeconds(5))
{
    public List<string> Started { get; } = [];

    public Func<string>? OnStart { get; set; }

    public override string Backend => "loopback";

    public override void AllReduceSum(Span<float> values, string what = "all-reduce") => System.Numerics.Tensors.TensorPrimitives.Multiply(values, 2f, values);

    public override void AllReduceSum(Span<double> values, string what = "all-reduce") => System.Numerics.Tensors.TensorPrimitives.Multiply(values, 2.0, values);

    public override void AllReduceSum(Span<long> values, string what = "all-reduce")
    {
        foreach (ref long v in values) v *= 2;
    }

    public override void Broadcast(Span<float> values, int root = 0, string what = "broadcast") { }

    public override void Broadcast(Span<long> values, int root = 0, string what = "broadcast") { }

    public override CollectiveRequest StartAllReduceSum(float[] buffer, int count, string what)
    {
        Started.Add(what + (OnStart is null ? "" : ": " + OnStart()));
        AllReduceSum(buffer.AsSpan(0, count), what);
        return new Completed();
    }

    public override bool ReportFailure(Exception error) => false;

    public override void Dispose() { }

    private sealed class Completed : CollectiveRequest
    {
        public override bool IsCompleted => true;

        public override double Seconds => 0;

        public override void Wait() { }
    }
}

public class DataParallelLogicTests
{
    [Fact]
    public void Each_bucket_starts_during_the_backward_as_soon_as_its_last_layer_is_final()
    {
        var model = new CifarNet(seed: 1);
        var group = new LoopbackGroup();
        using var ddp = new DistributedDataParallel(model, Loss.CrossEntropy, new Sgd(model.Parameters(), lr: 0.01), 4, group, bucketCapMB: 0.1);
        // Whether Conv1's weight gradient has been computed yet: it is the backward's last parameter step.
        group.OnStart = () => model.Conv1.Weight.Grad.Any(g => g != 0) ? "conv1 done" : "conv1 pending";
        (float[] x, int[] y) = TrainerTests.RandomBatch(4, 3 * 32 * 32, seed: 1);
        ddp.ForwardBackward(x, y, 4);
        Assert.Equal([
            "all-reduce of gradient bucket 0: conv1 pending",
            "all-reduce of gradient bucket 1: conv1 pending",
            "all-reduce of gradient bucket 2: conv1 pending",
            "all-reduce of gradient bucket 3: conv1 done"], group.Started);

        group.Started.Clear();
        ddp.Overlap = false;
        ddp.ForwardBackward(x, y, 4);
        Assert.All(group.Started, s => Assert.EndsWith("conv1 done", s));
        Assert.Equal(4, group.Started.Count);
    }

    [Fact]
    public void The_averaged_gradient_of_two_identical_ranks_is_the_local_one_and_no_sync_sends_nothing()
    {
        var a = new Mlp(seed: 2);
        var b = new Mlp(seed: 2);
        var plain = new Trainer(a, Loss.Nll, new Sgd(a.Parameters(), lr: 0.1), 8);
        var group = new LoopbackGroup();
        using var ddp = new DistributedDataParallel(b, Loss.Nll, new Sgd(b.Parameters(), lr: 0.1), 8, group);
        (float[] x, int[] y) = TrainerTests.RandomBatch(8, 784, seed: 3);
        using (ddp.NoSync()) ddp.ForwardBackward(x, y, 8, lossScale: 0.5f);
        Assert.Empty(group.Started);
        ddp.ForwardBackward(x, y, 8, zeroGrad: false, lossScale: 0.5f);
        plain.ForwardBackward(x, y, 8, lossScale: 0.5f);
        plain.ForwardBackward(x, y, 8, zeroGrad: false, lossScale: 0.5f);
        Assert.Equal(["all-reduce of gradient bucket 0"], group.Started);
        // (sum over 2 identical ranks) × 1/2 is exact in floats, so the gradients match bit for bit.
        foreach ((Parameter p, Parameter q) in a.Parameters().Zip(b.Parameters())) Assert.Equal(p.Grad, q.Grad);
        Assert.Equal(1, ddp.Stats.Steps);
    }

    [Fact]
    public void Freezing_after_the_plan_was_made_is_refused_with_the_parameter_named()
    {
        var model = new Mlp(seed: 2);
        using var ddp = new DistributedDataParallel(model, Loss.Nll, new Sgd(model.Parameters(), lr: 0.1), 8, new LoopbackGroup());
        model.Fc1.RequiresGrad(false);
        (float[] x, int[] y) = TrainerTests.RandomBatch(8, 784, seed: 3);
        var e = Assert.Throws<InvalidOperationException>(() => ddp.Step(x, y, 8));
        Assert.Equal("fc1.weight was trainable when the gradient buckets were planned and is now frozen; every rank must send the same gradients, so create a new DistributedDataParallel after freezing or unfreezing.", e.Message);
    }

    [Fact]
    public void Fit_all_reduces_the_epoch_loss_and_accuracy()
    {
        var group = new LoopbackGroup();
        var model = new Mlp(seed: 5);
        var data = new Data.IndexDataset(40, 1, 28, 28);
        var loader = new GraphCompiler.Data.DataLoader(data, 8);
        using var ddp = new DistributedDataParallel(model, Loss.Nll, new Sgd(model.Parameters(), lr: 0.01), 8, group);
        var log = new StringWriter();
        FitResult r = Fit.Run(model, ddp, loader, data, epochs: 1, log);
        // Two identical ranks: the loopback doubles every sum, so samples count twice; rank 0 evaluated the even samples
        // and their correct count, doubled, is divided by the whole test set's 40.
        Assert.Equal(80, r.TrainSamples);
        long evenCorrect = (long)Math.Round(Evaluation.Accuracy(model, new StridedShard(data, 0, 2)) * 20.0);
        Assert.Equal(2 * evenCorrect / 40f, r.TestAccuracy);
        Assert.StartsWith(FormattableString.Invariant($"epoch 1/1  loss {r.LastLoss:F4}  test_accuracy {r.TestAccuracy:F4}"), log.ToString());
    }
}
