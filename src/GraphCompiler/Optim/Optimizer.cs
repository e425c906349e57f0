// The base of every optimizer: parameter groups with their options, zero_grad, and the checks PyTorch makes on them.
using GraphCompiler.Nn;

namespace GraphCompiler.Optim;

/// <summary>
/// What SGD, Adam and AdamW share, as <c>torch.optim.Optimizer</c>: an ordered list of <see cref="ParamGroup"/>s
/// (each parameter in at most one), <see cref="ZeroGrad"/>, and a <see cref="Step"/> that skips frozen parameters
/// (<see cref="Parameter.RequiresGrad"/> false; PyTorch skips parameters whose grad is None).
/// </summary>
public abstract class Optimizer : IOptimizer
{
    private readonly List<ParamGroup> _groups = [];
    private readonly Dictionary<Parameter, (int Group, int Index)> _all = new(ReferenceEqualityComparer.Instance);

    private protected Optimizer(string name, OptimizerOption options)
    {
        Name = name;
        Options = options;
    }

    /// <summary>The optimizer's name as PyTorch spells its class (for messages).</summary>
    public string Name { get; }

    /// <summary>Which option families this optimizer's groups carry (momentum for SGD, betas for Adam).</summary>
    public OptimizerOption Options { get; }

    /// <summary>PyTorch's <c>param_groups</c>, in the order given.</summary>
    public IReadOnlyList<ParamGroup> ParamGroups => _groups;

    /// <summary>Every parameter of every group, in group order.</summary>
    public IEnumerable<Parameter> Parameters => _groups.SelectMany(g => g.Parameters);

    /// <summary>
    /// The first group's learning rate; setting it sets every group's (the single-group case most code has).
    /// </summary>
    public float LearningRate
    {
        get => (float)_groups[0].LearningRate;
        set
        {
            ParamGroup.CheckLr(value);
            foreach (var g in _groups) g.LearningRate = value;
        }
    }

    /// <summary>Adds a group (PyTorch's <c>add_param_group</c>), e.g. layers unfrozen later in fine-tuning.</summary>
    public void AddParamGroup(ParamGroup group)
    {
        ArgumentNullException.ThrowIfNull(group);
        foreach (var p in group.Parameters)
            if (_all.ContainsKey(p))
                throw new ArgumentException($"Parameter '{p.Name}' appears in more than one parameter group.", nameof(group));
        if (group.Parameters.Distinct(ReferenceEqualityComparer.Instance).Count() != group.Parameters.Count)
            throw new ArgumentException("A parameter group lists the same parameter twice.", nameof(group));
        Adopt(group);
        for (int i = 0; i < group.Parameters.Count; i++) _all.Add(group.Parameters[i], (_groups.Count, i));
        _groups.Add(group);
        OnGroupAdded(group);
    }

    /// <summary>Updates every trainable parameter from its accumulated gradient.</summary>
    public void Step()
    {
        for (int g = 0; g < _groups.Count; g++)
        {
            var group = _groups[g];
            var ps = group.Parameters;
            for (int i = 0; i < ps.Count; i++)
                if (ps[i].RequiresGrad) Update(g, i, group, ps[i]);
        }
    }

    /// <summary>Clears every parameter's gradient, as <c>optimizer.zero_grad()</c> does before the next backward.</summary>
    public void ZeroGrad()
    {
        // Indexed loops: a foreach over IReadOnlyList boxes its enumerator, and a training step must allocate nothing.
        for (int g = 0; g < _groups.Count; g++)
        {
            var ps = _groups[g].Parameters;
            for (int i = 0; i < ps.Count; i++) ps[i].ZeroGrad();
        }
    }

    /// <summary>Where a parameter sits (group, index in group), for state look-ups; throws if it is not optimized here.</summary>
    private protected (int Group, int Index) Locate(Parameter parameter)
    {
        ArgumentNullException.ThrowIfNull(parameter);
        return _all.TryGetValue(parameter, out var at)
            ? at
            : throw new ArgumentException($"Parameter '{parameter.Name}' is not optimized by this {Name}.", nameof(parameter));
    }

    /// <summary>Constructors call this with the caller's groups, after their defaults are set.</summary>
    private protected void AddGroups(IEnumerable<ParamGroup> groups)
    {
        ArgumentNullException.ThrowIfNull(groups);
        foreach (var g in groups) AddParamGroup(g ?? throw new ArgumentException("A parameter group is null.", nameof(groups)));
        if (_all.Count == 0) throw new ArgumentException($"{Name} got an empty parameter list.", nameof(groups));
    }

    /// <summary>Fills the group's unset options with this optimizer's defaults and rejects options it does not have.</summary>
    private protected abstract void Adopt(ParamGroup group);

    /// <summary>Allocates per-parameter state slots for a new group (the buffers themselves come on first update).</summary>
    private protected abstract void OnGroupAdded(ParamGroup group);

    /// <summary>One update of one trainable parameter, the <paramref name="index"/>th of group <paramref name="groupIndex"/>.</summary>
    private protected abstract void Update(int groupIndex, int index, ParamGroup group, Parameter parameter);

    private protected static void CheckDefaults(double lr, double weightDecay)
    {
        ParamGroup.CheckLr(lr);
        ParamGroup.CheckNonNegative(weightDecay, "weight_decay");
    }
}
