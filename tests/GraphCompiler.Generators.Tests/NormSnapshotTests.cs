// The generated code of the normalisation and dropout test models (BatchNorm, LayerNorm, Dropout; Train/Eval; Buffers),
// compared line by line with checked-in snapshots, and compiled.
using Xunit;

namespace GraphCompiler.Generators.Tests;

public class NormSnapshotTests
{
    [Theory]
    [InlineData("GraphCompiler.Tests.Models.NormNet")]
    [InlineData("GraphCompiler.Tests.Models.DropNet")]
    public void Generated_code_matches_the_snapshot_and_compiles(string hint)
    {
        string source = File.ReadAllText(Path.Combine(GeneratorHarness.RepoRoot, "tests", "GraphCompiler.Tests", "Models", "NormNet.cs"));
        var result = GeneratorHarness.Run(source);
        Assert.Empty(result.GeneratorDiagnostics);
        string errors = string.Join("\n", result.CompileErrors.Select(d => d.ToString()));
        Assert.True(errors.Length == 0, "The generated code does not compile:\n" + errors);
        Snapshot.Verify(hint, result.Generated(hint + ".g.cs"));
    }
}
