// The fused Adam/AdamW kernel on buffers long enough for many vectors plus a ragged tail, against a float64 transcription of PyTorch's formulas.
using GraphCompiler.Backends.Cpu;
using TestData = GraphCompiler.Tests.Kernels.Data;
using Xunit;

namespace GraphCompiler.Tests.Optim;

public class AdamKernelTests
{
    [Theory]
    [InlineData(false, false, 0.0)]
    [InlineData(false, true, 0.01)]
    [InlineData(true, false, 0.05)]
    [InlineData(true, true, 0.1)]
    public void LongBufferMatchesFloat64ReferenceOverFiveSteps(bool decoupled, bool amsgrad, double weightDecay)
    {
        const int len = 2503; // 156 Vector512s, then a Vector256 and a 7-element scalar tail
        const double lr = 0.01, beta1 = 0.85, beta2 = 0.99, eps = 1e-8;
        var rng = new Rng(7);
        float[] p = TestData.Uniform(rng, len), m = new float[len], v = new float[len], vmax = amsgrad ? new float[len] : [];
        double[] pr = TestData.ToDouble(p), mr = new double[len], vr = new double[len], vmaxr = new double[len];
        for (int step = 1; step <= 5; step++)
        {
            float[] g = TestData.Uniform(rng, len, scale: step);
            AdamKernels.Step(p, g, m, v, vmax, step, lr, beta1, beta2, eps, weightDecay, decoupled);
            double bc1 = 1 - Math.Pow(beta1, step), bc2 = 1 - Math.Pow(beta2, step);
            for (int i = 0; i < len; i++)
            {
                double gi = g[i];
                if (decoupled) pr[i] *= 1 - lr * weightDecay;
                else gi += weightDecay * pr[i];
                mr[i] = beta1 * mr[i] + (1 - beta1) * gi;
                vr[i] = beta2 * vr[i] + (1 - beta2) * gi * gi;
                double vh = vr[i];
                if (amsgrad) vh = vmaxr[i] = Math.Max(vmaxr[i], vr[i]);
                pr[i] -= lr / bc1 * mr[i] / (Math.Sqrt(vh) / Math.Sqrt(bc2) + eps);
            }
        }
        TestData.AssertClose(p, pr, 1e-5, "parameters after 5 Adam steps");
        TestData.AssertClose(m, mr, 1e-5, "exp_avg");
        TestData.AssertClose(v, vr, 1e-5, "exp_avg_sq");
        if (amsgrad) TestData.AssertClose(vmax, vmaxr, 1e-5, "max_exp_avg_sq");
    }

    [Fact]
    public void MismatchedBuffersAndStepZeroAreRejected()
    {
        float[] p = new float[4], g = new float[4], m = new float[4], v = new float[4];
        Assert.Throws<ArgumentException>(() => AdamKernels.Step(p, new float[3], m, v, [], 1, 1e-3, 0.9, 0.999, 1e-8, 0, false));
        Assert.Throws<ArgumentException>(() => AdamKernels.Step(p, g, new float[5], v, [], 1, 1e-3, 0.9, 0.999, 1e-8, 0, false));
        Assert.Throws<ArgumentException>(() => AdamKernels.Step(p, g, m, v, new float[2], 1, 1e-3, 0.9, 0.999, 1e-8, 0, false));
        Assert.Throws<ArgumentOutOfRangeException>(() => AdamKernels.Step(p, g, m, v, [], 0, 1e-3, 0.9, 0.999, 1e-8, 0, false));
    }
}
