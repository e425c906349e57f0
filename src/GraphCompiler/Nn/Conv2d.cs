// A 2-D convolution layer's parameters and configuration, as torch.nn.Conv2d holds them.
using GraphCompiler.Compiler;
namespace GraphCompiler.Nn;

/// <summary>
/// 2-D cross-correlation over NCHW input, weight of shape (out, in / groups, k, k), as <c>torch.nn.Conv2d</c>. A padding of
/// <see cref="GraphCompiler.Padding.Same"/> is PyTorch's <c>padding='same'</c>.
/// </summary>
public sealed class Conv2d : Module
{
    public Conv2d(string name, int inChannels, int outChannels, int kernel, int stride, int padding, int dilation, int groups, bool bias, Rng rng)
    {
        if (groups <= 0 || inChannels % groups != 0 || outChannels % groups != 0)
            throw new ArgumentException($"Conv2d '{name}': groups = {groups} must divide both {inChannels} input and {outChannels} output channels.", nameof(groups));
        Name = name;
        InChannels = inChannels;
        OutChannels = outChannels;
        KernelSize = kernel;
        Stride = stride;
        Padding = padding;
        Dilation = dilation;
        Groups = groups;
        int fanIn = inChannels / groups * kernel * kernel;
        Weight = new Parameter(name + ".weight", [outChannels, inChannels / groups, kernel, kernel]);
        Init.KaimingUniform(Weight.Data, fanIn, rng);
        if (bias)
        {
            Bias = new Parameter(name + ".bias", [outChannels]);
            Init.BiasUniform(Bias.Data, fanIn, rng);
        }
        Register(Weight, Bias);
    }

    public override string Name { get; }
    public int InChannels { get; }
    public int OutChannels { get; }
    public int KernelSize { get; }
    public int Stride { get; }

    /// <summary>Zeros on every side, or <see cref="GraphCompiler.Padding.Same"/>.</summary>
    public int Padding { get; }

    public int Dilation { get; }
    public int Groups { get; }

    /// <summary>(out_channels, in_channels / groups, k, k)</summary>
    public Parameter Weight { get; }

    /// <summary>(out_channels), or null when declared with <c>Bias = false</c>.</summary>
    public Parameter? Bias { get; }

    public override string ToString() =>
        $"Conv2d({InChannels}, {OutChannels}, kernel_size=({KernelSize}, {KernelSize}), stride=({Stride}, {Stride}), " +
        (Padding == GraphCompiler.Padding.Same ? "padding=same" : $"padding=({Padding}, {Padding})") +
        (Dilation != 1 ? $", dilation=({Dilation}, {Dilation})" : "") + (Groups != 1 ? $", groups={Groups}" : "") + (Bias is null ? ", bias=False" : "") + ")";
}
