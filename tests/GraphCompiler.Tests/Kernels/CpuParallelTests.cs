// The allocation-free parallel loop: every index runs exactly once, errors reach the caller, nesting runs inline, and a
// call allocates nothing on the calling thread.
using GraphCompiler.Backends.Cpu;
using Xunit;

namespace GraphCompiler.Tests.Kernels;

public class CpuParallelTests
{
    private unsafe struct Count(int* hits) : IParallelBody
    {
        public void Run(int index) => Interlocked.Increment(ref hits[index]);
    }

    private struct Throw : IParallelBody
    {
        public void Run(int index)
        {
            if (index == 5) throw new InvalidOperationException("body 5 failed");
        }
    }

    private unsafe struct Nested(int* hits) : IParallelBody
    {
        public void Run(int index)
        {
            var inner = new Count(hits + index * 4);
            CpuParallel.For(4, ref inner);
        }
    }

    [Fact]
    public unsafe void Every_index_runs_once_and_nested_loops_complete()
    {
        var hits = new int[37 * 4];
        fixed (int* h = hits)
        {
            var body = new Count(h);
            CpuParallel.For(37, ref body);
            Assert.All(hits.Take(37), v => Assert.Equal(1, v));
            Array.Clear(hits);
            var nested = new Nested(h);
            CpuParallel.For(37, ref nested);
            Assert.All(hits, v => Assert.Equal(1, v));
        }
    }

    [Fact]
    public void An_exception_in_a_body_reaches_the_caller_and_the_pool_keeps_working()
    {
        var body = new Throw();
        var ex = Assert.Throws<InvalidOperationException>(() => CpuParallel.For(16, ref body));
        Assert.Equal("body 5 failed", ex.Message);
        Every_index_runs_once_and_nested_loops_complete();
    }

    [Fact]
    public unsafe void A_call_allocates_nothing_on_the_calling_thread()
    {
        var hits = new int[64];
        fixed (int* h = hits)
        {
            var body = new Count(h);
            for (int i = 0; i < 10; i++) CpuParallel.For(64, ref body);
            // The least of three rounds, as Allocations.LeastPerRound measures (a ref local cannot enter its lambda).
            long least = long.MaxValue;
            for (int round = 0; round < 3; round++)
            {
                long before = GC.GetAllocatedBytesForCurrentThread();
                for (int i = 0; i < 100; i++) CpuParallel.For(64, ref body);
                least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - before);
            }
            Assert.Equal(0, least);
            Assert.All(hits, v => Assert.Equal(310, v));
        }
    }
}
