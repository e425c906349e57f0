// Reads rank, world size and local rank from the launcher's environment, as torch.distributed's env:// init does.
namespace GraphCompiler.Distributed;

/// <summary>
/// Where this process stands in a job, as its launcher described it: OpenMPI's <c>mpirun</c> sets
/// <c>OMPI_COMM_WORLD_RANK</c>, <c>OMPI_COMM_WORLD_SIZE</c> and <c>OMPI_COMM_WORLD_LOCAL_RANK</c>; PyTorch's launchers
/// set <c>RANK</c>, <c>WORLD_SIZE</c> and <c>LOCAL_RANK</c>. OpenMPI's names win when both are present, because MPI is
/// the engine that will connect the processes. No variable at all means one process (rank 0 of 1).
/// </summary>
public sealed record LauncherEnvironment(int Rank, int WorldSize, int LocalRank, int LocalSize, string Launcher)
{
    /// <summary>Whether <c>mpirun</c> started this process, so MPI can connect it with its peers.</summary>
    public bool UnderMpi => Launcher == "mpirun";

    /// <summary>Reads the current process's environment.</summary>
    public static LauncherEnvironment Current() => From(Environment.GetEnvironmentVariable);

    /// <summary>
    /// Reads the variables through <paramref name="get"/> (tests pass a dictionary). A value that is not a number, a
    /// world size below 1, or a rank outside [0, world size) is an error that names the variable and its value.
    /// </summary>
    public static LauncherEnvironment From(Func<string, string?> get)
    {
        ArgumentNullException.ThrowIfNull(get);
        if (get("OMPI_COMM_WORLD_SIZE") is not null)
        {
            int size = Read(get, "OMPI_COMM_WORLD_SIZE", min: 1);
            int rank = Read(get, "OMPI_COMM_WORLD_RANK", min: 0);
            int localRank = get("OMPI_COMM_WORLD_LOCAL_RANK") is null ? rank : Read(get, "OMPI_COMM_WORLD_LOCAL_RANK", min: 0);
            int localSize = get("OMPI_COMM_WORLD_LOCAL_SIZE") is null ? size : Read(get, "OMPI_COMM_WORLD_LOCAL_SIZE", min: 1);
            return Checked(new LauncherEnvironment(rank, size, localRank, localSize, "mpirun"), "OMPI_COMM_WORLD_RANK");
        }
        if (get("WORLD_SIZE") is not null)
        {
            int size = Read(get, "WORLD_SIZE", min: 1);
            int rank = get("RANK") is null ? 0 : Read(get, "RANK", min: 0);
            int localRank = get("LOCAL_RANK") is null ? rank : Read(get, "LOCAL_RANK", min: 0);
            int localSize = get("LOCAL_WORLD_SIZE") is null ? size : Read(get, "LOCAL_WORLD_SIZE", min: 1);
            return Checked(new LauncherEnvironment(rank, size, localRank, localSize, "env"), "RANK");
        }
        return new LauncherEnvironment(0, 1, 0, 1, "none");
    }

    /// <summary>One line for messages: <c>rank 1 of 2 (local rank 1) from mpirun</c>.</summary>
    public override string ToString() => $"rank {Rank} of {WorldSize} (local rank {LocalRank}) from {Launcher}";

    internal static string Describe() => Current().ToString();

    private static LauncherEnvironment Checked(LauncherEnvironment e, string rankVariable)
    {
        if (e.Rank >= e.WorldSize)
            throw new InvalidOperationException($"{rankVariable}={e.Rank} is outside the world of {e.WorldSize} processes (ranks 0 to {e.WorldSize - 1}).");
        if (e.LocalRank >= e.LocalSize)
            throw new InvalidOperationException($"The local rank {e.LocalRank} is outside the {e.LocalSize} processes on this machine.");
        return e;
    }

    private static int Read(Func<string, string?> get, string name, int min)
    {
        string? text = get(name);
        if (text is null)
            throw new InvalidOperationException($"The launcher set the world size but not {name}.");
        if (!int.TryParse(text.Trim(), System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out int value) || value < min)
            throw new InvalidOperationException($"{name}='{text}' is not an integer of at least {min}.");
        return value;
    }
}
