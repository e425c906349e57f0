// What the OpsTable cannot check for the normalisation and dropout kernels: running-statistic updates, the dropout
// mask's statistics and reproducibility, argument errors, and allocation-free steady-state training steps.
using GraphCompiler.Backends.Cpu;
using GraphCompiler.Backends.Reference;
using GraphCompiler.Nn;
using GraphCompiler.Optim;
using GraphCompiler.Tests.Models;
using GraphCompiler.Training;
using Xunit;

namespace GraphCompiler.Tests.Kernels;

public class NormKernelTests
{
    [Theory]
    [InlineData(4, 3, 1)]
    [InlineData(64, 100, 1)]
    [InlineData(3, 5, 17)]
    [InlineData(8, 16, 256)] // the parallel path
    public void BatchNorm_training_updates_running_statistics_like_the_reference(int n, int c, int s)
    {
        var rng = new Rng(21);
        float[] x = Data.Uniform(rng, n * c * s, 2f).Select(v => v + 5f).ToArray();
        float[] rm = Data.Uniform(rng, c), rv = Data.Uniform(rng, c, 0.5f).Select(v => v + 1f).ToArray();
        double[] erm = Data.ToDouble(rm), erv = Data.ToDouble(rv);
        BatchNormKernels.ForwardTraining(x, default, default, new float[x.Length], new float[c], new float[c], rm, rv, n, c, s, 1e-5f, 0.3f);
        ReferenceKernels.BatchNormForwardTraining(Data.ToDouble(x), default, default, new double[x.Length], erm, erv, n, c, s, 1e-5, 0.3);
        Data.AssertClose(rm, erm, 1e-6, "running_mean");
        Data.AssertClose(rv, erv, 1e-5, "running_var (unbiased)");
    }

    [Fact]
    public void BatchNorm_with_null_momentum_keeps_a_cumulative_average()
    {
        var bn = new BatchNorm1d("bn", 2, momentum: null);
        float[] a = [1, 10, 3, 30], b = [5, 0, 9, 0]; // (2 samples, 2 channels)
        float[] y = new float[4], mean = new float[2], invStd = new float[2];
        bn.Forward(a, y, mean, invStd, 2, 1);
        bn.Forward(b, y, mean, invStd, 2, 1);
        // Factors 1/1 then 1/2: the plain average of the batches' means (2, 20), (7, 0) and unbiased variances (2, 200),
        // (8, 0); the initial zeros and ones count for nothing.
        Assert.Equal([4.5f, 10f], bn.RunningMean!.Data);
        Assert.Equal([5f, 100f], bn.RunningVar!.Data);
        Assert.Equal(2, bn.NumBatchesTracked!.Int64Data[0]);
    }

    [Fact]
    public void BatchNorm_arguments_are_checked_with_clear_messages()
    {
        var e = Assert.Throws<ArgumentException>(() => BatchNormKernels.ForwardTraining(new float[3], default, default, new float[3], new float[3], new float[3], default, default, 1, 3, 1, 1e-5f, 0.1f));
        Assert.StartsWith("BatchNorm in training mode needs more than one value per channel, got input of 1 sample(s) × 1 position(s)", e.Message);
        e = Assert.Throws<ArgumentException>(() => BatchNormKernels.ForwardTraining(new float[6], default, default, new float[6], new float[3], new float[3], new float[3], default, 2, 3, 1, 1e-5f, 0.1f));
        Assert.StartsWith("BatchNorm running statistics: give both running_mean and running_var, or neither", e.Message);
        e = Assert.Throws<ArgumentException>(() => BatchNormKernels.ForwardInference(new float[6], new float[2], default, new float[3], new float[3], new float[6], new float[3], new float[3], 2, 3, 1, 1e-5f));
        Assert.StartsWith("Buffer 'weight' has 2 elements but the shape needs 3.", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new BatchNorm2d("bn", 4, momentum: 1.5f));
        Assert.Throws<ArgumentException>(() => new LayerNorm("ln", [3, 0]));
    }

    [Fact]
    public void Dropout_drops_a_fraction_p_and_scales_the_rest()
    {
        const int len = 1_000_000;
        float[] x = new float[len], y = new float[len], mask = new float[len];
        x.AsSpan().Fill(2f);
        DropoutKernels.Forward(x, y, mask, len, 0.3f, seed: 11, step: 0);
        int dropped = mask.Count(m => m == 0);
        Assert.InRange(dropped / (double)len, 0.298, 0.302); // ± 4.4σ of a binomial(1e6, 0.3)
        Assert.All(y, v => Assert.True(v == 0f || v == 2f / 0.7f));
        DropoutKernels.Forward(x, y, mask, len, 0f, 11, 0);
        Assert.All(mask, m => Assert.Equal(1f, m));
        DropoutKernels.Forward(x, y, mask, len, 1f, 11, 0);
        Assert.All(y, v => Assert.Equal(0f, v));
        Assert.Throws<ArgumentOutOfRangeException>(() => DropoutKernels.Forward(x, y, mask, len, 1.5f, 11, 0));
    }

    [Fact]
    public void A_dropout_mask_depends_only_on_seed_step_and_index()
    {
        const int len = 200_003; // split across threads
        float[] x = new float[len], y = new float[len], mask = new float[len], other = new float[len];
        x.AsSpan().Fill(1f);
        DropoutKernels.Forward(x, y, mask, len, 0.5f, seed: 3, step: 9);
        for (int i = 0; i < len; i += 997) Assert.Equal(DropoutKernels.Keeps(0.5f, 3, 9, i), mask[i] != 0);
        // A prefix computed alone (one thread) is the same mask.
        var prefix = new float[1000];
        DropoutKernels.Forward(x, new float[1000], prefix, 1000, 0.5f, 3, 9);
        Assert.Equal(mask.AsSpan(0, 1000).ToArray(), prefix);
        DropoutKernels.Forward(x, y, other, len, 0.5f, 3, 10);
        double agree = Enumerable.Range(0, len).Count(i => (mask[i] == 0) == (other[i] == 0)) / (double)len;
        Assert.InRange(agree, 0.49, 0.51); // the next step's mask is independent
        DropoutKernels.Forward(x, y, other, len, 0.5f, 4, 9);
        agree = Enumerable.Range(0, len).Count(i => (mask[i] == 0) == (other[i] == 0)) / (double)len;
        Assert.InRange(agree, 0.49, 0.51); // so is another seed's
    }

    [Fact]
    public void A_training_step_of_a_model_with_norms_and_dropout_allocates_nothing()
    {
        var model = new NormNet(seed: 2);
        var trainer = new Trainer(model, GraphCompiler.Nn.Loss.CrossEntropy, new Sgd(model.Parameters(), lr: 0.01), batchSize: 16);
        float[] x = Data.Uniform(new Rng(1), 16 * 3 * 8 * 8);
        int[] t = Data.Targets(new Rng(2), 16, 5);
        trainer.Step(x, t, 16);
        Assert.Equal(0, Allocations.LeastPerRound(() => trainer.Step(x, t, 16)));

        var drop = new DropNet(seed: 3);
        var dropTrainer = new Trainer(drop, GraphCompiler.Nn.Loss.CrossEntropy, new Sgd(drop.Parameters(), lr: 0.01), batchSize: 16);
        float[] dx = Data.Uniform(new Rng(4), 16 * 12);
        int[] dt = Data.Targets(new Rng(5), 16, 4);
        dropTrainer.Step(dx, dt, 16);
        Assert.Equal(0, Allocations.LeastPerRound(() => dropTrainer.Step(dx, dt, 16)));
    }
}
