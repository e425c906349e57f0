// The fused element-wise chain kernel beyond the OpsTable checks: in place, bad arguments, and no allocation.
using GraphCompiler.Backends.Cpu;
using Xunit;
using GraphCompiler.Compiler;

namespace GraphCompiler.Tests.Kernels;

public class ElementwiseChainKernelTests
{
    private static readonly ElementwiseChain Chain =
        new(Elementwise.Gelu(approximateTanh: true), Elementwise.LeakyRelu(-0.2f), Elementwise.Sigmoid);

    [Fact]
    public void Forward_and_backward_may_work_in_place()
    {
        float[] x = Data.Uniform(new Rng(5), 700, 3f), dy = Data.Uniform(new Rng(6), 700);
        float[] y = new float[700], dx = new float[700];
        ElementwiseChainKernels.Forward(x, y, Chain);
        ElementwiseChainKernels.Backward(x, dy, dx, Chain);
        float[] inPlace = (float[])x.Clone(), gradInPlace = (float[])dy.Clone();
        ElementwiseChainKernels.Forward(inPlace, inPlace, Chain);
        ElementwiseChainKernels.Backward(x, gradInPlace, gradInPlace, Chain);
        Assert.Equal(y, inPlace);
        Assert.Equal(dx, gradInPlace);
    }

    [Fact]
    public void Bad_arguments_fail_with_their_names()
    {
        float[] x = new float[10];
        Assert.Equal("y", Assert.Throws<ArgumentException>(() => ElementwiseChainKernels.Forward(x, new float[9], Chain)).ParamName);
        Assert.Equal("dy", Assert.Throws<ArgumentException>(() => ElementwiseChainKernels.Backward(x, new float[9], new float[10], Chain)).ParamName);
        Assert.Equal("dx", Assert.Throws<ArgumentException>(() => ElementwiseChainKernels.Backward(x, x, new float[9], Chain)).ParamName);
        Assert.Equal("chain", Assert.Throws<ArgumentNullException>(() => ElementwiseChainKernels.Forward(x, x, null!)).ParamName);
        Assert.Throws<ArgumentException>(() => new ElementwiseChain());
        Assert.Throws<ArgumentOutOfRangeException>(() => Elementwise.LeakyRelu(float.NaN));
    }

    [Theory]
    [InlineData(1000)]
    [InlineData(1 << 17)] // split across cores
    public void Steps_allocate_nothing(int len)
    {
        float[] x = Data.Uniform(new Rng(7), len, 3f), y = new float[len], dy = Data.Uniform(new Rng(8), len), dx = new float[len];
        void Step()
        {
            ElementwiseChainKernels.Forward(x, y, Chain);
            ElementwiseChainKernels.Backward(x, dy, dx, Chain);
        }
        Step();
        Assert.Equal(0, Allocations.LeastPerRound(Step));
    }
}
