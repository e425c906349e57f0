// A model beyond a chain (residual blocks, a broadcast gate, a Cat of two branches, a layer applied twice) through the
// generator: no diagnostics, code that compiles, and the DAG-specific parts of Backward.
using Xunit;

namespace GraphCompiler.Generators.Tests;

public class DagModelTests
{
    private static string Generate()
    {
        string source = File.ReadAllText(Path.Combine(GeneratorHarness.RepoRoot, "tests", "GraphCompiler.Tests", "Models", "ResidualNet.cs"));
        var result = GeneratorHarness.Run(source);
        Assert.Empty(result.GeneratorDiagnostics);
        string errors = string.Join("\n", result.CompileErrors.Select(d => d.ToString()));
        Assert.True(errors.Length == 0, "The generated code does not compile:\n" + errors);
        string code = result.Generated("GraphCompiler.Tests.Models.ResidualNet.g.cs");
        File.WriteAllText("/tmp/ResidualNet.g.cs", code);
        return code;
    }

    [Fact]
    public void Residual_net_compiles_with_gradient_sums_and_dag_guards()
    {
        string code = Generate();
        // The stem (its ReLU fused in, so named after the conv) feeds Block1Conv1 and the identity shortcut: the shortcut's contribution is added in.
        Assert.Contains("AddKernels.Accumulate(ws.StemGrad2[..(n * 512)], ws.StemGrad[..(n * 512)]);", code);
        // The projection shortcut reads block1, which has the stem and Block1Conv2 upstream.
        Assert.Contains("bool trainsToBlock2Shortcut = trainsToBlock1Conv2 || Block2Shortcut.Trainable;", code);
        // Hidden applied twice: its second application has buffers of its own and a flag chained on the first.
        Assert.Contains("bool trainsToHidden_2 = trainsToHidden || Hidden.Trainable;", code);
        Assert.Contains("ws.Hidden_2Out", code);
        Assert.Equal(4, code.Split("LinearKernels.BackwardParams(").Length - 1); // Fc, Head and Hidden twice
        Assert.Contains("CatKernels.Forward(", code);
        Assert.Contains("MulKernels.BackwardRight(", code);
    }
}
