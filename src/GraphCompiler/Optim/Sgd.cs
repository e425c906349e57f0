// torch.optim.SGD over parameter groups: momentum buffers allocated once per parameter, frozen parameters skipped.
using GraphCompiler.Backends.Cpu;
using GraphCompiler.Nn;

namespace GraphCompiler.Optim;

/// <summary>
/// Stochastic gradient descent with PyTorch 1.13's semantics (momentum, dampening, Nesterov, weight decay), per
/// parameter group. The constructor's options are the defaults for groups that do not set their own.
/// </summary>
public sealed class Sgd : Optimizer
{
    // One momentum buffer per parameter, created on the parameter's first update with a non-zero momentum (as
    // PyTorch does: the first update copies the gradient in, later ones decay it), then reused for good.
    private readonly List<float[]?[]> _momentum = [];

    /// <summary>One group of <paramref name="parameters"/> with these options.</summary>
    public Sgd(IEnumerable<Parameter> parameters, double lr, double momentum = 0, double dampening = 0, double weightDecay = 0, bool nesterov = false)
        : this([new ParamGroup(parameters ?? throw new ArgumentNullException(nameof(parameters)))], lr, momentum, dampening, weightDecay, nesterov)
    {
    }

    /// <summary>Several groups; each option a group leaves unset takes the value given here.</summary>
    public Sgd(IEnumerable<ParamGroup> groups, double lr, double momentum = 0, double dampening = 0, double weightDecay = 0, bool nesterov = false)
        : base("SGD", OptimizerOption.Momentum)
    {
        CheckDefaults(lr, weightDecay);
        ParamGroup.CheckMomentum(momentum);
        ParamGroup.CheckDampening(dampening);
        if (nesterov && (momentum <= 0 || dampening != 0))
            throw new ArgumentException("Nesterov momentum requires a momentum and zero dampening (as in PyTorch).", nameof(nesterov));
        (DefaultLearningRate, Momentum, Dampening, WeightDecay, Nesterov) = (lr, momentum, dampening, weightDecay, nesterov);
        AddGroups(groups);
    }

    /// <summary>The default learning rate given to the constructor.</summary>
    public double DefaultLearningRate { get; }

    /// <summary>The default momentum (groups may override it).</summary>
    public double Momentum { get; }

    public double Dampening { get; }

    public double WeightDecay { get; }

    public bool Nesterov { get; }

    /// <summary>A read-only view of a parameter's momentum buffer; empty before its first update with momentum.</summary>
    public ReadOnlySpan<float> MomentumBuffer(Parameter parameter)
    {
        var (g, i) = Locate(parameter);
        return _momentum[g][i];
    }

    /// <summary>The momentum buffer slot of the <paramref name="index"/>th parameter of group <paramref name="group"/> (null before its first update).</summary>
    internal float[]? GetMomentumBuffer(int group, int index) => _momentum[group][index];

    /// <summary>Installs a momentum buffer (a checkpoint's), or clears it with null, as PyTorch's load_state_dict does.</summary>
    internal void SetMomentumBuffer(int group, int index, float[]? buffer) => _momentum[group][index] = buffer;

    private protected override void Adopt(ParamGroup group) =>
        group.Adopt(this, OptimizerOption.Momentum, DefaultLearningRate, WeightDecay, Momentum, Dampening, Nesterov);

    private protected override void OnGroupAdded(ParamGroup group) => _momentum.Add(new float[]?[group.Parameters.Count]);

    private protected override void Update(int groupIndex, int index, ParamGroup group, Parameter parameter)
    {
        double momentum = group.Momentum!.Value;
        float[]? buffer = null;
        bool first = false;
        if (momentum != 0)
        {
            buffer = _momentum[groupIndex][index];
            if (buffer is null)
            {
                buffer = _momentum[groupIndex][index] = new float[parameter.Count];
                first = true;
            }
        }
        SgdKernels.Step(parameter.Data, parameter.Grad, buffer, (float)group.LearningRate, (float)momentum, (float)group.Dampening!.Value,
            (float)group.WeightDecay, group.Nesterov!.Value, firstStep: first);
    }
}
