// Eager tensor ops: the methods a forward body is written with. The generator compiles the body; calling it runs these directly.
using GraphCompiler.Backends.Cpu;
using GraphCompiler.Nn;

namespace GraphCompiler;

public sealed partial class Tensor
{
    // Each op allocates its result: this is the readable, eager path (and a cross-check of the compiled one),
    // not the fast path, which the generated Forward provides.

    /// <summary>Applies a Linear layer to (N, in_features).</summary>
    public Tensor Apply(Linear layer)
    {
        Expect(Rank == 2 && Shape[1] == layer.InFeatures, $"{layer} expects [N, {layer.InFeatures}]");
        var y = new Tensor([Shape[0], layer.OutFeatures]);
        LinearKernels.Forward(Data, layer.Weight.Data, layer.Bias?.Data ?? default, y.Data, Shape[0], layer.InFeatures, layer.OutFeatures);
        return y;
    }

    /// <summary>Applies a Conv2d layer to (N, C, H, W).</summary>
    public Tensor Apply(Conv2d layer)
    {
        Expect(Rank == 4 && Shape[1] == layer.InChannels, $"{layer} expects [N, {layer.InChannels}, H, W]");
        var g = layer.Geometry(Shape[2], Shape[3]);
        Expect(g.OutH > 0 && g.OutW > 0, $"{layer}'s kernel is larger than its padded input");
        var y = new Tensor([Shape[0], layer.OutChannels, g.OutH, g.OutW]);
        Conv2dKernels.Forward(Data, layer.Weight.Data, layer.Bias?.Data ?? default, y.Data, g, Shape[0]);
        return y;
    }

    public Tensor Relu()
    {
        var y = new Tensor(Shape);
        ReluKernels.Forward(Data, y.Data);
        return y;
    }

    /// <summary>LeakyReLU: x where x &gt; 0, <paramref name="negativeSlope"/> · x elsewhere.</summary>
    public Tensor LeakyRelu(float negativeSlope = 0.01f) => Map(Activation.LeakyRelu(negativeSlope));

    public Tensor Sigmoid() => Map(Activation.Sigmoid);

    public Tensor Tanh() => Map(Activation.Tanh);

    /// <summary>GELU, exact (x·Φ(x)) or with PyTorch's <c>approximate='tanh'</c>.</summary>
    public Tensor Gelu(bool approximateTanh = false)
    {
        var y = new Tensor(Shape);
        GeluKernels.Forward(Data, y.Data, approximateTanh);
        return y;
    }

    /// <summary>SiLU (swish): x·σ(x).</summary>
    public Tensor Silu()
    {
        var y = new Tensor(Shape);
        SiluKernels.Forward(Data, y.Data);
        return y;
    }

    private Tensor Map(Activation activation)
    {
        var y = new Tensor(Shape);
        ActivationKernels.Forward(Data, y.Data, activation);
        return y;
    }

    /// <summary>Max pooling over H and W with a square window; the stride defaults to the window, as in PyTorch.</summary>
    public Tensor MaxPool2d(int kernel, int? stride = null, int padding = 0, int dilation = 1, bool ceilMode = false)
    {
        var g = new Pool2dGeometry(Rank == 4 ? Shape[1] : 0, Rank == 4 ? Shape[2] : 0, Rank == 4 ? Shape[3] : 0, kernel, kernel, stride ?? kernel, stride ?? kernel,
            padding, padding, padding, padding, dilation, dilation, ceilMode ? 1 : 0, 1);
        Expect(Rank == 4 && g.OutH > 0 && g.OutW > 0, $"MaxPool2d({kernel}) expects [N, C, H, W] with H, W ≥ its window");
        var y = new Tensor([Shape[0], Shape[1], g.OutH, g.OutW]);
        MaxPool2dKernels.Forward(Data, y.Data, new int[y.Count], g, Shape[0]);
        return y;
    }

    /// <summary>Average pooling over H and W with a square window, as PyTorch's <c>avg_pool2d</c>.</summary>
    public Tensor AvgPool2d(int kernel, int? stride = null, int padding = 0, bool ceilMode = false, bool countIncludePad = true)
    {
        var g = new Pool2dGeometry(Rank == 4 ? Shape[1] : 0, Rank == 4 ? Shape[2] : 0, Rank == 4 ? Shape[3] : 0, kernel, kernel, stride ?? kernel, stride ?? kernel,
            padding, padding, padding, padding, 1, 1, ceilMode ? 1 : 0, countIncludePad ? 1 : 0);
        Expect(Rank == 4 && g.OutH > 0 && g.OutW > 0, $"AvgPool2d({kernel}) expects [N, C, H, W] with H, W ≥ its window");
        var y = new Tensor([Shape[0], Shape[1], g.OutH, g.OutW]);
        AvgPool2dKernels.Forward(Data, y.Data, g, Shape[0]);
        return y;
    }

    /// <summary>Adaptive average pooling to <paramref name="outputSize"/> × (<paramref name="outputWidth"/> or the same).</summary>
    public Tensor AdaptiveAvgPool2d(int outputSize, int? outputWidth = null)
    {
        Expect(Rank == 4 && outputSize > 0 && (outputWidth ?? outputSize) > 0, $"AdaptiveAvgPool2d({outputSize}) expects [N, C, H, W] and a positive size");
        var g = new AdaptivePool2dGeometry(Shape[1], Shape[2], Shape[3], outputSize, outputWidth ?? outputSize);
        var y = new Tensor([Shape[0], Shape[1], g.OutH, g.OutW]);
        AdaptiveAvgPool2dKernels.Forward(Data, y.Data, g, Shape[0]);
        return y;
    }

    /// <summary>Flattens every dimension after the batch dimension (PyTorch's <c>flatten(start_dim=1)</c>).</summary>
    public Tensor Flatten()
    {
        Expect(Rank >= 1, "Flatten expects a batch dimension");
        return new Tensor((float[])Data.Clone(), [Shape[0], Count / Math.Max(1, Shape[0])]);
    }

    /// <summary>Softmax over <paramref name="dim"/> (negative counts from the end).</summary>
    public Tensor Softmax(int dim) => SoftmaxOver(dim, log: false);

    /// <summary>Log-softmax over <paramref name="dim"/> (negative counts from the end).</summary>
    public Tensor LogSoftmax(int dim) => SoftmaxOver(dim, log: true);

    private Tensor SoftmaxOver(int dim, bool log)
    {
        Expect(dim >= -Rank && dim < Rank, $"{(log ? "LogSoftmax" : "Softmax")}(dim: {dim}) needs a dim in [{-Rank}, {Rank - 1}]");
        int d = dim < 0 ? dim + Rank : dim, outer = 1, inner = 1;
        for (int i = 0; i < d; i++) outer *= Shape[i];
        for (int i = d + 1; i < Rank; i++) inner *= Shape[i];
        var y = new Tensor(Shape);
        if (log) LogSoftmaxKernels.Forward(Data, y.Data, outer, Shape[d], inner);
        else SoftmaxKernels.Forward(Data, y.Data, outer, Shape[d], inner);
        return y;
    }

    private void Expect(bool condition, string what)
    {
        if (!condition) throw new ArgumentException($"{what} but the tensor is [{string.Join(", ", Shape)}].");
    }
}
