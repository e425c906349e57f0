// Training with every kind of target: float targets for the regression and binary losses, class weights and ignore_index
// through the fused NLL path, and the errors a wrong target kind, length or value gives.
using FashionMnist;
using GraphCompiler.Nn;
using GraphCompiler.Optim;
using GraphCompiler.Tests.Models;
using GraphCompiler.Tests.Training;
using GraphCompiler.Training;
using Xunit;

namespace GraphCompiler.Tests.Losses;

public class TrainerLossTests
{
    /// <summary>Inputs (n, 6) and targets (n, 3) = a fixed linear map of the inputs.</summary>
    private static (float[] X, float[] Y) LinearProblem(int n, ulong seed)
    {
        var rng = new Rng(seed);
        var map = new Rng(99);
        var a = new float[3 * 6];
        for (int i = 0; i < a.Length; i++) a[i] = map.Uniform(-1f, 1f);
        var x = new float[n * 6];
        var y = new float[n * 3];
        for (int i = 0; i < x.Length; i++) x[i] = rng.Uniform(-1f, 1f);
        for (int s = 0; s < n; s++)
            for (int o = 0; o < 3; o++)
                for (int k = 0; k < 6; k++) y[s * 3 + o] += a[o * 6 + k] * x[s * 6 + k];
        return (x, y);
    }

    [Fact]
    public void A_regressor_trained_with_mse_on_float_targets_fits_a_linear_map()
    {
        var model = new Regressor(seed: 3);
        var trainer = new Trainer(model, new MseLoss(), new Adam(model.Parameters(), lr: 1e-2), batchSize: 32);
        var (x, y) = LinearProblem(32, 5);
        float first = trainer.Step(x, y, 32), last = first;
        for (int step = 0; step < 400; step++) last = trainer.Step(x, y, 32);
        Assert.True(first > 0.2f, $"first loss {first}");
        Assert.True(last < 0.01f * first, $"MSE went from {first} to {last}");
        // The loss the trainer reports is the loss of the model's output against the targets.
        float evaluated = model.Loss(new MseLoss(), new Tensor(x, [32, 6]), y);
        Assert.Equal(evaluated, trainer.ForwardBackward(x, y, 32), 6);
        Assert.Equal(evaluated * 32 * 3, model.Loss(new MseLoss(Reduction.Sum), new Tensor(x, [32, 6]), y), 3);
    }

    // Per-pixel targets (N, 6, 6) for outputs (N, 3, 6, 6), some pixels ignored: the class of each pixel is the channel
    // with the larger input there (2 when they are close), which two convolutions can learn.
    [Fact]
    public void A_per_pixel_classifier_trains_with_spatial_cross_entropy_and_ignore_index()
    {
        const int n = 16, pixels = 36;
        var model = new PixelClassifier(seed: 2);
        var loss = new CrossEntropyLoss(weight: [1f, 1f, 0.5f], ignoreIndex: -1, labelSmoothing: 0.05f);
        var trainer = new Trainer(model, loss, new Adam(model.Parameters(), lr: 1e-2), batchSize: n);
        var rng = new Rng(8);
        var x = new float[n * 2 * pixels];
        for (int i = 0; i < x.Length; i++) x[i] = rng.Uniform(-1f, 1f);
        var y = new int[n * pixels];
        for (int s = 0; s < n; s++)
            for (int p = 0; p < pixels; p++)
            {
                float a = x[(s * 2) * pixels + p], b = x[(s * 2 + 1) * pixels + p];
                y[s * pixels + p] = p % 7 == 0 ? -1 : MathF.Abs(a - b) < 0.3f ? 2 : a > b ? 0 : 1;
            }
        float first = trainer.Step(x, y, n), last = first;
        for (int step = 0; step < 150; step++) last = trainer.Step(x, y, n);
        Assert.True(last < 0.5f * first, $"spatial cross-entropy went from {first} to {last}");
        Assert.Equal(model.Loss(loss, new Tensor(x, [n, 2, 6, 6]), y), trainer.ForwardBackward(x, y, n), 5);
        var e = Assert.Throws<ArgumentException>(() => trainer.Step(x, y.AsSpan(0, n * pixels - 1), n));
        Assert.Contains("Trainer: 16 samples need 576 class targets (one per sample and position, 36 positions), but 575 were given.", e.Message);
    }

