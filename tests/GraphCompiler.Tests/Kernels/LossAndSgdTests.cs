// Loss kernels' values and error messages, and SGD's update rules against hand-computed trajectories and the reference.
using GraphCompiler.Backends.Cpu;
using GraphCompiler.Backends.Reference;
using GraphCompiler.Nn;
using GraphCompiler.Optim;
using Xunit;

namespace GraphCompiler.Tests.Kernels;

public class LossTests
{
    [Fact]
    public void CrossEntropyOfKnownLogits()
    {
        // Row 0: logits (0, ln 3) → p = (1/4, 3/4), target 1 → −ln 0.75. Row 1: equal logits → −ln 0.5.
        float[] logits = [0f, MathF.Log(3f), 2f, 2f];
        float[] grad = new float[4];
        float loss = LossKernels.CrossEntropy(logits, [1, 0], grad, 2, 2);
        Assert.Equal((-Math.Log(0.75) - Math.Log(0.5)) / 2, loss, 6);
        // (softmax − onehot) / n
        Assert.Equal([0.125f, -0.125f, -0.25f, 0.25f], grad.Select(g => MathF.Round(g, 6)));
    }

    [Fact]
    public void CrossEntropyIsStableForHugeLogits()
    {
        float loss = LossKernels.CrossEntropy([1000f, 0f, -1000f], [0], [], 1, 3);
        Assert.Equal(0f, loss, 6);
        loss = LossKernels.CrossEntropy([1000f, 0f, -1000f], [1], [], 1, 3);
        Assert.Equal(1000f, loss, 3);
    }

    [Fact]
    public void NllOfKnownLogProbs()
    {
        float[] grad = new float[6];
        grad.AsSpan().Fill(9f); // must be overwritten, zeros included
        float loss = LossKernels.Nll([-1f, -2f, -3f, -0.5f, -0.25f, -4f], [2, 0], grad, 2, 3);
        Assert.Equal((3f + 0.5f) / 2, loss, 6);
        Assert.Equal([0f, 0, -0.5f, -0.5f, 0, 0], grad);
    }

    [Theory]
    [InlineData("CrossEntropy", 3)]
    [InlineData("CrossEntropy", -1)]
    [InlineData("Nll", 7)]
    public void TargetOutsideClassesThrowsNamingRowAndValue(string loss, int bad)
    {
        int[] targets = [0, 2, bad, 1];
        float[] x = new float[4 * 3];
        float[] grad = new float[4 * 3];
        grad.AsSpan().Fill(5f);
        var ex = Assert.Throws<ArgumentException>(() =>
        {
            if (loss == "Nll") LossKernels.Nll(x, targets, grad, 4, 3);
            else LossKernels.CrossEntropy(x, targets, grad, 4, 3);
        });
        Assert.Contains($"{(loss == "Nll" ? "nll_loss" : "cross_entropy")}: target {bad} at sample 2", ex.Message);
        Assert.Contains("[0, 3)", ex.Message);
        Assert.All(grad, g => Assert.Equal(5f, g)); // nothing written before the check
    }
}

public class SgdTests
{
    private static readonly float[] P0 = [1f, -2f, 0.5f];
    private static readonly float[][] Grads = [[0.5f, 0.25f, -1f], [-1f, 1f, 0f], [0.2f, 0.2f, 0.2f]];

