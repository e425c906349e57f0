// The training step: buffers allocated once, the loss falls, a smaller last batch works, and misuse gets clear errors.
using System.Text.RegularExpressions;
using Cifar;
using FashionMnist;
using GraphCompiler.Data;
using GraphCompiler.Nn;
using GraphCompiler.Optim;
using GraphCompiler.Training;
using GraphCompiler.Tests.Parity;
using Xunit;

namespace GraphCompiler.Tests.Training;

public class TrainerTests
{
    /// <summary>A batch of standard-normal inputs and random class labels in 0..9.</summary>
    internal static (float[] X, int[] Y) RandomBatch(int n, int perSample, ulong seed)
    {
        var rng = new Rng(seed);
        var x = new float[n * perSample];
        var y = new int[n];
        for (int i = 0; i < x.Length; i++) x[i] = rng.Normal();
        for (int i = 0; i < n; i++) y[i] = rng.NextInt(10);
        return (x, y);
    }

    [Fact]
    public void Repeated_steps_on_one_batch_drive_the_loss_down()
    {
        var model = new Mlp(seed: 3);
        var trainer = new Trainer(model, Loss.Nll, new Sgd(model.Parameters(), lr: 0.05f), batchSize: 16);
        var (x, y) = RandomBatch(16, 784, 1);
        float first = trainer.Step(x, y, 16);
        float last = first;
        for (int i = 0; i < 60; i++) last = trainer.Step(x, y, 16);
        Assert.InRange(first, 2.0f, 2.8f); // ~ln 10 at initialisation
        Assert.True(last < 0.1f * first, $"loss went from {first} to {last}");
    }

    [Fact]
    public void A_step_reuses_its_buffers_and_allocates_no_per_batch_arrays()
    {
        var model = new CifarNet(seed: 1);
        var trainer = new Trainer(model, Loss.CrossEntropy, new Sgd(model.Parameters(), lr: 0.01f, momentum: 0.9f), batchSize: 64);
        var (x, y) = RandomBatch(64, 3 * 32 * 32, 2);
        float[] output = trainer.Workspace.Output;
        for (int i = 0; i < 3; i++) trainer.Step(x, y, 64);
        long allocated = Allocations.LeastPerRound(() =>
        {
            for (int i = 0; i < 5; i++) trainer.Step(x, y, 64);
        });
        Assert.Same(output, trainer.Workspace.Output);
        // Buffers are planned into arenas at build time and parallel kernels run on persistent workers with struct
        // bodies (no closures, tasks or loop state), so after warm-up a step allocates nothing at all.
        Assert.Equal(0, allocated);
    }

    [Fact]
    public void A_fused_nll_step_of_the_mlp_allocates_nothing_either()
    {
        var model = new Mlp(seed: 1);
        var trainer = new Trainer(model, Loss.Nll, new Sgd(model.Parameters(), lr: 0.01f, momentum: 0.9f), batchSize: 256);
        var (x, y) = RandomBatch(256, 784, 2);
        for (int i = 0; i < 3; i++) trainer.Step(x, y, 256);
        Assert.Equal(0, Allocations.LeastPerRound(() =>
        {
            for (int i = 0; i < 5; i++) trainer.Step(x, y, 256);
        }));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(4)]
    public void K_micro_batches_accumulate_into_the_gradients_of_one_batch_k_times_larger(int k)
    {
        const int batch = 16;
        var (x, y) = RandomBatch(batch, 784, 9);
        var whole = new Mlp(seed: 2);
        float wholeLoss = new Trainer(whole, Loss.Nll, new Sgd(whole.Parameters(), lr: 0.01f), batch).ForwardBackward(x, y, batch);
        var parts = new Mlp(seed: 2);
        var trainer = new Trainer(parts, Loss.Nll, new Sgd(parts.Parameters(), lr: 0.01f), batch / k);
        float lossSum = 0;
        for (int i = 0; i < k; i++)
        {
            int m = batch / k;
            lossSum += trainer.ForwardBackward(x.AsSpan(i * m * 784, m * 784), y.AsSpan(i * m, m), m, zeroGrad: i == 0, lossScale: 1f / k);
        }
        Assert.Equal(wholeLoss, lossSum / k, 5);
        for (int p = 0; p < whole.Parameters().Count; p++)
            PyTorchParityTests.AssertClose($"k={k} {whole.Parameters()[p].Name}.grad", whole.Parameters()[p].Grad, parts.Parameters()[p].Grad);
    }

