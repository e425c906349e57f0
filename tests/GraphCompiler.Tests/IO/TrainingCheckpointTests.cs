// Resumable checkpoints: 2 epochs + save + load into new objects + 2 epochs equals 4 uninterrupted epochs bit for bit; corrupt files fail whole.
using FashionMnist;
using GraphCompiler.Data;
using GraphCompiler.IO;
using GraphCompiler.Nn;
using GraphCompiler.Optim;
using GraphCompiler.Optim.Schedulers;
using GraphCompiler.Training;
using Xunit;

namespace GraphCompiler.Tests.IO;

public sealed class TrainingCheckpointTests : IDisposable
{
    private const int Epochs = 4, BatchSize = 64, Samples = 640;
    private static readonly Lazy<IDataset> Train = new(() => new Subset(MnistDataset.Load(
        Path.Combine(AppContext.BaseDirectory, "Data", "fashion"), train: true, new Compose(new ToTensor(), new Normalize([0.5f], [0.5f]))), Samples));

    private readonly string _dir = Path.Combine(Path.GetTempPath(), "gc-checkpoint-" + Guid.NewGuid().ToString("N"));

    public TrainingCheckpointTests() => Directory.CreateDirectory(_dir);

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    /// <summary>The first <c>count</c> samples of a dataset, to keep the runs short.</summary>
    private sealed class Subset(IDataset inner, int count) : IDataset
    {
        public int Count => count;

        public int[] SampleShape => inner.SampleShape;

        public int NumClasses => inner.NumClasses;

        public void Get(int index, Span<float> sample, out int label) => inner.Get(index, sample, out label);
    }

    /// <summary>One training setup; every object is new, as in a fresh process that resumes.</summary>
    private sealed class Run
    {
        public Run(string kind)
        {
            Model = new Mlp(seed: 7);
            Loader = new DataLoader(Train.Value, BatchSize, shuffle: true, seed: 11);
            Noise = new Rng(5);
            (Optimizer, Scheduler, PerBatch) = kind switch
            {
                "adam-steplr" => Adam(),
                "sgd-onecycle" => SgdOneCycle(),
                "adamw-sequential" => AdamWSequential(),
                _ => throw new ArgumentException(kind),
            };
            Trainer = new Trainer(Model, Loss.Nll, Optimizer, BatchSize);
        }

        public Mlp Model { get; }
        public DataLoader Loader { get; }
        public Rng Noise { get; }
        public Optimizer Optimizer { get; }
        public ILRScheduler Scheduler { get; }
        public bool PerBatch { get; }
        public Trainer Trainer { get; }
        public Dictionary<string, Rng> Rngs => new() { ["noise"] = Noise };

        private (Optimizer, ILRScheduler, bool) Adam()
        {
            var opt = new Adam(Model.Parameters(), lr: 2e-3);
            return (opt, new StepLR(opt, stepSize: 1, gamma: 0.7), false);
        }

        private (Optimizer, ILRScheduler, bool) SgdOneCycle()
        {
            var opt = new Sgd(Model.Parameters(), lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 1e-4);
            return (opt, new OneCycleLR(opt, maxLr: 0.1, totalSteps: Epochs * (Samples / BatchSize)), true);
        }

        private (Optimizer, ILRScheduler, bool) AdamWSequential()
        {
            var ps = Model.Parameters();
            var opt = new AdamW([new ParamGroup(ps.Take(2)), new ParamGroup(ps.Skip(2), lr: 5e-4, amsgrad: true)], lr: 1e-3);
            var warm = new LinearLR(opt, startFactor: 0.25, totalIters: 6);
            var cosine = new CosineAnnealingLR(opt, tMax: 20);
            return (opt, new SequentialLR(opt, [warm, cosine], [6]), true);
        }

        /// <summary>Epochs as a PyTorch loop runs them, with a seeded noise draw per batch (a random augmentation).</summary>
        public void TrainEpochs(int epochs)
        {
            for (int e = 0; e < epochs; e++)
            {
                foreach (Batch batch in Loader)
                {
                    batch.Images.Data[0] += 0.1f * Noise.Normal();
                    Trainer.Step(batch.Images, batch.Labels);
                    if (PerBatch) Scheduler.Step();
                }
                if (!PerBatch) Scheduler.Step();
            }
        }

