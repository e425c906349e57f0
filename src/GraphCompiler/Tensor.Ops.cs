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
        var g = new Conv2dGeometry(layer.InChannels, layer.OutChannels, Shape[2], Shape[3], layer.KernelSize, layer.KernelSize,
            layer.Stride, layer.Stride, layer.Padding, layer.Padding);
        Expect(g.OutH > 0 && g.OutW > 0, $"{layer}'s kernel is larger than its padded input");
        var y = new Tensor([Shape[0], layer.OutChannels, g.OutH, g.OutW]);
        Conv2dKernels.Forward(Data, layer.Weight.Data, layer.Bias?.Data ?? default, y.Data, g, Shape[0]);
        return y;
    }

    /// <summary>Applies a BatchNorm layer to (N, C), (N, C, L) or (N, C, H, W) in the layer's mode (training: batch statistics, running ones updated).</summary>
    public Tensor Apply(BatchNorm layer)
    {
        bool twoD = layer is BatchNorm2d;
        Expect(twoD ? Rank == 4 : Rank is 2 or 3, $"{layer} expects {(twoD ? "[N, C, H, W]" : "[N, C] or [N, C, L]")}");
        Expect(Shape[1] == layer.NumFeatures, $"{layer} expects {layer.NumFeatures} channels");
        var y = new Tensor(Shape);
        int spatial = Count / (Shape[0] * Shape[1]);
        layer.Forward(Data, y.Data, new float[layer.NumFeatures], new float[layer.NumFeatures], Shape[0], spatial);
        return y;
    }

    /// <summary>Applies a LayerNorm layer over the trailing dimensions of its normalized_shape.</summary>
    public Tensor Apply(LayerNorm layer)
    {
        Expect(Rank > layer.NormalizedShape.Length && Shape.AsSpan(Rank - layer.NormalizedShape.Length).SequenceEqual(layer.NormalizedShape),
            $"{layer} expects trailing dimensions [{string.Join(", ", layer.NormalizedShape)}]");
        var y = new Tensor(Shape);
        int rows = Count / layer.Size;
        layer.Forward(Data, y.Data, new float[rows], new float[rows], rows);
        return y;
    }

    /// <summary>Applies a Dropout layer in its mode (training: a fresh mask each call; eval: a copy).</summary>
    public Tensor Apply(Dropout layer)
    {
        var y = new Tensor(Shape);
        layer.Forward(Data, y.Data, new float[Count]);
        return y;
    }

    public Tensor Relu()
    {
        var y = new Tensor(Shape);
        ReluKernels.Forward(Data, y.Data);
        return y;
    }

    /// <summary>Max pooling over H and W with a square window; the stride defaults to the window, as in PyTorch.</summary>
    public Tensor MaxPool2d(int kernel, int? stride = null)
    {
        int s = stride ?? kernel;
        Expect(Rank == 4 && kernel > 0 && s > 0 && kernel <= Shape[2] && kernel <= Shape[3], $"MaxPool2d({kernel}) expects [N, C, H, W] with H, W ≥ {kernel}");
        var g = new Pool2dGeometry(Shape[1], Shape[2], Shape[3], kernel, kernel, s, s, 0, 0);
        var y = new Tensor([Shape[0], Shape[1], g.OutH, g.OutW]);
        MaxPool2dKernels.Forward(Data, y.Data, new int[y.Count], g, Shape[0]);
        return y;
    }

    /// <summary>Flattens every dimension after the batch dimension (PyTorch's <c>flatten(start_dim=1)</c>).</summary>
    public Tensor Flatten()
    {
        Expect(Rank >= 1, "Flatten expects a batch dimension");
        return new Tensor((float[])Data.Clone(), [Shape[0], Count / Math.Max(1, Shape[0])]);
    }

    /// <summary>Log-softmax over the class dimension of (N, C).</summary>
    public Tensor LogSoftmax(int dim)
    {
        Expect(Rank == 2 && (dim == 1 || dim == -1), $"LogSoftmax(dim: {dim}) expects [N, C] and dim 1");
        var y = new Tensor(Shape);
        LogSoftmaxKernels.Forward(Data, y.Data, Shape[0], Shape[1]);
        return y;
    }

    private void Expect(bool condition, string what)
    {
        if (!condition) throw new ArgumentException($"{what} but the tensor is [{string.Join(", ", Shape)}].");
    }
}
