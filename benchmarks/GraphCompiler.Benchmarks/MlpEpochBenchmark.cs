// One full training epoch of the Mlp on Fashion-MNIST (60k samples, batch 64, shuffled, SGD 0.01), data loading included.
using BenchmarkDotNet.Attributes;
using FashionMnist;
using GraphCompiler.Data;
using GraphCompiler.Nn;
using GraphCompiler.Optim;
using GraphCompiler.Training;

namespace GraphCompiler.Benchmarks;

[MemoryDiagnoser]
[SimpleJob(launchCount: 1, warmupCount: 2, iterationCount: 8)]
public class MlpEpochBenchmark
{
    private const string DebianDataset = "/usr/share/datasets/fashion-mnist";
    private DataLoader _loader = null!;
    private Trainer _trainer = null!;

    [GlobalSetup]
    public void Setup()
    {
        if (!File.Exists(Path.Combine(DebianDataset, "train-images-idx3-ubyte.gz")))
            throw new InvalidOperationException($"The Mlp epoch benchmark trains on the full Fashion-MNIST: apt-get install dataset-fashion-mnist ({DebianDataset}).");
        var train = MnistDataset.Load(DebianDataset, train: true, new Compose(new ToTensor(), new Normalize([0.5f], [0.5f])));
        _loader = new DataLoader(train, batchSize: 64, shuffle: true, seed: 0);
        var model = new Mlp(seed: 0);
        _trainer = new Trainer(model, Loss.Nll, new Sgd(model.Parameters(), lr: 0.01f), batchSize: 64);
    }

    /// <summary>60,000 samples; samples/s = 60000 / the reported time.</summary>
    [Benchmark(Description = "Mlp epoch (60k, b64)")]
    public float Epoch()
    {
        float last = 0;
        foreach (Batch batch in _loader) last = _trainer.Step(batch.Images, batch.Labels);
        return last;
    }
}
