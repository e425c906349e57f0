// Kernels with a fused activation (forward epilogue) or activation backward (gradient epilogue) equal the unfused pair.
using GraphCompiler.Backends.Cpu;
using Xunit;
using GraphCompiler.Compiler;

namespace GraphCompiler.Tests.Kernels;

public class EpilogueTests
{
    private static float[] Random(Rng rng, int n) => Data.Uniform(rng, n, 2f);

    [Theory]
    [InlineData(5, 7, 3, false, false)]      // one edge tile
    [InlineData(70, 45, 400, true, false)]   // several depth blocks: only the last store may clamp
    [InlineData(256, 256, 260, false, true)] // large enough for the parallel path
    public void Gemm_relu_epilogue_is_relu_of_the_product(int m, int n, int k, bool accumulate, bool transB)
    {
        var rng = new Rng(9);
        float[] a = Random(rng, m * k), b = Random(rng, k * n), c0 = Random(rng, m * n);
        float[] expected = (float[])c0.Clone(), actual = (float[])c0.Clone();
        int ldb = transB ? k : n;
        Gemm.Multiply(false, transB, m, n, k, a, k, b, ldb, expected, n, accumulate);
        ElementwiseKernels.Forward(expected, expected, Elementwise.Relu);
        Gemm.Multiply(false, transB, m, n, k, a, k, b, ldb, actual, n, accumulate, allowParallel: true, Elementwise.Relu);
        Assert.Equal(expected, actual);
    }

    [Theory]
    [InlineData(3, 17, 33)]
    [InlineData(130, 400, 9)] // several depth blocks
    public void Linear_forward_with_relu_is_relu_of_linear(int n, int inF, int outF)
    {
        var rng = new Rng(1);
        float[] x = Random(rng, n * inF), w = Random(rng, outF * inF), b = Random(rng, outF);
        float[] expected = new float[n * outF], actual = new float[n * outF];
        LinearKernels.Forward(x, w, b, expected, n, inF, outF);
        ElementwiseKernels.Forward(expected, expected, Elementwise.Relu);
        LinearKernels.Forward(x, w, b, actual, n, inF, outF, Elementwise.Relu);
        Assert.Equal(expected, actual);
        Assert.Contains(0f, actual);
    }

    [Theory]
    [InlineData(3, 17, 33)]
    [InlineData(130, 40, 9)] // more than one 64-row epilogue block
    public void Linear_backward_input_with_relu_mask_is_relu_backward_of_it(int n, int inF, int outF)
    {
        var rng = new Rng(2);
        float[] dy = Random(rng, n * outF), w = Random(rng, outF * inF), y = Random(rng, n * inF);
        float[] dx = new float[n * inF], expected = new float[n * inF], actual = new float[n * inF];
        LinearKernels.BackwardInput(dy, w, dx, n, inF, outF);
        ElementwiseKernels.Backward(y, dx, expected, Elementwise.Relu);
        LinearKernels.BackwardInput(dy, w, actual, n, inF, outF, y, Elementwise.Relu);
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void Conv_forward_with_relu_and_backward_input_with_mask_match_the_separate_kernels()
    {
        var rng = new Rng(3);
        var g = new Conv2dGeometry(3, 8, 9, 9, 3, 3, 1, 1, 1, 1);
        int n = 5, inSize = 3 * 81, outSize = 8 * 81;
        float[] x = Random(rng, n * inSize), w = Random(rng, 8 * 27), b = Random(rng, 8);
        float[] expected = new float[n * outSize], actual = new float[n * outSize];
        Conv2dKernels.Forward(x, w, b, expected, g, n);
        ElementwiseKernels.Forward(expected, expected, Elementwise.Relu);
        Conv2dKernels.Forward(x, w, b, actual, g, n, Elementwise.Relu);
        Assert.Equal(expected, actual);

        float[] dy = Random(rng, n * outSize), xAct = Random(rng, n * inSize);
        float[] dx = new float[n * inSize], dxExpected = new float[n * inSize], dxActual = new float[n * inSize];
        Conv2dKernels.BackwardInput(dy, w, dx, g, n);
        ElementwiseKernels.Backward(xAct, dx, dxExpected, Elementwise.Relu);
        Conv2dKernels.BackwardInput(dy, w, dxActual, g, n, xAct, Elementwise.Relu);
        Assert.Equal(dxExpected, dxActual);
    }

    [Theory]
    [InlineData(2, 2, 8, 8)]   // tiled 2x2 path
    [InlineData(3, 2, 9, 9)]   // overlapping windows, general scatter
    [InlineData(2, 2, 12, 12)] // tiled, width not a multiple of 16 (gather path)
    public void Pool_backward_with_relu_mask_is_relu_backward_of_the_scatter(int k, int s, int h, int wIn)
    {
        var rng = new Rng(4);
        int n = 3, c = 4, oh = (h - k) / s + 1, ow = (wIn - k) / s + 1;
        var g = new Pool2dGeometry(c, h, wIn, k, k, s, s, 0, 0);
        float[] relu = Random(rng, n * c * h * wIn);
        for (int i = 0; i < relu.Length; i++) relu[i] -= 1.6f; // mostly negative, so some windows are all zero after the ReLU
        ElementwiseKernels.Forward(relu, relu, Elementwise.Relu);
        float[] y = new float[n * c * oh * ow];
        int[] argmax = new int[y.Length];
        MaxPool2dKernels.Forward(relu, y, argmax, g, n);
        float[] dy = Random(rng, y.Length);
        float[] scattered = new float[relu.Length], expected = new float[relu.Length], actual = new float[relu.Length];
        MaxPool2dKernels.Backward(dy, argmax, scattered, g, n);
        ElementwiseKernels.Backward(relu, scattered, expected, Elementwise.Relu);
        MaxPool2dKernels.Backward(dy, argmax, actual, g, n, y, Elementwise.Relu);
        Assert.Equal(expected, actual);
        Assert.Contains(0f, y); // some windows are all zero after the ReLU, so the mask matters
    }

    [Fact]
    public void Nll_of_log_softmax_equals_nll_then_log_softmax_backward()
    {
        var rng = new Rng(5);
        int n = 7, c = 10;
        float[] logits = Random(rng, n * c), logProbs = new float[n * c];
        int[] t = Data.Targets(rng, n, c);
        LogSoftmaxKernels.Forward(logits, logProbs, n, c);
        float[] dy = new float[n * c], expected = new float[n * c], actual = new float[n * c];
        float l1 = LossKernels.Nll(logProbs, t, dy, n, c);
        LogSoftmaxKernels.Backward(logProbs, dy, expected, n, c);
        float l2 = LossKernels.NllOfLogSoftmax(logProbs, t, actual, n, c);
        Assert.Equal(l1, l2);
        for (int i = 0; i < n * c; i++) Assert.Equal(expected[i], actual[i], 1e-6f);
    }
}
