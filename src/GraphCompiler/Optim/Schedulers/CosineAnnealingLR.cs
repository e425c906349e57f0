// torch.optim.lr_scheduler.CosineAnnealingLR in its chainable form, which past T_max climbs back up as PyTorch's does.
namespace GraphCompiler.Optim.Schedulers;

/// <summary>
/// Cosine annealing from each group's rate to <c>etaMin</c> over <c>tMax</c> steps, via PyTorch 1.13's recursive
/// formula (not the closed form): the two agree in exact arithmetic, but only the recursive one reproduces
/// PyTorch's values bit for bit and its behaviour when another scheduler also changes the rate.
/// </summary>
public sealed class CosineAnnealingLR : LRScheduler
{
    public CosineAnnealingLR(Optimizer optimizer, int tMax, double etaMin = 0)
        : base(optimizer)
    {
        if (tMax <= 0) throw new ArgumentOutOfRangeException(nameof(tMax), tMax, "T_max must be positive.");
        TMax = tMax;
        EtaMin = etaMin;
        InitialStep();
    }

    public int TMax { get; }

    public double EtaMin { get; }

    protected override double ChainedLr(int groupIndex, ParamGroup group, double baseLr)
    {
        int e = LastEpoch;
        double lr = group.LearningRate;
        if (e == 0) return lr;
        if (StepCount == 1 && e > 0) return EtaMin + (baseLr - EtaMin) * (1 + Math.Cos(e * Math.PI / TMax)) / 2;
        if (Mod(e - 1 - TMax, 2 * TMax) == 0) return lr + (baseLr - EtaMin) * (1 - Math.Cos(Math.PI / TMax)) / 2;
        return (1 + Math.Cos(Math.PI * e / TMax)) / (1 + Math.Cos(Math.PI * (e - 1) / TMax)) * (lr - EtaMin) + EtaMin;
    }

    protected override double? ClosedFormLr(int groupIndex, double baseLr) =>
        EtaMin + (baseLr - EtaMin) * (1 + Math.Cos(Math.PI * LastEpoch / TMax)) / 2;

    private static int Mod(int a, int m) => ((a % m) + m) % m; // Python's %, non-negative for m > 0
}
