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
        var (step, y) = Lowered<LinearForward>("Apply", LayerDecl.Of(layer.Name, "Linear", ("inFeatures", layer.InFeatures),
            ("outFeatures", layer.OutFeatures), ("bias", layer.Bias is null ? 0 : 1)));
        LinearKernels.Forward(Data, layer.Weight.Data, layer.Bias?.Data ?? default, y.Data, Shape[0], step.InFeatures, step.OutFeatures);
        return y;
    }

    /// <summary>Applies a Conv2d layer to (N, C, H, W).</summary>
    public Tensor Apply(Conv2d layer)
    {
        var (step, y) = Lowered<Conv2dForward>("Apply", LayerDecl.Of(layer.Name, "Conv2d", ("inChannels", layer.InChannels),
            ("outChannels", layer.OutChannels), ("kernel", layer.KernelSize), ("stride", layer.Stride), ("padding", layer.Padding),
            ("dilation", layer.Dilation), ("groups", layer.Groups), ("bias", layer.Bias is null ? 0 : 1)));
        Conv2dKernels.Forward(Data, layer.Weight.Data, layer.Bias?.Data ?? default, y.Data, step.G.Value, Shape[0]);
        return y;
    }

    /// <summary>Applies a BatchNorm layer to (N, C), (N, C, L) or (N, C, H, W) in the layer's mode (training: batch statistics, running ones updated).</summary>
    public Tensor Apply(BatchNorm layer)
    {
        var (step, y) = Lowered<BatchNormForward>("Apply", LayerDecl.Of(layer.Name, layer is BatchNorm2d ? "BatchNorm2d" : "BatchNorm1d",
            ("numFeatures", layer.NumFeatures)));
        layer.Forward(Data, y.Data, new float[layer.NumFeatures], new float[layer.NumFeatures], Shape[0], step.Spatial);
        return y;
    }

    /// <summary>Applies a LayerNorm layer over the trailing dimensions of its normalized_shape.</summary>
    public Tensor Apply(LayerNorm layer)
    {
        int rows;
        if (layer.NormalizedShape.Length == 1)
            rows = Shape[0] * ((LayerNormForward)Lower([this], "Apply", LayerDecl.Of(layer.Name, "LayerNorm", ("normalizedShape", layer.NormalizedShape[0]))).Steps.Single()).RowsPerSample;
        else
        {
            // The compiled op normalizes the last dim; a normalized_shape of several trailing dims is the eager layer's own.
            Expect(Rank > layer.NormalizedShape.Length && Shape.AsSpan(Rank - layer.NormalizedShape.Length).SequenceEqual(layer.NormalizedShape),
                $"{layer} expects trailing dimensions [{string.Join(", ", layer.NormalizedShape)}]");
            rows = Count / layer.Size;
        }
        var y = new Tensor(Shape);
        layer.Forward(Data, y.Data, new float[rows], new float[rows], rows);
        return y;
    }

    /// <summary>Applies a Dropout layer in its mode (training: a fresh mask each call; eval: a copy).</summary>
    public Tensor Apply(Dropout layer)
    {
        var (_, y) = Lowered<DropoutForward>("Apply", LayerDecl.Of(layer.Name, "Dropout", ("p", layer.P)));
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
        var (step, y) = Lowered<MaxPool2dForward>("MaxPool2d", null, ("kernel", kernel), ("stride", stride ?? double.NaN), ("padding", padding),
            ("dilation", dilation), ("ceilMode", ceilMode ? 1 : 0));
        MaxPool2dKernels.Forward(Data, y.Data, new int[y.Count], step.G.Value, Shape[0]);
        return y;
    }

    /// <summary>Average pooling over H and W with a square window, as PyTorch's <c>avg_pool2d</c>.</summary>
    public Tensor AvgPool2d(int kernel, int? stride = null, int padding = 0, bool ceilMode = false, bool countIncludePad = true)
    {
        var (step, y) = Lowered<AvgPool2dForward>("AvgPool2d", null, ("kernel", kernel), ("stride", stride ?? double.NaN), ("padding", padding),
            ("ceilMode", ceilMode ? 1 : 0), ("countIncludePad", countIncludePad ? 1 : 0));
        AvgPool2dKernels.Forward(Data, y.Data, step.G.Value, Shape[0]);
        return y;
    }

    /// <summary>Adaptive average pooling to <paramref name="outputSize"/> × (<paramref name="outputWidth"/> or the same).</summary>
    public Tensor AdaptiveAvgPool2d(int outputSize, int? outputWidth = null)
    {
        var (step, y) = Lowered<AdaptiveAvgPool2dForward>("AdaptiveAvgPool2d", null, ("outputSize", outputSize), ("outputWidth", outputWidth ?? double.NaN));
        AdaptiveAvgPool2dKernels.Forward(Data, y.Data, step.G.Value, Shape[0]);
        return y;
    }

    /// <summary>
    /// Flattens the dimensions from <paramref name="startDim"/> on into one (PyTorch's <c>flatten(start_dim)</c>); the
    /// default 1 keeps only the batch dimension in front.
    /// </summary>
    public Tensor Flatten(int startDim = 1) => new((float[])Data.Clone(), Lower([this], "Flatten", null, ("startDim", startDim)).Shape);

    /// <summary>
    /// Gives each sample the shape (d1, d2, …) with the same elements, like PyTorch's <c>x.reshape(N, d1, d2, …)</c>; the
    /// batch dimension stays. One dimension may be -1 and is inferred.
    /// </summary>
    public Tensor Reshape(int d1, int? d2 = null, int? d3 = null, int? d4 = null, int? d5 = null) =>
        new((float[])Data.Clone(), Lower([this], "Reshape", null, ("d1", d1), ("d2", d2 ?? double.NaN), ("d3", d3 ?? double.NaN), ("d4", d4 ?? double.NaN), ("d5", d5 ?? double.NaN)).Shape);

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
        var (steps, shape) = Lower([this, other], op, null);
        BroadcastDims g = steps.Single() switch { AddForward a => a.G.Value, MulForward m => m.G.Value, var s => throw new InvalidOperationException(s.Kind) };
        var y = new Tensor(shape);
        kernel(Data, other.Data, y.Data, new BroadcastGeometry([.. g.Packed]), Shape[0]);
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
        var (steps, shape) = Lower(tensors, "Cat", null, ("dim", dim));
        var y = new Tensor(shape);
        foreach (var (t, c) in tensors.Zip(steps.Cast<CatForward>()))
            CatKernels.Forward(t.Data, y.Data, c.Rows, c.Inner, c.OutInner, c.Offset, shape[0]);
        return y;
    }

    /// <summary>Softmax over <paramref name="dim"/> (negative counts from the end).</summary>
    public Tensor Softmax(int dim) => SoftmaxOver(dim, log: false);

    /// <summary>Log-softmax over <paramref name="dim"/> (negative counts from the end).</summary>
    public Tensor LogSoftmax(int dim) => SoftmaxOver(dim, log: true);

    private Tensor SoftmaxOver(int dim, bool log)
    {
        var (step, y) = Lowered<KernelStep>(log ? "LogSoftmax" : "Softmax", null, ("dim", dim));
        ReduceDims r = step is LogSoftmaxForward l ? l.R : ((SoftmaxForward)step).R;
        int outer = r.OverBatch ? 1 : Shape[0] * r.OuterPerSample, reduced = r.OverBatch ? Shape[0] : r.Dim;
        if (log) LogSoftmaxKernels.Forward(Data, y.Data, outer, reduced, r.Inner);
        else SoftmaxKernels.Forward(Data, y.Data, outer, reduced, r.Inner);
        return y;
    }

    /// <summary>
    /// The forward step the compiler core lowers <paramref name="op"/> on this tensor's shape to (its shape rule and its
    /// geometry, written once in the op's definition), and an output tensor of the shape the rule gives; a shape the op
    /// refuses throws the core's own message, the one the generator reports at build time.
    /// </summary>
    private (T Step, Tensor Output) Lowered<T>(string op, LayerDecl? layer, params (string Name, double Value)[] args) where T : KernelStep
    {
        var (steps, shape) = Lower([this], op, layer, args);
        return ((T)steps.Single(), new Tensor(shape));
    }

    /// <summary>
    /// <paramref name="op"/> applied to <paramref name="inputs"/> (a layer call to the first), lowered alone by the core:
    /// its forward steps and the output shape with the inputs' batch size.
    /// </summary>
    private static (EquatableArray<KernelStep> Steps, int[] Shape) Lower(Tensor[] inputs, string op, LayerDecl? layer, params (string Name, double Value)[] args)
    {
        Tensor first = inputs[0];
        foreach (Tensor t in inputs)
        {
            ArgumentNullException.ThrowIfNull(t, nameof(inputs));
            t.Expect(t.Rank >= 1, $"{op} needs a batch dimension");
            if (t.Shape[0] != first.Shape[0])
                throw new ArgumentException($"{op} needs tensors of the same batch size, but they are [{string.Join("] and [", inputs.Select(i => string.Join(", ", i.Shape)))}].");
        }
        OpCall call = layer is null ? OpCall.Of(op, [.. Enumerable.Range(0, inputs.Length)], [.. args.Where(a => !double.IsNaN(a.Value))]) : OpCall.Apply(layer.Property, 0);
        OpLowering lowered = ModelCompiler.LowerOp(call, [.. inputs.Select(t => new Compiler.Shape([Compiler.Shape.Batch, .. t.Shape[1..]]))], layer);
        if (lowered.Output is not { } output)
            throw new ArgumentException($"{lowered.Diagnostics[0].Message} ({(inputs.Length == 1 ? "a tensor" : "tensors")} of [{string.Join("] and [", inputs.Select(i => string.Join(", ", i.Shape)))}]).");
        return (lowered.Forward, [first.Shape[0], .. output.SampleDims]);
    }

    private void Expect(bool condition, string what)
    {
        if (!condition) throw new ArgumentException($"{what} but the tensor is [{string.Join(", ", Shape)}].");
    }
}
