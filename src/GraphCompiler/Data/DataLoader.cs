// PyTorch's DataLoader for map-style datasets: batching, per-epoch reproducible shuffling, drop_last, worker threads with bounded prefetch, reused batch buffers.
using System.Collections;
using System.Runtime.ExceptionServices;

namespace GraphCompiler.Data;

/// <summary>
/// One batch: <see cref="Images"/> is [Count, ...sample shape], <see cref="Labels"/> and <see cref="Indices"/> have
/// <see cref="Count"/> entries. A loader owns a small pool of batches (one full-size batch and the smaller last one
/// without workers; <c>numWorkers * prefetchFactor + 1</c> full-size ones with workers) and refills them, so
/// <b>a batch is only valid until the enumerator's next <c>MoveNext</c> (or its disposal)</b>, with or without
/// workers; copy what you need to keep.
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
/// Iterates a dataset in batches, like <c>torch.utils.data.DataLoader(dataset, batch_size, shuffle, drop_last,
/// num_workers, prefetch_factor)</c>. Each enumeration is one epoch. With <c>shuffle</c>, epoch <c>e</c>'s order
/// comes from an <see cref="Rng"/> seeded by (seed, e) alone: every epoch differs, and a run restarted at epoch
/// <c>e</c> (set <see cref="Epoch"/>) sees exactly the order it would have seen. Random transforms draw from a
/// per-sample generator seeded by (seed, epoch, sample index) (<see cref="SampleContext"/>), so batches are identical
/// bit for bit whatever <see cref="NumWorkers"/> is. Batch arrays are allocated once per loader, not per batch.
/// <para>
/// With <c>numWorkers &gt; 0</c>, that many threads build batches ahead of the consumer, worker <c>w</c> taking
/// batches <c>w, w + numWorkers, …</c> as PyTorch assigns them, and at most <c>numWorkers * prefetchFactor</c>
/// batches are in flight beyond the one the consumer holds. The dataset's
/// <see cref="IDataset.Get(int, Span{float}, out int, SampleContext)"/> must then be thread-safe. A worker's
/// exception is rethrown, unchanged, when the consumer reaches that batch. The threads live for one epoch and
/// are joined when the enumerator is disposed, which <c>foreach</c> does also on <c>break</c>.
/// </para>
/// </summary>
public sealed class DataLoader : IEnumerable<Batch>
{
    private readonly int _datasetCount;
    // Samples per epoch before batching: the dataset's size, or this rank's share with a sampler.
    private readonly int _samples;
    private readonly DistributedSampler? _sampler;
    private readonly int[] _sampleShape;
    private readonly int _sampleSize;
    private readonly int[] _order;
    private readonly List<Batch> _pool = [];
    private Batch? _tail;
    private IEnumerator<Batch>? _active;
    private int _epoch;
    private SampleContext[] _contexts = [];

