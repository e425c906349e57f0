// Tests of MnistDataset: loading by directory and stream, pairing checks, and the exact float values its transforms produce.
using GraphCompiler.Data;
using Xunit;

namespace GraphCompiler.Tests.Data;

public class MnistDatasetTests
{
    [Fact]
    public void Load_gives_CHW_samples_in_0_1_by_default()
    {
        MnistDataset test = MnistDataset.Load(SubsetFiles.Directory, train: false);
        Assert.Equal(2000, test.Count);
        Assert.Equal(new[] { 1, 28, 28 }, test.SampleShape);
        Assert.Equal(10, test.NumClasses);

        var sample = new float[784];
        test.Get(0, sample, out int label);
        Assert.Equal(9, label);
        ReadOnlySpan<byte> raw = test.RawImage(0);
        for (int i = 0; i < 784; i++) Assert.Equal(raw[i] / 255f, sample[i]);
        Assert.Equal(119 / 255f, sample[14 * 28 + 26]);
    }

    [Fact]
    public void Normalize_half_half_gives_exactly_torchvisions_numbers()
    {
        // torchvision: Compose([ToTensor(), Normalize((0.5,), (0.5,))]) computes (x / 255 - 0.5) / 0.5 in float32.
        MnistDataset train = MnistDataset.Load(SubsetFiles.Directory, train: true,
            new Compose(new ToTensor(), new Normalize([0.5f], [0.5f])));
        var sample = new float[784];
        foreach (int index in new[] { 0, 1, 4999, 9999 })
        {
            train.Get(index, sample, out _);
            ReadOnlySpan<byte> raw = train.RawImage(index);
            for (int i = 0; i < 784; i++)
                Assert.Equal(BitConverter.SingleToInt32Bits((raw[i] / 255f - 0.5f) / 0.5f), BitConverter.SingleToInt32Bits(sample[i]));
        }
        train.Get(0, sample, out _);
        Assert.Equal(-1f, sample[0]);                   // byte 0
        Assert.Equal(1f, sample[14 * 28 + 25]);         // byte 255
        Assert.Equal((237 / 255f - 0.5f) / 0.5f, sample[14 * 28 + 12]);
    }

    [Fact]
    public void Every_byte_value_converts_exactly()
    {
        // One 16x16 image holding all 256 byte values, with the MNIST mean/std, against the scalar formula bit for bit.
        var images = new IdxImages("all-bytes", 1, 16, 16, Enumerable.Range(0, 256).Select(i => (byte)i).ToArray());
        var dataset = new MnistDataset(images, new IdxLabels("label", [3]),
            new Compose(new ToTensor(), new Normalize([0.1307f], [0.3081f])));
        var sample = new float[256];
        dataset.Get(0, sample, out int label);
        Assert.Equal(3, label);
        for (int b = 0; b < 256; b++)
            Assert.Equal(BitConverter.SingleToInt32Bits((b / 255f - 0.1307f) / 0.3081f), BitConverter.SingleToInt32Bits(sample[b]));
    }

    [Fact]
    public void FromStreams_reads_gzipped_resources_and_names_them_in_errors()
    {
        using var images = new MemoryStream(IdxBytes.Gzip(IdxBytes.Images(3, 2, 2)));
        using var labels = new MemoryStream(IdxBytes.Labels(1, 2, 3));
        MnistDataset d = MnistDataset.FromStreams(images, "res.images", labels, "res.labels");
        Assert.Equal(3, d.Count);
        Assert.Equal(new[] { 1, 2, 2 }, d.SampleShape);
        Assert.Equal(2, d.Label(1));

        using var badLabels = new MemoryStream(IdxBytes.Images(1, 1, 1));
        images.Position = 0;
        var e = Assert.Throws<InvalidDataException>(() => MnistDataset.FromStreams(images, "res.images", badLabels, "res.labels"));
        Assert.Contains("file res.labels", e.Message);
    }

    [Fact]
    public void Images_and_labels_count_mismatch_names_both_files()
    {
        using var dir = new TempDir();
        string images = dir.Write("train-images-idx3-ubyte", IdxBytes.Images(3, 28, 28));
        string labels = dir.Write("train-labels-idx1-ubyte.gz", IdxBytes.Gzip(IdxBytes.Labels(1, 2)));
        var e = Assert.Throws<InvalidDataException>(() => MnistDataset.Load(dir.Path, train: true));
        Assert.Contains("count mismatch", e.Message);
        Assert.Contains($"images file {images} holds 3 images", e.Message);
        Assert.Contains($"labels file {labels} holds 2 labels", e.Message);
    }