    [Fact]
    public void A_step_with_float_targets_allocates_nothing()
    {
        var model = new Regressor(seed: 1);
        var trainer = new Trainer(model, new BceWithLogitsLoss(posWeight: [2f, 1f, 0.5f]), new Sgd(model.Parameters(), lr: 0.01f), batchSize: 64);
        var (x, y) = LinearProblem(64, 2);
        for (int i = 0; i < y.Length; i++) y[i] = y[i] > 0 ? 1f : 0f;
        for (int i = 0; i < 3; i++) trainer.Step(x, y, 64);
        Assert.Equal(0, Allocations.LeastPerRound(() =>
        {
            for (int i = 0; i < 5; i++) trainer.Step(x, y, 64);
        }));
    }

    [Fact]
    public void A_cross_entropy_step_with_weights_smoothing_and_ignore_index_allocates_nothing()
    {
        var model = new Regressor(seed: 1);
        var loss = new CrossEntropyLoss(weight: [1f, 2f, 0.5f], ignoreIndex: 1, labelSmoothing: 0.1f);
        var trainer = new Trainer(model, loss, new Sgd(model.Parameters(), lr: 0.01f), batchSize: 64);
        var (x, _) = LinearProblem(64, 2);
        int[] y = Enumerable.Range(0, 64).Select(i => i % 3).ToArray();
        for (int i = 0; i < 3; i++) trainer.Step(x, y, 64);
        Assert.Equal(0, Allocations.LeastPerRound(() =>
        {
            for (int i = 0; i < 5; i++) trainer.Step(x, y, 64);
        }));
    }

    // The Mlp ends in LogSoftmax, so a weighted NLL with ignored targets runs the fused kernel (gradient at the logits);
    // the unfused Mlp takes NLL's own gradient and the LogSoftmax backward. Both must give the same gradients.
    [Theory]
    [InlineData(Reduction.Mean)]
    [InlineData(Reduction.Sum)]
    public void The_fused_nll_path_with_weights_and_ignore_index_matches_the_unfused_one(Reduction reduction)
    {
        float[] weight = [0.5f, 1f, 1.5f, 2f, 0.25f, 1f, 3f, 1f, 0.75f, 1.25f];
        var loss = new NllLoss(weight, ignoreIndex: 4, reduction: reduction);
        var fused = new Mlp(seed: 6);
        var plain = new MlpUnfused(seed: 6);
        var (x, y) = TrainerTests.RandomBatch(40, 784, 3);
        for (int i = 0; i < y.Length; i += 5) y[i] = 4;
        float lf = new Trainer(fused, loss, new Sgd(fused.Parameters(), lr: 0.01f), 40).ForwardBackward(x, y, 40);
        float lp = new Trainer(plain, loss, new Sgd(plain.Parameters(), lr: 0.01f), 40).ForwardBackward(x, y, 40);
        Assert.Equal(lp, lf, 4);
        for (int p = 0; p < fused.Parameters().Count; p++)
        {
            float[] gf = fused.Parameters()[p].Grad, gp = plain.Parameters()[p].Grad;
            float scale = gp.Max(MathF.Abs);
            Assert.True(scale > 0, "a zero gradient would make the check vacuous");
            for (int i = 0; i < gf.Length; i++)
                Assert.True(MathF.Abs(gf[i] - gp[i]) <= 1e-5f * (scale + MathF.Abs(gp[i])), $"{fused.Parameters()[p].Name}.grad[{i}]: fused {gf[i]}, unfused {gp[i]}");
        }
    }

    [Fact]
    public void The_trainer_refuses_the_wrong_kind_of_target_and_reduction_none()
    {
        var model = new Regressor(seed: 1);
        var (x, y) = LinearProblem(4, 1);
        var mse = new Trainer(model, new MseLoss(), new Sgd(model.Parameters(), lr: 0.01f), 4);
        var e1 = Assert.Throws<ArgumentException>(() => mse.Step(x, new int[4], 4));
        Assert.Contains("mse_loss takes float targets shaped like the output", e1.Message);
        var e2 = Assert.Throws<ArgumentException>(() => mse.Step(x, new float[11], 4));
        Assert.Contains("Trainer: 4 samples with outputs of shape [3] need 12 float targets, but 11 were given.", e2.Message);
        var ce = new Trainer(model, Loss.CrossEntropy, new Sgd(model.Parameters(), lr: 0.01f), 4);
        var e3 = Assert.Throws<ArgumentException>(() => ce.Step(x, y, 4));
        Assert.Contains("cross_entropy takes class-index (int) targets", e3.Message);
        var e4 = Assert.Throws<ArgumentException>(() => new Trainer(model, new L1Loss(Reduction.None), new Sgd(model.Parameters(), lr: 0.01f), 4));
        Assert.Contains("l1_loss with reduction none gives per-element losses for inspection", e4.Message);
    }

