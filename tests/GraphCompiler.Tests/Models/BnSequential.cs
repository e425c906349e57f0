// A hand-built model with BatchNorm and Dropout state, named like PyTorch's nn.Sequential(Linear, BatchNorm1d, ReLU, Linear)
// (plus a dropout), for state_dict and checkpoint tests that need buffers.
using GraphCompiler.Backends.Cpu;
using GraphCompiler.Nn;
using GraphCompiler.Compiler;

namespace GraphCompiler.Tests.Models;

/// <summary>
/// <c>nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))</c> with PyTorch's state_dict names
/// (<c>0.weight</c>, <c>1.running_mean</c>, <c>1.num_batches_tracked</c>, <c>3.bias</c> …), and a dropout <c>drop</c>
/// whose step counter is a non-persistent buffer. Only <see cref="EvalForward"/> runs; it has no generated workspace.
/// </summary>
public sealed class BnSequential : ICompiledModel
{
    public BnSequential(ulong seed = 0)
    {
        var rng = new Rng(seed);
        L0 = new Linear("0", 6, 8, bias: true, rng);
        Bn = new BatchNorm1d("1", 8);
        L3 = new Linear("3", 8, 3, bias: true, rng);
        Drop = new Dropout("drop", 0.5f, seed);
    }

    public Linear L0 { get; }
    public BatchNorm1d Bn { get; }
    public Linear L3 { get; }
    public Dropout Drop { get; }

    public int[] InputShape => [6];
    public int[] OutputShape => [3];
    public IReadOnlyList<LayerSummary> Summary => [];

    public bool Training { get; private set; } = true;

    public void Train(bool mode = true)
    {
        Training = mode;
        Bn.Training = mode;
        Drop.Training = mode;
    }

    public void Eval() => Train(false);

    public IReadOnlyList<Parameter> Parameters() => [.. L0.Parameters(), .. Bn.Parameters(), .. L3.Parameters()];

    public IReadOnlyList<ModelBuffer> Buffers() => [.. Bn.Buffers(), Drop.StepBuffer];

    public ModelWorkspace CreateWorkspace(int capacity, bool training = true, bool inputGrad = false) =>
        throw new NotSupportedException("BnSequential is a state container for tests; it has no workspace.");

    public void Forward(ModelWorkspace ws) => throw new NotSupportedException("BnSequential has no workspace.");

    public void Backward(ModelWorkspace ws) => throw new NotSupportedException("BnSequential has no workspace.");

    public IReadOnlyList<KernelSummary> Kernels => [];

    public long PeakBytes(int batch, bool training) => throw new NotSupportedException("BnSequential has no workspace.");

    public GraphCompiler.Compiler.Schedule Schedule => throw new NotSupportedException("BnSequential is hand-built; it has no compiled schedule.");

    /// <summary>Eval-mode output (n, 3) of x (n, 6): linear, batch norm with running statistics, ReLU, linear.</summary>
    public float[] EvalForward(float[] x, int n)
    {
        float[] h = new float[n * 8], y = new float[n * 3], mean = new float[8], invStd = new float[8];
        LinearKernels.Forward(x, L0.Weight.Data, L0.Bias!.Data, h, n, 6, 8);
        Bn.Forward(h, h, mean, invStd, n, 1, training: false);
        ElementwiseKernels.Forward(h, h, Elementwise.Relu);
        LinearKernels.Forward(h, L3.Weight.Data, L3.Bias!.Data, y, n, 8, 3);
        return y;
    }
}