    [Fact]
    public void Label_outside_the_classes_is_reported_with_its_offset()
    {
        using var dir = new TempDir();
        string images = dir.Write("i", IdxBytes.Images(3, 2, 2));
        string labels = dir.Write("l", IdxBytes.Labels(1, 12, 3));
        var e = Assert.Throws<InvalidDataException>(() => MnistDataset.FromFiles(images, labels));
        Assert.Contains($"file {labels}: label 12 of sample 1 (at offset 9) is not a class index in 0..9", e.Message);
    }

    [Fact]
    public void Missing_files_list_what_was_looked_for()
    {
        using var dir = new TempDir();
        dir.Write("train-images-idx3-ubyte.gz", IdxBytes.Gzip(IdxBytes.Images(1, 2, 2)));
        var e = Assert.Throws<FileNotFoundException>(() => MnistDataset.Load(dir.Path, train: true));
        Assert.Contains("MNIST training labels not found in", e.Message);
        Assert.Contains(dir.Path, e.Message);
        Assert.Contains("train-labels-idx1-ubyte, train-labels-idx1-ubyte.gz, train-labels.idx1-ubyte, train-labels.idx1-ubyte.gz", e.Message);

        var e2 = Assert.Throws<FileNotFoundException>(() => MnistDataset.Load(dir.Path, train: false));
        Assert.Contains("MNIST test images not found", e2.Message);
        Assert.Contains("t10k-images-idx3-ubyte.gz", e2.Message);

        var e3 = Assert.Throws<DirectoryNotFoundException>(() => MnistDataset.Load(dir.File("missing"), train: true));
        Assert.Contains(dir.File("missing"), e3.Message);
    }

    [Fact]
    public void Missing_embedded_resources_list_what_was_looked_for()
    {
        var e = Assert.Throws<FileNotFoundException>(() =>
            MnistDataset.FromEmbeddedResources(typeof(MnistDatasetTests).Assembly, "Nope.", train: true));
        Assert.Contains("Nope.train-images-idx3-ubyte.gz", e.Message);
        Assert.Contains("GraphCompiler.Tests", e.Message);
    }

    [Fact]
    public void GetBatch_equals_Get_per_sample_and_the_loader_uses_it()
    {
        MnistDataset d = MnistDataset.Load(SubsetFiles.Directory, train: false, new Compose(new ToTensor(), new Normalize([0.2860f], [0.3530f])));
        int[] indices = [1999, 0, 7, 7, 1234, 3];
        var batch = new float[indices.Length * 784];
        var labels = new int[indices.Length];
        d.GetBatch(indices, batch, labels);
        var one = new float[784];
        for (int k = 0; k < indices.Length; k++)
        {
            d.Get(indices[k], one, out int label);
            Assert.Equal(label, labels[k]);
            Assert.True(one.AsSpan().SequenceEqual(batch.AsSpan(k * 784, 784)));
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => d.GetBatch([0, 2000], new float[2 * 784], new int[2]));
        Assert.Throws<ArgumentException>(() => d.GetBatch([0, 1], new float[784], new int[2]));

        var loader = new DataLoader(d, batchSize: 100, shuffle: true, seed: 11);
        foreach (Batch b in loader)
        {
            for (int k = 0; k < b.Count; k += 37)
            {
                d.Get(b.Indices[k], one, out int label);
                Assert.Equal(label, b.Labels[k]);
                Assert.True(one.AsSpan().SequenceEqual(b.Images.Data.AsSpan(k * 784, 784)));
            }
        }
    }

    [Fact]
    public void Get_checks_index_and_span()
    {
        MnistDataset d = MnistDataset.FromFiles(
            Path.Combine(SubsetFiles.Directory, "t10k-images-idx3-ubyte.gz"), Path.Combine(SubsetFiles.Directory, "t10k-labels-idx1-ubyte.gz"));
        Assert.Throws<ArgumentOutOfRangeException>(() => d.Get(2000, new float[784], out _));
        Assert.Throws<ArgumentOutOfRangeException>(() => d.Get(-1, new float[784], out _));
        var e = Assert.Throws<ArgumentException>(() => d.Get(0, new float[783], out _));
        Assert.Contains("784", e.Message);
        var e2 = Assert.Throws<ArgumentException>(() => d.Transform = new Normalize([0.5f], [0.5f]));
        Assert.Contains("ToTensor", e2.Message);
    }
}
