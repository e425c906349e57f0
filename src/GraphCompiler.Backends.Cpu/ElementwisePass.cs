// Splitting an element-wise pass across cores: contiguous, cache-line aligned shares, and only when the pass is long
// enough that waking another core pays off.
using System.Runtime.CompilerServices;

namespace GraphCompiler.Backends.Cpu;

/// <summary>The body of an element-wise pass over [start, start + count), on raw pointers shared by the workers.</summary>
internal interface IElementwiseBody
{
    void Run(int start, int count);
}

internal static unsafe class ElementwisePass
{
    /// <summary>
    /// Runs body over [0, len) on one core when len is below <paramref name="parallelThreshold"/>, else in one 64-float
    /// aligned share per core. Cheap passes (a compare, a multiply) need millions of elements before a second core
    /// helps; transcendental ones (exp, erf) far fewer.
    /// </summary>
    public static void For<T>(int len, int parallelThreshold, ref T body) where T : struct, IElementwiseBody
    {
        int cores = CpuParallel.WorkerCount;
        if (len < parallelThreshold || cores == 1)
        {
            if (len > 0) body.Run(0, len);
            return;
        }
        var shares = new Shares<T>((nint)Unsafe.AsPointer(ref body), len, (len / cores + 63) & ~63);
        CpuParallel.For(cores, ref shares);
    }

    private readonly struct Shares<T>(nint body, int len, int share) : IParallelBody where T : struct, IElementwiseBody
    {
        public void Run(int part)
        {
            int start = Math.Min(len, part * share), count = Math.Min(share, len - start);
            if (count > 0) Unsafe.AsRef<T>((void*)body).Run(start, count);
        }
    }
}
