// The process group over OpenMPI: one communication thread drives every collective, a watchdog bounds each, and failures are told to the peers.
using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;

namespace GraphCompiler.Distributed;

/// <summary>
/// A <see cref="ProcessGroup"/> over OpenMPI's <c>MPI_COMM_WORLD</c>. OpenMPI has no progress thread, so a non-blocking
/// collective only advances while someone calls <c>MPI_Test</c>: one communication thread owns all MPI calls, starts
/// each collective non-blocking and polls it, which lets gradient all-reduces run while the backward computes, lets
/// the watchdog fail a collective after <see cref="ProcessGroup.Timeout"/> (a blocking MPI call could not be
/// interrupted), and lets the thread watch, between and during collectives, for a failure message from a peer.
/// <para>
/// Faults: a rank whose code throws reports it (<see cref="ReportFailure"/>; <see cref="Training.Fit"/>, the
/// data-parallel trainer and an unhandled exception do so) with a point-to-point message on a private duplicate of the
/// communicator; every peer then fails its current and next collectives with "rank R failed: …" and, if its main
/// thread does not reach a collective within <see cref="FailureGrace"/>, exits with code 1. A rank that is killed cannot
/// tell anyone: <c>mpirun</c> then ends the job (its own message names the rank), and each survivor's SIGTERM handler
/// names the ranks whose processes are gone. A peer that is alive but stuck is caught by the watchdog.
/// </para>
/// </summary>
internal sealed unsafe class MpiProcessGroup : ProcessGroup
{
    /// <summary>How long a rank that learned of a peer's failure waits for its main thread to see it before exiting.</summary>
    public static readonly TimeSpan FailureGrace = TimeSpan.FromSeconds(5);

    private const int FaultTag = 7701;
    private const int FaultBytes = 1024;

    private readonly BlockingCollection<Work> _queue = [];
    private readonly Thread _thread;
    private readonly byte[] _faultBuffer = GC.AllocateArray<byte>(FaultBytes, pinned: true);
    private readonly long[] _pids;
    private readonly PosixSignalRegistration? _sigterm;
    private nint _comm, _faultComm, _faultRequest;
    private volatile DistributedException? _failure;
    private Exception? _initError;
    private bool _disposed;

