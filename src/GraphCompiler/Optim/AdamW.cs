// torch.optim.AdamW: weight decay shrinks the parameter directly (p *= 1 − lr·wd), decoupled from the moment estimates.
using GraphCompiler.Nn;

namespace GraphCompiler.Optim;

/// <summary>
/// AdamW (Loshchilov and Hutter) with PyTorch 1.13's semantics and defaults (lr 1e-3, betas (0.9, 0.999), eps 1e-8,
/// weight_decay 1e-2): <c>p *= 1 − lr·weight_decay</c>, then Adam's update without decay in the gradient.
/// </summary>
public sealed class AdamW : AdamBase
{
    /// <summary>One group of <paramref name="parameters"/> with these options.</summary>
    public AdamW(IEnumerable<Parameter> parameters, double lr = 1e-3, (double Beta1, double Beta2)? betas = null, double eps = 1e-8,
        double weightDecay = 1e-2, bool amsgrad = false)
        : this([new ParamGroup(parameters ?? throw new ArgumentNullException(nameof(parameters)))], lr, betas, eps, weightDecay, amsgrad)
    {
    }

    /// <summary>Several groups; each option a group leaves unset takes the value given here.</summary>
    public AdamW(IEnumerable<ParamGroup> groups, double lr = 1e-3, (double Beta1, double Beta2)? betas = null, double eps = 1e-8,
        double weightDecay = 1e-2, bool amsgrad = false)
        : base("AdamW", decoupled: true, groups, lr, betas ?? (0.9, 0.999), eps, weightDecay, amsgrad)
    {
    }
}