    /// <summary>
    /// With a <paramref name="sampler"/> (data-parallel training), each epoch loads the sampler's indices for the loader's
    /// epoch instead of the whole dataset; <paramref name="shuffle"/> must then be false, as in PyTorch, since the sampler
    /// shuffles.
    /// </summary>
    /// <param name="timeout">
    /// How long to wait for a worker's batch before giving up, as PyTorch's <c>DataLoader(timeout=)</c>; null (the default)
    /// waits forever. A dataset whose <c>Get</c> never returns then ends the epoch with a <see cref="TimeoutException"/>
    /// naming the batch and its samples instead of blocking forever. The stuck worker cannot be stopped (.NET has no
    /// thread abort); it is abandoned with the batch buffers and scratch it held, and the next epoch gets new ones.
    /// Needs <paramref name="numWorkers"/> ≥ 1: with none, the dataset runs on the caller's thread.
    /// </param>
    public DataLoader(IDataset dataset, int batchSize, bool shuffle = false, bool dropLast = false, ulong seed = 0, int numWorkers = 0, int prefetchFactor = 2,
        DistributedSampler? sampler = null, TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        if (sampler is not null && shuffle)
            throw new ArgumentException("sampler option is mutually exclusive with shuffle: the DistributedSampler shuffles (its shuffle argument).", nameof(shuffle));
        if (sampler is not null && sampler.DatasetCount != dataset.Count)
            throw new ArgumentException($"The sampler was made for {sampler.DatasetCount} samples but the dataset has {dataset.Count}.", nameof(sampler));
        if (batchSize < 1)
            throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, $"batchSize must be at least 1, got {batchSize}.");
        if (numWorkers < 0)
            throw new ArgumentOutOfRangeException(nameof(numWorkers), numWorkers, $"numWorkers must be 0 (load on the calling thread) or more, got {numWorkers}.");
        if (prefetchFactor < 1)
            throw new ArgumentOutOfRangeException(nameof(prefetchFactor), prefetchFactor, $"prefetchFactor (batches each worker loads ahead) must be at least 1, got {prefetchFactor}.");
        int count = dataset.Count;
        if (count < 1) throw new ArgumentException($"The dataset ({dataset}) is empty; there is nothing to load.", nameof(dataset));
        // PyTorch silently yields zero batches here; an epoch that trains on nothing is always a mistake.
        int samples = sampler?.NumSamples ?? count;
        if (dropLast && batchSize > samples)
            throw new ArgumentException(
                $"batchSize {batchSize} is larger than the dataset ({samples} samples{(sampler is null ? "" : " of this rank")}) and dropLast is set, so every epoch would be empty.", nameof(dropLast));
        int[] shape = dataset.SampleShape ?? throw new ArgumentException("The dataset's SampleShape is null.", nameof(dataset));
        long size = 1;
        foreach (int d in shape)
        {
            if (d < 1) throw new ArgumentException($"The dataset's sample shape [{string.Join(", ", shape)}] has a dimension below 1.", nameof(dataset));
            size *= d;
        }
        long batchElements = size * Math.Min(batchSize, samples);
        if (batchElements > Array.MaxLength)
            throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize,
                $"a batch of {Math.Min(batchSize, samples)} samples of [{string.Join(", ", shape)}] needs {batchElements} floats, more than one array can hold.");

        if (timeout is { } t && (t <= TimeSpan.Zero || numWorkers == 0))
            throw new ArgumentOutOfRangeException(nameof(timeout), timeout,
                numWorkers == 0 ? "A timeout needs numWorkers >= 1: with no workers the dataset runs on the calling thread." : "The timeout must be positive (null waits forever).");
        Timeout = timeout;
        Dataset = dataset;
        BatchSize = batchSize;
        Shuffle = shuffle;
        DropLast = dropLast;
        Seed = seed;
        NumWorkers = numWorkers;
        PrefetchFactor = prefetchFactor;
        _datasetCount = count;
        _samples = samples;
        _sampler = sampler;
        _sampleShape = (int[])shape.Clone();
        _sampleSize = (int)size;
        _order = new int[samples];
    }

    public IDataset Dataset { get; }

    /// <summary>How long <c>MoveNext</c> waits for a worker's batch; null waits forever.</summary>
    public TimeSpan? Timeout { get; }

    /// <summary>After a timeout: forget every buffer and scratch context the abandoned workers may still write to.</summary>
    private void Abandon()
    {
        _pool.Clear();
        _tail = null;
        _contexts = [];
        _active = null;
    }

    public int BatchSize { get; }

    public bool Shuffle { get; }

    public bool DropLast { get; }

    public ulong Seed { get; }

    /// <summary>Threads building batches; 0 builds each batch on the consumer's thread inside <c>MoveNext</c>.</summary>
    public int NumWorkers { get; }

    /// <summary>Batches each worker may have loaded ahead of the consumer (PyTorch's <c>prefetch_factor</c>); ignored without workers.</summary>
    public int PrefetchFactor { get; }

    /// <summary>The worker threads of the latest enumeration (empty without workers); tests check they end.</summary>
    internal IReadOnlyList<Thread> LastWorkers { get; private set; } = [];

    /// <summary>Batches per epoch (PyTorch's <c>len(loader)</c>).</summary>
    public int Count => DropLast ? _samples / BatchSize : (_samples + BatchSize - 1) / BatchSize;

    /// <summary>Samples per epoch: the dataset size, less what <see cref="DropLast"/> drops.</summary>
    public int SampleCount => DropLast ? Count * BatchSize : _samples;

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
        if (order.Length != _samples)
            throw new ArgumentException($"order span has {order.Length} entries, the dataset {_samples}.", nameof(order));
        if (_sampler is not null)
        {
            _sampler.Indices(epoch, order);
            return;
        }
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
        int contexts = Math.Max(1, NumWorkers);
        if (_contexts.Length != contexts)
        {
            _contexts = new SampleContext[contexts];
            for (int i = 0; i < contexts; i++) _contexts[i] = new SampleContext();
        }
        foreach (SampleContext c in _contexts) c.Reset(Seed, epoch);
        _active = NumWorkers == 0 ? new Enumerator(this, epoch) : new WorkerEnumerator(this, epoch);
        return _active;
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>Size of a full batch: the batch size, or the whole dataset when it is smaller.</summary>
    private int FullCount => Math.Min(BatchSize, _samples);

    private int CountOf(int number) => Math.Min(BatchSize, _samples - number * BatchSize);

    /// <summary>Pooled full-size batch <paramref name="i"/>, created on first use and then kept for the loader's life.</summary>
    private Batch Pooled(int i)
    {
        while (_pool.Count <= i) _pool.Add(new Batch(FullCount, _sampleShape));
        return _pool[i];
    }

    private Batch Tail(int count) => _tail ??= new Batch(count, _sampleShape);

    /// <summary>Builds batch <paramref name="number"/> of the current epoch order into <paramref name="batch"/>.</summary>
    private void Fill(Batch batch, int number, int epoch, SampleContext context)
    {
        int start = number * BatchSize;
        int count = batch.Count;
        Span<float> images = batch.Images.Data;
        int size = _sampleSize;
        _order.AsSpan(start, count).CopyTo(batch.Indices);
        if (Dataset is IBatchDataset batched)
        {
            batched.GetBatch(batch.Indices, images, batch.Labels, context);
        }
        else
        {
            for (int k = 0; k < count; k++)
            {
                int index = batch.Indices[k];
                context.BeginSample(index);
                Dataset.Get(index, images.Slice(k * size, size), out batch.Labels[k], context);
            }
        }
        batch.Number = number;
        batch.Epoch = epoch;
    }

    public override string ToString() =>
        $"DataLoader(batchSize={BatchSize}, shuffle={Shuffle}, dropLast={DropLast}, seed={Seed}, numWorkers={NumWorkers}, {Count} batches of {Dataset})";

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
            int count = loader.CountOf(_next);
            Batch batch = count == loader.FullCount ? loader.Pooled(0) : loader.Tail(count);
            loader.Fill(batch, _next, epoch, loader._contexts[0]);
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

    /// <summary>
    /// An epoch built by worker threads. Batch <c>b</c> lives in ready slot <c>b % (window + 1)</c>; a worker may
    /// start batch <c>b</c> only once <c>b &lt; taken + window</c> (taken = batches handed to the consumer), so at
    /// most <c>window + 1</c> full batches exist at once, the pool always has a free one, and every slot is distinct.
    /// </summary>
    private sealed class WorkerEnumerator : IEnumerator<Batch>
    {
        private readonly DataLoader _loader;
        private readonly int _epoch;
        private readonly int _window;
        private readonly int _count;
        private readonly object _gate = new();
        private readonly object?[] _slots;
        private readonly Stack<Batch> _free = new();
        private readonly Thread[] _threads;
        private int _taken;
        private bool _cancelled;
        private bool _done;
        private bool _disposed;
        private bool _abandoned;
        private Batch? _current;

        public WorkerEnumerator(DataLoader loader, int epoch)
        {
            _loader = loader;
            _epoch = epoch;
            _count = loader.Count;
            _window = loader.NumWorkers * loader.PrefetchFactor;
            _slots = new object?[_window + 1];
            for (int i = _window; i >= 0; i--) _free.Push(loader.Pooled(i));
            _threads = new Thread[loader.NumWorkers];
            for (int w = 0; w < _threads.Length; w++)
            {
                int worker = w;
                // Background threads, so a forgotten enumerator cannot keep the process alive; Dispose joins them.
                _threads[w] = new Thread(() => Work(worker)) { IsBackground = true, Name = $"DataLoader worker {w}" };
            }
            loader.LastWorkers = _threads;
            foreach (Thread t in _threads) t.Start();
        }

        public Batch Current => _current ?? throw new InvalidOperationException("Call MoveNext before reading Current.");

        object IEnumerator.Current => Current;

        private void Work(int worker)
        {
            SampleContext context = _loader._contexts[worker];
            for (int b = worker; b < _count; b += _threads.Length)
            {
                int count = _loader.CountOf(b);
                Batch batch;
                lock (_gate)
                {
                    while (!_cancelled && b >= _taken + _window) Monitor.Wait(_gate);
                    if (_cancelled) return;
                    batch = count == _loader.FullCount ? _free.Pop() : _loader.Tail(count);
                }
                object result;
                try
                {
                    _loader.Fill(batch, b, _epoch, context);
                    result = batch;
                }
                catch (Exception e)
                {
                    result = ExceptionDispatchInfo.Capture(e);
                }
                lock (_gate)
                {
                    if (result is ExceptionDispatchInfo) Return(batch);
                    _slots[b % _slots.Length] = result;
                    Monitor.PulseAll(_gate);
                }
                // This worker's later batches come after the failed one, which ends the epoch for the consumer.
                if (result is ExceptionDispatchInfo) return;
            }
        }

        /// <summary>Puts a full-size batch back in the pool (the tail has its own buffer). Caller holds the gate.</summary>
        private void Return(Batch batch)
        {
            if (batch.Count == _loader.FullCount && !ReferenceEquals(batch, _loader._tail)) _free.Push(batch);
        }

        public bool MoveNext()
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_done) return false;
            object result;
            ExceptionDispatchInfo? failure = null;
            lock (_gate)
            {
                // The batch handed out last time is no longer valid: recycle it.
                if (_current is not null) Return(_current);
                _current = null;
                if (_taken >= _count)
                {
                    _done = true;
                    Monitor.PulseAll(_gate);
                }
                else
                {
                    int slot = _taken % _slots.Length;
                    long deadline = _loader.Timeout is { } limit ? Environment.TickCount64 + (long)limit.TotalMilliseconds : long.MaxValue;
                    while (_slots[slot] is null)
                    {
                        long left = deadline - Environment.TickCount64;
                        if (left <= 0 || !Monitor.Wait(_gate, (int)Math.Min(left, int.MaxValue)) && Environment.TickCount64 >= deadline)
                        {
                            if (_slots[slot] is not null) break;
                            _done = _cancelled = _abandoned = true;
                            Monitor.PulseAll(_gate);
                            _loader.Abandon();
                            int n = _loader.CountOf(_taken);
                            var samples = _loader._order.AsSpan(_taken * _loader.BatchSize, n).ToArray();
                            throw new TimeoutException(
                                $"DataLoader: batch {_taken} of epoch {_epoch} (dataset samples {string.Join(", ", samples.Take(8))}{(n > 8 ? ", …" : "")}) was not ready after {_loader.Timeout}: " +
                                $"worker {_taken % _threads.Length}'s call to {_loader.Dataset.GetType().Name}.Get has not returned. The worker is abandoned; the next epoch starts fresh workers.");
                        }
                    }
                    result = _slots[slot]!;
                    _slots[slot] = null;
                    _taken++;
                    Monitor.PulseAll(_gate);
                    if (result is ExceptionDispatchInfo error)
                    {
                        _done = true;
                        failure = error;
                    }
                    else
                    {
                        _current = (Batch)result;
                        return true;
                    }
                }
            }
            // Joining happens outside the gate: the workers need it to notice cancellation.
            if (failure is not null)
            {
                Stop();
                failure.Throw();
            }
            // Exhausted: the threads have finished their last batches; join them and free the loader for the next epoch.
            Stop();
            return false;
        }

        public void Reset() => throw new NotSupportedException("Enumerate the DataLoader again to start the next epoch.");

        /// <summary>Cancels the workers, waits for them to end, and frees the loader. Safe to call more than once.</summary>
        private void Stop()
        {
            lock (_gate)
            {
                _cancelled = true;
                Monitor.PulseAll(_gate);
            }
            if (_abandoned) return; // a stuck worker would never be joined
            // A worker notices cancellation at its next batch, so this waits at most for the batches being built.
            foreach (Thread t in _threads)
            {
                if (t.IsAlive && t != Thread.CurrentThread) t.Join();
            }
            if (ReferenceEquals(_loader._active, this)) _loader._active = null;
        }

        public void Dispose()
        {
            if (_disposed) return;
            _disposed = true;
            _current = null;
            _done = true;
            Stop();
        }
    }
}
