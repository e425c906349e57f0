// The group of processes that train one model together (torch.distributed's default process group), and its collectives.
using System.Diagnostics;

namespace GraphCompiler.Distributed;

/// <summary>A failure of the distributed job: a peer rank that failed, a collective that timed out, or an MPI error.</summary>
public sealed class DistributedException(string message, int failedRank = -1) : Exception(message)
{
    /// <summary>The rank that failed, or -1 when no rank is known to be the cause.</summary>
    public int FailedRank { get; } = failedRank;
}

/// <summary>
/// The processes of one data-parallel job, like <c>torch.distributed.init_process_group</c>: <see cref="Init"/> reads the
/// launcher's environment (<see cref="LauncherEnvironment"/>); one process is a group of one with no MPI involved, and
/// processes started by <c>mpirun</c> are connected by OpenMPI. Collectives block the caller and are watched: one that
/// does not complete within <see cref="Timeout"/> (default 60 s, or <c>GRAPHCOMPILER_DIST_TIMEOUT</c> seconds) throws a
/// <see cref="DistributedException"/> instead of hanging, and so does any collective after a peer reported a failure.
/// Every rank must call the same collectives in the same order with the same sizes, as MPI requires.
/// </summary>
public abstract class ProcessGroup : IDisposable
{
    /// <summary>The watchdog's default: longer than any step of the samples, short enough that a stuck job ends.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(60);

    private protected ProcessGroup(LauncherEnvironment environment, TimeSpan timeout)
    {
        if (timeout <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(timeout), timeout, "The collective timeout must be positive.");
        Environment = environment;
        Timeout = timeout;
    }

    /// <summary>
    /// The group this process belongs to, from the launcher's environment: a group of one without a launcher, an MPI
    /// group under <c>mpirun</c>. <paramref name="timeout"/> overrides the collective watchdog's timeout.
    /// </summary>
    public static ProcessGroup Init(TimeSpan? timeout = null) => Init(LauncherEnvironment.Current(), timeout);

    /// <summary><see cref="Init(TimeSpan?)"/> for a given environment.</summary>
    public static ProcessGroup Init(LauncherEnvironment environment, TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(environment);
        TimeSpan limit = timeout ?? TimeoutFromEnvironment();
        if (environment.WorldSize == 1) return new SingleProcessGroup(environment, limit);
        if (!environment.UnderMpi)
            throw new InvalidOperationException(
                $"The environment asks for {environment.WorldSize} processes ({environment}), but they are connected with MPI: launch them with mpirun -np {environment.WorldSize}.");
        return new MpiProcessGroup(environment, limit);
    }

    public LauncherEnvironment Environment { get; }

    public int Rank => Environment.Rank;

    public int WorldSize => Environment.WorldSize;

    /// <summary>The rank among the processes on this machine: the device index a rank should use (cuda:LocalRank).</summary>
    public int LocalRank => Environment.LocalRank;

    /// <summary>Rank 0, the one that prints, logs and writes checkpoints.</summary>
    public bool IsMain => Rank == 0;

    /// <summary>How long one collective may take before the watchdog fails it.</summary>
    public TimeSpan Timeout { get; }

    /// <summary>"mpi" or "single".</summary>
    public abstract string Backend { get; }

    /// <summary>Sums <paramref name="values"/> over all ranks, in place.</summary>
    public abstract void AllReduceSum(Span<float> values, string what = "all-reduce");

    /// <inheritdoc cref="AllReduceSum(Span{float}, string)"/>
    public abstract void AllReduceSum(Span<double> values, string what = "all-reduce");

    /// <inheritdoc cref="AllReduceSum(Span{float}, string)"/>
    public abstract void AllReduceSum(Span<long> values, string what = "all-reduce");

    /// <summary>Copies rank <paramref name="root"/>'s values into every rank's <paramref name="values"/>.</summary>
    public abstract void Broadcast(Span<float> values, int root = 0, string what = "broadcast");

