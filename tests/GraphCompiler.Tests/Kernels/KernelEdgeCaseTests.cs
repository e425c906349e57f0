// MaxPool2d's tie rule (first maximum in window order wins) on every 2×2 path and the general path; argument checks.
using GraphCompiler.Backends.Cpu;
using Xunit;
using GraphCompiler.Compiler;

namespace GraphCompiler.Tests.Kernels;

public class MaxPoolTieTests
{
    [Theory]
    [InlineData(32, 2, 2, 0)] // SIMD 2×2 path (16 outputs per row)
    [InlineData(16, 2, 2, 0)] // gather 2×2 path (8 outputs per row)
    [InlineData(6, 2, 2, 0)]  // gather path's scalar tail
    [InlineData(7, 3, 2, 1)]  // general path with padding
    public void EqualValuesPickTheFirstInWindowOrder(int size, int k, int stride, int pad)
    {
        var g = new Pool2dGeometry(2, size, size, k, k, stride, stride, pad, pad);
        int outLen = 2 * g.OutH * g.OutW;
        float[] x = new float[2 * size * size];
        x.AsSpan().Fill(1.5f);
        float[] y = new float[outLen];
        int[] argmax = new int[outLen];
        MaxPool2dKernels.Forward(x, y, argmax, g, 1);
        for (int c = 0; c < 2; c++)
            for (int oy = 0; oy < g.OutH; oy++)
                for (int ox = 0; ox < g.OutW; ox++)
                {
                    int o = (c * g.OutH + oy) * g.OutW + ox;
                    int firstRow = Math.Max(0, oy * stride - pad), firstCol = Math.Max(0, ox * stride - pad);
                    Assert.Equal(1.5f, y[o]);
                    Assert.Equal(firstRow * size + firstCol, argmax[o]);
                }
    }
}

public class ArgumentCheckTests
{
    [Fact]
    public void ShortBuffersAreRejectedByName()
    {
        var ex = Assert.Throws<ArgumentException>(() => LinearKernels.Forward(new float[5], new float[6], [], new float[4], 2, 3, 2));
        Assert.Contains("'x' has 5 elements but the shape needs 6", ex.Message);
        var g = new Conv2dGeometry(2, 3, 5, 5, 3, 3, 1, 1, 1, 1);
        ex = Assert.Throws<ArgumentException>(() => Conv2dKernels.Forward(new float[50], new float[54], [], new float[74], g, 1));
        Assert.Contains("output has 74 elements", ex.Message);
        Assert.Equal((5, 5), (g.OutH, g.OutW));
    }
}
