// A 2-D convolution layer's parameters and configuration, as torch.nn.Conv2d holds them.
namespace GraphCompiler.Nn;

/// <summary>2-D cross-correlation over NCHW input, weight of shape (out, in, k, k), as <c>torch.nn.Conv2d</c>.</summary>
public sealed class Conv2d
{
    public Conv2d(string name, int inChannels, int outChannels, int kernel, int stride, int padding, bool bias, Rng rng)
    {
        Name = name;
        InChannels = inChannels;
        OutChannels = outChannels;
        KernelSize = kernel;
        Stride = stride;
        Padding = padding;
        int fanIn = inChannels * kernel * kernel;
        Weight = new Parameter(name + ".weight", [outChannels, inChannels, kernel, kernel]);
        Init.KaimingUniform(Weight.Data, fanIn, rng);
        if (bias)
        {
            Bias = new Parameter(name + ".bias", [outChannels]);
            Init.BiasUniform(Bias.Data, fanIn, rng);
        }
    }

    public string Name { get; }
    public int InChannels { get; }
    public int OutChannels { get; }
    public int KernelSize { get; }
    public int Stride { get; }
    public int Padding { get; }

    /// <summary>(out_channels, in_channels, k, k)</summary>
    public Parameter Weight { get; }

    /// <summary>(out_channels), or null when declared with <c>Bias = false</c>.</summary>
    public Parameter? Bias { get; }

    /// <summary>Whether any parameter still learns; the generated Backward skips a layer's gradient work when not.</summary>
    public bool Trainable => Weight.RequiresGrad || (Bias?.RequiresGrad ?? false);

    /// <summary>Sets <see cref="Parameter.RequiresGrad"/> on every parameter (PyTorch's <c>requires_grad_</c>).</summary>
    public void RequiresGrad(bool requiresGrad)
    {
        foreach (Parameter p in Parameters()) p.RequiresGrad = requiresGrad;
    }

    public IEnumerable<Parameter> Parameters()
    {
        yield return Weight;
        if (Bias is not null) yield return Bias;
    }

    public override string ToString() =>
        $"Conv2d({InChannels}, {OutChannels}, kernel_size=({KernelSize}, {KernelSize}), stride=({Stride}, {Stride}), padding=({Padding}, {Padding}))";
}
