// The attributes a user writes on a partial class to declare a network; the source generator reads them at build time.
namespace GraphCompiler;

/// <summary>Marks a <c>partial class</c> as a network the generator compiles.</summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class ModelAttribute : Attribute
{
    /// <summary>
    /// Whether the compiler fuses kernels (activations into the GEMM that feeds them, activation backward into the
    /// gradient kernel before it, LogSoftmax backward into an NLL loss). False keeps one kernel per op, for comparison.
    /// </summary>
    public bool Fuse { get; set; } = true;
}

/// <summary>Marks the method whose body declares the forward pass. The generator reads it; it never runs it.</summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class ForwardAttribute : Attribute
{
    /// <summary>Input shape, e.g. <c>"N,3,32,32"</c>; <c>N</c> is the symbolic batch dimension.</summary>
    public string Input { get; set; } = "";
}

/// <summary>What every layer attribute takes besides the layer's own arguments: its state_dict name and a repeat count.</summary>
public abstract class LayerAttribute : Attribute
{
    /// <summary>
    /// The state_dict prefix; defaults to the property name in snake_case (<c>Fc1</c> → <c>fc1</c>). For a layer array an
    /// element's prefix is <c>Name.i</c> (PyTorch's <c>ModuleList</c>: <c>blocks.0.weight</c>), or <c>Name</c> with <c>{i}</c>
    /// replaced by the index when it has one (<c>"layer1.{i}.conv1"</c> → <c>layer1.0.conv1</c>).
    /// </summary>
    public string? Name { get; set; }

    /// <summary>
    /// How many layers of these arguments a layer array holds (PyTorch's <c>nn.ModuleList</c> of identical layers):
    /// <c>[Linear(64, 64, Count = 3)] public partial Linear[] Blocks { get; }</c>. Only on a property of array type.
    /// </summary>
    public int Count { get; set; }
}

/// <summary>Declares a <see cref="Nn.Linear"/> layer on a <c>partial</c> property.</summary>
[AttributeUsage(AttributeTargets.Property, Inherited = false)]
public sealed class LinearAttribute : LayerAttribute
{
    public LinearAttribute(int inFeatures, int outFeatures)
    {
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
    }

    public int InFeatures { get; }
    public int OutFeatures { get; }

    /// <summary>Whether the layer has a bias (PyTorch's <c>bias=True</c>).</summary>
    public bool Bias { get; set; } = true;

}

/// <summary>Declares a <see cref="Nn.Conv2d"/> layer on a <c>partial</c> property.</summary>
[AttributeUsage(AttributeTargets.Property, Inherited = false)]
public sealed class Conv2dAttribute : LayerAttribute
{
    public Conv2dAttribute(int inChannels, int outChannels, int kernel)
    {
        InChannels = inChannels;
        OutChannels = outChannels;
        Kernel = kernel;
    }

    public int InChannels { get; }
    public int OutChannels { get; }
    public int Kernel { get; }
    public int Stride { get; set; } = 1;

    /// <summary>Zeros added on every side, or <see cref="GraphCompiler.Padding.Same"/> for PyTorch's <c>padding='same'</c>.</summary>
    public int Padding { get; set; }

    /// <summary>Spacing between kernel taps (PyTorch's <c>dilation</c>).</summary>
    public int Dilation { get; set; } = 1;

    /// <summary>Channel groups convolved independently; <c>Groups = InChannels</c> is a depthwise convolution.</summary>
    public int Groups { get; set; } = 1;

    public bool Bias { get; set; } = true;
}

/// <summary>The settings BatchNorm1d and BatchNorm2d share, with PyTorch's defaults.</summary>
public abstract class BatchNormAttribute : LayerAttribute
{
    protected BatchNormAttribute(int numFeatures) => NumFeatures = numFeatures;

    /// <summary>C, the channels (or features) normalised.</summary>
    public int NumFeatures { get; }

    /// <summary>Added to the variance before its square root.</summary>
    public float Eps { get; set; } = 1e-5f;

    /// <summary>The running statistics' update factor: running = (1 − momentum)·running + momentum·batch.</summary>
    public float Momentum { get; set; } = 0.1f;

    /// <summary>Whether the layer has a learnable weight and bias.</summary>
    public bool Affine { get; set; } = true;

    /// <summary>Whether running statistics are kept (and used in eval mode); without them eval mode uses the batch's.</summary>
    public bool TrackRunningStats { get; set; } = true;

}

/// <summary>
/// Declares a <see cref="Nn.BatchNorm1d"/> layer on a <c>partial</c> property: input (N, C) or (N, C, L) with
/// C = <see cref="BatchNormAttribute.NumFeatures"/>. Parameters <c>weight</c>, <c>bias</c>; buffers <c>running_mean</c>,
/// <c>running_var</c>, <c>num_batches_tracked</c>, as in PyTorch.
/// </summary>
[AttributeUsage(AttributeTargets.Property, Inherited = false)]
public sealed class BatchNorm1dAttribute(int numFeatures) : BatchNormAttribute(numFeatures);

/// <summary>Declares a <see cref="Nn.BatchNorm2d"/> layer on a <c>partial</c> property: input (N, C, H, W) with C = <see cref="BatchNormAttribute.NumFeatures"/>.</summary>
[AttributeUsage(AttributeTargets.Property, Inherited = false)]
public sealed class BatchNorm2dAttribute(int numFeatures) : BatchNormAttribute(numFeatures);

/// <summary>Declares a <see cref="Nn.LayerNorm"/> over the last dimension, of size <see cref="NormalizedShape"/>, on a <c>partial</c> property.</summary>
[AttributeUsage(AttributeTargets.Property, Inherited = false)]
public sealed class LayerNormAttribute : LayerAttribute
{
    public LayerNormAttribute(int normalizedShape) => NormalizedShape = normalizedShape;

    /// <summary>The size of the last dimension, which is normalised.</summary>
    public int NormalizedShape { get; }

    /// <summary>Added to the variance before its square root.</summary>
    public float Eps { get; set; } = 1e-5f;

    /// <summary>Whether the layer has a learnable per-element weight and bias.</summary>
    public bool ElementwiseAffine { get; set; } = true;

}

/// <summary>
/// Declares a <see cref="Nn.Dropout"/> layer on a <c>partial</c> property: in training mode each element is zeroed with
/// probability <see cref="P"/> and the rest scaled by 1/(1 − p); in eval mode the identity.
/// </summary>
[AttributeUsage(AttributeTargets.Property, Inherited = false)]
public sealed class DropoutAttribute : LayerAttribute
{
    public DropoutAttribute(float p = 0.5f) => P = p;

    /// <summary>The probability of zeroing an element.</summary>
    public float P { get; }

}

/// <summary>Named padding modes for <see cref="Conv2dAttribute.Padding"/>: <c>[Conv2d(16, 16, 3, Padding = Padding.Same)]</c>.</summary>
public static class Padding
{
    /// <summary>PyTorch's <c>padding='same'</c>: the output keeps the input's size (stride 1); an odd total goes mostly after.</summary>
    public const int Same = -1;

    /// <summary>PyTorch's <c>padding='valid'</c>: no padding.</summary>
    public const int Valid = 0;
}