    [Fact]
    public void Bad_class_targets_name_the_loss_the_sample_and_the_value()
    {
        float[] logits = new float[4 * 3];
        var e1 = Assert.Throws<ArgumentException>(() => new CrossEntropyLoss().Compute(logits, [0, 1, 7, 2], [], 4, 3));
        Assert.Contains("cross_entropy: target 7 at sample 2 is outside the class range [0, 3) and is not ignore_index (-100)", e1.Message);
        var e2 = Assert.Throws<ArgumentException>(() => new NllLoss(ignoreIndex: -1).Compute(logits, [0, -100, 1, 2], new float[12], 4, 3));
        Assert.Contains("nll_loss: target -100 at sample 1 is outside the class range [0, 3) and is not ignore_index (-1)", e2.Message);
        var e3 = Assert.Throws<ArgumentException>(() => new NllLoss().Compute(logits, [0, 1, 2], [], 4, 3));
        Assert.Contains("nll_loss: 3 targets for 4 samples; expected 4", e3.Message);
        var e4 = Assert.Throws<ArgumentException>(() => new CrossEntropyLoss(weight: [1f, 2f]).Compute(logits, [0, 1, 2, 0], [], 4, 3));
        Assert.Contains("cross_entropy: weight has 2 entries but the output has 3 classes", e4.Message);
        var e5 = Assert.Throws<ArgumentException>(() => new CrossEntropyLoss().Compute(new float[2 * 3 * 4], [0, 1, 2, 0, 1, 2, 5, 0], [], [], 2, 3, 4));
        Assert.Contains("cross_entropy: target 5 at sample 1, position 2 is outside the class range [0, 3)", e5.Message);
        // Nothing was written before the error: the gradient buffer keeps its contents.
        float[] grad = [9f, 9f, 9f, 9f, 9f, 9f];
        Assert.Throws<ArgumentException>(() => Loss.CrossEntropy.Compute(new float[6], [0, 3], grad, 2, 3));
        Assert.All(grad, g => Assert.Equal(9f, g));
    }

    [Fact]
    public void Bad_float_targets_and_inputs_name_the_loss()
    {
        var e1 = Assert.Throws<ArgumentException>(() => new MseLoss().Compute(new float[6], new float[5], []));
        Assert.Contains("mse_loss: 5 targets for 6 output values", e1.Message);
        var e2 = Assert.Throws<ArgumentException>(() => new BceLoss().Compute([0.5f, 1.5f], [1f, 0f], []));
        Assert.Contains("binary_cross_entropy: input 1.5 at element 1 is outside [0, 1]", e2.Message);
        var e3 = Assert.Throws<ArgumentException>(() => new BceWithLogitsLoss(posWeight: [1f, 2f, 3f, 4f]).Compute(new float[6], new float[6], []));
        Assert.Contains("binary_cross_entropy_with_logits: pos_weight has 4 entries, which does not broadcast over 6 output values", e3.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new SmoothL1Loss(beta: -1f));
        Assert.Throws<ArgumentOutOfRangeException>(() => new CrossEntropyLoss(labelSmoothing: 1.5f));
    }

    [Fact]
    public void Mean_over_only_ignored_targets_is_nan_with_a_zero_gradient_as_in_torch()
    {
        var grad = new float[6];
        grad.AsSpan().Fill(5f);
        float loss = new CrossEntropyLoss(labelSmoothing: 0.1f).Compute([1f, 2f, 3f, 4f, 5f, 6f], [-100, -100], grad, 2, 3);
        Assert.True(float.IsNaN(loss));
        Assert.All(grad, g => Assert.Equal(0f, g));
    }
}
