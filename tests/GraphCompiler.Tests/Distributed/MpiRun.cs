// Starts the data-parallel test runner under mpirun (or alone) and collects its output, for the tests that need real ranks.
using System.Diagnostics;
using System.Text;
using Xunit;

namespace GraphCompiler.Tests.Distributed;

/// <summary>
/// A test that needs OpenMPI's mpirun. .ci/run installs OpenMPI, so under CI (CI=true) a missing mpirun fails the test
/// instead of skipping it; elsewhere the test is skipped with the command that installs it.
/// </summary>
public sealed class MpiFactAttribute : FactAttribute
{
    public MpiFactAttribute()
    {
        if (MpiRun.Mpirun is null && Environment.GetEnvironmentVariable("CI") != "true")
            Skip = "mpirun is not installed (apt-get install -y openmpi-bin libopenmpi-dev; .ci/run does so)";
    }
}

/// <summary>A theory that needs mpirun, skipped or failed as <see cref="MpiFactAttribute"/>.</summary>
public sealed class MpiTheoryAttribute : TheoryAttribute
{
    public MpiTheoryAttribute()
    {
        if (MpiRun.Mpirun is null && Environment.GetEnvironmentVariable("CI") != "true")
            Skip = "mpirun is not installed (apt-get install -y openmpi-bin libopenmpi-dev; .ci/run does so)";
    }
}

/// <summary>What a run printed and how it ended.</summary>
public sealed record RunResult(int ExitCode, string Output, double Seconds);

public static class MpiRun
{
    /// <summary>The mpirun on PATH, or null.</summary>
    public static string? Mpirun { get; } = (Environment.GetEnvironmentVariable("PATH") ?? "")
        .Split(':', StringSplitOptions.RemoveEmptyEntries)
        .Select(d => Path.Combine(d, "mpirun"))
        .FirstOrDefault(File.Exists);

    /// <summary>
    /// The runner next to this test assembly's build: tests/GraphCompiler.Distributed.Runner/bin/&lt;configuration&gt;/net10.0,
    /// built before the tests by the project reference.
    /// </summary>
    public static string RunnerPath
    {
        get
        {
            var output = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd('/'));  // …/GraphCompiler.Tests/bin/Release/net10.0
            string framework = output.Name, configuration = output.Parent!.Name;
            string tests = output.Parent.Parent!.Parent!.Parent!.FullName;
            string path = Path.Combine(tests, "GraphCompiler.Distributed.Runner", "bin", configuration, framework, "GraphCompiler.Distributed.Runner.dll");
            Assert.True(File.Exists(path), $"the runner was not built at {path}");
            return path;
        }
    }

    /// <summary>
    /// Runs the runner with <paramref name="arguments"/> on <paramref name="ranks"/> processes (mpirun with shared memory
    /// on this machine, as root, one thread each so that the kernels sum in the same order in every run), or alone when
    /// <paramref name="ranks"/> is 0. A run past <paramref name="timeoutSeconds"/> is killed and fails the test.
    /// </summary>
    public static RunResult Run(int ranks, string arguments, int timeoutSeconds = 120, IDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        string runner = $"\"{RunnerPath}\" {arguments}";
        if (ranks == 0)
        {
            start.FileName = "dotnet";
            start.Arguments = runner;
        }
        else
        {
            start.FileName = Mpirun ?? throw new InvalidOperationException("mpirun is not installed; .ci/run installs openmpi-bin");
            string exports = string.Concat((environment?.Keys ?? []).Select(k => $" -x {k}"));
            start.Arguments = $"--allow-run-as-root --oversubscribe -np {ranks} --mca btl self,vader -x DOTNET_PROCESSOR_COUNT{exports} dotnet {runner}";
        }
        start.Environment["DOTNET_PROCESSOR_COUNT"] = "1";
        start.Environment.Remove("OMPI_COMM_WORLD_SIZE");
        foreach ((string key, string value) in environment ?? new Dictionary<string, string>()) start.Environment[key] = value;
        var output = new StringBuilder();
        var watch = Stopwatch.StartNew();
        using var process = Process.Start(start)!;
        process.StandardInput.Close();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!process.WaitForExit(timeoutSeconds * 1000))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            Assert.Fail($"'{start.FileName} {start.Arguments}' did not end within {timeoutSeconds} s; output so far:\n{output}");
        }
        process.WaitForExit();
        lock (output) return new RunResult(process.ExitCode, output.ToString(), watch.Elapsed.TotalSeconds);
    }

    /// <summary>max |a − b| over all parameters of two state_dict files, and max |a|.</summary>
    public static (double MaxDiff, double MaxAbs) Compare(string a, string b)
    {
        var left = GraphCompiler.IO.SafeTensors.Read(a);
        var right = GraphCompiler.IO.SafeTensors.Read(b);
        Assert.Equal(left.Keys.Order(), right.Keys.Order());
        double diff = 0, max = 0;
        foreach ((string name, GraphCompiler.IO.SafeTensor tensor) in left)
        {
            float[] x = tensor.AsFloat(), y = right[name].AsFloat();
            for (int i = 0; i < x.Length; i++)
            {
                diff = Math.Max(diff, Math.Abs(x[i] - y[i]));
                max = Math.Max(max, Math.Abs(x[i]));
            }
        }
        return (diff, max);
    }
}