    public MpiProcessGroup(LauncherEnvironment environment, TimeSpan timeout) : base(environment, timeout)
    {
        Mpi.Load();
        _pids = new long[environment.WorldSize];
        using var ready = new ManualResetEventSlim();
        _thread = new Thread(() => Run(ready)) { IsBackground = true, Name = $"mpi rank {environment.Rank}" };
        _thread.Start();
        ready.Wait();
        if (_initError is not null) throw new DistributedException($"MPI could not start ({environment}): {_initError.Message}");
        // Every rank learns its peers' process ids, so that on a kill the survivors can name who is gone.
        _pids[Rank] = System.Environment.ProcessId;
        AllReduceSum(_pids, "exchange of process ids");
        _sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, _ =>
            Console.Error.WriteLine($"[rank {Rank}] stopped by the launcher{(GonePeers() is { Length: > 0 } gone ? ": " + gone : "")}"));
        AppDomain.CurrentDomain.UnhandledException += OnUnhandled;
    }

    public override string Backend => "mpi";

    public override void AllReduceSum(Span<float> values, string what = "all-reduce")
    {
        fixed (float* p = values) Execute(new Work(WorkKind.AllReduce, p, values.Length, Mpi.Float, 0, what));
    }

    public override void AllReduceSum(Span<double> values, string what = "all-reduce")
    {
        fixed (double* p = values) Execute(new Work(WorkKind.AllReduce, p, values.Length, Mpi.Double, 0, what));
    }

    public override void AllReduceSum(Span<long> values, string what = "all-reduce")
    {
        fixed (long* p = values) Execute(new Work(WorkKind.AllReduce, p, values.Length, Mpi.LongLong, 0, what));
    }

    public override void Broadcast(Span<float> values, int root = 0, string what = "broadcast")
    {
        fixed (float* p = values) Execute(new Work(WorkKind.Broadcast, p, values.Length, Mpi.Float, root, what));
    }

    public override void Broadcast(Span<long> values, int root = 0, string what = "broadcast")
    {
        fixed (long* p = values) Execute(new Work(WorkKind.Broadcast, p, values.Length, Mpi.LongLong, root, what));
    }

    public override CollectiveRequest StartAllReduceSum(float[] buffer, int count, string what)
    {
        RequirePinned(buffer, count);
        var work = new Work(WorkKind.AllReduce, Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(buffer)), count, Mpi.Float, 0, what);
        Submit(work);
        return work;
    }

    public override bool ReportFailure(Exception error)
    {
        // A rank that stops because of a peer's failure does not report one of its own: the peer is the cause.
        if (_failure is not null || _disposed || error is DistributedException) return false;
        string text = $"{error.GetType().Name}: {error.Message}";
        byte[] message = Encoding.UTF8.GetBytes(text.Length > 900 ? text[..900] : text);
        _failure = new DistributedException($"rank {Rank} failed: {text}", Rank);
        var work = new Work(WorkKind.Notify, null, message.Length, 0, 0, "failure notice") { Payload = message };
        _queue.Add(work);
        work.Done.Wait(TimeSpan.FromSeconds(3));
        return false;
    }

    public override void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        AppDomain.CurrentDomain.UnhandledException -= OnUnhandled;
        _sigterm?.Dispose();
        var stop = new Work(WorkKind.Stop, null, 0, 0, 0, "finalize");
        _queue.Add(stop);
        // MPI_Finalize waits for the peers; after a failure they may never come, so the wait is bounded.
        if (!stop.Done.Wait(_failure is null ? Timeout : TimeSpan.FromSeconds(1)))
            Console.Error.WriteLine($"[rank {Rank}] MPI_Finalize did not return within {Timeout.TotalSeconds:F0} s; exiting without it.");
    }

    private void Execute(Work work)
    {
        Submit(work);
        work.Wait();
    }

    private void Submit(Work work)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (work.Kind == WorkKind.Broadcast && (uint)work.Root >= (uint)WorldSize)
            throw new ArgumentOutOfRangeException("root", work.Root, $"The root must be a rank in [0, {WorldSize}).");
        if (_failure is { } failure) throw Rethrown(failure);
        _queue.Add(work);
    }

    private static DistributedException Rethrown(DistributedException failure) => new(failure.Message, failure.FailedRank);

    private void OnUnhandled(object? sender, UnhandledExceptionEventArgs e)
    {
        if (e.ExceptionObject is Exception error) ReportFailure(error);
    }

    /// <summary>The communication thread: MPI is initialised, used and finalised on it alone.</summary>
    private void Run(ManualResetEventSlim ready)
    {
        try
        {
            int provided;
            int initialized;
            Mpi.Check(Mpi.Initialized(&initialized), "MPI_Initialized");
            if (initialized == 0) Mpi.Check(Mpi.InitThread(null, 0, Mpi.ThreadMultiple, &provided), "MPI_Init_thread");
            nint comm, faultComm;
            Mpi.Check(Mpi.CommDup(Mpi.CommWorld, &comm), "MPI_Comm_dup");
            Mpi.Check(Mpi.CommDup(Mpi.CommWorld, &faultComm), "MPI_Comm_dup");
            // Errors come back as codes (then exceptions) instead of MPI's default of aborting the whole job silently.
            Mpi.Check(Mpi.CommSetErrhandler(comm, Mpi.ErrorsReturn), "MPI_Comm_set_errhandler");
            Mpi.Check(Mpi.CommSetErrhandler(faultComm, Mpi.ErrorsReturn), "MPI_Comm_set_errhandler");
            int rank, size;
            Mpi.Check(Mpi.CommRank(comm, &rank), "MPI_Comm_rank");
            Mpi.Check(Mpi.CommSize(comm, &size), "MPI_Comm_size");
            if (rank != Rank || size != WorldSize)
                throw new DistributedException($"MPI says rank {rank} of {size}, the launcher's environment {Environment}.");
            _comm = comm;
            _faultComm = faultComm;
            nint request;
            fixed (byte* buffer = _faultBuffer)
                Mpi.Check(Mpi.Irecv(buffer, FaultBytes, Mpi.Byte, Mpi.AnySource, FaultTag, faultComm, &request), "MPI_Irecv");
            _faultRequest = request;
        }
        catch (Exception e)
        {
            _initError = e;
            ready.Set();
            return;
        }
        ready.Set();
        while (true)
        {
            if (!_queue.TryTake(out Work? work, 20))
            {
                PollFault();
                continue;
            }
            if (work.Kind == WorkKind.Stop)
            {
                Finish(work);
                return;
            }
            try
            {
                if (work.Kind == WorkKind.Notify) Notify(work);
                else Collective(work);
            }
            catch (Exception e)
            {
                // Never leave a caller waiting: the job is broken from here on, and every later collective says why.
                _failure ??= new DistributedException($"rank {Rank}: the MPI communication thread failed during {work.What}: {e.Message}");
                work.Complete(_failure);
            }
        }
    }

    private void Collective(Work work)
    {
        if (_failure is { } failed)
        {
            work.Complete(Rethrown(failed));
            return;
        }
        nint request;
        work.Started = Clock.Now;
        int code = work.Kind == WorkKind.AllReduce
            ? Mpi.Iallreduce(Mpi.InPlace, work.Buffer, work.Count, work.Type, Mpi.OpSum, _comm, &request)
            : Mpi.Ibcast(work.Buffer, work.Count, work.Type, work.Root, _comm, &request);
        if (code != Mpi.Success)
        {
            work.Complete(Error(() => Mpi.Check(code, work.Kind == WorkKind.AllReduce ? "MPI_Iallreduce" : "MPI_Ibcast")));
            return;
        }
        double deadline = work.Started + Timeout.TotalSeconds;
        for (int spin = 0; ; spin++)
        {
            int flag;
            code = Mpi.Test(&request, &flag, null);
            if (code != Mpi.Success)
            {
                work.Complete(Error(() => Mpi.Check(code, "MPI_Test")));
                return;
            }
            if (flag != 0)
            {
                work.Finished = Clock.Now;
                work.Complete(null);
                return;
            }
            if ((spin & 63) == 0) PollFault();
            if (_failure is { } failure)
            {
                work.Complete(Rethrown(failure));
                return;
            }
            if (Clock.Now > deadline)
            {
                string gone = GonePeers();
                var timeout = new DistributedException(
                    $"rank {Rank}: {work.What} did not complete within {Timeout.TotalSeconds:F0} s (the collective watchdog): " +
                    (gone.Length > 0 ? gone : "no peer is known to have exited, so one is stuck or much slower"),
                    FirstGone());
                _failure = timeout;
                work.Complete(timeout);
                return;
            }
            // The compute threads share the cores: spin briefly for a fast collective, then yield the core between tests.
            if (spin < 200) Thread.SpinWait(20);
            else if (spin < 20_000) Thread.Yield();
            else Thread.Sleep(1);
        }
    }

    private void Notify(Work work)
    {
        var requests = new nint[WorldSize];
        fixed (byte* message = work.Payload)
        {
            for (int peer = 0; peer < WorldSize; peer++)
            {
                if (peer == Rank) continue;
                nint request;
                if (Mpi.Isend(message, work.Count, Mpi.Byte, peer, FaultTag, _faultComm, &request) == Mpi.Success) requests[peer] = request;
            }
            // Small messages go eagerly; the bound only matters when a peer's memory is full.
            double deadline = Clock.Now + 2;
            for (int peer = 0; peer < WorldSize; peer++)
            {
                while (requests[peer] != 0 && Clock.Now < deadline)
                {
                    int flag;
                    nint request = requests[peer];
                    if (Mpi.Test(&request, &flag, null) != Mpi.Success || flag != 0) break;
                    Thread.Sleep(1);
                }
            }
        }
        work.Complete(null);
    }

    /// <summary>Checks, without blocking, whether a peer sent a failure message; if so, every collective from now on fails.</summary>
    private void PollFault()
    {
        if (_faultRequest == 0 || _failure is not null) return;
        int flag;
        Mpi.Status status;
        nint request = _faultRequest;
        if (Mpi.Test(&request, &flag, &status) != Mpi.Success || flag == 0) return;
        _faultRequest = 0;
        string text = Encoding.UTF8.GetString(_faultBuffer, 0, Math.Min((int)status.Count, FaultBytes));
        var failure = new DistributedException($"rank {status.Source} failed: {text}", status.Source);
        _failure = failure;
        Console.Error.WriteLine($"[rank {Rank}] stopping: {failure.Message}");
        // The main thread sees the failure at its next collective; one busy elsewhere for long is not waited for.
        new Thread(() =>
        {
            Thread.Sleep(FailureGrace);
            Console.Error.WriteLine($"[rank {Rank}] exiting: {failure.Message}");
            System.Environment.Exit(1);
        }) { IsBackground = true }.Start();
    }

    private void Finish(Work stop)
    {
        if (_failure is null)
        {
            if (_faultRequest != 0)
            {
                nint request = _faultRequest;
                Mpi.Cancel(&request);
                int flag;
                for (int i = 0; i < 1000 && request != 0; i++)
                {
                    if (Mpi.Test(&request, &flag, null) != Mpi.Success || flag != 0) break;
                    Thread.Sleep(1);
                }
                _faultRequest = 0;
            }
            int finalized;
            if (Mpi.Finalized(&finalized) == Mpi.Success && finalized == 0) Mpi.FinalizeMpi();
        }
        stop.Complete(null);
    }

    /// <summary>"rank 1 (pid 4242) has exited" for each peer on this machine whose process is gone or a zombie.</summary>
    private string GonePeers()
    {
        if (Environment.LocalSize != WorldSize) return "";
        var gone = new List<string>();
        for (int peer = 0; peer < WorldSize; peer++)
            if (peer != Rank && _pids[peer] > 0 && !Alive(_pids[peer])) gone.Add($"rank {peer} (pid {_pids[peer]}) has exited");
        return string.Join(", ", gone);
    }

    private int FirstGone()
    {
        if (Environment.LocalSize != WorldSize) return -1;
        for (int peer = 0; peer < WorldSize; peer++)
            if (peer != Rank && _pids[peer] > 0 && !Alive(_pids[peer])) return peer;
        return -1;
    }

    private static bool Alive(long pid)
    {
        try
        {
            // Field 3 of /proc/PID/stat is the state; a killed child of mpirun's daemon stays a zombie (Z) until reaped.
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            int close = stat.LastIndexOf(')');
            return close > 0 && close + 2 < stat.Length && stat[close + 2] is not ('Z' or 'X');
        }
        catch (IOException)
        {
            return false;
        }
    }

    private static DistributedException Error(Action check)
    {
        try
        {
            check();
            return new DistributedException("MPI reported an error.");
        }
        catch (DistributedException e)
        {
            return e;
        }
    }

    private enum WorkKind
    {
        AllReduce,
        Broadcast,
        Notify,
        Stop,
    }

    /// <summary>One job for the communication thread; the caller keeps the buffer pinned until it completes.</summary>
    private sealed class Work(WorkKind kind, void* buffer, int count, nint type, int root, string what) : CollectiveRequest
    {
        public readonly WorkKind Kind = kind;
        public readonly void* Buffer = buffer;
        public readonly int Count = count;
        public readonly nint Type = type;
        public readonly int Root = root;
        public readonly string What = what;
        public readonly ManualResetEventSlim Done = new();
        public byte[]? Payload;
        public double Started, Finished;
        private Exception? _error;

        public override bool IsCompleted => Done.IsSet;

        public override double Seconds => Done.IsSet ? Math.Max(0, Finished - Started) : 0;

        public void Complete(Exception? error)
        {
            _error = error;
            Done.Set();
        }

        public override void Wait()
        {
            Done.Wait();
            if (_error is not null) throw _error is DistributedException d ? Rethrown(d) : _error;
        }
    }
}
