// torch.optim.lr_scheduler.OneCycleLR: warm up to max_lr then anneal far below the start, cycling momentum (or Adam's beta1) inversely.
namespace GraphCompiler.Optim.Schedulers;

/// <summary>How OneCycleLR moves between two values within a phase.</summary>
public enum AnnealStrategy
{
    /// <summary>Half a cosine: <c>end + (start − end)/2 · (1 + cos(π·pct))</c>.</summary>
    Cos,

    /// <summary>A straight line: <c>(end − start)·pct + start</c>.</summary>
    Linear,
}

/// <summary>
/// The 1cycle policy (Smith and Topin) as PyTorch 1.13 implements it. Each group starts at
/// <c>max_lr / divFactor</c> (its <c>initial_lr</c>), rises to <c>max_lr</c> over the first <c>pctStart</c> of
/// <c>totalSteps</c>, then falls to <c>initial_lr / finalDivFactor</c>; with <c>threePhase</c> it first returns to
/// <c>initial_lr</c> symmetrically. With <c>cycleMomentum</c> SGD's momentum (Adam's beta1) moves the other way,
/// between <c>maxMomentum</c> and <c>baseMomentum</c>. The schedule is evaluated from the step number, not
/// chained; stepping more than <c>totalSteps</c> times is an error, as in PyTorch.
/// </summary>
public sealed class OneCycleLR : LRScheduler
{
    private readonly Phase[] _phases;
    private readonly double[] _initialLrs, _maxLrs, _minLrs;
    private readonly bool _useBeta1;

    /// <summary>One <paramref name="maxLr"/> for every group.</summary>
    public OneCycleLR(Optimizer optimizer, double maxLr, int totalSteps, double pctStart = 0.3, AnnealStrategy annealStrategy = AnnealStrategy.Cos,
        bool cycleMomentum = true, double baseMomentum = 0.85, double maxMomentum = 0.95, double divFactor = 25, double finalDivFactor = 1e4,
        bool threePhase = false)
        : this(optimizer, Repeat(optimizer, maxLr), totalSteps, pctStart, annealStrategy, cycleMomentum, baseMomentum, maxMomentum, divFactor,
            finalDivFactor, threePhase)
    {
    }

    /// <summary>One max_lr per parameter group.</summary>
    public OneCycleLR(Optimizer optimizer, IReadOnlyList<double> maxLr, int totalSteps, double pctStart = 0.3, AnnealStrategy annealStrategy = AnnealStrategy.Cos,
        bool cycleMomentum = true, double baseMomentum = 0.85, double maxMomentum = 0.95, double divFactor = 25, double finalDivFactor = 1e4,
        bool threePhase = false)
        : base(Prepare(optimizer, maxLr, totalSteps, pctStart, divFactor, finalDivFactor, cycleMomentum))
    {
        TotalSteps = totalSteps;
        Strategy = annealStrategy;
        CycleMomentum = cycleMomentum;
        BaseMomentum = baseMomentum;
        MaxMomentum = maxMomentum;
        var groups = optimizer.ParamGroups;
        _maxLrs = maxLr.ToArray();
        _initialLrs = groups.Select(g => g.InitialLearningRate!.Value).ToArray();
        _minLrs = _initialLrs.Select(lr => lr / finalDivFactor).ToArray();
        _phases = threePhase
            ?
            [
                new(pctStart * totalSteps - 1, Level.Initial, Level.Max, Level.MaxMomentum, Level.BaseMomentum),
                new(2 * pctStart * totalSteps - 2, Level.Max, Level.Initial, Level.BaseMomentum, Level.MaxMomentum),
                new(totalSteps - 1, Level.Initial, Level.Min, Level.MaxMomentum, Level.MaxMomentum),
            ]
            :
            [
                new(pctStart * totalSteps - 1, Level.Initial, Level.Max, Level.MaxMomentum, Level.BaseMomentum),
                new(totalSteps - 1, Level.Max, Level.Min, Level.BaseMomentum, Level.MaxMomentum),
            ];
        if (cycleMomentum)
        {
            _useBeta1 = (optimizer.Options & OptimizerOption.Betas) != 0;
            foreach (var g in groups) SetMomentum(g, maxMomentum);
        }
        InitialStep();
    }