    /// <inheritdoc cref="Broadcast(Span{float}, int, string)"/>
    public abstract void Broadcast(Span<long> values, int root = 0, string what = "broadcast");

    /// <summary>Returns when every rank has called it.</summary>
    public void Barrier(string what = "barrier")
    {
        Span<long> one = [1];
        AllReduceSum(one, what);
    }

    /// <summary>
    /// Starts summing the first <paramref name="count"/> values of <paramref name="buffer"/> over all ranks without
    /// waiting, for overlap with computation. The buffer must be pinned (<c>GC.AllocateArray(…, pinned: true)</c>) and
    /// left alone until the request completes.
    /// </summary>
    public abstract CollectiveRequest StartAllReduceSum(float[] buffer, int count, string what);

    /// <summary>
    /// Tells the other ranks that this one failed, so they stop with an error naming it instead of waiting for its
    /// collectives; returns false, so it can sit in an exception filter (<c>catch (Exception e) when (group.ReportFailure(e))</c>).
    /// </summary>
    public abstract bool ReportFailure(Exception error);

    public abstract void Dispose();

    internal static void RequirePinned(float[] buffer, int count)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        if ((uint)count > (uint)buffer.Length)
            throw new ArgumentOutOfRangeException(nameof(count), count, $"count must be in [0, {buffer.Length}], the buffer's length.");
    }

    private static TimeSpan TimeoutFromEnvironment()
    {
        string? text = System.Environment.GetEnvironmentVariable("GRAPHCOMPILER_DIST_TIMEOUT");
        if (string.IsNullOrWhiteSpace(text)) return DefaultTimeout;
        if (!double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double seconds) || !(seconds > 0))
            throw new InvalidOperationException($"GRAPHCOMPILER_DIST_TIMEOUT='{text}' is not a positive number of seconds.");
        return TimeSpan.FromSeconds(seconds);
    }
}

/// <summary>
/// A collective started by <see cref="ProcessGroup.StartAllReduceSum"/>: <see cref="Wait"/> blocks until it completes (or
/// throws the watchdog's or MPI's error); <see cref="Seconds"/> is how long it took from its start on the wire.
/// </summary>
public abstract class CollectiveRequest
{
    public abstract bool IsCompleted { get; }

    /// <summary>Seconds from the start of the collective to its completion (0 until completed).</summary>
    public abstract double Seconds { get; }

    public abstract void Wait();
}

/// <summary>A world of one process: every collective is the identity and needs no MPI.</summary>
internal sealed class SingleProcessGroup(LauncherEnvironment environment, TimeSpan timeout) : ProcessGroup(environment, timeout)
{
    public override string Backend => "single";

    public override void AllReduceSum(Span<float> values, string what = "all-reduce") { }

    public override void AllReduceSum(Span<double> values, string what = "all-reduce") { }

    public override void AllReduceSum(Span<long> values, string what = "all-reduce") { }

    public override void Broadcast(Span<float> values, int root = 0, string what = "broadcast") => CheckRoot(root);

    public override void Broadcast(Span<long> values, int root = 0, string what = "broadcast") => CheckRoot(root);

    public override CollectiveRequest StartAllReduceSum(float[] buffer, int count, string what)
    {
        RequirePinned(buffer, count);
        return Done.Instance;
    }

    public override bool ReportFailure(Exception error) => false;

    public override void Dispose() { }

    private static void CheckRoot(int root)
    {
        if (root != 0) throw new ArgumentOutOfRangeException(nameof(root), root, "A group of one process has only rank 0.");
    }

    private sealed class Done : CollectiveRequest
    {
        public static readonly Done Instance = new();

        public override bool IsCompleted => true;

        public override double Seconds => 0;

        public override void Wait() { }
    }
}

/// <summary>Seconds since an arbitrary origin, from the high-resolution clock, for request timings.</summary>
internal static class Clock
{
    public static double Now => Stopwatch.GetTimestamp() / (double)Stopwatch.Frequency;
}
