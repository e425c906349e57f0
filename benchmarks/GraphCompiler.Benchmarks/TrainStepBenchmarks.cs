// Training-step and inference time of the two reference models at batch 64, the figures the PyTorch peer also measures
// (fused against unfused is FusionBenchmarks).
using BenchmarkDotNet.Attributes;
using Cifar;
using FashionMnist;
using GraphCompiler.Nn;
using GraphCompiler.Optim;
using GraphCompiler.Training;

namespace GraphCompiler.Benchmarks;

[MemoryDiagnoser]
public class TrainStepBenchmarks
{
    private const int Batch = 64;
    private Trainer _cifar = null!, _mlp = null!;
    private CifarNet _cifarModel = null!;
    private ModelWorkspace _cifarInference = null!;
    private float[] _cifarX = null!, _mlpX = null!;
    private int[] _y = null!;

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Rng(0);
        _cifarX = new float[Batch * 3 * 32 * 32];
        _mlpX = new float[Batch * 28 * 28];
        for (int i = 0; i < _cifarX.Length; i++) _cifarX[i] = rng.Normal();
        for (int i = 0; i < _mlpX.Length; i++) _mlpX[i] = rng.Normal();
        _y = new int[Batch];
        for (int i = 0; i < Batch; i++) _y[i] = rng.NextInt(10);
        _cifarModel = new CifarNet(seed: 0);
        _cifar = new Trainer(_cifarModel, Loss.CrossEntropy, new Sgd(_cifarModel.Parameters(), lr: 0.01f), Batch);
        var mlp = new Mlp(seed: 0);
        _mlp = new Trainer(mlp, Loss.Nll, new Sgd(mlp.Parameters(), lr: 0.01f), Batch);
        _cifarInference = _cifarModel.CreateWorkspace(Batch, training: false);
        _cifarInference.SetInput(_cifarX, Batch);
    }

    [Benchmark(Description = "CifarNet train step b64")]
    public float CifarNetTrainStep() => _cifar.Step(_cifarX, _y, Batch);

    [Benchmark(Description = "CifarNet inference b64")]
    public void CifarNetInference() => ((ICompiledModel)_cifarModel).Forward(_cifarInference);

    [Benchmark(Description = "Mlp train step b64")]
    public float MlpTrainStep() => _mlp.Step(_mlpX, _y, Batch);
}
