// PyTorch's DataLoader for map-style datasets: batching, per-epoch reproducible shuffling, drop_last, reused batch buffers.
using System.Collections;

namespace GraphCompiler.Data;

/// <summary>
/// One batch: <see cref="Images"/> is [Count, ...sample shape], <see cref="Labels"/> and <see cref="Indices"/> have
/// <see cref="Count"/> entries. A loader owns at most two batches (full size, and the smaller last one) and refills
/// them, so <b>a batch is only valid until the enumerator's next <c>MoveNext</c></b>; copy what you need to keep.
/// </summary>
public sealed class Batch
{
    internal Batch(int count, int[] sampleShape)
    {
        Images = new Tensor([count, .. sampleShape]);
        Labels = new int[count];
        Indices = new int[count];
    }

    public Tensor Images { get; }

    public int[] Labels { get; }

    /// <summary>Which dataset sample each row came from.</summary>
    public int[] Indices { get; }

    public int Count => Labels.Length;

    /// <summary>Position of this batch within its epoch, from 0.</summary>
    public int Number { get; internal set; }

    public int Epoch { get; internal set; }
}

/// <summary>
/// Iterates a dataset in batches, like <c>torch.utils.data.DataLoader(dataset, batch_size, shuffle, drop_last)</c>.
/// Each enumeration is one epoch. With <c>shuffle</c>, epoch <c>e</c>'s order comes from an <see cref="Rng"/>
/// seeded by (seed, e) alone: every epoch differs, and a run restarted at epoch <c>e</c> (set <see cref="Epoch"/>)
/// sees exactly the order it would have seen. Batch arrays are allocated once per loader, not per batch.
/// </summary>
public sealed class DataLoader : IEnumerable<Batch>
{
    private readonly int _datasetCount;
    private readonly int[] _sampleShape;
    private readonly int _sampleSize;
    private readonly int[] _order;
    private Batch? _full;
    private Batch? _tail;
    private Enumerator? _active;
    private int _epoch;

