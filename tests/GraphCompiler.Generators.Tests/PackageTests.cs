// Packs the repository's packages, then builds and runs consumers from those .nupkg files alone, offline: a local folder
// feed for GraphCompiler.*, this machine's package cache for third-party packages, and a fresh packages folder so a
// package from an earlier run is never reused. The pack runs once (PackedFeed), for every test here.
using System.Diagnostics;
using System.IO.Compression;
using System.Text.RegularExpressions;
using Xunit;

namespace GraphCompiler.Generators.Tests;

/// <summary>The packed packages in a temporary folder, with a nuget.config beside them that reaches no network.</summary>
public sealed class PackedFeed : IDisposable
{
    private static readonly string[] Packable =
    [
        "src/GraphCompiler.Compiler/GraphCompiler.Compiler.csproj",
        "src/GraphCompiler.Backends.Cpu/GraphCompiler.Backends.Cpu.csproj",
        "src/GraphCompiler/GraphCompiler.csproj",
        "src/GraphCompiler.Backends.Ilgpu/GraphCompiler.Backends.Ilgpu.csproj",
        "templates/GraphCompiler.Templates/GraphCompiler.Templates.csproj",
    ];

    public string Root { get; } = Path.Combine(Path.GetTempPath(), "gc-packages-" + Guid.NewGuid().ToString("N")[..8]);

    public string Feed => Path.Combine(Root, "feed");

    public TimeSpan PackTime { get; }

