// torch.optim.Adam: weight decay is L2 regularisation added to the gradient before the moment estimates.
using GraphCompiler.Nn;

namespace GraphCompiler.Optim;

/// <summary>
/// Adam (Kingma and Ba) with PyTorch 1.13's semantics and defaults (lr 1e-3, betas (0.9, 0.999), eps 1e-8):
/// <c>g += weight_decay·p</c>, then the bias-corrected moment update; AMSGrad optional.
/// </summary>
public sealed class Adam : AdamBase
{
    /// <summary>One group of <paramref name="parameters"/> with these options.</summary>
    public Adam(IEnumerable<Parameter> parameters, double lr = 1e-3, (double Beta1, double Beta2)? betas = null, double eps = 1e-8,
        double weightDecay = 0, bool amsgrad = false)
        : this([new ParamGroup(parameters ?? throw new ArgumentNullException(nameof(parameters)))], lr, betas, eps, weightDecay, amsgrad)
    {
    }

    /// <summary>Several groups; each option a group leaves unset takes the value given here.</summary>
    public Adam(IEnumerable<ParamGroup> groups, double lr = 1e-3, (double Beta1, double Beta2)? betas = null, double eps = 1e-8,
        double weightDecay = 0, bool amsgrad = false)
        : base("Adam", decoupled: false, groups, lr, betas ?? (0.9, 0.999), eps, weightDecay, amsgrad)
    {
    }
}
