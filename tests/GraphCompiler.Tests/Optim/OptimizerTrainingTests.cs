// The optimizers in a real training loop: AdamW with groups, OneCycleLR and clipping train the Mlp, and steps allocate nothing.
using FashionMnist;
using GraphCompiler.Nn;
using GraphCompiler.Optim;
using GraphCompiler.Optim.Schedulers;
using GraphCompiler.Training;
using Xunit;

namespace GraphCompiler.Tests.Optim;

public class OptimizerTrainingTests
{
    private static (float[] X, int[] Y) RandomBatch(int n, ulong seed)
    {
        var rng = new Rng(seed);
        var x = new float[n * 784];
        var y = new int[n];
        for (int i = 0; i < x.Length; i++) x[i] = rng.Normal();
        for (int i = 0; i < n; i++) y[i] = rng.NextInt(10);
        return (x, y);
    }

    [Fact]
    public void AdamWWithGroupsAndOneCycleDrivesTheLossDown()
    {
        var model = new Mlp(seed: 3);
        var adam = new AdamW([new ParamGroup(model.Fc1.Parameters(), lr: 1e-3), new ParamGroup(model.Fc2.Parameters().Concat(model.Fc3.Parameters()))],
            lr: 3e-4, weightDecay: 0.01);
        var schedule = new OneCycleLR(adam, maxLr: [1e-2, 3e-3], totalSteps: 40);
        var trainer = new Trainer(model, Loss.Nll, adam, batchSize: 16);
        var (x, y) = RandomBatch(16, 1);
        float first = trainer.Step(x, y, 16), last = first;
        schedule.Step();
        for (int i = 1; i < 40; i++)
        {
            last = trainer.Step(x, y, 16);
            schedule.Step();
        }
        Assert.True(last < 0.1f * first, $"loss went from {first} to {last}");
        Assert.True(GradClip.ClipGradNorm(model.Parameters(), maxNorm: 1) >= 0);
    }

    [Fact]
    public void StepsAfterTheFirstAllocateNothing()
    {
        var model = new Mlp(seed: 1);
        Optimizer[] optimizers =
        [
            new Adam(model.Parameters(), amsgrad: true),
            new AdamW([new ParamGroup(model.Fc1.Parameters(), lr: 1e-2), new ParamGroup(model.Fc2.Parameters())]),
            new Sgd(model.Parameters(), lr: 0.01, momentum: 0.9, nesterov: true, weightDecay: 1e-4),
        ];
        foreach (var p in model.Parameters()) Array.Fill(p.Grad, 0.01f);
        foreach (var opt in optimizers)
        {
            opt.Step(); // creates the state, once
            Assert.Equal(0, Allocations.LeastPerRound(() =>
            {
                for (int i = 0; i < 5; i++) opt.Step();
            }));
        }
    }
}
