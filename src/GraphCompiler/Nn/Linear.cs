// A fully connected layer's parameters and configuration, as torch.nn.Linear holds them.
namespace GraphCompiler.Nn;

/// <summary>y = x·Wᵀ + b with W of shape (out_features, in_features), as <c>torch.nn.Linear</c>.</summary>
public sealed class Linear
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
    }

    public string Name { get; }
    public int InFeatures { get; }
    public int OutFeatures { get; }

    /// <summary>(out_features, in_features)</summary>
    public Parameter Weight { get; }

    /// <summary>(out_features), or null when declared with <c>Bias = false</c>.</summary>
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

    public override string ToString() => $"Linear(in_features={InFeatures}, out_features={OutFeatures}, bias={Bias is not null})";
}
