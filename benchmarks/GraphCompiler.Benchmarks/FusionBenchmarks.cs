// Fused (21 kernels) against unfused (29 kernels) CifarNet training step in one run, sampled long enough to rise above the noise of a shared machine.
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using Cifar;
using GraphCompiler.Nn;
using GraphCompiler.Optim;
using GraphCompiler.Tests.Models;
using GraphCompiler.Training;

namespace GraphCompiler.Benchmarks;

/// <summary>
/// The unfused step is the baseline, so the Ratio column is fused / unfused. Three launches of 40 measured iterations
/// each (4 steps per iteration) per variant; the median is the figure to compare, since other jobs on the machine
/// only ever add time and pull the mean up.
/// </summary>
[Config(typeof(Config))]
public class FusionBenchmarks
{
    private const int Batch = 64;
    private Trainer _fused = null!, _unfused = null!;
    private float[] _x = null!;
    private int[] _y = null!;

    private sealed class Config : ManualConfig
    {
        public Config()
        {
            AddJob(Job.Default.WithLaunchCount(3).WithWarmupCount(5).WithIterationCount(40).WithInvocationCount(4).WithUnrollFactor(1));
            AddColumn(StatisticColumn.Median, StatisticColumn.Min, StatisticColumn.Q1, StatisticColumn.Q3);
            AddDiagnoser(BenchmarkDotNet.Diagnosers.MemoryDiagnoser.Default);
            // BDN rebuilds the project for its launches; under load on a shared 2-core machine that takes over its 2 minutes.
            WithBuildTimeout(TimeSpan.FromMinutes(15));
        }
    }

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Rng(0);
        _x = new float[Batch * 3 * 32 * 32];
        for (int i = 0; i < _x.Length; i++) _x[i] = rng.Normal();
        _y = new int[Batch];
        for (int i = 0; i < Batch; i++) _y[i] = rng.NextInt(10);
        var fused = new CifarNet(seed: 0);
        _fused = new Trainer(fused, Loss.CrossEntropy, new Sgd(fused.Parameters(), lr: 0.01f), Batch);
        var unfused = new CifarNetUnfused(seed: 0);
        _unfused = new Trainer(unfused, Loss.CrossEntropy, new Sgd(unfused.Parameters(), lr: 0.01f), Batch);
    }

    [Benchmark(Description = "CifarNet train step b64, fused (21 kernels)")]
    public float Fused() => _fused.Step(_x, _y, Batch);

    [Benchmark(Baseline = true, Description = "CifarNet train step b64, unfused (29 kernels)")]
    public float Unfused() => _unfused.Step(_x, _y, Batch);
}
