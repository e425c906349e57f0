// A fully connected layer's parameters and configuration, as torch.nn.Linear holds them.
namespace GraphCompiler.Nn;

/// <summary>y = x·Wᵀ + b with W of shape (out_features, in_features), as <c>torch.nn.Linear</c>.</summary>
public sealed class Linear : Module
{
    public Linear(string name, int inFeatures, int outFeatures, bool bias, Rng rng)
    {
        Name = name;
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        Weight = new Parameter(name + ".weight", [outFeatures, inFeatures]);
        Init.KaimingUniform(Weight.Data, inFeatures, rng);
        if (bias)
        {
            Bias = new Parameter(name + ".bias", [outFeatures]);
            Init.BiasUniform(Bias.Data, inFeatures, rng);
        }
        Register(Weight, Bias);
    }

    public override string Name { get; }
    public int InFeatures { get; }
    public int OutFeatures { get; }

    /// <summary>(out_features, in_features)</summary>
    public Parameter Weight { get; }

    /// <summary>(out_features), or null when declared with <c>Bias = false</c>.</summary>
    public Parameter? Bias { get; }

    public override string ToString() => $"Linear(in_features={InFeatures}, out_features={OutFeatures}, bias={Bias is not null})";
}