    /// <summary>The configuration these tests were built in (bin/Release/net10.0/…), so the packed outputs are that build's.</summary>
    private static string Configuration =>
        Path.GetFileName(Path.GetDirectoryName(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar))!)!;

    public PackedFeed()
    {
        Directory.CreateDirectory(Feed);
        // The packable projects as a solution filter: `dotnet pack` of the whole solution would also build the tests.
        string filter = Path.Combine(Root, "packages.slnf");
        File.WriteAllText(filter, $$"""
            { "solution": { "path": "{{Path.Combine(GeneratorHarness.RepoRoot, "GraphCompiler.sln").Replace("\\", "/")}}",
              "projects": [ {{string.Join(", ", Packable.Select(p => "\"" + p.Replace('/', Path.DirectorySeparatorChar).Replace("\\", "\\\\") + "\""))}} ] } }
            """);
        var clock = Stopwatch.StartNew();
        // --no-build: the projects were built with these tests (their project references), in this configuration, and
        // another test project's build may be writing their outputs at this moment, which a second build would race.
        var (code, output) = Dotnet.Run(Root, "pack", filter, "-c", Configuration, "--no-build", "-nologo", "-v:q", "-clp:NoSummary",
            $"-p:PackageOutputPath={Feed}/");
        PackTime = clock.Elapsed;
        if (code != 0) throw new InvalidOperationException("dotnet pack failed:\n" + output);
        // Third-party packages come from this machine's caches, read as plain folder feeds.
        string cache = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        string[] caches = new[] { cache, "/opt/nuget/packages" }.Where(Directory.Exists).Distinct().ToArray();
        File.WriteAllText(Path.Combine(Root, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <config><add key="globalPackagesFolder" value="{Path.Combine(Root, "packages")}" /></config>
              <packageSources>
                <clear />
                <add key="local" value="{Feed}" />
            {string.Concat(caches.Select((c, i) => $"    <add key=\"cache{i}\" value=\"{c}\" />\n"))}  </packageSources>
              <packageSourceMapping>
                <clear />
                <packageSource key="local"><package pattern="GraphCompiler" /><package pattern="GraphCompiler.*" /></packageSource>
            {string.Concat(caches.Select((c, i) => $"    <packageSource key=\"cache{i}\"><package pattern=\"*\" /></packageSource>\n"))}  </packageSourceMapping>
            </configuration>
            """);
    }

    /// <summary>A new folder under <see cref="Root"/>, so the nuget.config above applies to what is built in it.</summary>
    public string NewProjectDir(string name)
    {
        string dir = Path.Combine(Root, name);
        Directory.CreateDirectory(dir);
        return dir;
    }

    public void Dispose()
    {
        try { Directory.Delete(Root, recursive: true); }
        catch (IOException) { } // a consumer still exiting; the temp folder is the OS's to clean
    }
}

/// <summary>Runs the dotnet CLI with no telemetry, no first-run text and no inherited packages folder.</summary>
internal static class Dotnet
{
    public static (int ExitCode, string Output) Run(string workingDirectory, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (string arg in args) psi.ArgumentList.Add(arg);
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        psi.Environment["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1";
        psi.Environment.Remove("NUGET_PACKAGES"); // the nuget.config's globalPackagesFolder decides
        using var process = Process.Start(psi)!;
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        if (!process.WaitForExit(TimeSpan.FromMinutes(8)))
        {
            process.Kill(entireProcessTree: true);
            return (-1, "timed out: dotnet " + string.Join(" ", args) + "\n" + stdout);
        }
        return (process.ExitCode, stdout + stderr.Result);
    }
}

[Collection(nameof(ConsumerBuildTests))] // never beside a ProjectReference consumer build: both write the projects' outputs
public class PackageTests(PackedFeed feed) : IClassFixture<PackedFeed>
{
    private const string ConsumerProject = """
        <Project Sdk="Microsoft.NET.Sdk">
          <PropertyGroup>
            <OutputType>Exe</OutputType>
            <TargetFramework>net10.0</TargetFramework>
            <Nullable>enable</Nullable>
            <ImplicitUsings>enable</ImplicitUsings>
            <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
          </PropertyGroup>
          <ItemGroup>
            <PackageReference Include="GraphCompiler" Version="0.1.0" />
          </ItemGroup>
        </Project>
        """;

    private static string Net(string fc2) => $$"""
        using GraphCompiler;
        using GraphCompiler.Nn;

        [Model]
        public partial class Net
        {
            [Linear(8, 16)] public partial Linear Fc1 { get; }
            {{fc2}} public partial Linear Fc2 { get; }

            [Forward(Input = "N,8")]
            public Tensor Forward(Tensor x) => x.Apply(Fc1).Relu().Apply(Fc2).LogSoftmax(dim: 1);
        }
        """;

    // Four classes: the sign pattern of two fixed linear maps of the input. Prints the mean loss of the first and last epoch.
    private const string TrainProgram = """
        using GraphCompiler.Nn;
        using GraphCompiler.Optim;
        using GraphCompiler.Training;

        var random = new Random(1);
        const int count = 256, batch = 32;
        float[] x = new float[count * 8];
        int[] y = new int[count];
        for (int i = 0; i < count; i++)
        {
            float a = 0, b = 0;
            for (int j = 0; j < 8; j++)
            {
                float v = (float)(random.NextDouble() * 2 - 1);
                x[i * 8 + j] = v;
                a += j < 4 ? v : -v;
                b += j % 2 == 0 ? v : -v;
            }
            y[i] = (a > 0 ? 1 : 0) + (b > 0 ? 2 : 0);
        }
        var model = new Net(seed: 0);
        using var trainer = new Trainer(model, Loss.Nll, new Sgd(model.Parameters(), lr: 0.1, momentum: 0.9), batch);
        var losses = new List<float>();
        for (int epoch = 0; epoch < 30; epoch++)
        {
            float sum = 0;
            for (int i = 0; i < count; i += batch)
                sum += trainer.Step(x.AsSpan(i * 8, batch * 8), y.AsSpan(i, batch), batch);
            losses.Add(sum / (count / batch));
        }
        Console.WriteLine(FormattableString.Invariant($"first {losses[0]:F4} last {losses[^1]:F4}"));
        """;

    private static (int ExitCode, string Output) RunDll(string dir, string dll, params string[] args) =>
        Dotnet.Run(dir, [Path.Combine("bin", "Release", "net10.0", dll), .. args]);

    [Fact]
    public void Packages_carry_the_runtime_the_analyzer_docs_readme_and_licence()
    {
        string[] packages = Directory.GetFiles(feed.Feed, "*.nupkg").Select(f => Path.GetFileName(f)).Order().ToArray();
        Assert.Equal(
            ["GraphCompiler.0.1.0.nupkg", "GraphCompiler.Backends.Cpu.0.1.0.nupkg", "GraphCompiler.Backends.Ilgpu.0.1.0.nupkg",
             "GraphCompiler.Compiler.0.1.0.nupkg", "GraphCompiler.Templates.0.1.0.nupkg"],
            packages);
        using var main = ZipFile.OpenRead(Path.Combine(feed.Feed, "GraphCompiler.0.1.0.nupkg"));
        string[] entries = main.Entries.Select(e => e.FullName).ToArray();
        Assert.Contains("analyzers/dotnet/cs/GraphCompiler.Generators.dll", entries);
        Assert.Contains("lib/net10.0/GraphCompiler.dll", entries);
        Assert.Contains("lib/net10.0/GraphCompiler.xml", entries);
        Assert.Contains("README.md", entries);
        Assert.DoesNotContain(entries, e => e.StartsWith("lib/", StringComparison.Ordinal) && e.Contains("Generators", StringComparison.Ordinal));
        using var reader = new StreamReader(main.GetEntry("GraphCompiler.nuspec")!.Open());
        string nuspec = reader.ReadToEnd();
        Assert.Contains("<license type=\"expression\">MIT</license>", nuspec);
        Assert.Contains("<dependency id=\"GraphCompiler.Compiler\" version=\"0.1.0\"", nuspec);
        Assert.Contains("<dependency id=\"GraphCompiler.Backends.Cpu\" version=\"0.1.0\"", nuspec);
        Assert.DoesNotContain("GraphCompiler.Generators", nuspec); // the analyzer is inside, not a dependency
        Assert.Matches("<repository type=\"git\"[^>]* commit=\"[0-9a-f]{40}\"", nuspec); // SourceLink's commit
        using var ilgpu = ZipFile.OpenRead(Path.Combine(feed.Feed, "GraphCompiler.Backends.Ilgpu.0.1.0.nupkg"));
        Assert.Contains("lib/net10.0/GraphCompiler.Backends.Ilgpu.xml", ilgpu.Entries.Select(e => e.FullName));
    }

    [Fact]
    public void A_consumer_of_the_package_trains_and_a_shape_error_fails_its_build_with_GC1001()
    {
        string ok = feed.NewProjectDir("consumer");
        File.WriteAllText(Path.Combine(ok, "Consumer.csproj"), ConsumerProject);
        File.WriteAllText(Path.Combine(ok, "Net.cs"), Net("[Linear(16, 4)]"));
        File.WriteAllText(Path.Combine(ok, "Program.cs"), TrainProgram);
        var (code, output) = Dotnet.Run(ok, "build", "-c", "Release", "-nologo", "-v:q", "-clp:NoSummary");
        Assert.True(code == 0, "dotnet build failed:\n" + output);
        (code, output) = RunDll(ok, "Consumer.dll");
        Assert.True(code == 0, output);
        Match m = Regex.Match(output, @"first (\d+\.\d+) last (\d+\.\d+)");
        Assert.True(m.Success, output);
        float first = float.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        float last = float.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(first, 1.0f, 2.0f); // about ln 4 at the start
        Assert.True(last < first / 2, output);

        string bad = feed.NewProjectDir("consumer-gc1001");
        File.WriteAllText(Path.Combine(bad, "Consumer.csproj"), ConsumerProject);
        string source = Net("[Linear(32, 4)]");
        File.WriteAllText(Path.Combine(bad, "Net.cs"), source);
        File.WriteAllText(Path.Combine(bad, "Program.cs"), "System.Console.WriteLine(new Net().Parameters().Count);");
        (code, output) = Dotnet.Run(bad, "build", "-c", "Release", "-nologo", "-v:q", "-clp:NoSummary");
        Assert.NotEqual(0, code);
        int line = source.Split('\n').ToList().FindIndex(l => l.Contains("[Linear(32, 4)]", StringComparison.Ordinal)) + 1;
        Assert.Matches($@"Net\.cs\({line},\d+\): error GC1001: Linear 'Fc2' expects 32 input features but receives 16", output);
        Assert.DoesNotContain("error CS", output);
    }

    [Fact]
    public void The_template_creates_a_project_that_builds_without_warnings_and_trains()
    {
        string hive = Path.Combine(feed.Root, "template-hive");
        var (code, output) = Dotnet.Run(feed.Root, "new", "install", Path.Combine(feed.Feed, "GraphCompiler.Templates.0.1.0.nupkg"), "--debug:custom-hive", hive);
        Assert.True(code == 0, "dotnet new install failed:\n" + output);
        (code, output) = Dotnet.Run(feed.Root, "new", "graphcompiler", "-n", "FashionNet", "-o", "FashionNet", "--debug:custom-hive", hive);
        Assert.True(code == 0, "dotnet new graphcompiler failed:\n" + output);
        string dir = Path.Combine(feed.Root, "FashionNet");
        Assert.True(File.Exists(Path.Combine(dir, "FashionNet.csproj")), string.Join(", ", Directory.GetFiles(dir)));
        (code, output) = Dotnet.Run(dir, "build", "-c", "Release", "-nologo", "-v:q", "-warnaserror");
        Assert.True(code == 0, "dotnet build failed:\n" + output);
        Assert.Contains("0 Warning(s)", output);
        // The generated model is written under obj/ to read (EmitCompilerGeneratedFiles).
        Assert.NotEmpty(Directory.GetFiles(Path.Combine(dir, "obj"), "FashionNet.Model.g.cs", SearchOption.AllDirectories));
        (code, output) = RunDll(dir, "FashionNet.dll", "1");
        Assert.True(code == 0, output);
        Match m = Regex.Match(output, @"result: test_accuracy=(\d\.\d+) epochs=1 ");
        Assert.True(m.Success, output);
        Assert.InRange(double.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), 0.6, 1.0);
        Assert.True(File.Exists(Path.Combine(dir, "model.safetensors")));
    }
}
