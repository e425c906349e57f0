// The pipeline caches: an edit elsewhere leaves the Parse and Compile steps cached; an edit of the model reruns them.
using GraphCompiler.Generators;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Xunit;

namespace GraphCompiler.Generators.Tests;

public class IncrementalTests
{
    private static (GeneratorDriver Driver, CSharpCompilation Compilation) FirstRun()
    {
        CSharpCompilation compilation = GeneratorHarness.CreateCompilation(
            SnapshotTests.Sample("Cifar/CifarNet.cs"),
            "namespace Other; public static class Helper { public static int Value => 1; }");
        GeneratorDriver driver = GeneratorHarness.CreateDriver().RunGenerators(compilation);
        return (driver, compilation);
    }

    private static IEnumerable<IncrementalStepRunReason> Reasons(GeneratorDriver driver, string step) =>
        driver.GetRunResult().Results.Single().TrackedSteps[step].SelectMany(s => s.Outputs).Select(o => o.Reason);

    [Fact]
    public void Unrelated_edit_leaves_every_step_cached()
    {
        var (driver, compilation) = FirstRun();
        SyntaxTree other = compilation.SyntaxTrees.Last();
        CSharpCompilation edited = compilation.ReplaceSyntaxTree(other,
            other.WithChangedText(Microsoft.CodeAnalysis.Text.SourceText.From("namespace Other; public static class Helper { public static int Value => 2; }")));
        driver = driver.RunGenerators(edited);
        // The attribute step may re-run its transform (Unchanged) or skip it (Cached); either way its output is equal,
        // so Compile and the source output downstream are not re-run.
        Assert.All(Reasons(driver, ModelGenerator.Steps.Parse), r => Assert.Contains(r, new[] { IncrementalStepRunReason.Cached, IncrementalStepRunReason.Unchanged }));
        Assert.All(Reasons(driver, ModelGenerator.Steps.Compile), r => Assert.Equal(IncrementalStepRunReason.Cached, r));
        Assert.NotEmpty(Reasons(driver, ModelGenerator.Steps.Compile));
    }

    [Fact]
    public void Editing_the_model_reruns_parse_and_compile()
    {
        var (driver, compilation) = FirstRun();
        SyntaxTree model = compilation.SyntaxTrees.First();
        string text = model.ToString().Replace("[Linear(64, 10)]", "[Linear(64, 12)]");
        driver = driver.RunGenerators(compilation.ReplaceSyntaxTree(model, model.WithChangedText(Microsoft.CodeAnalysis.Text.SourceText.From(text))));
        Assert.Contains(IncrementalStepRunReason.Modified, Reasons(driver, ModelGenerator.Steps.Parse));
        Assert.Contains(IncrementalStepRunReason.Modified, Reasons(driver, ModelGenerator.Steps.Compile));
        Assert.Contains("OutputShape = [12]", driver.GetRunResult().GeneratedTrees.Single().ToString());
    }
}
