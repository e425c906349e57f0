// The generated code of both reference models, the layer-set model, ResNetMini and BlockMlp, compared line by line with checked-in snapshots, and compiled.
using Xunit;

namespace GraphCompiler.Generators.Tests;

public class SnapshotTests
{
    public static string Sample(string relative) => File.ReadAllText(Path.Combine(GeneratorHarness.RepoRoot, "samples", relative));

    [Theory]
    [InlineData("FashionMnist/Mlp.cs", "FashionMnist.Mlp")]
    [InlineData("Cifar/CifarNet.cs", "Cifar.CifarNet")]
    public void Generated_code_matches_the_snapshot_and_compiles(string sample, string hint)
    {
        var result = GeneratorHarness.Run(Sample(sample));
        Assert.Empty(result.GeneratorDiagnostics);
        string errors = string.Join("\n", result.CompileErrors.Select(d => d.ToString()));
        Assert.True(errors.Length == 0, "The generated code does not compile:\n" + errors);
        Snapshot.Verify(hint, result.Generated(hint + ".g.cs"));
    }

    /// <summary>The layer-set model (every conv/pool option and activation, fused): how each op lowers, as checked-in text.</summary>
    [Fact]
    public void LayersNet_generated_code_matches_the_snapshot_and_compiles()
    {
        var result = GeneratorHarness.Run(File.ReadAllText(Path.Combine(GeneratorHarness.RepoRoot, "tests", "GraphCompiler.Tests", "Models", "LayersNet.cs")));
        Assert.Empty(result.GeneratorDiagnostics);
        string errors = string.Join("\n", result.CompileErrors.Select(d => d.ToString()));
        Assert.True(errors.Length == 0, "The generated code does not compile:\n" + errors);
        Snapshot.Verify("GraphCompiler.Tests.Models.LayersNet", result.Generated("GraphCompiler.Tests.Models.LayersNet.g.cs"));
    }

    /// <summary>The ResNet-style model (BatchNorm, residual adds, adaptive pooling, bias-free convs, state_dict names from <c>Name</c>).</summary>
    [Fact]
    public void ResNetMini_generated_code_matches_the_snapshot_and_compiles()
    {
        var result = GeneratorHarness.Run(File.ReadAllText(Path.Combine(GeneratorHarness.RepoRoot, "tests", "GraphCompiler.Tests", "Models", "ResNetMini.cs")));
        Assert.Empty(result.GeneratorDiagnostics);
        string errors = string.Join("\n", result.CompileErrors.Select(d => d.ToString()));
        Assert.True(errors.Length == 0, "The generated code does not compile:\n" + errors);
        Snapshot.Verify("GraphCompiler.Tests.Models.ResNetMini", result.Generated("GraphCompiler.Tests.Models.ResNetMini.g.cs"));
    }

    /// <summary>A model with layer arrays and a loop in its forward body (ModuleList names, Blocks[i] in the kernels).</summary>
    [Fact]
    public void BlockMlp_generated_code_matches_the_snapshot_and_compiles()
    {
        var result = GeneratorHarness.Run(File.ReadAllText(Path.Combine(GeneratorHarness.RepoRoot, "tests", "GraphCompiler.Tests", "Models", "BlockMlp.cs")));
        Assert.Empty(result.GeneratorDiagnostics);
        string errors = string.Join("\n", result.CompileErrors.Select(d => d.ToString()));
        Assert.True(errors.Length == 0, "The generated code does not compile:\n" + errors);
        Snapshot.Verify("GraphCompiler.Tests.Models.BlockMlp", result.Generated("GraphCompiler.Tests.Models.BlockMlp.g.cs"));
    }

    [Fact]
    public void Generation_is_deterministic()
    {
        string first = GeneratorHarness.Run(Sample("Cifar/CifarNet.cs")).Generated("Cifar.CifarNet.g.cs");
        string second = GeneratorHarness.Run(Sample("Cifar/CifarNet.cs")).Generated("Cifar.CifarNet.g.cs");
        Assert.Equal(first, second);
    }

    [Fact]
    public void Snapshot_mismatch_fails_and_writes_received_file()
    {
        string name = "SelfTest" + Guid.NewGuid().ToString("N");
        string verified = Path.Combine(Snapshot.Folder, name + ".verified.cs.txt");
        string received = Path.Combine(Snapshot.Folder, name + ".received.cs.txt");
        try
        {
            File.WriteAllText(verified, "line 1\nline 2\n");
            Snapshot.Verify(name, "line 1\nline 2\n", update: false, ci: false);
            var ex = Assert.ThrowsAny<Exception>(() => Snapshot.Verify(name, "line 1\nchanged\n", update: false, ci: false));
            Assert.Contains("differs at line 2", ex.Message);
            Assert.Equal("line 1\nchanged\n", File.ReadAllText(received));
            File.Delete(verified);
            var missing = Assert.ThrowsAny<Exception>(() => Snapshot.Verify(name, "x", update: false, ci: false));
            Assert.Contains("No snapshot", missing.Message);
            var refused = Assert.ThrowsAny<Exception>(() => Snapshot.Verify(name, "x", update: true, ci: true));
            Assert.Contains("refused under CI=true", refused.Message);
            Assert.False(File.Exists(verified));
            Snapshot.Verify(name, "new text\n", update: true, ci: false);
            Assert.Equal("new text\n", File.ReadAllText(verified));
        }
        finally
        {
            File.Delete(verified);
            File.Delete(received);
        }
    }
}