    // Three steps at lr 0.1 from P0 with the gradients above, worked by hand from torch.optim.SGD's update.
    // e.g. momentum 0.9: buf₁ = g₁, p₁ = (0.95, −2.025, 0.6); buf₂ = 0.9·g₁ + g₂ = (−0.55, 1.225, −0.9),
    // p₂ = (1.005, −2.1475, 0.69); buf₃ = 0.9·buf₂ + g₃ = (−0.295, 1.3025, −0.61), p₃ = (1.0345, −2.27775, 0.751).
    [Theory]
    [InlineData(0f, 0f, 0f, false, 1.03, -2.145, 0.58)]
    [InlineData(0.9f, 0f, 0f, false, 1.0345, -2.27775, 0.751)]
    [InlineData(0.9f, 0.1f, 0f, false, 1.0175, -2.25675, 0.753)]
    [InlineData(0.9f, 0f, 0f, true, 1.06105, -2.394975, 0.8059)]
    [InlineData(0.5f, 0f, 0.01f, false, 1.038303949, -2.205083023, 0.6525770995)]
    [InlineData(0f, 0f, 0.1f, false, 1.000294, -2.0841005, 0.5631595)]
    [InlineData(0.9f, 0f, 0.05f, true, 1.0219127689, -2.3120907221, 0.7808190688)]
    public void ThreeStepsMatchHandComputedTrajectory(float momentum, float dampening, float weightDecay, bool nesterov, double e0, double e1, double e2)
    {
        float[] p = (float[])P0.Clone();
        float[] buf = momentum != 0 ? new float[3] : [];
        for (int s = 0; s < 3; s++)
            SgdKernels.Step(p, Grads[s], buf, 0.1f, momentum, dampening, weightDecay, nesterov, firstStep: s == 0);
        Assert.Equal(e0, p[0], 2e-6);
        Assert.Equal(e1, p[1], 2e-6);
        Assert.Equal(e2, p[2], 2e-6);
    }

    [Theory]
    [InlineData(0f, 0f, 0f, false)]
    [InlineData(0.9f, 0.2f, 0.01f, false)]
    [InlineData(0.8f, 0f, 0.001f, true)]
    public void LongBufferMatchesReferenceOverFiveSteps(float momentum, float dampening, float weightDecay, bool nesterov)
    {
        // 2,500 elements: more than two 1,024-element chunks plus a ragged tail.
        var rng = new Rng(21);
        const int len = 2500;
        float[] p = Data.Uniform(rng, len);
        double[] pRef = Data.ToDouble(p);
        float[] buf = new float[momentum != 0 ? len : 0];
        double[] bufRef = new double[buf.Length];
        for (int s = 0; s < 5; s++)
        {
            float[] g = Data.Uniform(rng, len);
            SgdKernels.Step(p, g, buf, 0.05f, momentum, dampening, weightDecay, nesterov, s == 0);
            ReferenceKernels.SgdStep(pRef, Data.ToDouble(g), bufRef, 0.05f, momentum, dampening, weightDecay, nesterov, s == 0);
        }
        Data.AssertClose(p, pRef, 1e-5, "parameters after 5 SGD steps");
        Data.AssertClose(buf, bufRef, 1e-5, "momentum buffer after 5 SGD steps");
    }

    [Fact]
    public void OptimizerSkipsFrozenParametersAndZeroesGradients()
    {
        var a = new Parameter("a", [2]);
        var b = new Parameter("b", [2]) { RequiresGrad = false };
        a.Data[0] = 1; a.Data[1] = 2; b.Data[0] = 3; b.Data[1] = 4;
        var sgd = new Sgd([a, b], lr: 0.5f, momentum: 0.9f);
        a.Grad[0] = 1; a.Grad[1] = -1; b.Grad[0] = 1; b.Grad[1] = 1;
        sgd.Step();
        Assert.Equal([0.5f, 2.5f], a.Data);
        Assert.Equal([3f, 4f], b.Data);
        sgd.Step(); // buf = 0.9·g + g = 1.9·g
        Assert.Equal([-0.45f, 3.45f], a.Data.Select(v => MathF.Round(v, 5)));

        // Unfreezing later starts b's momentum buffer from its own first step.
        b.RequiresGrad = true;
        sgd.Step();
        Assert.Equal([2.5f, 3.5f], b.Data);

        sgd.ZeroGrad();
        Assert.All(a.Grad.Concat(b.Grad), g => Assert.Equal(0f, g));
        sgd.LearningRate = 0.25f;
        Assert.Equal(0.25f, sgd.LearningRate);
    }

    [Fact]
    public void NesterovWithoutMomentumIsRejected()
    {
        var ex = Assert.Throws<ArgumentException>(() => new Sgd([new Parameter("w", [1])], 0.1f, nesterov: true));
        Assert.Contains("Nesterov", ex.Message);
    }
}
