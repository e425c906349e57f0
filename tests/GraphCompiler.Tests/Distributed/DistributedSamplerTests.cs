// DistributedSampler against PyTorch's arithmetic: shares, padding, drop_last, shuffling by seed and epoch, and the loader that uses it.
using GraphCompiler.Data;
using GraphCompiler.Tests.Data;
using Xunit;

namespace GraphCompiler.Tests.Distributed;

public class DistributedSamplerTests
{
    private static int[][] Shares(int n, int ranks, bool shuffle = false, bool dropLast = false, int epoch = 0, ulong seed = 0) =>
        [.. Enumerable.Range(0, ranks).Select(r =>
        {
            var s = new DistributedSampler(n, ranks, r, shuffle, seed, dropLast);
            s.SetEpoch(epoch);
            return s.Indices();
        })];

    [Fact]
    public void Uneven_split_is_padded_with_the_first_indices_as_pytorch_does()
    {
        // torch: DistributedSampler(range(10), num_replicas=3, rank=r, shuffle=False) → [0,3,6,9] [1,4,7,0] [2,5,8,1]
        int[][] shares = Shares(10, 3);
        Assert.Equal([0, 3, 6, 9], shares[0]);
        Assert.Equal([1, 4, 7, 0], shares[1]);
        Assert.Equal([2, 5, 8, 1], shares[2]);
        Assert.Equal(4, new DistributedSampler(10, 3, 0, shuffle: false).NumSamples);
        Assert.Equal(12, new DistributedSampler(10, 3, 0, shuffle: false).TotalSize);
    }

    [Fact]
    public void Drop_last_cuts_the_tail_as_pytorch_does()
    {
        // torch: drop_last=True → num_samples = ceil((10 - 3) / 3) = 3, indices[:9] → [0,3,6] [1,4,7] [2,5,8]
        int[][] shares = Shares(10, 3, dropLast: true);
        Assert.Equal([[0, 3, 6], [1, 4, 7], [2, 5, 8]], shares);
        // An even split drops nothing: ceil(8 / 2) = 4 each.
        Assert.Equal(4, new DistributedSampler(8, 2, 1, dropLast: true).NumSamples);
    }

    [Fact]
    public void Padding_longer_than_the_dataset_repeats_it_whole()
    {
        // torch: 2 samples over 5 ranks → padded [0, 1, 0, 1, 0], one index per rank.
        Assert.Equal([[0], [1], [0], [1], [0]], Shares(2, 5));
    }

    [Fact]
    public void Shuffled_shares_are_disjoint_and_their_union_is_the_epoch()
    {
        int[][] shares = Shares(1000, 4, shuffle: true, seed: 7, epoch: 3);
        int[] union = [.. shares.SelectMany(s => s).Order()];
        Assert.Equal(Enumerable.Range(0, 1000), union);
        Assert.All(shares, s => Assert.Equal(250, s.Length));
        Assert.NotEqual(Enumerable.Range(0, 250).Select(i => 4 * i), shares[0]);
    }

    [Fact]
    public void Set_epoch_reshuffles_and_the_same_seed_and_epoch_give_the_same_order_on_every_rank()
    {
        var a = new DistributedSampler(100, 2, 0, seed: 1);
        int[] epoch0 = a.Indices();
        a.SetEpoch(1);
        int[] epoch1 = a.Indices();
        Assert.NotEqual(epoch0, epoch1);
        var b = new DistributedSampler(100, 2, 0, seed: 1);
        b.SetEpoch(1);
        Assert.Equal(epoch1, b.Indices());
        // PyTorch seeds with seed + epoch, so (seed 1, epoch 1) is (seed 2, epoch 0).
        Assert.Equal(epoch1, new DistributedSampler(100, 2, 0, seed: 2).Indices());
    }

    [Fact]
    public void Bad_arguments_name_the_value()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new DistributedSampler(10, 2, 2));
        Assert.StartsWith("Invalid rank 2, rank should be in the interval [0, 1]", e.Message);
        var drop = Assert.Throws<ArgumentException>(() => new DistributedSampler(2, 3, 0, dropLast: true));
        Assert.StartsWith("dropLast leaves no sample for any of the 3 ranks: the dataset has only 2.", drop.Message);
    }

    [Fact]
    public void A_loader_with_a_sampler_loads_the_ranks_share_of_its_own_epoch()
    {
        var data = new IndexDataset(10, 2);
        var sampler = new DistributedSampler(10, 3, 1, shuffle: false);
        var loader = new DataLoader(data, batchSize: 3, sampler: sampler);
        Assert.Equal(2, loader.Count);
        Assert.Equal(4, loader.SampleCount);
        int[][] batches = [.. loader.Select(b => b.Indices.ToArray())];
        Assert.Equal([[1, 4, 7], [0]], batches);
        Assert.Equal([1000f, 1001f], loader.First().Images.Data[..2].ToArray());

        var shuffled = new DataLoader(data, batchSize: 4, sampler: new DistributedSampler(10, 3, 1, seed: 9));
        var expected = new DistributedSampler(10, 3, 1, seed: 9);
        expected.SetEpoch(2);
        shuffled.Epoch = 2; // a resumed loader: the sampler's order follows the loader's epoch
        Assert.Equal(expected.Indices(), shuffled.First().Indices);
    }

    [Fact]
    public void A_loader_refuses_shuffle_with_a_sampler_and_a_sampler_of_another_size()
    {
        var data = new IndexDataset(10, 2);
        var e = Assert.Throws<ArgumentException>(() => new DataLoader(data, 2, shuffle: true, sampler: new DistributedSampler(10, 2, 0)));
        Assert.StartsWith("sampler option is mutually exclusive with shuffle", e.Message);
        var size = Assert.Throws<ArgumentException>(() => new DataLoader(data, 2, sampler: new DistributedSampler(11, 2, 0)));
        Assert.StartsWith("The sampler was made for 11 samples but the dataset has 10.", size.Message);
    }
}
