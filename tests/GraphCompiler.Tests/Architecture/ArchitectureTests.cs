// The parts' boundaries, enforced: which part may use which, and the compiler core's line budget.
using GraphCompiler.Backends.Ilgpu;
using GraphCompiler.Compiler;
using NetArchTest.Rules;
using Xunit;

namespace GraphCompiler.Tests.Architecture;

public class ArchitectureTests
{
    private static readonly System.Reflection.Assembly Runtime = typeof(Tensor).Assembly;

    private static void Holds(TestResult result, string rule) =>
        Assert.True(result.IsSuccessful, $"{rule}; offending types: {string.Join(", ", result.FailingTypeNames ?? [])}");

    [Fact]
    public void The_backends_do_not_use_each_other()
    {
        Holds(Types.InAssembly(Runtime).That().ResideInNamespace("GraphCompiler.Backends.Ilgpu")
            .ShouldNot().HaveDependencyOn("GraphCompiler.Backends.Cpu").GetResult(), "the ILGPU backend must not use the CPU backend");
        Holds(Types.InAssembly(Runtime).That().ResideInNamespace("GraphCompiler.Backends.Cpu")
            .ShouldNot().HaveDependencyOn("GraphCompiler.Backends.Ilgpu").GetResult(), "the CPU backend must not use the ILGPU backend");
        // The rule sees real dependencies: the ILGPU backend does use the core's step records.
        Assert.False(Types.InAssembly(Runtime).That().HaveName(nameof(IlgpuModel))
            .ShouldNot().HaveDependencyOn("GraphCompiler.Compiler").GetResult().IsSuccessful);
    }

    [Fact]
    public void The_compiler_core_uses_neither_the_runtime_nor_roslyn()
    {
        string[] references = [.. typeof(Schedule).Assembly.GetReferencedAssemblies().Select(a => a.Name!)];
        Assert.DoesNotContain(references, r => r.StartsWith("GraphCompiler", StringComparison.Ordinal));
        Assert.DoesNotContain(references, r => r.StartsWith("Microsoft.CodeAnalysis", StringComparison.Ordinal));
        Holds(Types.InAssembly(typeof(Schedule).Assembly).ShouldNot()
            .HaveDependencyOnAny("GraphCompiler.Backends", "GraphCompiler.Nn", "GraphCompiler.Training", "Microsoft.CodeAnalysis").GetResult(),
            "the compiler core must not use the runtime or Roslyn");
    }

    [Fact]
    public void Data_and_io_use_no_backend_and_the_runtime_not_the_generator()
    {
        Holds(Types.InAssembly(Runtime).That().ResideInNamespace("GraphCompiler.Data")
            .ShouldNot().HaveDependencyOnAny("GraphCompiler.Backends.Cpu", "GraphCompiler.Backends.Ilgpu").GetResult(), "data loading must not use a backend");
        Assert.DoesNotContain(Runtime.GetReferencedAssemblies(), a => a.Name == "GraphCompiler.Generators");
    }

    /// <summary>The core (IR, shapes, autodiff, fusion, memory plan, the typed steps) stays small: 6,000 lines at most.</summary>
    [Fact]
    public void The_compiler_core_is_within_its_line_budget()
    {
        string core = Path.Combine(RepositoryRoot(), "src", "GraphCompiler.Compiler");
        string sep = Path.DirectorySeparatorChar.ToString();
        int lines = Directory.EnumerateFiles(core, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains(sep + "obj" + sep) && !f.Contains(sep + "bin" + sep))
            .Sum(f => File.ReadLines(f).Count());
        Assert.InRange(lines, 1000, 6000);
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "GraphCompiler.sln"))) return dir.FullName;
        throw new InvalidOperationException($"No GraphCompiler.sln above {AppContext.BaseDirectory}.");
    }
}