    public DataLoader(IDataset dataset, int batchSize, bool shuffle = false, bool dropLast = false, ulong seed = 0)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        if (batchSize < 1)
            throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, $"batchSize must be at least 1, got {batchSize}.");
        int count = dataset.Count;
        if (count < 1) throw new ArgumentException($"The dataset ({dataset}) is empty; there is nothing to load.", nameof(dataset));
        // PyTorch silently yields zero batches here; an epoch that trains on nothing is always a mistake.
        if (dropLast && batchSize > count)
            throw new ArgumentException(
                $"batchSize {batchSize} is larger than the dataset ({count} samples) and dropLast is set, so every epoch would be empty.", nameof(dropLast));
        int[] shape = dataset.SampleShape ?? throw new ArgumentException("The dataset's SampleShape is null.", nameof(dataset));
        long size = 1;
        foreach (int d in shape)
        {
            if (d < 1) throw new ArgumentException($"The dataset's sample shape [{string.Join(", ", shape)}] has a dimension below 1.", nameof(dataset));
            size *= d;
        }
        long batchElements = size * Math.Min(batchSize, count);
        if (batchElements > Array.MaxLength)
            throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize,
                $"a batch of {Math.Min(batchSize, count)} samples of [{string.Join(", ", shape)}] needs {batchElements} floats, more than one array can hold.");

        Dataset = dataset;
        BatchSize = batchSize;
        Shuffle = shuffle;
        DropLast = dropLast;
        Seed = seed;
        _datasetCount = count;
        _sampleShape = (int[])shape.Clone();
        _sampleSize = (int)size;
        _order = new int[count];
    }

    public IDataset Dataset { get; }

    public int BatchSize { get; }

    public bool Shuffle { get; }

    public bool DropLast { get; }

    public ulong Seed { get; }

    /// <summary>Batches per epoch (PyTorch's <c>len(loader)</c>).</summary>
    public int Count => DropLast ? _datasetCount / BatchSize : (_datasetCount + BatchSize - 1) / BatchSize;

    /// <summary>Samples per epoch: the dataset size, less what <see cref="DropLast"/> drops.</summary>
    public int SampleCount => DropLast ? Count * BatchSize : _datasetCount;

    /// <summary>The epoch the next enumeration runs. Each enumeration advances it; set it to resume a run or replay an epoch.</summary>
    public int Epoch
    {
        get => _epoch;
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value, nameof(Epoch));
            _epoch = value;
        }
    }

    /// <summary>The sample order of <paramref name="epoch"/> (identity without shuffling), into <paramref name="order"/>.</summary>
    public void EpochOrder(int epoch, Span<int> order)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(epoch);
        if (order.Length != _datasetCount)
            throw new ArgumentException($"order span has {order.Length} entries, the dataset {_datasetCount}.", nameof(order));
        for (int i = 0; i < order.Length; i++) order[i] = i;
        if (Shuffle) new Rng(EpochSeed(Seed, epoch)).Shuffle(order);
    }

    /// <summary>
    /// Mixes seed and epoch into one Rng seed. A plain <c>seed + epoch</c> would make (seed 1, epoch 0) and
    /// (seed 0, epoch 1) identical, and Rng's SplitMix expansion would let nearby seeds share state words.
    /// </summary>
    private static ulong EpochSeed(ulong seed, int epoch) => Mix(seed ^ Mix((ulong)epoch + 0x632BE59BD9B4E019UL));

    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public IEnumerator<Batch> GetEnumerator()
    {
        // The batch buffers are shared, so two live enumerations would overwrite each other's batches.
        if (_active is not null)
            throw new InvalidOperationException(
                "This DataLoader is already being enumerated, and its batch buffers are shared. Finish (or dispose) the other enumeration first, or use a second DataLoader.");
        if (Dataset.Count != _datasetCount)
            throw new InvalidOperationException($"The dataset changed size from {_datasetCount} to {Dataset.Count} after the DataLoader was created.");
        int epoch = _epoch;
        _epoch = checked(epoch + 1);
        EpochOrder(epoch, _order);
        _active = new Enumerator(this, epoch);
        return _active;
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    private Batch BatchFor(int count)
    {
        if (count == BatchSize || count == _datasetCount) return _full ??= new Batch(count, _sampleShape);
        return _tail ??= new Batch(count, _sampleShape);
    }

    public override string ToString() =>
        $"DataLoader(batchSize={BatchSize}, shuffle={Shuffle}, dropLast={DropLast}, seed={Seed}, {Count} batches of {Dataset})";

    private sealed class Enumerator(DataLoader loader, int epoch) : IEnumerator<Batch>
    {
        private int _next;
        private Batch? _current;
        private bool _disposed;

        public Batch Current => _current ?? throw new InvalidOperationException("Call MoveNext before reading Current.");

        object IEnumerator.Current => Current;

        public bool MoveNext()
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_next >= loader.Count)
            {
                // An exhausted enumeration no longer touches the buffers, so the next epoch may start even if
                // a hand-written loop forgets to dispose this one.
                _current = null;
                if (ReferenceEquals(loader._active, this)) loader._active = null;
                return false;
            }
            int start = _next * loader.BatchSize;
            int count = Math.Min(loader.BatchSize, loader._datasetCount - start);
            Batch batch = loader.BatchFor(count);
            Span<float> images = batch.Images.Data;
            int size = loader._sampleSize;
            loader._order.AsSpan(start, count).CopyTo(batch.Indices);
            if (loader.Dataset is IBatchDataset batched)
            {
                batched.GetBatch(batch.Indices, images, batch.Labels);
            }
            else
            {
                for (int k = 0; k < count; k++)
                    loader.Dataset.Get(batch.Indices[k], images.Slice(k * size, size), out batch.Labels[k]);
            }
            batch.Number = _next;
            batch.Epoch = epoch;
            _next++;
            _current = batch;
            return true;
        }

        public void Reset() => throw new NotSupportedException("Enumerate the DataLoader again to start the next epoch.");

        public void Dispose()
        {
            if (_disposed) return;
            _disposed = true;
            _current = null;
            if (ReferenceEquals(loader._active, this)) loader._active = null;
        }
    }
}
