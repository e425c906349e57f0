// NaN and Inf in a training step: found and named when the trainer is asked to, before they spread into state; off by default.
using System.Diagnostics;
using FashionMnist;
using GraphCompiler.Nn;
using GraphCompiler.Optim;
using GraphCompiler.Tests.Fuzz;
using GraphCompiler.Tests.Models;
using GraphCompiler.Training;
using Xunit;
using Xunit.Abstractions;

namespace GraphCompiler.Tests.Training;

// In the determinism tests' collection: those change the process-wide thread count, which would skew the timing here.
[Collection(nameof(GraphCompiler.Tests.Kernels.DeterminismTests))]
public sealed class AnomalyDetectionTests(ITestOutputHelper output)
{
    private static float[] Values(int n, float scale = 1) => Enumerable.Range(0, n).Select(i => scale * ((i % 17) / 17f - 0.4f)).ToArray();

    [Fact]
    public void A_nan_pixel_is_named_with_its_step_and_sample_before_batchnorm_sees_it()
    {
        var model = new NormNet();
        var trainer = new Trainer(model, Loss.CrossEntropy, new Adam(model.Parameters(), 1e-3), batchSize: 4) { DetectAnomaly = true };
        float[] x = Values(4 * 3 * 8 * 8);
        int[] y = [0, 1, 2, 3];
        trainer.Step(x, y, 4);
        trainer.Step(x, y, 4);
        x[2 * 192 + 70] = float.NaN;
        string before = StateDictTarget.ModelDigest(model);
        var e = Assert.Throws<AnomalyException>(() => trainer.Step(x, y, 4));
        Assert.Equal(3, e.Step);
        Assert.Equal("input", e.Location);
        Assert.Equal("step 3: the input batch holds NaN at sample 2, element 70; no kernel ran and no state changed.", e.Message);
        Assert.Equal(before, StateDictTarget.ModelDigest(model)); // running statistics and counters untouched
    }

    [Fact]
    public void Off_by_default_a_nan_pixel_makes_the_loss_nan_as_in_pytorch()
    {
        var model = new NormNet();
        var trainer = new Trainer(model, Loss.CrossEntropy, new Adam(model.Parameters(), 1e-3), batchSize: 4);
        Assert.False(trainer.DetectAnomaly);
        float[] x = Values(4 * 3 * 8 * 8);
        x[5] = float.NaN;
        Assert.True(float.IsNaN(trainer.Step(x, [0, 1, 2, 3], 4)));
    }

    [Fact]
    public void An_overflowing_output_a_nonfinite_loss_and_a_poisoned_parameter_are_each_named()
    {
        var model = new Regressor(seed: 1);
        var trainer = new Trainer(model, new MseLoss(), new Sgd(model.Parameters(), 0.01), batchSize: 2) { DetectAnomaly = true };
        float[] weights = model.Fc1.Weight.Data.ToArray();
        Array.Fill(model.Fc1.Weight.Data, 10f); // 6 inputs of 3e38 times 10 overflow float in the first Linear
        var e = Assert.Throws<AnomalyException>(() => trainer.Step(Enumerable.Repeat(3e38f, 12).ToArray(), Values(6), 2));
        weights.CopyTo(model.Fc1.Weight.Data, 0);
        // The first layer whose output is not finite is named, not just the model's output.
        Assert.Equal(("Fc1", 1L), (e.Location, e.Step));
        Assert.StartsWith("step 1: the forward pass first became non-finite at Fc1 (Fc1: ", e.Message);
        Assert.Contains("although the input and parameters are finite", e.Message);

        e = Assert.Throws<AnomalyException>(() => trainer.Step(Values(12), Enumerable.Repeat(3e38f, 6).ToArray(), 2));
        Assert.Equal(("loss", 2L), (e.Location, e.Step));
        Assert.Equal("step 2: the loss is +Inf although the output is finite.", e.Message);

        model.Fc1.Weight.Data[7] = float.NegativeInfinity;
        e = Assert.Throws<AnomalyException>(() => trainer.Step(Values(12), Values(6), 2));
        Assert.Equal("step 3: parameter 'fc1.weight' already holds -Inf at element 7 before the forward pass (an earlier optimizer step or load put it there).", e.Message);
    }

    [Fact]
    public void A_nonfinite_gradient_is_named_by_its_parameter_and_clip_grad_norm_can_refuse_it()
    {
        var model = new Regressor(seed: 2);
        // Finite output and loss, but (output - target) * 2 / n overflows float in the gradient: 3e38 - (-3e38).
        var trainer = new Trainer(model, new MseLoss(), new Sgd(model.Parameters(), 0.01), batchSize: 1) { DetectAnomaly = true };
        model.Fc2.Bias!.Data[0] = 3e38f;
        float[] target = [-3e38f, 0, 0];
        var e = Assert.Throws<AnomalyException>(() => trainer.ForwardBackward(new float[6], target, 1));
        Assert.Contains(e.Location, new[] { "loss", "fc2.bias", "fc2.weight" });

        foreach (Parameter p in model.Parameters()) p.ZeroGrad();
        model.Fc1.Bias!.Grad[3] = float.NaN;
        float[] before = model.Fc2.Weight.Grad.ToArray();
        var clip = Assert.Throws<ArithmeticException>(() => GradClip.ClipGradNorm(model.Parameters(), 1f, errorIfNonfinite: true));
        Assert.Equal("clip_grad_norm: the total norm of order 2 of the gradients is NaN, so they cannot be clipped; the first non-finite gradient is that of 'fc1.bias'. The gradients are left as they were.", clip.Message);
        Assert.Equal(before, model.Fc2.Weight.Grad);
        Assert.True(float.IsNaN(GradClip.ClipGradNorm(model.Parameters(), 1f))); // PyTorch's default: returns NaN
    }

    /// <summary>The price of the checks on the Mlp at batch 64: printed, and bounded loosely since the machine is shared.</summary>
    [Fact]
    public void The_cost_of_detection_is_one_pass_over_inputs_outputs_and_gradients()
    {
        var model = new Mlp(seed: 1);
        var trainer = new Trainer(model, Loss.Nll, new Sgd(model.Parameters(), 0.01), batchSize: 64);
        float[] x = Values(64 * 784);
        int[] y = Enumerable.Range(0, 64).Select(i => i % 10).ToArray();
        double Time(bool detect)
        {
            trainer.DetectAnomaly = detect;
            for (int i = 0; i < 5; i++) trainer.Step(x, y, 64);
            var best = double.MaxValue;
            for (int round = 0; round < 5; round++)
            {
                var clock = Stopwatch.StartNew();
                for (int i = 0; i < 20; i++) trainer.Step(x, y, 64);
                best = Math.Min(best, clock.Elapsed.TotalMilliseconds / 20);
            }
            return best;
        }
        double off = Time(false), on = Time(true), offAgain = Time(false);
        off = Math.Min(off, offAgain);
        output.WriteLine($"Mlp step, batch 64: {off:F3} ms without detection, {on:F3} ms with ({100 * (on / off - 1):F1}% more)");
        // Four SIMD scans (input, parameters, output, gradients) against a step that reads and writes all of them several times.
        Assert.True(on < 3 * off + 0.5, $"detection costs {on:F3} ms against {off:F3} ms");
    }
}
