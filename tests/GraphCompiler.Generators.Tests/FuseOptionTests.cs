// [Model(Fuse = false)] reaches the compiler core: the same forward body yields one kernel per op instead of fused kernels.
using Xunit;

namespace GraphCompiler.Generators.Tests;

public class FuseOptionTests
{
    private static string Model(string attribute) => $$"""
        using GraphCompiler;
        using GraphCompiler.Nn;
        namespace Test;
        {{attribute}} public partial class Net
        {
            [Linear(4, 3)] public partial Linear Fc1 { get; }
            [Linear(3, 2)] public partial Linear Fc2 { get; }

            [Forward(Input = "N,4")]
            Tensor Forward(Tensor x) => x.Apply(Fc1).Relu().Apply(Fc2).LogSoftmax(dim: 1);
        }
        """;

    [Theory]
    // Fused: Fc1's forward applies the ReLU, Fc2's dx applies its backward, and the LogSoftmax backward is skippable.
    [InlineData("[Model]", 0, 2, 1)]
    [InlineData("[Model(Fuse = true)]", 0, 2, 1)]
    [InlineData("[Model(Fuse = false)]", 2, 0, 0)]
    public void The_fuse_option_decides_between_relu_kernels_and_epilogues(string attribute, int reluKernels, int epilogues, int skippableLogSoftmax)
    {
        var result = GeneratorHarness.Run(Model(attribute));
        Assert.Empty(result.CompileErrors);
        string code = result.Generated("Test.Net.g.cs");
        // A ReLU kernel of its own, or the ReLU as the trailing argument (epilogue) of a GEMM kernel's call.
        int reluCalls = CountOf(code, "ElementwiseKernels.Forward(") + CountOf(code, "ElementwiseKernels.Backward(");
        Assert.Equal(reluKernels, reluCalls);
        Assert.Equal(epilogues + reluCalls, CountOf(code, ", Elementwise.Relu);"));
        Assert.Equal(skippableLogSoftmax, CountOf(code, "if (!ws.LossGradAtLogits"));
    }

    private static int CountOf(string text, string what) => (text.Length - text.Replace(what, "").Length) / what.Length;
}