        public float[][] Snapshot() => Model.Parameters().Select(p => (float[])p.Data.Clone()).ToArray();
    }

    [Theory]
    [InlineData("adam-steplr")]
    [InlineData("sgd-onecycle")]
    [InlineData("adamw-sequential")]
    public void Resuming_after_epoch_2_gives_the_same_parameters_after_epoch_4_bit_for_bit(string kind)
    {
        var whole = new Run(kind);
        whole.TrainEpochs(Epochs);

        var first = new Run(kind);
        first.TrainEpochs(2);
        string path = Path.Combine(_dir, "epoch2.safetensors");
        TrainingCheckpoint.Save(path, first.Model, first.Optimizer, first.Scheduler, epoch: 2, first.Rngs, first.Loader,
            new Dictionary<string, string> { ["run"] = kind });

        var resumed = new Run(kind); // new model, optimizer (no state yet), scheduler, loader and RNG
        Assert.NotEqual(first.Snapshot()[0], resumed.Snapshot()[0]); // training moved the weights; loading must bring them back
        TrainingCheckpointInfo info = TrainingCheckpoint.Load(path, resumed.Model, resumed.Optimizer, resumed.Scheduler, resumed.Rngs, resumed.Loader);
        Assert.Equal(2, info.Epoch);
        Assert.Equal(kind, info.Metadata["run"]);
        Assert.Equal(2, resumed.Loader.Epoch);
        Assert.Equal(first.Noise.State, resumed.Noise.State);
        Assert.Equal(first.Scheduler.LastLearningRates, resumed.Scheduler.LastLearningRates);
        Assert.Equal(first.Optimizer.ParamGroups.Select(g => (g.LearningRate, g.Betas, g.Momentum)),
            resumed.Optimizer.ParamGroups.Select(g => (g.LearningRate, g.Betas, g.Momentum)));
        resumed.TrainEpochs(2);

        float[][] expected = whole.Snapshot(), actual = resumed.Snapshot();
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i]);
        Assert.Equal(whole.Scheduler.LastLearningRates, resumed.Scheduler.LastLearningRates);
        Assert.Equal(whole.Noise.State, resumed.Noise.State);
    }

    [Fact]
    public void Fit_saves_a_checkpoint_each_epoch_and_resumes_from_it()
    {
        var test = new Subset(MnistDataset.Load(Path.Combine(AppContext.BaseDirectory, "Data", "fashion"), train: false,
            new Compose(new ToTensor(), new Normalize([0.5f], [0.5f]))), 128);
        var whole = new Run("adam-steplr");
        Fit.Run(whole.Model, whole.Trainer, whole.Loader, test, Epochs, TextWriter.Null, onEpoch: _ => whole.Scheduler.Step());

        var first = new Run("adam-steplr");
        string path = Path.Combine(_dir, "fit.safetensors");
        Fit.Run(first.Model, first.Trainer, first.Loader, test, Epochs, TextWriter.Null, onEpoch: r =>
        {
            first.Scheduler.Step();
            if (r.Epoch == 2) TrainingCheckpoint.Save(path, first.Model, first.Optimizer, first.Scheduler, r.Epoch, loader: first.Loader);
        });

        var resumed = new Run("adam-steplr");
        int done = TrainingCheckpoint.Load(path, resumed.Model, resumed.Optimizer, resumed.Scheduler, loader: resumed.Loader).Epoch;
        var log = new StringWriter();
        var reports = new List<EpochReport>();
        FitResult result = Fit.Run(resumed.Model, resumed.Trainer, resumed.Loader, test, Epochs, log,
            onEpoch: r => { resumed.Scheduler.Step(); reports.Add(r); }, startEpoch: done);
        Assert.Equal([3, 4], reports.Select(r => r.Epoch));
        Assert.Equal([3 * 10, 4 * 10], reports.Select(r => r.Step));
        Assert.StartsWith("epoch 3/4", log.ToString());
        Assert.Equal(2 * Samples, result.TrainSamples);
        float[][] expected = whole.Snapshot(), actual = resumed.Snapshot();
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i]);
    }

    private (string Path, Run Fresh, float[][] Before) SavedAdamCheckpoint()
    {
        var run = new Run("adam-steplr");
        run.TrainEpochs(1);
        string path = Path.Combine(_dir, "ckpt.safetensors");
        TrainingCheckpoint.Save(path, run.Model, run.Optimizer, run.Scheduler, 1, run.Rngs, run.Loader);
        var fresh = new Run("adam-steplr");
        return (path, fresh, fresh.Snapshot());
    }

    private static void AssertUntouched(Run fresh, float[][] before)
    {
        float[][] now = fresh.Snapshot();
        for (int i = 0; i < before.Length; i++) Assert.Equal(before[i], now[i]);
        var adam = (AdamBase)fresh.Optimizer;
        Assert.All(fresh.Model.Parameters(), p => Assert.Null(adam.State(p)));
        Assert.Equal(0, ((LRScheduler)fresh.Scheduler).LastEpoch);
        Assert.Equal(0, fresh.Loader.Epoch);
    }

    private static InvalidDataException LoadFails(string path, Run fresh) =>
        Assert.Throws<InvalidDataException>(() => TrainingCheckpoint.Load(path, fresh.Model, fresh.Optimizer, fresh.Scheduler, fresh.Rngs, fresh.Loader));

    [Fact]
    public void A_truncated_checkpoint_is_rejected_and_nothing_is_loaded()
    {
        var (path, fresh, before) = SavedAdamCheckpoint();
        byte[] bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^100]);
        var ex = LoadFails(path, fresh);
        Assert.StartsWith($"file {path}:", ex.Message);
        AssertUntouched(fresh, before);
    }

    [Fact]
    public void A_flipped_header_byte_is_rejected_and_nothing_is_loaded()
    {
        var (path, fresh, before) = SavedAdamCheckpoint();
        byte[] bytes = File.ReadAllBytes(path);
        bytes[8] ^= 0xFF; // the header's opening brace
        File.WriteAllBytes(path, bytes);
        var ex = LoadFails(path, fresh);
        Assert.StartsWith($"file {path}:", ex.Message);
        Assert.Contains("JSON", ex.Message);
        AssertUntouched(fresh, before);
    }

    [Fact]
    public void A_missing_optimizer_entry_is_named_and_the_model_is_left_untouched()
    {
        var (path, fresh, before) = SavedAdamCheckpoint();
        var file = SafeTensors.ReadWithMetadata(path);
        SafeTensors.Write(path, file.Tensors.Where(kv => kv.Key != "optimizer.state.2.exp_avg_sq"), file.Metadata);
        var ex = LoadFails(path, fresh);
        Assert.Equal($"file {path}: missing entry 'optimizer.state.2.exp_avg_sq'", ex.Message);
        AssertUntouched(fresh, before); // the parameters validated before the optimizer entry was found missing, yet were not copied

        SafeTensors.Write(path, file.Tensors.Where(kv => !kv.Key.StartsWith("optimizer.state.4.", StringComparison.Ordinal)), file.Metadata);
        ex = LoadFails(path, fresh);
        Assert.Contains("'optimizer.state.4.step'", ex.Message);
        Assert.Contains("fc3.weight", ex.Message);
        AssertUntouched(fresh, before);
    }

    [Fact]
    public void Optimizer_type_group_count_shape_and_scheduler_mismatches_are_clear_errors()
    {
        var (path, fresh, before) = SavedAdamCheckpoint();
        var sgdRun = new Run("sgd-onecycle");
        var ex = Assert.Throws<InvalidDataException>(() => TrainingCheckpoint.Load(path, sgdRun.Model, sgdRun.Optimizer, null));
        Assert.Contains("optimizer type mismatch: the checkpoint holds Adam state, but the optimizer is SGD", ex.Message);

        var ps = fresh.Model.Parameters();
        var twoGroups = new Adam([new ParamGroup(ps.Take(2)), new ParamGroup(ps.Skip(2))]);
        ex = Assert.Throws<InvalidDataException>(() => TrainingCheckpoint.Load(path, fresh.Model, twoGroups, new StepLR(twoGroups, 1)));
        Assert.Contains("parameter group count mismatch: the checkpoint has 1 optimizer group(s), the Adam optimizer has 2", ex.Message);

        ex = Assert.Throws<InvalidDataException>(() => TrainingCheckpoint.Load(path, fresh.Model, fresh.Optimizer, null, fresh.Rngs, fresh.Loader));
        Assert.Contains("scheduler mismatch: the checkpoint holds StepLR state, but no scheduler was given", ex.Message);

        var file = SafeTensors.ReadWithMetadata(path);
        var tensors = file.Tensors.ToDictionary();
        tensors["fc2.bias"] = SafeTensor.FromFloat(new float[63], 63);
        SafeTensors.Write(path, tensors, file.Metadata);
        ex = LoadFails(path, fresh);
        Assert.Equal($"file {path}: entry 'fc2.bias' has shape [63], expected [64]", ex.Message);
        AssertUntouched(fresh, before);
    }

    [Fact]
    public void Bad_scheduler_state_and_unexpected_entries_are_named()
    {
        var (path, fresh, before) = SavedAdamCheckpoint();
        var file = SafeTensors.ReadWithMetadata(path);
        var tensors = file.Tensors.ToDictionary();
        tensors["scheduler.base_lrs"] = SafeTensor.FromDouble([1e-3, 1e-3], 2);
        SafeTensors.Write(path, tensors, file.Metadata);
        var ex = LoadFails(path, fresh);
        Assert.Contains("StepLR state 'base_lrs' has 2 values, expected 1", ex.Message);
        AssertUntouched(fresh, before);

        tensors = file.Tensors.ToDictionary();
        tensors["fc4.weight"] = SafeTensor.FromFloat(new float[2], 2);
        SafeTensors.Write(path, tensors, file.Metadata);
        ex = LoadFails(path, fresh);
        Assert.Equal($"file {path}: unexpected entry for this model and optimizer: fc4.weight", ex.Message);
        AssertUntouched(fresh, before);

        var metadata = file.Metadata.ToDictionary();
        metadata.Remove("format");
        SafeTensors.Write(path, file.Tensors, metadata);
        Assert.Contains("no 'format' entry", LoadFails(path, fresh).Message);
        AssertUntouched(fresh, before);
    }

    [Fact]
    public void A_save_that_fails_half_way_leaves_the_previous_checkpoint_and_no_temporary_file()
    {
        var run = new Run("sgd-onecycle");
        run.TrainEpochs(1);
        string path = Path.Combine(_dir, "last.safetensors");
        TrainingCheckpoint.Save(path, run.Model, run.Optimizer, run.Scheduler, 1, run.Rngs, run.Loader);
        byte[] good = File.ReadAllBytes(path);
        run.TrainEpochs(1);
        SafeTensors.FaultAfterHeaderForTests.Value = () => throw new IOException("simulated: disk full");
        try
        {
            var ex = Assert.Throws<IOException>(() => TrainingCheckpoint.Save(path, run.Model, run.Optimizer, run.Scheduler, 2, run.Rngs, run.Loader));
            Assert.Equal($"cannot save {path}: simulated: disk full The previous file, if any, is unchanged.", ex.Message);
        }
        finally
        {
            SafeTensors.FaultAfterHeaderForTests.Value = null;
        }
        Assert.Equal(good, File.ReadAllBytes(path));
        Assert.Equal([path], Directory.GetFiles(_dir));

        var fresh = new Run("sgd-onecycle");
        Assert.Equal(1, TrainingCheckpoint.Load(path, fresh.Model, fresh.Optimizer, fresh.Scheduler, fresh.Rngs, fresh.Loader).Epoch);
    }

    [Fact]
    public void A_fresh_optimizer_without_state_saves_and_loads_an_empty_state()
    {
        var a = new Run("adam-steplr");
        string path = Path.Combine(_dir, "initial.safetensors");
        TrainingCheckpoint.Save(path, a.Model, a.Optimizer, a.Scheduler, 0);
        Assert.DoesNotContain(SafeTensors.Read(path).Keys, k => k.StartsWith("optimizer.state.", StringComparison.Ordinal));
        var b = new Run("adam-steplr");
        Assert.Equal(0, TrainingCheckpoint.Load(path, b.Model, b.Optimizer, b.Scheduler).Epoch);
        Assert.All(b.Model.Parameters(), p => Assert.Null(((AdamBase)b.Optimizer).State(p)));
    }
}
