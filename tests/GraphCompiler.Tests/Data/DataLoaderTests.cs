// Tests of DataLoader: batch counts and sizes, full coverage per epoch, reproducible per-epoch shuffling, buffer reuse, argument checks.
using GraphCompiler.Data;
using Xunit;

namespace GraphCompiler.Tests.Data;

public class DataLoaderTests
{
    private static List<int> EpochIndices(DataLoader loader)
    {
        var seen = new List<int>();
        foreach (Batch b in loader) seen.AddRange(b.Indices);
        return seen;
    }

    [Theory]
    [InlineData(10, 3, false, 4, 1)]
    [InlineData(10, 3, true, 3, 3)]
    [InlineData(10, 5, false, 2, 5)]
    [InlineData(10, 5, true, 2, 5)]
    [InlineData(10, 32, false, 1, 10)]
    [InlineData(10000, 64, false, 157, 16)]
    [InlineData(10000, 64, true, 156, 64)]
    public void Batch_count_and_last_batch_size(int n, int batchSize, bool dropLast, int batches, int lastSize)
    {
        var loader = new DataLoader(new IndexDataset(n, 1, 2, 2), batchSize, shuffle: true, dropLast: dropLast, seed: 7);
        Assert.Equal(batches, loader.Count);
        var sizes = new List<int>();
        foreach (Batch b in loader)
        {
            sizes.Add(b.Count);
            Assert.Equal(new[] { b.Count, 1, 2, 2 }, b.Images.Shape);
            Assert.Equal(b.Count, b.Labels.Length);
        }
        Assert.Equal(batches, sizes.Count);
        Assert.Equal(lastSize, sizes[^1]);
        Assert.All(sizes.Take(sizes.Count - 1), s => Assert.Equal(Math.Min(batchSize, n), s));
        Assert.Equal(dropLast ? batches * batchSize : n, loader.SampleCount);
    }

    [Fact]
    public void Every_index_is_seen_once_per_epoch_with_matching_data_and_labels()
    {
        var loader = new DataLoader(new IndexDataset(103, 2, 3), batchSize: 8, shuffle: true, seed: 42);
        for (int epoch = 0; epoch < 3; epoch++)
        {
            var seen = new List<int>();
            foreach (Batch b in loader)
            {
                Assert.Equal(epoch, b.Epoch);
                for (int k = 0; k < b.Count; k++)
                {
                    int index = b.Indices[k];
                    seen.Add(index);
                    Assert.Equal(index % 10, b.Labels[k]);
                    for (int j = 0; j < 6; j++) Assert.Equal(index * 1000 + j, b.Images.Data[k * 6 + j]);
                }
            }
            Assert.Equal(Enumerable.Range(0, 103), seen.Order());
        }
    }

    [Fact]
    public void Drop_last_drops_only_the_final_partial_batch()
    {
        var dataset = new IndexDataset(10, 1);
        var loader = new DataLoader(dataset, batchSize: 4, shuffle: true, dropLast: true, seed: 3);
        List<int> seen = EpochIndices(loader);
        Assert.Equal(8, seen.Count);
        Assert.Equal(8, dataset.Gets); // dropped samples are never even fetched
        Assert.Equal(8, seen.Distinct().Count());
        int[] order = new int[10];
        loader.EpochOrder(0, order);
        Assert.Equal(order[..8], seen); // the dropped samples are the last two of the epoch's order
    }

    [Fact]
    public void Without_shuffle_the_order_is_sequential_every_epoch()
    {
        var loader = new DataLoader(new IndexDataset(11, 1), batchSize: 4);
        Assert.Equal(Enumerable.Range(0, 11), EpochIndices(loader));
        Assert.Equal(Enumerable.Range(0, 11), EpochIndices(loader));
    }

    [Fact]
    public void Same_seed_gives_the_same_order_and_epochs_differ()
    {
        var a = new DataLoader(new IndexDataset(500, 1), batchSize: 32, shuffle: true, seed: 123);
        var b = new DataLoader(new IndexDataset(500, 1), batchSize: 32, shuffle: true, seed: 123);
        List<int> a0 = EpochIndices(a), a1 = EpochIndices(a);
        List<int> b0 = EpochIndices(b), b1 = EpochIndices(b);
        Assert.Equal(a0, b0);
        Assert.Equal(a1, b1);
        Assert.NotEqual(a0, a1);
        Assert.NotEqual(Enumerable.Range(0, 500), a0);

        var other = new DataLoader(new IndexDataset(500, 1), batchSize: 32, shuffle: true, seed: 124);
        Assert.NotEqual(a0, EpochIndices(other));
    }