    public int TotalSteps { get; }

    public AnnealStrategy Strategy { get; }

    public bool CycleMomentum { get; }

    public double BaseMomentum { get; }

    public double MaxMomentum { get; }

    protected override double ChainedLr(int groupIndex, ParamGroup group, double baseLr)
    {
        int stepNum = LastEpoch;
        if (stepNum > TotalSteps)
            throw new InvalidOperationException($"Tried to step {stepNum + 1} times. The specified number of total steps is {TotalSteps}.");
        double startStep = 0;
        for (int i = 0; i < _phases.Length; i++)
        {
            var phase = _phases[i];
            if (stepNum <= phase.EndStep || i == _phases.Length - 1)
            {
                double pct = (stepNum - startStep) / (phase.EndStep - startStep);
                if (CycleMomentum)
                    SetMomentum(group, Anneal(Value(phase.StartMomentum, groupIndex), Value(phase.EndMomentum, groupIndex), pct));
                return Anneal(Value(phase.StartLr, groupIndex), Value(phase.EndLr, groupIndex), pct);
            }
            startStep = phase.EndStep;
        }
        throw new InvalidOperationException("unreachable: the last phase always matches");
    }

    private double Anneal(double start, double end, double pct) => Strategy == AnnealStrategy.Cos
        ? end + (start - end) / 2.0 * (Math.Cos(Math.PI * pct) + 1)
        : (end - start) * pct + start;

    private double Value(Level level, int group) => level switch
    {
        Level.Initial => _initialLrs[group],
        Level.Max => _maxLrs[group],
        Level.Min => _minLrs[group],
        Level.MaxMomentum => MaxMomentum,
        _ => BaseMomentum,
    };

    private void SetMomentum(ParamGroup group, double momentum)
    {
        if (_useBeta1) group.Betas = (momentum, group.Betas!.Value.Beta2);
        else group.Momentum = momentum;
    }

    private static double[] Repeat(Optimizer optimizer, double maxLr)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        return Enumerable.Repeat(maxLr, optimizer.ParamGroups.Count).ToArray();
    }

    // Runs before the base constructor, as PyTorch sets initial_lr before _LRScheduler.__init__ reads it.
    private static Optimizer Prepare(Optimizer optimizer, IReadOnlyList<double> maxLr, int totalSteps, double pctStart, double divFactor,
        double finalDivFactor, bool cycleMomentum)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        ArgumentNullException.ThrowIfNull(maxLr);
        if (totalSteps <= 0) throw new ArgumentOutOfRangeException(nameof(totalSteps), totalSteps, "total_steps must be positive.");
        if (!(pctStart >= 0 && pctStart <= 1)) throw new ArgumentOutOfRangeException(nameof(pctStart), pctStart, "pct_start must be in [0, 1].");
        if (maxLr.Count != optimizer.ParamGroups.Count)
            throw new ArgumentException($"Expected {optimizer.ParamGroups.Count} values for max_lr (one per parameter group), got {maxLr.Count}.", nameof(maxLr));
        if (!(divFactor > 0)) throw new ArgumentOutOfRangeException(nameof(divFactor), divFactor, "div_factor must be positive.");
        if (!(finalDivFactor > 0)) throw new ArgumentOutOfRangeException(nameof(finalDivFactor), finalDivFactor, "final_div_factor must be positive.");
        if (cycleMomentum && (optimizer.Options & (OptimizerOption.Momentum | OptimizerOption.Betas)) == 0)
            throw new ArgumentException($"{optimizer.Name} has no momentum or betas to cycle; pass cycleMomentum: false.", nameof(cycleMomentum));
        for (int i = 0; i < maxLr.Count; i++) optimizer.ParamGroups[i].InitialLearningRate = maxLr[i] / divFactor;
        return optimizer;
    }

    private enum Level { Initial, Max, Min, MaxMomentum, BaseMomentum }

    private readonly record struct Phase(double EndStep, Level StartLr, Level EndLr, Level StartMomentum, Level EndMomentum);
}
