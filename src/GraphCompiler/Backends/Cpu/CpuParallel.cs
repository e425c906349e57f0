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
/// <c>For(count, ref body)</c> runs <c>body.Run(i)</c> for i in [0, count) on the calling thread plus
/// <c>ProcessorCount − 1</c> persistent workers, and returns when all are done. The body is passed by reference to the
/// caller's stack frame, which outlives the call. Nested or concurrent calls run inline on their own thread.
/// </summary>
public static unsafe class CpuParallel
{
    private static readonly object Gate = new();
    private static readonly Worker[] Workers = CreateWorkers();
    [ThreadStatic] private static bool t_inside;

    // The current job; written under Gate before the workers are released.
    private static delegate*<nint, int, void> s_invoke;
    private static nint s_body;
    private static int s_count;
    private static int s_next;
    private static int s_pending;
    private static ExceptionDispatchInfo? s_error;

    public static int WorkerCount => Workers.Length + 1;

    public static void For<T>(int count, ref T body) where T : struct, IParallelBody
    {
        if (count <= 0) return;
        if (count == 1 || Workers.Length == 0 || t_inside || !Monitor.TryEnter(Gate))
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
            int helpers = Math.Min(Workers.Length, count - 1);
            s_next = 0;
            Volatile.Write(ref s_pending, helpers);
            for (int w = 0; w < helpers; w++) Workers[w].Wake.Release();
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

    private static Worker[] CreateWorkers()
    {
        var workers = new Worker[Math.Max(0, Environment.ProcessorCount - 1)];
        for (int i = 0; i < workers.Length; i++) workers[i] = new Worker(i);
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
