// The parts' boundaries, enforced: which part may use which, and the compiler core's line budget.
using GraphCompiler.Backends.Ilgpu;
using GraphCompiler.Compiler;
using NetArchTest.Rules;
using Xunit;

namespace GraphCompiler.Tests.Architecture;

public class ArchitectureTests
{
    private static readonly System.Reflection.Assembly Runtime = typeof(Tensor).Assembly;
    private static readonly System.Reflection.Assembly Cpu = typeof(GraphCompiler.Backends.Cpu.LinearKernels).Assembly;
    private static readonly System.Reflection.Assembly Ilgpu = typeof(IlgpuModel).Assembly;

    private static void Holds(TestResult result, string rule) =>
        Assert.True(result.IsSuccessful, $"{rule}; offending types: {string.Join(", ", result.FailingTypeNames ?? [])}");

    private static string[] References(System.Reflection.Assembly assembly) => [.. assembly.GetReferencedAssemblies().Select(a => a.Name!)];

    [Fact]
    public void The_backends_are_projects_of_their_own_that_do_not_use_each_other()
    {
        Assert.Equal(("GraphCompiler.Backends.Cpu", "GraphCompiler.Backends.Ilgpu"), (Cpu.GetName().Name, Ilgpu.GetName().Name));
        // The CPU backend stands on the core alone; the ILGPU backend on the core and the runtime's contract, never the CPU's.
        Assert.Equal(["GraphCompiler.Compiler"], References(Cpu).Where(r => r.StartsWith("GraphCompiler", StringComparison.Ordinal)));
        Assert.DoesNotContain("GraphCompiler.Backends.Cpu", References(Ilgpu));
        Assert.DoesNotContain(References(Runtime), r => r.StartsWith("ILGPU", StringComparison.Ordinal) || r == Ilgpu.GetName().Name);
        Holds(Types.InAssembly(Ilgpu).ShouldNot().HaveDependencyOn("GraphCompiler.Backends.Cpu").GetResult(), "the ILGPU backend must not use the CPU backend");
        Holds(Types.InAssembly(Cpu).ShouldNot().HaveDependencyOnAny("GraphCompiler.Backends.Ilgpu", "GraphCompiler.Training", "GraphCompiler.Optim").GetResult(),
            "the CPU backend must not use the ILGPU backend or the runtime");
        // The rule sees real dependencies: the ILGPU backend does use the core's step records.
        Assert.False(Types.InAssembly(Ilgpu).That().HaveName(nameof(IlgpuModel))
            .ShouldNot().HaveDependencyOn("GraphCompiler.Compiler").GetResult().IsSuccessful);
    }

    [Fact]
    public void The_runtime_finds_the_ilgpu_backend_by_its_assembly_attribute()
    {
        Assert.IsType<IlgpuBackend>(DeviceBackends.TryFind(DeviceType.IlgpuCpu));
        Assert.IsType<IlgpuBackend>(DeviceBackends.For(Device.Cuda(0)));
        Assert.Null(DeviceBackends.TryFind(DeviceType.Cpu));
    }

    [Fact]
    public void A_program_without_the_ilgpu_backend_is_told_which_package_to_add_and_auto_means_the_cpu()
    {
        // The fault-test child references the runtime alone.
        var start = new System.Diagnostics.ProcessStartInfo(Environment.ProcessPath!,
            ["exec", Path.Combine(AppContext.BaseDirectory, "GraphCompiler.FaultChild.dll"), "device-backend", "ilgpu-cpu"])
        { RedirectStandardOutput = true };
        using var child = System.Diagnostics.Process.Start(start)!;
        string output = child.StandardOutput.ReadToEnd();
        Assert.True(child.WaitForExit(60_000));
        Assert.Contains("refused: No backend for device 'ilgpu-cpu' is deployed with this application: add a reference to GraphCompiler.Backends.Ilgpu", output);
        Assert.Contains("auto: cpu", output);
    }

    [Fact]
    public void The_compiler_core_uses_neither_the_runtime_nor_roslyn()
    {
        string[] references = [.. typeof(Schedule).Assembly.GetReferencedAssemblies().Select(a => a.Name!)];
        Assert.DoesNotContain(references, r => r.StartsWith("GraphCompiler", StringComparison.Ordinal));
        Assert.DoesNotContain(references, r => r.StartsWith("Microsoft.CodeAnalysis", StringComparison.Ordinal));
        // The one runtime-namespace type the core defines is the Reduction enum the losses and every backend's loss kernels take.
        Assert.Equal([typeof(GraphCompiler.Nn.Reduction)], typeof(Schedule).Assembly.GetExportedTypes().Where(t => t.Namespace == "GraphCompiler.Nn"));
        Holds(Types.InAssembly(typeof(Schedule).Assembly).That().DoNotResideInNamespace("GraphCompiler.Nn").ShouldNot()
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
