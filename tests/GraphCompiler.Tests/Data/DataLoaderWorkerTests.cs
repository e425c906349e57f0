// Tests of DataLoader's worker threads: batches independent of the worker count, bounded prefetch, buffer pool, errors and clean shutdown.
using System.Runtime.InteropServices;
using GraphCompiler.Data;
using Xunit;

namespace GraphCompiler.Tests.Data;

/// <summary>
/// A thread-safe dataset of generated 3x12x10 byte images run through a transform, as a real image dataset
/// would be: each sample's bytes depend on its index, and <see cref="Fail"/> makes one index throw.
/// </summary>
internal sealed class GeneratedImageDataset(int count, Transform transform) : IDataset
{
    private static readonly int[] PixelShape = [3, 12, 10];
    private int _gets;

    public int Count => count;

    public int[] SampleShape => transform.OutputShape(PixelShape);

    public int NumClasses => 10;

    public int Gets => Volatile.Read(ref _gets);

    public int Fail { get; init; } = -1;

    public int DelayMs { get; init; }

    public void Get(int index, Span<float> sample, out int label)
    {
        SampleContext context = SampleContext.ForCurrentThread();
        context.BeginSample(index);
        Get(index, sample, out label, context);
    }

    public void Get(int index, Span<float> sample, out int label, SampleContext context)
    {
        Interlocked.Increment(ref _gets);
        if (DelayMs > 0) Thread.Sleep(DelayMs);
        if (index == Fail) throw new InvalidDataException($"file sample{index}.png: corrupt image (test)");
        Span<byte> pixels = stackalloc byte[360];
        for (int i = 0; i < pixels.Length; i++) pixels[i] = (byte)(index * 31 + i * 7);
        transform.Apply(pixels, PixelShape, sample, context);
        label = index % 10;
    }
}

public class DataLoaderWorkerTests
{
    private static Transform Augment() =>
        new Compose(new RandomCrop(10, padding: 2), new RandomHorizontalFlip(), new ToTensor(), new Normalize([0.5f], [0.25f]));

    /// <summary>Every batch of <paramref name="epochs"/> epochs, copied: (number, indices, labels, image bits).</summary>
    private static List<(int, int[], int[], int[])> Record(DataLoader loader, int epochs)
    {
        var batches = new List<(int, int[], int[], int[])>();
        for (int e = 0; e < epochs; e++)
        {
            foreach (Batch b in loader)
                batches.Add((b.Number, (int[])b.Indices.Clone(), (int[])b.Labels.Clone(), MemoryMarshal.Cast<float, int>(b.Images.Data).ToArray()));
        }
        return batches;
    }

