// torch.optim.lr_scheduler.StepLR: multiply the rate by gamma every step_size steps.
namespace GraphCompiler.Optim.Schedulers;

/// <summary>Decays each group's rate by <c>gamma</c> every <c>stepSize</c> steps: lr = base·gamma^⌊epoch/stepSize⌋.</summary>
public sealed class StepLR : LRScheduler
{
    public StepLR(Optimizer optimizer, int stepSize, double gamma = 0.1)
        : base(optimizer)
    {
        if (stepSize <= 0) throw new ArgumentOutOfRangeException(nameof(stepSize), stepSize, "step_size must be positive.");
        StepSize = stepSize;
        Gamma = gamma;
        InitialStep();
    }

    public int StepSize { get; }

    public double Gamma { get; }

    protected override double ChainedLr(int groupIndex, ParamGroup group, double baseLr) =>
        LastEpoch == 0 || LastEpoch % StepSize != 0 ? group.LearningRate : group.LearningRate * Gamma;

    protected override double? ClosedFormLr(int groupIndex, double baseLr) => baseLr * Math.Pow(Gamma, LastEpoch / StepSize);
}
