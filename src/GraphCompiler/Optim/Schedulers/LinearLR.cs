// torch.optim.lr_scheduler.LinearLR: scale the rate linearly from start_factor to end_factor over total_iters (warm-up or decay).
namespace GraphCompiler.Optim.Schedulers;

/// <summary>
/// Multiplies each group's base rate by a factor that moves linearly from <c>startFactor</c> to <c>endFactor</c>
/// over <c>totalIters</c> steps, then stays (PyTorch 1.13's chainable form).
/// </summary>
public sealed class LinearLR : LRScheduler
{
    public LinearLR(Optimizer optimizer, double startFactor = 1.0 / 3, double endFactor = 1.0, int totalIters = 5)
        : base(optimizer)
    {
        // PyTorch 1.13 accepts start_factor 0 and then divides by zero on the first step; later versions reject it.
        if (!(startFactor > 0 && startFactor <= 1))
            throw new ArgumentOutOfRangeException(nameof(startFactor), startFactor, "start_factor must be in (0, 1].");
        if (!(endFactor >= 0 && endFactor <= 1))
            throw new ArgumentOutOfRangeException(nameof(endFactor), endFactor, "end_factor must be in [0, 1].");
        if (totalIters <= 0) throw new ArgumentOutOfRangeException(nameof(totalIters), totalIters, "total_iters must be positive.");
        StartFactor = startFactor;
        EndFactor = endFactor;
        TotalIters = totalIters;
        InitialStep();
    }

    public double StartFactor { get; }

    public double EndFactor { get; }

    public int TotalIters { get; }

    protected override double ChainedLr(int groupIndex, ParamGroup group, double baseLr)
    {
        double lr = group.LearningRate;
        if (LastEpoch == 0) return lr * StartFactor;
        if (LastEpoch > TotalIters) return lr;
        return lr * (1.0 + (EndFactor - StartFactor) / (TotalIters * StartFactor + (LastEpoch - 1) * (EndFactor - StartFactor)));
    }

    protected override double? ClosedFormLr(int groupIndex, double baseLr) =>
        baseLr * (StartFactor + (EndFactor - StartFactor) * Math.Min(TotalIters, LastEpoch) / TotalIters);
}
