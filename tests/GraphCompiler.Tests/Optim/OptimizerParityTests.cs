// SGD, Adam and AdamW (one group, several groups, frozen parameters, under OneCycleLR) step for step against PyTorch 1.13.
using GraphCompiler.Nn;
using GraphCompiler.Optim;
using GraphCompiler.Optim.Schedulers;
using Xunit;
using Xunit.Abstractions;

namespace GraphCompiler.Tests.Optim;

public class OptimizerParityTests(ITestOutputHelper output)
{
    private const double Rtol = 1e-5, Atol = 1e-7;

    // Each case repeats its namesake in tests/reference/make_optim_reference.py (OPTIM_CASES, ONECYCLE_TRAJ).
    public static TheoryData<string> Cases => new()
    {
        "sgd_plain", "sgd_momentum", "sgd_nesterov_wd", "sgd_dampening_wd", "adam_default", "adam_amsgrad", "adam_wd",
        "adamw_wd", "adamw_amsgrad", "sgd_groups", "adam_groups", "adamw_groups", "adam_frozen", "sgd_onecycle", "adam_onecycle",
    };

    private static (Optimizer Optimizer, ILRScheduler? Scheduler) Create(string name, Dictionary<string, Parameter> ps)
    {
        Parameter a = ps["a"], b = ps["b"], c = ps["c"];
        Parameter[] all = [a, b, c];
        switch (name)
        {
            case "sgd_plain": return (new Sgd(all, lr: 0.1), null);
            case "sgd_momentum": return (new Sgd(all, lr: 0.1, momentum: 0.9), null);
            case "sgd_nesterov_wd": return (new Sgd(all, lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 0.01), null);
            case "sgd_dampening_wd": return (new Sgd(all, lr: 0.1, momentum: 0.8, dampening: 0.3, weightDecay: 0.001), null);
            case "adam_default": return (new Adam(all), null);
            case "adam_amsgrad": return (new Adam(all, lr: 0.01, betas: (0.8, 0.99), amsgrad: true), null);
            case "adam_wd": return (new Adam(all, lr: 0.01, weightDecay: 0.1, eps: 1e-6), null);
            case "adamw_wd": return (new AdamW(all, lr: 0.01, weightDecay: 0.01), null);
            case "adamw_amsgrad": return (new AdamW(all, lr: 0.005, betas: (0.85, 0.995), weightDecay: 0.01, amsgrad: true), null);
            case "sgd_groups":
                return (new Sgd([new ParamGroup([a], lr: 0.1, momentum: 0.9), new ParamGroup([b, c])], lr: 0.02, momentum: 0.5), null);
            case "adam_groups":
                return (new Adam([new ParamGroup([a], lr: 0.01), new ParamGroup([b, c], weightDecay: 0.05, amsgrad: true)], lr: 1e-3), null);
            case "adamw_groups":
                return (new AdamW([new ParamGroup([a, c], lr: 0.003, weightDecay: 0.1), new ParamGroup([b], betas: (0.5, 0.9))], lr: 0.01, weightDecay: 0.01), null);
            case "adam_frozen":
                c.RequiresGrad = false;
                return (new Adam(all, lr: 0.01), null);
            case "sgd_onecycle":
            {
                var sgd = new Sgd(all, lr: 0.1, momentum: 0.9);
                return (sgd, new OneCycleLR(sgd, maxLr: 0.5, totalSteps: OptimReference.Steps));
            }
            case "adam_onecycle":
            {
                var adam = new Adam(all, lr: 0.01);
                return (adam, new OneCycleLR(adam, maxLr: 0.05, totalSteps: OptimReference.Steps, pctStart: 0.4));
            }
            default: throw new ArgumentException(name);
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void ParametersAfterEveryStepMatchPyTorch(string name)
    {
        var ps = OptimReference.InitialParameters();
        var (optimizer, scheduler) = Create(name, ps);
        double worst = 0, used = 0;
        for (int s = 0; s < OptimReference.Steps; s++)
        {
            OptimReference.SetGrads(ps, s);
            optimizer.Step();
            scheduler?.Step();
            foreach (string n in OptimReference.Names)
            {
                var (rel, frac) = OptimReference.AssertClose(ps[n].Data, OptimReference.Get($"{name}.{s}.{n}").AsFloat(), Rtol, Atol, $"{name} step {s + 1} {n}");
                (worst, used) = (Math.Max(worst, rel), Math.Max(used, frac));
            }
        }
        output.WriteLine($"{name}: max |a−r|/|r| (|r| ≥ 1e-3) over {OptimReference.Steps} steps = {worst:E2}; max share of tolerance used {used:P1}");
    }

    [Fact]
    public void FrozenParameterIsUntouchedAndGetsNoState()
    {
        var ps = OptimReference.InitialParameters();
        ps["c"].RequiresGrad = false;
        float[] before = (float[])ps["c"].Data.Clone();
        var adam = new Adam(ps.Values, lr: 0.01, weightDecay: 0.1);
        for (int s = 0; s < 3; s++)
        {
            OptimReference.SetGrads(ps, s);
            adam.Step();
        }
        Assert.Equal(before, ps["c"].Data);
        Assert.Null(adam.State(ps["c"]));
        Assert.Equal(3, adam.State(ps["a"])!.Step);

        var sgd = new Sgd(ps.Values, lr: 0.1, momentum: 0.9);
        sgd.Step();
        Assert.Equal(before, ps["c"].Data);
        Assert.True(sgd.MomentumBuffer(ps["c"]).IsEmpty);
        Assert.Equal(ps["a"].Grad, sgd.MomentumBuffer(ps["a"]).ToArray()); // first update: buf = g
    }

    [Fact]
    public void AdamStateIsExposedReadOnlyAndMatchesTheMoments()
    {
        // After one step from zero state: m = (1 − β1)·g, v = (1 − β2)·g², and AMSGrad's max equals v.
        var ps = OptimReference.InitialParameters();
        var adam = new Adam(ps.Values, amsgrad: true);
        Assert.Null(adam.State(ps["a"]));
        OptimReference.SetGrads(ps, 0);
        adam.Step();
        var st = adam.State(ps["b"])!;
        Assert.Equal(1, st.Step);
        float[] g = ps["b"].Grad;
        for (int i = 0; i < g.Length; i++)
        {
            Assert.Equal(0.1f * g[i], st.ExpAvg[i], 1e-6f);
            Assert.Equal(0.001f * g[i] * g[i], st.ExpAvgSq[i], 1e-7f);
            Assert.Equal(st.ExpAvgSq[i], st.MaxExpAvgSq[i]);
        }
        Assert.True(new Adam(ps.Values.Select(p => new Parameter(p.Name, p.Shape))).ParamGroups[0].Amsgrad is false);
        Assert.Throws<ArgumentException>(() => adam.State(new Parameter("other", [1])));
    }

    [Fact]
    public void ZeroGradClearsEveryGroup()
    {
        var ps = OptimReference.InitialParameters();
        ps["c"].RequiresGrad = false;
        Optimizer[] optimizers =
        [
            new Sgd([new ParamGroup([ps["a"]]), new ParamGroup([ps["b"], ps["c"]], lr: 0.5)], lr: 0.1),
        ];
        foreach (var opt in optimizers)
        {
            OptimReference.SetGrads(ps, 1);
            opt.ZeroGrad();
            Assert.All(ps.Values.SelectMany(p => p.Grad), g => Assert.Equal(0f, g));
        }
        var a2 = new Parameter("a", [3]);
        var adamw = new AdamW([a2]);
        a2.Grad[1] = 5;
        adamw.ZeroGrad();
        Assert.All(a2.Grad, g => Assert.Equal(0f, g));
    }

    [Fact]
    public void GroupsTakeDefaultsAndKeepTheirOwnOptions()
    {
        var ps = OptimReference.InitialParameters();
        var g1 = new ParamGroup([ps["a"]], lr: 1e-3f);
        var g2 = new ParamGroup([ps["b"], ps["c"]]);
        var adam = new Adam([g1, g2], lr: 0.05, betas: (0.8, 0.99), weightDecay: 0.1);
        Assert.Same(adam, g1.Optimizer);
        Assert.Equal(1e-3f, (float)g1.LearningRate);
        Assert.Equal(0.05, g2.LearningRate);
        Assert.Equal((0.8, 0.99), g1.Betas);
        Assert.Equal(0.1, g2.WeightDecay);
        Assert.Null(g1.Momentum);
        Assert.Equal(1e-3f, adam.LearningRate); // the first group's rate

        adam.LearningRate = 0.25f; // sets every group, as the single-group IOptimizer view expects
        Assert.All(adam.ParamGroups, g => Assert.Equal(0.25, g.LearningRate));

        var later = new Parameter("later", [4]);
        adam.AddParamGroup(new ParamGroup([later], eps: 1e-3));
        Assert.Equal(3, adam.ParamGroups.Count);
        Assert.Equal(1e-3, adam.ParamGroups[2].Eps);
        Assert.Same(later, adam.Parameters.Last());
    }
}
