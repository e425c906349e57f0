// Gradient clipping against torch.nn.utils.clip_grad_norm_ / clip_grad_value_, plus its edge cases and argument checks.
using GraphCompiler.Nn;
using Xunit;
using Xunit.Abstractions;

namespace GraphCompiler.Tests.Optim;

public class GradClipTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("norm2", 1.0f, 2.0f)]
    [InlineData("norm2_noclip", 100.0f, 2.0f)]
    [InlineData("norm1", 2.0f, 1.0f)]
    [InlineData("norminf", 0.5f, float.PositiveInfinity)]
    [InlineData("norm3", 0.75f, 3.0f)]
    public void ClipGradNormMatchesPyTorch(string name, float maxNorm, float normType)
    {
        var ps = OptimReference.InitialParameters();
        OptimReference.SetGrads(ps, 0);
        float total = GradClip.ClipGradNorm(ps.Values, maxNorm, normType);
        double worst = OptimReference.AssertClose(total, OptimReference.Get($"clip.{name}.total").AsFloat()[0], 1e-6, 0, $"{name} total norm");
        foreach (string n in OptimReference.Names)
            worst = Math.Max(worst, OptimReference.AssertClose(ps[n].Grad, OptimReference.Get($"clip.{name}.{n}").AsFloat(), 1e-5, 1e-7, $"{name} clipped grad {n}").Relative);
        output.WriteLine($"{name}: total norm {total}, max |a−r|/|r| {worst:E2}");
    }

    [Fact]
    public void ClipGradValueMatchesPyTorch()
    {
        var ps = OptimReference.InitialParameters();
        OptimReference.SetGrads(ps, 0);
        GradClip.ClipGradValue(ps.Values, 0.5f);
        foreach (string n in OptimReference.Names)
            Assert.Equal(OptimReference.Get("clip.value." + n).AsFloat(), ps[n].Grad); // clamping is exact
    }

    [Fact]
    public void FrozenParametersAreLeftOutAndUnchanged()
    {
        var a = new Parameter("a", [2]);
        var frozen = new Parameter("f", [1]) { RequiresGrad = false };
        a.Grad[0] = 3; a.Grad[1] = 4; frozen.Grad[0] = 100;
        float total = GradClip.ClipGradNorm([a, frozen], maxNorm: 1);
        Assert.Equal(5f, total);
        Assert.Equal(3f / (5f + 1e-6f), a.Grad[0], 1e-7f);
        Assert.Equal(100f, frozen.Grad[0]);
        GradClip.ClipGradValue([frozen], 1);
        Assert.Equal(100f, frozen.Grad[0]);
        Assert.Equal(0f, GradClip.ClipGradNorm([frozen], 1));
    }

    [Fact]
    public void InvalidArgumentsAreRejected()
    {
        var a = new Parameter("a", [2]);
        Assert.Contains("max_norm", Assert.Throws<ArgumentOutOfRangeException>(() => GradClip.ClipGradNorm([a], -1)).Message);
        Assert.Contains("norm_type", Assert.Throws<ArgumentOutOfRangeException>(() => GradClip.ClipGradNorm([a], 1, 0)).Message);
        Assert.Contains("clip_value", Assert.Throws<ArgumentOutOfRangeException>(() => GradClip.ClipGradValue([a], -0.5f)).Message);
    }
}
