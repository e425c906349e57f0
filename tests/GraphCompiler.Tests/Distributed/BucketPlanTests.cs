// The gradient bucket plan read from the static schedule, the backward hook that drives it, and data-parallel training in a group of one.
using Cifar;
using FashionMnist;
using GraphCompiler.Distributed;
using GraphCompiler.Nn;
using GraphCompiler.Optim;
using GraphCompiler.Tests.Training;
using GraphCompiler.Training;
using Xunit;

namespace GraphCompiler.Tests.Distributed;

public class BucketPlanTests
{
    [Fact]
    public void The_default_25_MB_cap_puts_the_whole_Mlp_in_one_bucket_sent_after_the_last_weight_gradient()
    {
        BucketPlan plan = BucketPlan.Build(new Mlp(seed: 0));
        Assert.Equal(
            "Gradient buckets of Mlp (all-reduced during the backward, cap 25 MB): 1, 109,386 gradients (0.44 MB) per step\n" +
            "  bucket 0: 109,386 floats (0.438 MB), sent after backward step 6 of 7 (Fc1: dW (128, 784) += dyᵀ · x, db (128) += Σ dy)\n" +
            "    fc3.weight, fc3.bias, fc2.weight, fc2.bias, fc1.weight, fc1.bias\n",
            plan.ToString().ReplaceLineEndings("\n"));
    }

    [Fact]
    public void A_small_cap_gives_one_bucket_per_layer_in_the_order_the_backward_finishes_them()
    {
        BucketPlan plan = BucketPlan.Build(new CifarNet(seed: 0), capMB: 0.1);
        Assert.Equal([["Fc2", "Fc1"], ["Conv3"], ["Conv2"], ["Conv1"]], plan.Buckets.Select(b => b.Layers.ToArray()));
        Assert.Equal([66_250, 51_264, 25_632, 2_432], plan.Buckets.Select(b => b.Count));
        Assert.Equal([2, 5, 8, 11], plan.Buckets.Select(b => b.ReadyAfterStep));
        Assert.Equal(145_578, plan.Count);
    }

    [Fact]
    public void Frozen_layers_are_left_out_of_the_plan()
    {
        var model = new Mlp(seed: 0);
        model.Fc1.RequiresGrad(false);
        model.Fc3.Bias!.RequiresGrad = false;
        BucketPlan plan = BucketPlan.Build(model, capMB: 1e-6);
        Assert.Equal([["fc3.weight"], ["fc2.weight", "fc2.bias"]], plan.Buckets.Select(b => b.Parameters.Select(p => p.Name).ToArray()));
        Assert.Equal(640 + 8_256, plan.Count);
    }

    [Fact]
    public void Bad_caps_are_refused()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => BucketPlan.Build(new Mlp(seed: 0), capMB: 0));
        Assert.StartsWith("The bucket cap must be a positive number of MB.", e.Message);
    }

    [Fact]
    public void The_generated_backward_reports_each_trainable_layer_after_its_weight_gradient()
    {
        var model = new Mlp(seed: 1);
        var trainer = new Trainer(model, Loss.Nll, new Sgd(model.Parameters(), lr: 0.01), batchSize: 4);
        var reported = new List<string>();
        trainer.Workspace.ParamGradsReady = layer =>
        {
            reported.Add(layer);
            // When Fc2 reports, its gradient is final and Fc1's has not been computed yet.
            if (layer == "Fc2") Assert.All(model.Fc1.Weight.Grad, g => Assert.Equal(0f, g));
        };
        (float[] x, int[] y) = TrainerTests.RandomBatch(4, 784, seed: 2);
        trainer.ForwardBackward(x, y, 4);
        Assert.Equal(["Fc3", "Fc2", "Fc1"], reported);

        reported.Clear();
        model.Fc2.RequiresGrad(false);
        trainer.ForwardBackward(x, y, 4);
        Assert.Equal(["Fc3", "Fc1"], reported);
    }

    [Fact]
    public void In_a_group_of_one_data_parallel_training_is_plain_training_bit_for_bit()
    {
        using ProcessGroup group = ProcessGroup.Init(LauncherEnvironment.From(_ => null));
        var a = new Mlp(seed: 4);
        var b = new Mlp(seed: 4);
        var plain = new Trainer(a, Loss.Nll, new Adam(a.Parameters()), batchSize: 8);
        using var ddp = new DistributedDataParallel(b, Loss.Nll, new Adam(b.Parameters()), batchSize: 8, group);
        for (int step = 0; step < 3; step++)
        {
            (float[] x, int[] y) = TrainerTests.RandomBatch(8, 784, seed: (ulong)step);
            Assert.Equal(plain.Step(x, y, 8), ddp.Step(x, y, 8));
        }
        foreach ((Parameter p, Parameter q) in a.Parameters().Zip(b.Parameters())) Assert.Equal(p.Data, q.Data);
        Assert.Equal(0, ddp.Stats.Steps); // nothing to all-reduce with one rank
        Assert.Null(ddp.Trainer.Workspace.ParamGradsReady);
    }
}
