// Measures what code allocates on the calling thread, robust to one-time runtime work while other tests run in parallel.
namespace GraphCompiler.Tests;

internal static class Allocations
{
    /// <summary>
    /// The fewest bytes <paramref name="round"/> allocated on this thread over <paramref name="rounds"/> runs. A steady-state
    /// allocation shows in every round; one-time runtime work (a type initialiser, a method reaching its next JIT tier)
    /// shows in one at most, so zero here means the code itself allocates nothing.
    /// </summary>
    public static long LeastPerRound(Action round, int rounds = 3)
    {
        long least = long.MaxValue;
        for (int r = 0; r < rounds; r++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            round();
            least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        return least;
    }
}