    [Fact]
    public void Frozen_layers_keep_their_weights_and_the_head_trains_as_before()
    {
        var (x, y) = RandomBatch(8, 3 * 32 * 32, 11);
        var frozen = new CifarNet(seed: 4);
        foreach (var conv in new[] { frozen.Conv1, frozen.Conv2, frozen.Conv3 }) conv.RequiresGrad(false);
        var reference = new CifarNet(seed: 4);
        float[][] before = frozen.Parameters().Select(p => (float[])p.Data.Clone()).ToArray();
        var frozenTrainer = new Trainer(frozen, Loss.CrossEntropy, new Sgd(frozen.Parameters(), lr: 0.05f), 8);
        var referenceTrainer = new Trainer(reference, Loss.CrossEntropy, new Sgd(reference.Parameters(), lr: 0.05f), 8);
        Assert.Equal(referenceTrainer.ForwardBackward(x, y, 8), frozenTrainer.ForwardBackward(x, y, 8));
        for (int i = 0; i < frozen.Parameters().Count; i++)
        {
            var p = frozen.Parameters()[i];
            if (p.RequiresGrad) Assert.Equal(reference.Parameters()[i].Grad, p.Grad); // the head's gradient is unchanged
            else Assert.All(p.Grad, g => Assert.Equal(0f, g));                         // the frozen layers' work was skipped
        }
        for (int step = 0; step < 3; step++) frozenTrainer.Step(x, y, 8);
        for (int i = 0; i < frozen.Parameters().Count; i++)
        {
            var p = frozen.Parameters()[i];
            if (p.RequiresGrad) Assert.NotEqual(before[i], p.Data);
            else Assert.Equal(before[i], p.Data);
        }
    }

    [Fact]
    public void A_smaller_last_batch_uses_the_same_workspace()
    {
        var model = new Mlp(seed: 1);
        var trainer = new Trainer(model, Loss.Nll, new Sgd(model.Parameters(), lr: 0.01f), batchSize: 8);
        var (x, y) = RandomBatch(3, 784, 5);
        float loss = trainer.Step(x, y, 3);
        Assert.True(float.IsFinite(loss));
        Assert.Equal(3, trainer.Workspace.Count);
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => trainer.Step(new float[9 * 784], new int[9], 9));
        Assert.Contains("Trainer: a batch of 9 samples, but the trainer was created with batchSize 8: a step takes 1 to 8 samples.", ex.Message);
        var mismatch = Assert.Throws<ArgumentException>(() => trainer.Step(new float[100], new int[2], 2));
        Assert.Contains("Trainer: 2 samples of shape [1, 28, 28] need 1568 input values, but 100 were given.", mismatch.Message);
    }

    [Fact]
    public void Backward_on_an_inference_workspace_is_refused()
    {
        ICompiledModel model = new Mlp();
        ModelWorkspace ws = model.CreateWorkspace(2, training: false);
        model.Forward(ws);
        var ex = Assert.Throws<InvalidOperationException>(() => model.Backward(ws));
        Assert.Contains("training: false", ex.Message);
        var other = new CifarNet().CreateWorkspace(2);
        Assert.Throws<ArgumentException>(() => model.Forward(other));
    }

    [Fact]
    public void Fit_trains_on_the_embedded_subset_and_prints_the_result_line()
    {
        string dir = Path.Combine(AppContext.BaseDirectory, "Data", "fashion");
        var transform = new Compose(new ToTensor(), new Normalize([0.5f], [0.5f]));
        var train = MnistDataset.Load(dir, train: true, transform);
        var test = MnistDataset.Load(dir, train: false, transform);
        var model = new Mlp(seed: 0);
        var trainer = new Trainer(model, Loss.Nll, new Sgd(model.Parameters(), lr: 0.01f), 64);
        var log = new StringWriter();
        var epochs = new List<EpochReport>();
        FitResult result = Fit.Run(model, trainer, new DataLoader(train, 64, shuffle: true, seed: 0), test, epochs: 2, log, onEpoch: epochs.Add);
        Assert.Equal([1, 2], epochs.Select(e => e.Epoch));
        Assert.Equal([157, 314], epochs.Select(e => e.Step)); // 10k samples in batches of 64, the last one partial
        Assert.Equal(result.LastLoss, epochs[^1].Loss);
        Assert.Equal(result.TestAccuracy, epochs[^1].TestAccuracy);
        // A writer other than a terminal gets exactly the per-epoch lines: no progress bar, no carriage returns.
        string[] lines = log.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        Assert.DoesNotContain('\r', log.ToString().Replace(Environment.NewLine, "\n"));
        for (int i = 0; i < 2; i++)
            Assert.Matches(new Regex($@"^epoch {i + 1}/2  loss \d+\.\d{{4}}  test_accuracy 0\.\d{{4}}  \d+\.\d{{2}} s  \d+ samples/s\r?$"), lines[i]);
        Assert.Equal(20_000, result.TrainSamples);
        Assert.True(result.TestAccuracy > 0.6f, $"accuracy {result.TestAccuracy} after 2 epochs on 10k samples");
        Assert.Matches(new Regex(@"^result: test_accuracy=0\.\d{4} epochs=2 train_seconds=\d+\.\d{2} samples_per_second=\d+$"), result.ResultLine);
    }
}
