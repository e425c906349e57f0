// The base of the single learning-rate schedules, mirroring PyTorch 1.13's _LRScheduler step for step.
namespace GraphCompiler.Optim.Schedulers;

/// <summary>
/// PyTorch's <c>_LRScheduler</c>: records each group's <c>initial_lr</c> (first scheduler wins), then takes an
/// initial step (epoch 0) on construction, so the optimizer already runs at the schedule's first rate. Each
/// <see cref="Step"/> increments <see cref="LastEpoch"/> and sets every group's rate from the chainable
/// (recursive) formula, which reads back the group's current rate, exactly as PyTorch 1.13 does — so numbers
/// match <c>get_last_lr()</c> to the last bits and schedulers compose as they do there.
/// </summary>
public abstract class LRScheduler : ILRScheduler
{
    private readonly double[] _baseLrs;
    private readonly double[] _lastLrs;

    /// <summary>Derived constructors set their fields, then call <see cref="InitialStep"/> as their last statement.</summary>
    protected LRScheduler(Optimizer optimizer)
    {
        Optimizer = optimizer ?? throw new ArgumentNullException(nameof(optimizer));
        foreach (var g in optimizer.ParamGroups) g.InitialLearningRate ??= g.LearningRate;
        _baseLrs = optimizer.ParamGroups.Select(g => g.InitialLearningRate!.Value).ToArray();
        _lastLrs = new double[_baseLrs.Length];
        LastEpoch = -1;
    }

    public Optimizer Optimizer { get; }

    /// <summary>PyTorch's <c>last_epoch</c>: the number of steps taken, 0 right after construction.</summary>
    public int LastEpoch { get; private set; }

    /// <summary>Each group's <c>initial_lr</c> when the scheduler was created (PyTorch's <c>base_lrs</c>).</summary>
    public IReadOnlyList<double> BaseLearningRates => _baseLrs;

    public IReadOnlyList<double> LastLearningRates => _lastLrs;

    /// <summary>Steps taken including the initial one (PyTorch's <c>_step_count</c>); CosineAnnealingLR's formula reads it.</summary>
    protected int StepCount { get; private set; }

    public void Step()
    {
        StepCount++;
        LastEpoch++;
        Apply(closedForm: false);
    }

    /// <summary>The group's next rate from its current one, at <see cref="LastEpoch"/> (PyTorch's <c>get_lr</c>).</summary>
    protected abstract double ChainedLr(int groupIndex, ParamGroup group, double baseLr);

    /// <summary>The rate at <see cref="LastEpoch"/> from the base rate alone, if the schedule has one (PyTorch's <c>_get_closed_form_lr</c>).</summary>
    protected virtual double? ClosedFormLr(int groupIndex, double baseLr) => null;

    /// <summary>PyTorch's <c>_initial_step</c>: resets the step count and takes the epoch-0 step.</summary>
    protected void InitialStep()
    {
        StepCount = 0;
        Step();
    }

    /// <summary>PyTorch's deprecated <c>step(epoch)</c>, which SequentialLR uses at milestones: the closed form where there is one.</summary>
    internal void StepTo(int epoch)
    {
        StepCount++;
        LastEpoch = epoch;
        Apply(closedForm: true);
    }

    /// <summary>SequentialLR "undoes" each child's construction step before restarting the first one.</summary>
    internal void RewindForSequential() => LastEpoch--;

    internal void RestartForSequential() => InitialStep();

    /// <summary>
    /// The scheduler's resumable state, as PyTorch's <c>state_dict()</c> keeps it: <c>last_epoch</c>,
    /// <c>_step_count</c>, <c>base_lrs</c> and <c>_last_lr</c> (integers as exact doubles). Everything else a
    /// schedule uses comes from its constructor's arguments, and the groups' rates (and cycled momenta) live in the
    /// optimizer's own state.
    /// </summary>
    public IReadOnlyDictionary<string, double[]> GetState() => new Dictionary<string, double[]>
    {
        ["last_epoch"] = [LastEpoch],
        ["_step_count"] = [StepCount],
        ["base_lrs"] = (double[])_baseLrs.Clone(),
        ["_last_lr"] = (double[])_lastLrs.Clone(),
    };

    /// <summary>Throws an <see cref="ArgumentException"/> naming the entry unless <paramref name="state"/> fits this scheduler.</summary>
    public void CheckState(IReadOnlyDictionary<string, double[]> state)
    {
        ArgumentNullException.ThrowIfNull(state);
        foreach (var (key, length) in new[] { ("last_epoch", 1), ("_step_count", 1), ("base_lrs", _baseLrs.Length), ("_last_lr", _lastLrs.Length) })
        {
            if (!state.TryGetValue(key, out var v))
                throw new ArgumentException($"{GetType().Name} state has no '{key}' entry.", nameof(state));
            if (v.Length != length)
                throw new ArgumentException($"{GetType().Name} state '{key}' has {v.Length} values, expected {length} (one per parameter group for the rates).", nameof(state));
        }
        foreach (var key in new[] { "last_epoch", "_step_count" })
        {
            double v = state[key][0];
            if (v != Math.Floor(v) || v < -1 || v > int.MaxValue)
                throw new ArgumentException($"{GetType().Name} state '{key}' = {v} is not a step count.", nameof(state));
        }
        foreach (var key in new[] { "base_lrs", "_last_lr" })
            foreach (double lr in state[key])
                if (!(lr >= 0) || double.IsPositiveInfinity(lr))
                    throw new ArgumentException($"{GetType().Name} state '{key}' holds {lr}, not a finite non-negative learning rate.", nameof(state));
        var unexpected = state.Keys.Where(k => k is not ("last_epoch" or "_step_count" or "base_lrs" or "_last_lr")).ToList();
        if (unexpected.Count > 0)
            throw new ArgumentException($"{GetType().Name} state has unexpected entries: {string.Join(", ", unexpected)}.", nameof(state));
    }

    /// <summary>Restores <see cref="GetState"/>'s values (after <see cref="CheckState"/>); the groups' rates are the optimizer's to restore.</summary>
    public void SetState(IReadOnlyDictionary<string, double[]> state)
    {
        CheckState(state);
        LastEpoch = (int)state["last_epoch"][0];
        StepCount = (int)state["_step_count"][0];
        state["base_lrs"].CopyTo(_baseLrs, 0);
        state["_last_lr"].CopyTo(_lastLrs, 0);
    }

    private void Apply(bool closedForm)
    {
        var groups = Optimizer.ParamGroups;
        if (groups.Count != _baseLrs.Length)
            throw new InvalidOperationException($"The optimizer had {_baseLrs.Length} parameter groups when the scheduler was created and has {groups.Count} now; create the scheduler after adding groups.");
        // PyTorch computes every group's value before assigning any; each group's value depends only on that group.
        Span<double> next = _lastLrs;
        for (int i = 0; i < groups.Count; i++)
            next[i] = (closedForm ? ClosedFormLr(i, _baseLrs[i]) : null) ?? ChainedLr(i, groups[i], _baseLrs[i]);
        for (int i = 0; i < groups.Count; i++) groups[i].SetScheduledLearningRate(next[i]);
    }
}
