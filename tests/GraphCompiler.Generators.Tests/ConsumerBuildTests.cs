// Builds real projects with `dotnet build`: the SDK's own compiler must load and run the generator (a generator built
// against a newer Roslyn is silently skipped), and a shape error must fail the build at the offending line.
using System.Diagnostics;
using Xunit;

namespace GraphCompiler.Generators.Tests;

[Collection(nameof(ConsumerBuildTests))] // one dotnet build at a time: they share the referenced projects' outputs
public class ConsumerBuildTests
{
    private static (int ExitCode, string Output) DotnetBuild(string projectDir)
    {
        var psi = new ProcessStartInfo("dotnet", "build -c Release -nologo -v:q -clp:NoSummary")
        {
            WorkingDirectory = projectDir,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        using var process = Process.Start(psi)!;
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, stdout + stderr.Result);
    }

    /// <summary>A consumer project inside the repository (so it shares Directory.Build.props), deleted afterwards.</summary>
    private static string CreateConsumer(string name, string modelFile, string modelSource, string program)
    {
        string dir = Path.Combine(GeneratorHarness.RepoRoot, "tests", "obj-consumers", name + "-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "Consumer.csproj"), """
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
              </PropertyGroup>
              <ItemGroup>
                <ProjectReference Include="../../../src/GraphCompiler/GraphCompiler.csproj" />
                <ProjectReference Include="../../../generators/GraphCompiler.Generators/GraphCompiler.Generators.csproj" OutputItemType="Analyzer" ReferenceOutputAssembly="false" />
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(dir, modelFile), modelSource);
        File.WriteAllText(Path.Combine(dir, "Program.cs"), program);
        return dir;
    }

    [Fact]
    public void Sdk_build_runs_the_generator_and_the_generated_model_trains()
    {
        string dir = CreateConsumer("ok", "CifarNet.cs", SnapshotTests.Sample("Cifar/CifarNet.cs"), """
            using Cifar;
            var model = new CifarNet(seed: 1);
            var ws = model.CreateWorkspace(2);
            model.Forward(ws);
            System.Console.WriteLine($"output {string.Join("x", CifarNet.OutputShape)} params {model.Parameters().Count}");
            """);
        try
        {
            var (code, output) = DotnetBuild(dir);
            Assert.True(code == 0, "dotnet build failed:\n" + output);
            var run = Process.Start(new ProcessStartInfo("dotnet", $"bin/Release/net10.0/Consumer.dll") { WorkingDirectory = dir, RedirectStandardOutput = true })!;
            string printed = run.StandardOutput.ReadToEnd();
            run.WaitForExit();
            Assert.Equal("output 10 params 10", printed.Trim());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Changing_cifar_fc1_to_1000_features_fails_the_build_at_that_line()
    {
        string source = SnapshotTests.Sample("Cifar/CifarNet.cs");
        Assert.Contains("[Linear(64 * 4 * 4, 64)]", source);
        source = source.Replace("[Linear(64 * 4 * 4, 64)]", "[Linear(1000, 64)]");
        int line = source[..source.IndexOf("[Linear(1000", StringComparison.Ordinal)].Count(c => c == '\n') + 1;
        int column = source.Split('\n')[line - 1].IndexOf("1000", StringComparison.Ordinal) + 1;
        // The program uses the generated API, as the sample does, so a cascade of missing members would show here.
        string dir = CreateConsumer("gc1001", "CifarNet.cs", source,
            "System.Console.WriteLine(Cifar.CifarNet.Summary.Count + new Cifar.CifarNet().CreateWorkspace(1).Capacity);");
        try
        {
            var (code, output) = DotnetBuild(dir);
            Assert.NotEqual(0, code);
            Assert.Contains($"CifarNet.cs({line},{column}): error GC1001: Linear 'Fc1' expects 1000 input features but receives 1024 (Flatten of [N,64,4,4])", output);
            Assert.DoesNotContain("error CS", output); // only the real error, no cascade from the generated part
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
