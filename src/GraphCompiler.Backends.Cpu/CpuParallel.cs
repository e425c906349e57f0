// An allocation-free parallel loop for the CPU kernels: persistent workers and struct bodies, so a steady-state training
// step allocates nothing (Parallel.For allocates ~2 KB per call in closures, tasks and its loop state).
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;

namespace GraphCompiler.Backends.Cpu;

/// <summary>The body of a parallel loop: a struct, so it is never boxed; <see cref="Run"/> is called once per index.</summary>
public interface IParallelBody
{
    void Run(int index);
}

/// <summary>
/// <c>For(count, ref body)</c> runs <c>body.Run(i)</c> for i in [0, count) on the calling thread plus up to
/// <see cref="NumThreads"/> − 1 persistent workers, and returns when all are done. The body is passed by reference to the
/// caller's stack frame, which outlives the call. Nested or concurrent calls run inline on their own thread.
/// <para>
/// Determinism: kernels split their work into <see cref="WorkerCount"/> parts, a number fixed by the machine
/// (<see cref="Environment.ProcessorCount"/>), never by <see cref="NumThreads"/>; the thread count only decides how many
/// threads take those parts. Each part is computed the same way whichever thread takes it and parts are combined in
/// index order, so results are bit-identical for every thread count and from run to run on one machine.
/// </para>
/// </summary>
public static unsafe class CpuParallel
{
    private static readonly object Gate = new();
    private static Worker[] s_workers = CreateWorkers(Environment.ProcessorCount - 1);
    private static int s_threads = Environment.ProcessorCount;
    [ThreadStatic] private static bool t_inside;

    // The current job; written under Gate before the workers are released.
    private static delegate*<nint, int, void> s_invoke;
    private static nint s_body;
    private static int s_count;
    private static int s_next;
    private static int s_pending;
    private static ExceptionDispatchInfo? s_error;

    /// <summary>How many parts kernels split parallel work into: the machine's processor count, whatever <see cref="NumThreads"/> is.</summary>
    public static int WorkerCount => Environment.ProcessorCount;

    /// <summary>
    /// The most threads (the caller's included) that run one kernel, as <c>torch.set_num_threads</c>; the processor count
    /// by default. Changing it never changes a result (see the class remarks), only how long it takes.
    /// </summary>
    public static int NumThreads
    {
        get => Volatile.Read(ref s_threads);
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            lock (Gate)
            {
                if (value - 1 > s_workers.Length)
                {
                    Worker[] grown = CreateWorkers(value - 1, s_workers);
                    s_workers = grown;
                }
                Volatile.Write(ref s_threads, value);
            }
        }
    }

    public static void For<T>(int count, ref T body) where T : struct, IParallelBody
    {
        if (count <= 0) return;
        if (count == 1 || Volatile.Read(ref s_threads) == 1 || t_inside || !Monitor.TryEnter(Gate))
        {
            for (int i = 0; i < count; i++) body.Run(i);
            return;
        }
        try
        {
            t_inside = true;
            s_invoke = &Invoke<T>;
            s_body = (nint)Unsafe.AsPointer(ref body);
            s_count = count;
            s_error = null;
            int helpers = Math.Min(Math.Min(s_workers.Length, s_threads - 1), count - 1);
            s_next = 0;
            Volatile.Write(ref s_pending, helpers);
            for (int w = 0; w < helpers; w++) s_workers[w].Wake.Release();
            Drain();
            var spin = new SpinWait();
            while (Volatile.Read(ref s_pending) > 0) spin.SpinOnce(sleep1Threshold: -1);
            s_error?.Throw();
        }
        finally
        {
            t_inside = false;
            Monitor.Exit(Gate);
        }
    }

    private static void Invoke<T>(nint body, int index) where T : struct, IParallelBody =>
        Unsafe.AsRef<T>((void*)body).Run(index);

    private static void Drain()
    {
        try
        {
            int i;
            while ((i = Interlocked.Increment(ref s_next) - 1) < s_count) s_invoke(s_body, i);
        }
        catch (Exception e)
        {
            s_error ??= ExceptionDispatchInfo.Capture(e);
            Volatile.Write(ref s_next, s_count); // stop handing out work
        }
    }

    /// <summary><paramref name="count"/> workers: the existing ones, then new threads.</summary>
    private static Worker[] CreateWorkers(int count, Worker[]? existing = null)
    {
        var workers = new Worker[Math.Max(0, count)];
        for (int i = 0; i < workers.Length; i++) workers[i] = existing is not null && i < existing.Length ? existing[i] : new Worker(i);
        return workers;
    }

    private sealed class Worker
    {
        public readonly SemaphoreSlim Wake = new(0);

        public Worker(int id)
        {
            var thread = new Thread(Loop) { IsBackground = true, Name = $"GraphCompiler CPU worker {id}" };
            thread.Start();
        }

        private void Loop()
        {
            t_inside = true; // a kernel running here must not wait for its own pool
            while (true)
            {
                Wake.Wait();
                Drain();
                Interlocked.Decrement(ref s_pending);
            }
        }
    }
}

/// <summary>The body of a loop split into contiguous ranges: <see cref="Run"/> gets [start, end).</summary>
public interface IRangeBody
{
    void Run(int start, int end);
}

public static unsafe class CpuRanges
{
    /// <summary>Splits [0, total) into <paramref name="chunks"/> contiguous ranges, run in parallel (inline when one).</summary>
    public static void For<T>(int total, int chunks, ref T body) where T : struct, IRangeBody
    {
        if (chunks <= 1)
        {
            body.Run(0, total);
            return;
        }
        var split = new Split<T>((nint)Unsafe.AsPointer(ref body), total, chunks);
        CpuParallel.For(chunks, ref split);
    }

    private readonly struct Split<T>(nint body, int total, int chunks) : IParallelBody where T : struct, IRangeBody
    {
        public void Run(int c) => Unsafe.AsRef<T>((void*)body).Run((int)((long)total * c / chunks), (int)((long)total * (c + 1) / chunks));
    }
}
