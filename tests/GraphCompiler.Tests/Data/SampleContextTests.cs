// Tests of SampleContext: per-sample seeds that depend on (seed, epoch, index) only, and stack-like scratch rentals.
using GraphCompiler.Data;
using Xunit;

namespace GraphCompiler.Tests.Data;

public class SampleContextTests
{
    [Fact]
    public void Sample_seeds_differ_across_seed_epoch_and_index_and_do_not_alias()
    {
        var seeds = new HashSet<ulong>();
        for (ulong seed = 0; seed < 4; seed++)
            for (int epoch = 0; epoch < 4; epoch++)
                for (int index = 0; index < 200; index++) seeds.Add(SampleContext.SampleSeed(seed, epoch, index));
        Assert.Equal(4 * 4 * 200, seeds.Count);
        // A sample's generator does not replay the epoch's shuffle generator.
        Assert.NotEqual(new Rng(SampleContext.SampleSeed(0, 0, 0)).NextUInt32(), new Rng(0).NextUInt32());
    }

    [Fact]
    public void BeginSample_restarts_the_generator_whatever_was_drawn_before()
    {
        var a = new SampleContext(seed: 9, epoch: 3);
        a.BeginSample(4);
        uint first = a.Rng.NextUInt32();
        a.Rng.NextUInt32();
        a.BeginSample(4);
        Assert.Equal(first, a.Rng.NextUInt32());
        Assert.Equal(4, a.Index);

        var b = new SampleContext();
        b.Reset(9, 3);
        b.BeginSample(4);
        Assert.Equal(first, b.Rng.NextUInt32());
        b.BeginSample(4);
        Assert.Equal(new Rng(SampleContext.SampleSeed(9, 3, 4)).State, b.Rng.State);
    }

    [Fact]
    public void Rentals_nest_and_are_reused()
    {
        var c = new SampleContext();
        var mark = c.Mark();
        Span<float> a = c.RentFloats(100);
        Span<float> b = c.RentFloats(10);
        Assert.False(a.Overlaps(b));
        Span<byte> bytes = c.RentBytes(7);
        Assert.Equal(7, bytes.Length);
        c.Release(mark);
        Assert.Equal((0, 0), c.Mark());
        Span<float> again = c.RentFloats(50);
        Assert.True(again.Overlaps(a)); // the first buffer is handed out again, not reallocated
        Assert.Throws<InvalidOperationException>(() => c.Release((5, 0)));
        Assert.Throws<ArgumentOutOfRangeException>(() => new SampleContext(epoch: -1));
    }
}
