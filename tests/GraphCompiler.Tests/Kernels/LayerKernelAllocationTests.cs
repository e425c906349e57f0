// The pooling, activation and softmax kernels and the grouped/dilated convolution allocate nothing in steady state,
// single-threaded and split across cores alike.
using GraphCompiler.Backends.Cpu;
using Xunit;
using GraphCompiler.Compiler;

namespace GraphCompiler.Tests.Kernels;

public class LayerKernelAllocationTests
{
    public static TheoryData<int> Sizes => new() { 1, 16 }; // batch 16 is large enough for every kernel to go parallel

    [Theory]
    [MemberData(nameof(Sizes))]
    public void StepsAllocateNothing(int n)
    {
        var rng = new Rng(3);
        var conv = new Conv2dGeometry(32, 64, 16, 16, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 4);
        var depthwise = new Conv2dGeometry(16, 16, 20, 20, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 16);
        var pool = new Pool2dGeometry(32, 32, 32, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, 0);
        var maxPool = new Pool2dGeometry(32, 32, 32, 3, 3, 2, 2, 1, 1, 1, 1, 2, 2, 1, 1);
        var adaptive = new AdaptivePool2dGeometry(32, 32, 32, 7, 7);
        float[] x = Data.Uniform(rng, n * 32 * 32 * 32), dx = new float[x.Length];
        float[] w = Data.Uniform(rng, 64 * conv.PatchSize), b = Data.Uniform(rng, 64), dw = new float[w.Length], db = new float[64];
        float[] y = new float[n * 64 * conv.OutH * conv.OutW];
        float[] dwDepth = new float[16 * depthwise.PatchSize], yDepth = new float[n * 16 * depthwise.OutH * depthwise.OutW];
        float[] yPool = new float[n * 32 * pool.OutH * pool.OutW], yMax = new float[n * 32 * maxPool.OutH * maxPool.OutW];
        int[] argmax = new int[yMax.Length];
        float[] yAdaptive = new float[n * 32 * 49], act = new float[x.Length];

        void Step()
        {
            Conv2dKernels.Forward(x, w, b, y, conv, n, Elementwise.Sigmoid);
            Conv2dKernels.BackwardInput(y, w, dx, conv, n, x, Elementwise.LeakyRelu(0.1f));
            Conv2dKernels.BackwardParams(y, x, dw, db, conv, n);
            Conv2dKernels.Forward(x, dwDepth, [], yDepth, depthwise, n);
            Conv2dKernels.BackwardParams(yDepth, x, dwDepth, [], depthwise, n);
            AvgPool2dKernels.Forward(x, yPool, pool, n);
            AvgPool2dKernels.Backward(yPool, dx, pool, n);
            MaxPool2dKernels.Forward(x, yMax, argmax, maxPool, n);
            MaxPool2dKernels.Backward(yMax, argmax, dx, maxPool, n);
            AdaptiveAvgPool2dKernels.Forward(x, yAdaptive, adaptive, n);
            AdaptiveAvgPool2dKernels.Backward(yAdaptive, dx, adaptive, n);
            ElementwiseKernels.Forward(x, act, Elementwise.Tanh);
            ElementwiseKernels.Backward(act, x, dx, Elementwise.Tanh);
            ElementwiseKernels.Forward(x, act, Elementwise.Gelu(approximateTanh: false));
            ElementwiseKernels.Backward(x, act, dx, Elementwise.Gelu(approximateTanh: true));
            ElementwiseKernels.Forward(x, act, Elementwise.Silu);
            ElementwiseKernels.Backward(x, act, dx, Elementwise.Silu);
            SoftmaxKernels.Forward(x, act, n * 32, 32, 32);
            SoftmaxKernels.Backward(act, x, dx, n, 32, 1024);
            LogSoftmaxKernels.Forward(x, act, n * 32 * 32, 32, 1);
            LogSoftmaxKernels.Backward(act, x, dx, n * 32, 32, 32);
        }

        Step(); // first call: per-thread scratch grows, methods are compiled
        Assert.Equal(0, Allocations.LeastPerRound(Step));
    }
}
