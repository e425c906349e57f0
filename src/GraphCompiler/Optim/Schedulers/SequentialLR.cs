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