    [Fact]
    public void Order_depends_only_on_seed_and_epoch_so_a_run_can_resume()
    {
        var first = new DataLoader(new IndexDataset(64, 1), batchSize: 10, shuffle: true, seed: 9);
        EpochIndices(first);
        EpochIndices(first);
        List<int> epoch2 = EpochIndices(first);
        Assert.Equal(3, first.Epoch);

        var resumed = new DataLoader(new IndexDataset(64, 1), batchSize: 10, shuffle: true, seed: 9) { Epoch = 2 };
        Assert.Equal(epoch2, EpochIndices(resumed));
    }

    [Fact]
    public void Seed_and_epoch_do_not_alias()
    {
        // (seed 1, epoch 0) must not replay (seed 0, epoch 1), which a naive seed + epoch would do.
        var s0 = new DataLoader(new IndexDataset(50, 1), batchSize: 50, shuffle: true, seed: 0) { Epoch = 1 };
        var s1 = new DataLoader(new IndexDataset(50, 1), batchSize: 50, shuffle: true, seed: 1);
        Assert.NotEqual(EpochIndices(s0), EpochIndices(s1));
    }

    [Fact]
    public void Batch_buffers_are_allocated_once_per_loader()
    {
        var loader = new DataLoader(new IndexDataset(10, 4), batchSize: 3, shuffle: true, seed: 1);
        var arrays = new HashSet<float[]>(ReferenceEqualityComparer.Instance);
        var batches = new HashSet<Batch>(ReferenceEqualityComparer.Instance);
        for (int epoch = 0; epoch < 3; epoch++)
        {
            foreach (Batch b in loader)
            {
                arrays.Add(b.Images.Data);
                batches.Add(b);
            }
        }
        // One full-size batch and one for the 1-sample tail, reused across 12 batches.
        Assert.Equal(2, arrays.Count);
        Assert.Equal(2, batches.Count);
    }

    [Fact]
    public void A_second_live_enumeration_is_refused_because_buffers_are_shared()
    {
        var loader = new DataLoader(new IndexDataset(10, 1), batchSize: 2);
        using (IEnumerator<Batch> e = loader.GetEnumerator())
        {
            Assert.True(e.MoveNext());
            var ex = Assert.Throws<InvalidOperationException>(() => loader.GetEnumerator());
            Assert.Contains("already being enumerated", ex.Message);
        }
        // Breaking out of foreach disposes the enumerator, which frees the loader.
        foreach (Batch b in loader) break;
        Assert.Equal(10, EpochIndices(loader).Count);
    }

    [Fact]
    public void Enumerator_contract()
    {
        var loader = new DataLoader(new IndexDataset(3, 1), batchSize: 2);
        IEnumerator<Batch> e = loader.GetEnumerator();
        Assert.Throws<InvalidOperationException>(() => e.Current);
        Assert.True(e.MoveNext());
        Assert.Equal(0, e.Current.Number);
        Assert.True(e.MoveNext());
        Assert.Equal(1, e.Current.Number);
        Assert.False(e.MoveNext());
        Assert.False(e.MoveNext());
        Assert.Throws<NotSupportedException>(() => e.Reset());
        using (IEnumerator<Batch> next = loader.GetEnumerator()) Assert.True(next.MoveNext()); // exhausted frees the loader
        e.Dispose();
        Assert.Throws<ObjectDisposedException>(() => e.MoveNext());
    }

    [Fact]
    public void Arguments_are_validated_with_clear_messages()
    {
        var ds = new IndexDataset(10, 1);
        Assert.Throws<ArgumentNullException>(() => new DataLoader(null!, 4));
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new DataLoader(ds, 0));
        Assert.Contains("batchSize must be at least 1, got 0", e.Message);
        Assert.Contains("empty", Assert.Throws<ArgumentException>(() => new DataLoader(new IndexDataset(0, 1), 4)).Message);
        Assert.Contains("batchSize 11 is larger than the dataset (10 samples) and dropLast is set",
            Assert.Throws<ArgumentException>(() => new DataLoader(ds, 11, dropLast: true)).Message);
        Assert.Contains("dimension below 1", Assert.Throws<ArgumentException>(() => new DataLoader(new IndexDataset(10, 1, 0), 4)).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new DataLoader(ds, 4) { Epoch = -1 });
    }

    [Fact]
    public void Loads_the_fashion_subset_in_file_order()
    {
        MnistDataset test = MnistDataset.Load(SubsetFiles.Directory, train: false);
        var loader = new DataLoader(test, batchSize: 64);
        Assert.Equal(32, loader.Count); // 2000 = 31 * 64 + 16
        using IEnumerator<Batch> e = loader.GetEnumerator();
        Assert.True(e.MoveNext());
        Assert.Equal(new[] { 9, 2, 1, 1, 6, 1, 4, 6, 5, 7 }, e.Current.Labels[..10]);
        Assert.Equal(new[] { 64, 1, 28, 28 }, e.Current.Images.Shape);
        Assert.Equal(119 / 255f, e.Current.Images[0, 0, 14, 26]);
    }
}
