// What Adam and AdamW share: defaults, per-parameter state and the fused update; they differ only in how weight decay applies.
using GraphCompiler.Backends.Cpu;
using GraphCompiler.Nn;

namespace GraphCompiler.Optim;

/// <summary>
/// The Adam family over parameter groups (options lr, betas, eps, weight_decay, amsgrad), with PyTorch 1.13's
/// single-tensor update; see <see cref="AdamKernels"/> for the formulas.
/// </summary>
public abstract class AdamBase : Optimizer
{
    private readonly List<AdamState?[]> _state = [];
    private readonly bool _decoupled;

    private protected AdamBase(string name, bool decoupled, IEnumerable<ParamGroup> groups, double lr, (double Beta1, double Beta2) betas,
        double eps, double weightDecay, bool amsgrad)
        : base(name, OptimizerOption.Betas)
    {
        CheckDefaults(lr, weightDecay);
        ParamGroup.CheckNonNegative(eps, "eps");
        ParamGroup.CheckBetas(betas);
        _decoupled = decoupled;
        (DefaultLearningRate, Betas, Eps, WeightDecay, Amsgrad) = (lr, betas, eps, weightDecay, amsgrad);
        AddGroups(groups);
    }

    /// <summary>The default learning rate given to the constructor.</summary>
    public double DefaultLearningRate { get; }

    /// <summary>The default (beta1, beta2); groups may override them, and OneCycleLR cycles beta1.</summary>
    public (double Beta1, double Beta2) Betas { get; }

    public double Eps { get; }

    public double WeightDecay { get; }

    public bool Amsgrad { get; }

    /// <summary>A parameter's state, or null before its first update.</summary>
    public AdamState? State(Parameter parameter)
    {
        var (g, i) = Locate(parameter);
        return _state[g][i];
    }

    /// <summary>The state slot of the <paramref name="index"/>th parameter of group <paramref name="group"/> (null before its first update).</summary>
    internal AdamState? GetState(int group, int index) => _state[group][index];

    /// <summary>Installs a state (a checkpoint's), or clears it with null, as PyTorch's load_state_dict does.</summary>
    internal void SetState(int group, int index, AdamState? state) => _state[group][index] = state;

    private protected override void Adopt(ParamGroup group) =>
        group.Adopt(this, OptimizerOption.Betas, DefaultLearningRate, WeightDecay, betas: Betas, eps: Eps, amsgrad: Amsgrad);

    private protected override void OnGroupAdded(ParamGroup group) => _state.Add(new AdamState?[group.Parameters.Count]);

    private protected override void Update(int groupIndex, int index, ParamGroup group, Parameter parameter)
    {
        var state = _state[groupIndex][index] ??= new AdamState(parameter.Count);
        bool amsgrad = group.Amsgrad!.Value;
        if (amsgrad && state.MaxExpAvgSqBuffer.Length == 0) state.MaxExpAvgSqBuffer = new float[parameter.Count];
        state.Step++;
        var (beta1, beta2) = group.Betas!.Value;
        AdamKernels.Step(parameter.Data, parameter.Grad, state.ExpAvgBuffer, state.ExpAvgSqBuffer, amsgrad ? state.MaxExpAvgSqBuffer : [],
            state.Step, group.LearningRate, beta1, beta2, group.Eps!.Value, group.WeightDecay, _decoupled);
    }
}
