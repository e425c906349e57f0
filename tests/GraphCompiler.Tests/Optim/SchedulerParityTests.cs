// Every learning-rate scheduler's rates (and OneCycleLR's momentum/beta1) after every step against PyTorch 1.13's get_last_lr().
using GraphCompiler.Nn;
using GraphCompiler.Optim;
using GraphCompiler.Optim.Schedulers;
using Xunit;
using Xunit.Abstractions;

namespace GraphCompiler.Tests.Optim;

public class SchedulerParityTests(ITestOutputHelper output)
{
    private const double Rtol = 1e-6, Atol = 1e-12;

    // Each case repeats its namesake in tests/reference/make_optim_reference.py (SCHED_CASES).
    public static TheoryData<string> Cases => new()
    {
        "step", "multistep", "cosine", "linear_warmup", "linear_decay", "onecycle_sgd", "onecycle_adam", "onecycle_linear_3phase", "sequential",
    };

    /// <summary>The reference's optimizer: two groups at lr 0.1 and 0.02 (SGD with momentum 0.9, or Adam).</summary>
    private static Optimizer TwoGroups(bool adam)
    {
        ParamGroup[] groups = [new([new Parameter("a", [5, 17])], lr: 0.1), new([new Parameter("b", [7]), new Parameter("c", [3, 4])], lr: 0.02)];
        return adam ? new Adam(groups) : new Sgd(groups, lr: 0.1, momentum: 0.9);
    }

    private static (Optimizer, ILRScheduler) Create(string name)
    {
        var o = TwoGroups(adam: name == "onecycle_adam");
        ILRScheduler s = name switch
        {
            "step" => new StepLR(o, stepSize: 4, gamma: 0.5),
            "multistep" => new MultiStepLR(o, [3, 7, 7, 15], gamma: 0.3),
            "cosine" => new CosineAnnealingLR(o, tMax: 10, etaMin: 0.001),
            "linear_warmup" => new LinearLR(o, startFactor: 0.25, endFactor: 0.9, totalIters: 8),
            "linear_decay" => new LinearLR(o, startFactor: 1.0, endFactor: 0.05, totalIters: 10),
            "onecycle_sgd" => new OneCycleLR(o, maxLr: [0.5, 0.1], totalSteps: OptimReference.SchedulerSteps),
            "onecycle_adam" => new OneCycleLR(o, maxLr: 0.01, totalSteps: OptimReference.SchedulerSteps, pctStart: 0.25),
            "onecycle_linear_3phase" => new OneCycleLR(o, maxLr: 0.4, totalSteps: OptimReference.SchedulerSteps, annealStrategy: AnnealStrategy.Linear,
                threePhase: true, divFactor: 10, finalDivFactor: 100, baseMomentum: 0.8, maxMomentum: 0.9),
            "sequential" => new SequentialLR(o, [new LinearLR(o, startFactor: 0.1, totalIters: 5), new CosineAnnealingLR(o, tMax: 20, etaMin: 1e-4)], [5]),
            _ => throw new ArgumentException(name),
        };
        return (o, s);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void RatesAfterEveryStepMatchPyTorch(string name)
    {
        var (optimizer, scheduler) = Create(name);
        double[] lrs = OptimReference.Get("lr." + name).AsDouble();
        double[] moms = OptimReference.Get("momentum." + name).AsDouble();
        int groups = optimizer.ParamGroups.Count;
        Assert.Equal((OptimReference.SchedulerSteps + 1) * groups, lrs.Length);
        double worstLr = 0, worstMomentum = 0;
        for (int s = 0; s <= OptimReference.SchedulerSteps; s++)
        {
            if (s > 0)
            {
                optimizer.Step(); // no gradients: a no-op, as in the script
                scheduler.Step();
            }
            for (int g = 0; g < groups; g++)
            {
                double expected = lrs[s * groups + g];
                worstLr = Math.Max(worstLr, OptimReference.AssertClose(scheduler.LastLearningRates[g], expected, Rtol, Atol, $"{name} step {s} group {g} get_last_lr"));
                Assert.Equal(scheduler.LastLearningRates[g], optimizer.ParamGroups[g].LearningRate);
                var group = optimizer.ParamGroups[g];
                double momentum = group.Momentum ?? group.Betas!.Value.Beta1;
                worstMomentum = Math.Max(worstMomentum, OptimReference.AssertClose(momentum, moms[s * groups + g], Rtol, Atol, $"{name} step {s} group {g} momentum"));
            }
        }
        output.WriteLine($"{name}: max |a−r|/|r| lr {worstLr:E2}, momentum {worstMomentum:E2}");
    }

    [Fact]
    public void OneCycleRefusesToStepPastTotalSteps()
    {
        var o = TwoGroups(adam: false);
        var s = new OneCycleLR(o, maxLr: 0.1, totalSteps: 3);
        for (int i = 0; i < 3; i++) s.Step(); // PyTorch allows last_epoch == total_steps
        var ex = Assert.Throws<InvalidOperationException>(s.Step);
        Assert.Contains("Tried to step 5 times. The specified number of total steps is 3", ex.Message);
    }

    [Fact]
    public void InvalidSettingsAreRejectedWithClearMessages()
    {
        var o = TwoGroups(adam: false);
        Assert.Contains("step_size", Assert.Throws<ArgumentOutOfRangeException>(() => new StepLR(o, 0)).Message);
        Assert.Contains("T_max", Assert.Throws<ArgumentOutOfRangeException>(() => new CosineAnnealingLR(o, 0)).Message);
        Assert.Contains("start_factor", Assert.Throws<ArgumentOutOfRangeException>(() => new LinearLR(o, startFactor: 0)).Message);
        Assert.Contains("end_factor", Assert.Throws<ArgumentOutOfRangeException>(() => new LinearLR(o, endFactor: 1.5)).Message);
        Assert.Contains("max_lr", Assert.Throws<ArgumentException>(() => new OneCycleLR(o, maxLr: [0.1], totalSteps: 10)).Message);
        Assert.Contains("total_steps", Assert.Throws<ArgumentOutOfRangeException>(() => new OneCycleLR(o, maxLr: 0.1, totalSteps: 0)).Message);
        Assert.Contains("pct_start", Assert.Throws<ArgumentOutOfRangeException>(() => new OneCycleLR(o, 0.1, 10, pctStart: 1.5)).Message);
        var other = TwoGroups(adam: false);
        Assert.Contains("same optimizer", Assert.Throws<ArgumentException>(() =>
            new SequentialLR(o, [new StepLR(o, 2), new StepLR(other, 2)], [3])).Message);
        Assert.Contains("one milestone fewer", Assert.Throws<ArgumentException>(() =>
            new SequentialLR(o, [new StepLR(o, 2), new StepLR(o, 2)], [3, 4])).Message);
    }
}
