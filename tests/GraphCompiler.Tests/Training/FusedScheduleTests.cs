// Fused and unfused schedules of both reference models compute the same numbers: outputs, loss, every gradient, and the
// weights after a few SGD steps; and the generated peak-memory figures follow the plan.
using Cifar;
using FashionMnist;
using GraphCompiler.Nn;
using GraphCompiler.Optim;
using GraphCompiler.Tests.Models;
using GraphCompiler.Training;
using Xunit;

namespace GraphCompiler.Tests.Training;

public class FusedScheduleTests
{
    private static (float[] X, int[] Y) RandomBatch(int n, int perSample, ulong seed) => TrainerTests.RandomBatch(n, perSample, seed);

    /// <summary>Three SGD steps on each model from the same seed; compares loss, output, gradients and weights after each.</summary>
    private static void SameTraining(ICompiledModel fused, ICompiledModel plain, Loss loss, int batch, int perSample, float tolerance)
    {
        Assert.Equal(fused.Parameters().Select(p => p.Name), plain.Parameters().Select(p => p.Name));
        var tf = new Trainer(fused, loss, new Sgd(fused.Parameters(), lr: 0.05f, momentum: 0.9f), batch);
        var tp = new Trainer(plain, loss, new Sgd(plain.Parameters(), lr: 0.05f, momentum: 0.9f), batch);
        for (int step = 0; step < 3; step++)
        {
            var (x, y) = RandomBatch(batch, perSample, (ulong)step + 10);
            float lf = tf.Step(x, y, batch), lp = tp.Step(x, y, batch);
            Assert.Equal(lp, lf, tolerance);
            AssertClose(tp.Workspace.Output.AsSpan(0, batch * 10), tf.Workspace.Output.AsSpan(0, batch * 10), tolerance, "output");
            for (int i = 0; i < fused.Parameters().Count; i++)
            {
                Parameter pf = fused.Parameters()[i], pp = plain.Parameters()[i];
                AssertClose(pp.Grad, pf.Grad, tolerance, $"step {step} {pp.Name}.grad");
                AssertClose(pp.Data, pf.Data, tolerance, $"step {step} {pp.Name}");
            }
        }
    }

    private static void AssertClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, float tolerance, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            if (MathF.Abs(expected[i] - actual[i]) > tolerance * (1 + MathF.Abs(expected[i])))
                Assert.Fail($"{what}[{i}]: unfused {expected[i]}, fused {actual[i]}");
    }

    [Fact]
    public void Mlp_fused_and_unfused_train_alike_with_the_fused_nll_loss() =>
        SameTraining(new Mlp(seed: 4), new MlpUnfused(seed: 4), Loss.Nll, batch: 100, perSample: 784, tolerance: 1e-5f);

    [Fact]
    public void CifarNet_fused_and_unfused_train_alike() =>
        SameTraining(new CifarNet(seed: 4), new CifarNetUnfused(seed: 4), Loss.CrossEntropy, batch: 8, perSample: 3072, tolerance: 1e-4f);

    [Fact]
    public void An_inference_workspace_gives_the_training_forward_output()
    {
        ICompiledModel model = new CifarNet(seed: 2);
        var (x, _) = RandomBatch(4, 3072, 7);
        ModelWorkspace train = model.CreateWorkspace(4, training: true), infer = model.CreateWorkspace(4, training: false);
        train.SetInput(x, 4);
        infer.SetInput(x, 4);
        model.Forward(train);
        model.Forward(infer);
        Assert.Equal(train.Output, infer.Output);
    }

    [Fact]
    public void Peak_bytes_of_the_mlp_match_the_hand_computation()
    {
        // Per sample, training: arena 320 floats (Fc1Out | Fc1Grad+Fc2Out share 128..256 | Fc3Out 192..202 | Fc2Grad
        // 256..320) + input 784 + log-probabilities 10 + their gradient 10 + logits gradient 10 = 1134 floats.
        Assert.Equal(64L * 1134 * 4, Mlp.PeakBytes(64, training: true));
        // Inference: arena 192 floats (Fc1Out 128 and Fc2Out 64, Fc3Out back at 0) + input 784 + output 10 = 986 floats.
        Assert.Equal(64L * 986 * 4, Mlp.PeakBytes(64, training: false));
        // Unfused, the ReLU outputs and gradients need room of their own.
        Assert.True(MlpUnfused.PeakBytes(64, training: true) > Mlp.PeakBytes(64, training: true));
    }
}
