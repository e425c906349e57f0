// A worker whose Get never returns is reported after the loader's timeout instead of blocking the training loop forever.
using System.Diagnostics;
using GraphCompiler.Data;
using Xunit;

namespace GraphCompiler.Tests.Data;

public sealed class DataLoaderTimeoutTests
{
    /// <summary>Sample <c>stuck</c> blocks until the gate opens, as a read from a hung network mount would.</summary>
    private sealed class HangingDataset(int count, int stuck, ManualResetEventSlim gate) : IDataset
    {
        public int Count => count;

        public int[] SampleShape => [2];

        public int NumClasses => 10;

        public void Get(int index, Span<float> sample, out int label)
        {
            if (index == stuck) gate.Wait();
            sample.Fill(index);
            label = index % 10;
        }
    }

    [Fact]
    public void A_hung_get_ends_the_epoch_with_a_timeout_naming_the_batch_and_the_next_epoch_works()
    {
        using var gate = new ManualResetEventSlim(false);
        var loader = new DataLoader(new HangingDataset(20, stuck: 7, gate), batchSize: 4, numWorkers: 2, timeout: TimeSpan.FromMilliseconds(300));
        var seen = new List<int>();
        var clock = Stopwatch.StartNew();
        var e = Assert.Throws<TimeoutException>(() =>
        {
            foreach (Batch b in loader) seen.Add(b.Number);
        });
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"took {clock.Elapsed}");
        Assert.Equal([0], seen); // batch 1 holds sample 7
        Assert.Equal(
            "DataLoader: batch 1 of epoch 0 (dataset samples 4, 5, 6, 7) was not ready after 00:00:00.3000000: worker 1's call to HangingDataset.Get has not returned. " +
            "The worker is abandoned; the next epoch starts fresh workers.", e.Message);

        gate.Set(); // the abandoned worker finishes into buffers the loader no longer uses
        var batches = loader.Select(b => (b.Number, b.Images.Data[0])).ToList();
        Assert.Equal([(0, 0f), (1, 4f), (2, 8f), (3, 12f), (4, 16f)], batches);
    }

    [Fact]
    public void A_timeout_needs_workers_and_must_be_positive()
    {
        var data = new IndexDataset(4, 2);
        Assert.Contains("needs numWorkers >= 1", Assert.Throws<ArgumentOutOfRangeException>(() => new DataLoader(data, 2, timeout: TimeSpan.FromSeconds(1))).Message);
        Assert.Contains("must be positive", Assert.Throws<ArgumentOutOfRangeException>(() => new DataLoader(data, 2, numWorkers: 1, timeout: TimeSpan.Zero)).Message);
    }
}
