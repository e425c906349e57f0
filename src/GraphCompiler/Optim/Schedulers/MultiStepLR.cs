// torch.optim.lr_scheduler.MultiStepLR: multiply the rate by gamma at each milestone (a repeated milestone counts twice).
namespace GraphCompiler.Optim.Schedulers;

/// <summary>Decays each group's rate by <c>gamma</c> once per occurrence of the epoch among the milestones.</summary>
public sealed class MultiStepLR : LRScheduler
{
    private readonly int[] _milestones; // sorted, repeats kept: PyTorch counts them (a Counter)

    public MultiStepLR(Optimizer optimizer, IEnumerable<int> milestones, double gamma = 0.1)
        : base(optimizer)
    {
        ArgumentNullException.ThrowIfNull(milestones);
        _milestones = milestones.Order().ToArray();
        Gamma = gamma;
        InitialStep();
    }

    public IReadOnlyList<int> Milestones => _milestones;

    public double Gamma { get; }

    protected override double ChainedLr(int groupIndex, ParamGroup group, double baseLr)
    {
        int hits = 0;
        foreach (int m in _milestones) hits += m == LastEpoch ? 1 : 0;
        return hits == 0 ? group.LearningRate : group.LearningRate * Math.Pow(Gamma, hits);
    }

    protected override double? ClosedFormLr(int groupIndex, double baseLr)
    {
        int passed = 0; // bisect_right(sorted milestones, epoch)
        foreach (int m in _milestones) passed += m <= LastEpoch ? 1 : 0;
        return baseLr * Math.Pow(Gamma, passed);
    }
}