    private static void AssertSameBatches(List<(int, int[], int[], int[])> expected, List<(int, int[], int[], int[])> actual, string what)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].Item1, actual[i].Item1);
            Assert.Equal(expected[i].Item2, actual[i].Item2);
            Assert.Equal(expected[i].Item3, actual[i].Item3);
            Assert.True(expected[i].Item4.AsSpan().SequenceEqual(actual[i].Item4), $"{what}: batch {i} differs in its image bits");
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Batches_and_random_transforms_are_identical_with_0_1_and_4_workers(bool dropLast)
    {
        var dataset = new GeneratedImageDataset(203, Augment());
        List<(int, int[], int[], int[])> reference = Record(new DataLoader(dataset, 16, shuffle: true, dropLast: dropLast, seed: 5), epochs: 2);
        Assert.Equal(dropLast ? 24 : 26, reference.Count);
        // Augmentation really differs between epochs (and so is not the same for every visit of a sample).
        Assert.False(reference[0].Item4.AsSpan().SequenceEqual(reference[reference.Count / 2].Item4));
        foreach (int workers in new[] { 1, 4 })
        {
            foreach (int prefetch in new[] { 1, 3 })
            {
                var loader = new DataLoader(dataset, 16, shuffle: true, dropLast: dropLast, seed: 5, numWorkers: workers, prefetchFactor: prefetch);
                AssertSameBatches(reference, Record(loader, epochs: 2), $"{workers} workers, prefetch {prefetch}");
            }
        }
    }

    [Fact]
    public void The_batch_dataset_path_is_identical_with_workers_too()
    {
        MnistDataset mnist = MnistDataset.Load(SubsetFiles.Directory, train: false,
            new Compose(new RandomCrop(28, padding: 4), new RandomHorizontalFlip(), new ToTensor(), new Normalize([0.2860f], [0.3530f])));
        List<(int, int[], int[], int[])> reference = Record(new DataLoader(mnist, 100, shuffle: true, seed: 2), epochs: 2);
        foreach (int workers in new[] { 1, 4 })
            AssertSameBatches(reference, Record(new DataLoader(mnist, 100, shuffle: true, seed: 2, numWorkers: workers), epochs: 2), $"{workers} workers");
        // The loader's per-sample seeding matches what Get builds for epoch 0 of a seed-0 loader.
        var sample = new float[784];
        mnist.Get(17, sample, out _);
        using IEnumerator<Batch> e = new DataLoader(mnist, 20, seed: 0, numWorkers: 2).GetEnumerator();
        Assert.True(e.MoveNext());
        Assert.Equal(sample, e.Current.Images.Data.AsSpan(17 * 784, 784).ToArray());
    }

    [Fact]
    public void Breaking_out_of_foreach_stops_and_joins_every_worker()
    {
        var dataset = new GeneratedImageDataset(1000, Augment()) { DelayMs = 1 };
        var loader = new DataLoader(dataset, 8, shuffle: true, seed: 1, numWorkers: 4, prefetchFactor: 2);
        int seen = 0;
        foreach (Batch b in loader)
        {
            Assert.Equal(seen, b.Number);
            if (++seen == 3) break;
        }
        Assert.Equal(4, loader.LastWorkers.Count);
        Assert.All(loader.LastWorkers, t => Assert.False(t.IsAlive, $"{t.Name} is still running"));
        int fetched = dataset.Gets;
        Thread.Sleep(50);
        Assert.Equal(fetched, dataset.Gets); // nothing keeps loading in the background
        // The loader is free for the next epoch.
        Assert.Equal(125, Record(loader, 1).Count);
        Assert.All(loader.LastWorkers, t => Assert.False(t.IsAlive));
    }

    [Fact]
    public void Disposing_before_the_first_batch_also_ends_the_workers()
    {
        var loader = new DataLoader(new GeneratedImageDataset(500, Augment()), 4, numWorkers: 3);
        IEnumerator<Batch> e = loader.GetEnumerator();
        e.Dispose();
        Assert.All(loader.LastWorkers, t => Assert.False(t.IsAlive));
        Assert.Throws<ObjectDisposedException>(() => e.MoveNext());
        using IEnumerator<Batch> next = loader.GetEnumerator();
        Assert.True(next.MoveNext());
    }

    [Fact]
    public void Prefetch_is_bounded_by_workers_times_prefetch_factor()
    {
        var dataset = new GeneratedImageDataset(800, Augment());
        var loader = new DataLoader(dataset, 10, numWorkers: 2, prefetchFactor: 3);
        using IEnumerator<Batch> e = loader.GetEnumerator();
        Assert.True(e.MoveNext());
        // The consumer holds batch 0; workers may build batches 1..6 (2 x 3), and no more.
        WaitFor(() => dataset.Gets >= 70);
        Thread.Sleep(100);
        Assert.Equal(70, dataset.Gets);
        Assert.True(e.MoveNext());
        WaitFor(() => dataset.Gets >= 80);
        Thread.Sleep(100);
        Assert.Equal(80, dataset.Gets);
    }

    /// <summary>Polls rather than sleeping a fixed time, so a busy machine slows the test instead of failing it.</summary>
    private static void WaitFor(Func<bool> condition)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), "timed out waiting for the workers");
            Thread.Sleep(5);
        }
    }

    [Fact]
    public void Batch_buffers_come_from_a_small_pool_reused_across_epochs()
    {
        var loader = new DataLoader(new GeneratedImageDataset(103, Augment()), 4, shuffle: true, numWorkers: 2, prefetchFactor: 2);
        var arrays = new HashSet<float[]>(ReferenceEqualityComparer.Instance);
        for (int epoch = 0; epoch < 3; epoch++)
        {
            foreach (Batch b in loader) arrays.Add(b.Images.Data);
        }
        // At most 2 workers x 2 batches ahead + the one the consumer holds, plus the 3-sample tail, over 78 batches.
        // Fewer show up when the workers never get that far ahead (the pool hands back its most recent buffer first).
        Assert.InRange(arrays.Count, 2, 6);
    }

    [Fact]
    public void A_worker_exception_reaches_the_consumer_unchanged_at_its_batch()
    {
        var dataset = new GeneratedImageDataset(100, Augment()) { Fail = 57 };
        var loader = new DataLoader(dataset, 10, numWorkers: 3);
        var numbers = new List<int>();
        var ex = Assert.Throws<InvalidDataException>(() =>
        {
            foreach (Batch b in loader) numbers.Add(b.Number);
        });
        Assert.Contains("sample57.png", ex.Message);
        Assert.Equal(new[] { 0, 1, 2, 3, 4 }, numbers); // every batch before the failing one, in order
        Assert.All(loader.LastWorkers, t => Assert.False(t.IsAlive));

        // Without workers the same exception comes out of MoveNext.
        var sync = new DataLoader(dataset, 10);
        Assert.Contains("sample57.png", Assert.Throws<InvalidDataException>(() => Record(sync, 1)).Message);
    }

    [Fact]
    public void Worker_arguments_are_validated()
    {
        var ds = new GeneratedImageDataset(10, new ToTensor());
        Assert.Contains("numWorkers must be 0", Assert.Throws<ArgumentOutOfRangeException>(() => new DataLoader(ds, 2, numWorkers: -1)).Message);
        Assert.Contains("prefetchFactor", Assert.Throws<ArgumentOutOfRangeException>(() => new DataLoader(ds, 2, numWorkers: 2, prefetchFactor: 0)).Message);
        var loader = new DataLoader(ds, 2, numWorkers: 2);
        using (IEnumerator<Batch> e = loader.GetEnumerator())
        {
            Assert.Contains("already being enumerated", Assert.Throws<InvalidOperationException>(() => loader.GetEnumerator()).Message);
        }
        Assert.Contains("numWorkers=2", loader.ToString());
    }
}
