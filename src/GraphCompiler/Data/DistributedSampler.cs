// PyTorch's DistributedSampler: each rank's disjoint share of an epoch, shuffled by seed and epoch, padded or trimmed to equal shares.
namespace GraphCompiler.Data;

/// <summary>
/// The indices one rank of a data-parallel job loads in an epoch, as <c>torch.utils.data.DistributedSampler(dataset,
/// num_replicas, rank, shuffle=True, seed=0, drop_last=False)</c>: the epoch's order (a permutation drawn from
/// <c>seed + epoch</c> when shuffling, else 0…n−1) is made a multiple of the rank count — without
/// <see cref="DropLast"/> by repeating its first indices, with it by cutting its tail — and rank r takes positions
/// r, r + ranks, r + 2·ranks, …. So every rank gets <see cref="NumSamples"/> indices, the shares are disjoint apart
/// from the padding, and their union is the whole epoch (less the cut tail with <see cref="DropLast"/>). Every rank must
/// use the same seed. The permutation comes from this library's <see cref="Rng"/>, not torch's generator, so the orders
/// differ from PyTorch's while the padding, trimming and striding are PyTorch's. Pass it to a <see cref="DataLoader"/>
/// (<c>sampler:</c>), which asks it for the order of its own epoch, so a resumed loader needs no <see cref="SetEpoch"/>.
/// </summary>
public sealed class DistributedSampler
{
    public DistributedSampler(int datasetCount, int numReplicas, int rank, bool shuffle = true, ulong seed = 0, bool dropLast = false)
    {
        if (datasetCount < 1) throw new ArgumentOutOfRangeException(nameof(datasetCount), datasetCount, "The dataset is empty; there is nothing to sample.");
        if (numReplicas < 1) throw new ArgumentOutOfRangeException(nameof(numReplicas), numReplicas, "numReplicas must be at least 1.");
        if (rank < 0 || rank >= numReplicas)
            throw new ArgumentOutOfRangeException(nameof(rank), rank, $"Invalid rank {rank}, rank should be in the interval [0, {numReplicas - 1}]");
        DatasetCount = datasetCount;
        NumReplicas = numReplicas;
        Rank = rank;
        Shuffle = shuffle;
        Seed = seed;
        DropLast = dropLast;
        // PyTorch: with drop_last and an uneven split, ceil((n − replicas) / replicas), i.e. floor(n / replicas).
        NumSamples = dropLast && datasetCount % numReplicas != 0
            ? (int)Math.Ceiling((datasetCount - numReplicas) / (double)numReplicas)
            : (int)Math.Ceiling(datasetCount / (double)numReplicas);
        if (NumSamples < 1)
            throw new ArgumentException($"dropLast leaves no sample for any of the {numReplicas} ranks: the dataset has only {datasetCount}.", nameof(dropLast));
        TotalSize = NumSamples * numReplicas;
    }

    /// <summary>A sampler for <paramref name="dataset"/> over a process group's ranks.</summary>
    public DistributedSampler(IDataset dataset, Distributed.ProcessGroup group, bool shuffle = true, ulong seed = 0, bool dropLast = false)
        : this((dataset ?? throw new ArgumentNullException(nameof(dataset))).Count, (group ?? throw new ArgumentNullException(nameof(group))).WorldSize, group.Rank, shuffle, seed, dropLast)
    {
    }

    public int DatasetCount { get; }

    public int NumReplicas { get; }

    public int Rank { get; }

    public bool Shuffle { get; }

    public ulong Seed { get; }

    public bool DropLast { get; }

    /// <summary>Indices this rank gets per epoch (PyTorch's <c>len(sampler)</c>).</summary>
    public int NumSamples { get; }

    /// <summary><see cref="NumSamples"/> × ranks: the epoch after padding or trimming.</summary>
    public int TotalSize { get; }

    /// <summary>The epoch <see cref="Indices()"/> draws for.</summary>
    public int Epoch { get; private set; }

    /// <summary>PyTorch's <c>set_epoch</c>: the next <see cref="Indices()"/> shuffles for <paramref name="epoch"/>.</summary>
    public void SetEpoch(int epoch)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(epoch);
        Epoch = epoch;
    }

    /// <summary>This rank's indices for <see cref="Epoch"/>.</summary>
    public int[] Indices()
    {
        var indices = new int[NumSamples];
        Indices(Epoch, indices);
        return indices;
    }

    /// <summary>This rank's indices for <paramref name="epoch"/>, into <paramref name="indices"/> (<see cref="NumSamples"/> entries).</summary>
    public void Indices(int epoch, Span<int> indices)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(epoch);
        if (indices.Length != NumSamples)
            throw new ArgumentException($"indices has {indices.Length} entries but this rank takes {NumSamples} per epoch.", nameof(indices));
        int n = DatasetCount;
        var order = new int[n];
        for (int i = 0; i < n; i++) order[i] = i;
        if (Shuffle) new Rng(unchecked(Seed + (ulong)epoch)).Shuffle(order);
        // Position p of the padded epoch: the order repeated from its start (PyTorch pads with indices[:padding_size],
        // repeating the whole list as often as needed when the padding is longer than the list).
        for (int k = 0; k < NumSamples; k++) indices[k] = order[(Rank + k * NumReplicas) % n];
    }

    public override string ToString() =>
        $"DistributedSampler(rank {Rank} of {NumReplicas}, {NumSamples} of {DatasetCount} samples per epoch, shuffle={Shuffle}, seed={Seed}, dropLast={DropLast})";
}
