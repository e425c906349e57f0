// Eager tensor ops: the methods a forward body is written with. The generator compiles the body; calling it runs these directly.
using GraphCompiler.Backends.Cpu;
using GraphCompiler.Nn;
using GraphCompiler.Compiler;

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

    public Tensor Relu() => Map(Elementwise.Relu);

    /// <summary>LeakyReLU: x where x &gt; 0, <paramref name="negativeSlope"/> · x elsewhere.</summary>
    public Tensor LeakyRelu(float negativeSlope = 0.01f) => Map(Elementwise.LeakyRelu(negativeSlope));

    public Tensor Sigmoid() => Map(Elementwise.Sigmoid);

    public Tensor Tanh() => Map(Elementwise.Tanh);

    /// <summary>GELU, exact (x·Φ(x)) or with PyTorch's <c>approximate='tanh'</c>.</summary>
    public Tensor Gelu(bool approximateTanh = false) => Map(Elementwise.Gelu(approximateTanh));

    /// <summary>SiLU (swish): x·σ(x).</summary>
    public Tensor Silu() => Map(Elementwise.Silu);

    /// <summary>An activation of the catalog, through the same kernel the generated code runs.</summary>
    private Tensor Map(Elementwise f)
    {
        var y = new Tensor(Shape);
        ElementwiseKernels.Forward(Data, y.Data, f);
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

    /// <summary>
    /// Flattens the dimensions from <paramref name="startDim"/> on into one (PyTorch's <c>flatten(start_dim)</c>); the
    /// default 1 keeps only the batch dimension in front.
    /// </summary>
    public Tensor Flatten(int startDim = 1)
    {
        int d = startDim < 0 ? startDim + Rank : startDim;
        Expect(d >= 1 && d < Rank, $"Flatten(startDim: {startDim}) needs a dim from 1 to rank - 1");
        int tail = 1;
        for (int i = d; i < Rank; i++) tail *= Shape[i];
        return new Tensor((float[])Data.Clone(), [.. Shape[..d], tail]);
    }

    /// <summary>
    /// Gives each sample the shape (d1, d2, …) with the same elements, like PyTorch's <c>x.reshape(N, d1, d2, …)</c>; the
    /// batch dimension stays. One dimension may be -1 and is inferred.
    /// </summary>
    public Tensor Reshape(int d1, int? d2 = null, int? d3 = null, int? d4 = null, int? d5 = null)
    {
        int[] dims = new int?[] { d1, d2, d3, d4, d5 }.Where(d => d is not null).Select(d => d!.Value).ToArray();
        int perSample = Count / Math.Max(1, Shape[0]);
        int known = dims.Where(d => d > 0).Aggregate(1, (p, d) => p * d), hole = Array.IndexOf(dims, -1);
        Expect(dims.All(d => d > 0 || d == -1) && dims.Count(d => d == -1) <= 1, $"Reshape({string.Join(", ", dims)}) needs positive dims or one -1");
        if (hole >= 0)
        {
            Expect(perSample % known == 0, $"Reshape({string.Join(", ", dims)}) cannot infer -1 from {perSample} elements per sample");
            dims[hole] = perSample / known;
        }
        Expect(dims.Aggregate(1, (p, d) => p * d) == perSample, $"Reshape({string.Join(", ", dims)}) needs the {perSample} elements per sample");
        return new Tensor((float[])Data.Clone(), [Shape[0], .. dims]);
    }

    /// <summary>Element-wise sum with NumPy broadcasting over the per-sample dims (the batch sizes must be equal).</summary>
    public static Tensor operator +(Tensor a, Tensor b) => a.Add(b);

    /// <summary>Element-wise product with NumPy broadcasting over the per-sample dims (the batch sizes must be equal).</summary>
    public static Tensor operator *(Tensor a, Tensor b) => a.Mul(b);

    /// <summary>This + <paramref name="other"/>, broadcast (the method form of <c>+</c>).</summary>
    public Tensor Add(Tensor other) => Broadcast(other, "Add", (a, b, y, g, n) => AddKernels.Forward(a, b, y, g, n));

    /// <summary>This · <paramref name="other"/>, broadcast (the method form of <c>*</c>).</summary>
    public Tensor Mul(Tensor other) => Broadcast(other, "Mul", (a, b, y, g, n) => MulKernels.Forward(a, b, y, g, n));

    private delegate void BinaryKernel(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y, BroadcastGeometry g, int n);

    private Tensor Broadcast(Tensor other, string op, BinaryKernel kernel)
    {
        ArgumentNullException.ThrowIfNull(other);
        Expect(Rank >= 2 && other.Rank >= 2 && other.Shape[0] == Shape[0],
            $"{op} needs two tensors with the same batch size; the other is [{string.Join(", ", other.Shape)}]");
        int[] a = Shape[1..], b = other.Shape[1..];
        BroadcastGeometry g = BroadcastGeometry.Of(a, b)
            ?? throw new ArgumentException($"{op} of [{string.Join(", ", Shape)}] and [{string.Join(", ", other.Shape)}] cannot broadcast.");
        var y = new Tensor([Shape[0], .. BroadcastGeometry.OutputDims(a, b)]);
        kernel(Data, other.Data, y.Data, g, Shape[0]);
        return y;
    }

    /// <summary>
    /// Concatenates tensors along <paramref name="dim"/> (PyTorch's <c>torch.cat</c>); every other dimension must match, and
    /// dim 0, the batch, cannot be the one.
    /// </summary>
    public static Tensor Cat(Tensor[] tensors, int dim)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        if (tensors.Length == 0) throw new ArgumentException("Cat needs at least one tensor.", nameof(tensors));
        Tensor first = tensors[0];
        int axis = dim < 0 ? dim + first.Rank : dim;
        first.Expect(axis >= 1 && axis < first.Rank, $"Cat(dim: {dim}) needs a dim from 1 to rank - 1");
        int[] shape = (int[])first.Shape.Clone();
        foreach (Tensor t in tensors.Skip(1))
        {
            bool match = t.Rank == first.Rank && Enumerable.Range(0, first.Rank).All(i => i == axis || t.Shape[i] == first.Shape[i]);
            first.Expect(match, $"Cat(dim: {dim}) needs equal sizes outside dim {axis}; another input is [{string.Join(", ", t.Shape)}]");
            shape[axis] += t.Shape[axis];
        }
        var y = new Tensor(shape);
        int rows = 1, after = 1, offset = 0;
        for (int i = 1; i < axis; i++) rows *= shape[i];
        for (int i = axis + 1; i < shape.Length; i++) after *= shape[i];
        foreach (Tensor t in tensors)
        {
            CatKernels.Forward(t.Data, y.Data, rows, t.Shape[axis] * after, shape[axis] * after, offset * after, shape[0]);
            offset += t.Shape[axis];
        }
        return y;
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
