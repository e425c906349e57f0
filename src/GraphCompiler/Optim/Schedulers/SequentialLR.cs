// torch.optim.lr_scheduler.SequentialLR: run one schedule, then the next from each milestone on (e.g. linear warm-up, then cosine).
namespace GraphCompiler.Optim.Schedulers;

/// <summary>
/// Hands the optimizer from one scheduler to the next at each milestone, as PyTorch 1.13 does: on construction
/// every group's rate goes back to its <c>initial_lr</c> and only the first scheduler takes its initial step; at a
/// milestone the next scheduler restarts at epoch 0 through its closed form (PyTorch's <c>step(0)</c>).
/// </summary>
public sealed class SequentialLR : ILRScheduler
{
    private readonly LRScheduler[] _schedulers;
    private readonly int[] _milestones;
    private IReadOnlyList<double> _lastLrs;

    /// <param name="schedulers">Schedulers of <paramref name="optimizer"/>, already constructed, in the order they run.</param>
    /// <param name="milestones">Increasing step numbers at which the next scheduler takes over; one fewer than schedulers.</param>
    public SequentialLR(Optimizer optimizer, IReadOnlyList<LRScheduler> schedulers, IReadOnlyList<int> milestones)
    {
        Optimizer = optimizer ?? throw new ArgumentNullException(nameof(optimizer));
        ArgumentNullException.ThrowIfNull(schedulers);
        ArgumentNullException.ThrowIfNull(milestones);
        if (schedulers.Count == 0) throw new ArgumentException("SequentialLR needs at least one scheduler.", nameof(schedulers));
        for (int i = 0; i < schedulers.Count; i++)
            if (!ReferenceEquals(schedulers[i].Optimizer, optimizer))
                throw new ArgumentException($"Sequential schedulers must all belong to the same optimizer, but the scheduler at index {i} belongs to another.", nameof(schedulers));
        if (milestones.Count != schedulers.Count - 1)
            throw new ArgumentException($"SequentialLR needs one milestone fewer than schedulers, but got {schedulers.Count} schedulers and {milestones.Count} milestones.", nameof(milestones));
        for (int i = 0; i < milestones.Count; i++)
            if (milestones[i] <= 0 || (i > 0 && milestones[i] <= milestones[i - 1]))
                throw new ArgumentException($"Milestones must be positive and increasing, but got [{string.Join(", ", milestones)}].", nameof(milestones));
        _schedulers = schedulers.ToArray();
        _milestones = milestones.ToArray();
        LastEpoch = 0;
        foreach (var g in optimizer.ParamGroups) g.SetScheduledLearningRate(g.InitialLearningRate!.Value);
        foreach (var s in _schedulers) s.RewindForSequential();
        _schedulers[0].RestartForSequential();
        _lastLrs = _schedulers[0].LastLearningRates.ToArray();
    }

    public Optimizer Optimizer { get; }

    public int LastEpoch { get; private set; }

    public IReadOnlyList<LRScheduler> Schedulers => _schedulers;

    public IReadOnlyList<int> Milestones => _milestones;

    public IReadOnlyList<double> LastLearningRates => _lastLrs;

    /// <summary>
    /// <c>last_epoch</c>, <c>_last_lr</c> and each child's state under <c>_schedulers.&lt;i&gt;.</c>, as PyTorch's
    /// SequentialLR state_dict nests them.
    /// </summary>
    public IReadOnlyDictionary<string, double[]> GetState()
    {
        var state = new Dictionary<string, double[]> { ["last_epoch"] = [LastEpoch], ["_last_lr"] = _lastLrs.ToArray() };
        for (int i = 0; i < _schedulers.Length; i++)
            foreach (var (k, v) in _schedulers[i].GetState()) state[$"_schedulers.{i}.{k}"] = v;
        return state;
    }

    /// <summary>Throws an <see cref="ArgumentException"/> naming the entry unless <paramref name="state"/> fits.</summary>
    public void CheckState(IReadOnlyDictionary<string, double[]> state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (!state.TryGetValue("last_epoch", out var e) || e.Length != 1 || e[0] != Math.Floor(e[0]) || e[0] < 0 || e[0] > int.MaxValue)
            throw new ArgumentException("SequentialLR state needs a 'last_epoch' entry holding one non-negative integer.", nameof(state));
        if (!state.TryGetValue("_last_lr", out var l) || l.Length != Optimizer.ParamGroups.Count)
            throw new ArgumentException($"SequentialLR state needs a '_last_lr' entry with {Optimizer.ParamGroups.Count} values.", nameof(state));
        foreach (double lr in l)
            if (!(lr >= 0) || double.IsPositiveInfinity(lr))
                throw new ArgumentException($"SequentialLR state '_last_lr' holds {lr}, not a finite non-negative learning rate.", nameof(state));
        var children = Children(state);
        for (int i = 0; i < _schedulers.Length; i++) _schedulers[i].CheckState(children[i]);
        var unexpected = state.Keys.Where(k => k is not ("last_epoch" or "_last_lr") && !IsChildKey(k)).ToList();
        if (unexpected.Count > 0)
            throw new ArgumentException($"SequentialLR state has unexpected entries: {string.Join(", ", unexpected)}.", nameof(state));
    }

    /// <summary>Restores <see cref="GetState"/>'s values (checked first).</summary>
    public void SetState(IReadOnlyDictionary<string, double[]> state)
    {
        CheckState(state);
        var children = Children(state);
        for (int i = 0; i < _schedulers.Length; i++) _schedulers[i].SetState(children[i]);
        LastEpoch = (int)state["last_epoch"][0];
        _lastLrs = state["_last_lr"].ToArray();
    }

    private Dictionary<string, double[]>[] Children(IReadOnlyDictionary<string, double[]> state)
    {
        var children = new Dictionary<string, double[]>[_schedulers.Length];
        for (int i = 0; i < children.Length; i++)
        {
            string prefix = $"_schedulers.{i}.";
            children[i] = state.Where(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal))
                .ToDictionary(kv => kv.Key[prefix.Length..], kv => kv.Value);
        }
        return children;
    }

    private bool IsChildKey(string key)
    {
        for (int i = 0; i < _schedulers.Length; i++)
            if (key.StartsWith($"_schedulers.{i}.", StringComparison.Ordinal)) return true;
        return false;
    }

    public void Step()
    {
        LastEpoch++;
        int idx = 0; // bisect_right(milestones, epoch)
        while (idx < _milestones.Length && _milestones[idx] <= LastEpoch) idx++;
        var scheduler = _schedulers[idx];
        if (idx > 0 && _milestones[idx - 1] == LastEpoch) scheduler.StepTo(0);
        else scheduler.Step();
        _lastLrs = scheduler.LastLearningRates;
    }
}
