// The CifarNet training step on ILGPU's CPU accelerator at batch 64: the time of the correctness path that checks the
// GPU kernels without a GPU (an emulator, one "thread" per output element), not a speed path; few iterations, as one
// step takes tens of seconds. It runs in process (no boilerplate build, which timed out under load) with a long timeout.
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Engines;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Cifar;
using GraphCompiler.Backends.Ilgpu;
using GraphCompiler.Nn;
using GraphCompiler.Optim;

namespace GraphCompiler.Benchmarks;

[Config(typeof(FewIterations))]
public class IlgpuTrainStepBenchmarks
{
    private sealed class FewIterations : ManualConfig
    {
        public FewIterations() => AddJob(Job.Default.WithStrategy(RunStrategy.Monitoring).WithLaunchCount(1).WithWarmupCount(1)
            .WithIterationCount(3).WithToolchain(new InProcessEmitToolchain(TimeSpan.FromHours(1), logOutput: true)));
    }

    private const int Batch = 64;
    private IlgpuTrainer _cifar = null!;
    private float[] _x = null!;
    private int[] _y = null!;

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Rng(0);
        _x = new float[Batch * 3 * 32 * 32];
        for (int i = 0; i < _x.Length; i++) _x[i] = rng.Normal();
        _y = new int[Batch];
        for (int i = 0; i < Batch; i++) _y[i] = rng.NextInt(10);
        var model = new CifarNet(seed: 0);
        _cifar = new IlgpuTrainer(model, Loss.CrossEntropy, new Sgd(model.Parameters(), lr: 0.01f), Batch, Device.IlgpuCpu);
    }

    [GlobalCleanup]
    public void Cleanup() => _cifar.Dispose();

    [Benchmark(Description = "CifarNet train step b64, ILGPU CPU accelerator")]
    public float CifarNetTrainStep() => _cifar.Step(_x, _y, Batch);
}
