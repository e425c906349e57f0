// Tests of Cifar10Dataset on files the test writes in CIFAR-10's binary format: layout, splits, transforms and damage reports.
using GraphCompiler.Data;
using Xunit;

namespace GraphCompiler.Tests.Data;

public class Cifar10DatasetTests
{
    /// <summary>Record bytes whose pixels encode (file, record, position), and whose label is <paramref name="label"/>.</summary>
    private static byte[] Record(int file, int record, byte label)
    {
        var bytes = new byte[Cifar10Dataset.RecordBytes];
        bytes[0] = label;
        for (int i = 0; i < Cifar10Dataset.ImageBytes; i++) bytes[1 + i] = (byte)(file * 50 + record * 13 + i * 7);
        return bytes;
    }

    private static byte[] Batch(int file, int records) =>
        Enumerable.Range(0, records).SelectMany(r => Record(file, r, (byte)((file + r) % 10))).ToArray();

    /// <summary>The five training batches with 3, 1, 2, 2, 1 records and a test batch of 4.</summary>
    private static void WriteSplits(string dir)
    {
        int[] sizes = [3, 1, 2, 2, 1];
        for (int f = 0; f < 5; f++) File.WriteAllBytes(Path.Combine(dir, $"data_batch_{f + 1}.bin"), Batch(f, sizes[f]));
        File.WriteAllBytes(Path.Combine(dir, "test_batch.bin"), Batch(9, 4));
    }

    [Fact]
    public void Loads_both_splits_in_file_order_with_CHW_pixels()
    {
        using var tmp = new TempDir();
        WriteSplits(tmp.Path);
        Cifar10Dataset train = Cifar10Dataset.Load(tmp.Path, train: true);
        Assert.Equal(9, train.Count);
        Assert.Equal(new[] { 3, 32, 32 }, train.SampleShape);
        Assert.Equal(10, train.NumClasses);
        Assert.Equal("airplane", train.Classes[0]);
        // Record 1 of data_batch_4.bin is sample 3 + 1 + 2 + 1 = 7.
        byte[] expected = Record(3, 1, 4);
        Assert.Equal(4, train.Label(7));
        Assert.Equal(expected[1..], train.RawImage(7).ToArray());
        var sample = new float[3072];
        train.Get(7, sample, out int label);
        Assert.Equal(4, label);
        for (int i = 0; i < 3072; i++) Assert.Equal(expected[1 + i] / 255f, sample[i]);
        // Channel planes: element (c, y, x) is byte 1 + c * 1024 + y * 32 + x of the record.
        Assert.Equal(expected[1 + 2 * 1024 + 5 * 32 + 7] / 255f, sample[2 * 1024 + 5 * 32 + 7]);

        Cifar10Dataset test = Cifar10Dataset.Load(tmp.Path, train: false);
        Assert.Equal(4, test.Count);
        Assert.Equal(new[] { 9, 0, 1, 2 }, Enumerable.Range(0, 4).Select(test.Label));
    }

    [Fact]
    public void Finds_the_tarball_folder_and_its_class_names()
    {
        using var tmp = new TempDir();
        string nested = Path.Combine(tmp.Path, "cifar-10-batches-bin");
        Directory.CreateDirectory(nested);
        WriteSplits(nested);
        string[] names = ["a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9"];
        File.WriteAllText(Path.Combine(nested, "batches.meta.txt"), string.Join("\n", names) + "\n\n");
        Cifar10Dataset test = Cifar10Dataset.Load(tmp.Path, train: false);
        Assert.Equal(names, test.Classes);
        Assert.Equal(Path.Combine(nested, "test_batch.bin"), test.Sources[0]);
    }

    [Fact]
    public void Transforms_shape_the_samples_and_run_through_the_loader()
    {
        using var tmp = new TempDir();
        WriteSplits(tmp.Path);
        var augment = new Compose(new RandomCrop(32, padding: 4), new RandomHorizontalFlip(), new ToTensor(),
            new Normalize([0.4914f, 0.4822f, 0.4465f], [0.247f, 0.243f, 0.261f]));
        Cifar10Dataset train = Cifar10Dataset.Load(tmp.Path, train: true, augment);
        Assert.Equal(new[] { 3, 32, 32 }, train.SampleShape);
        var a = Run(new DataLoader(train, 4, shuffle: true, seed: 3));
        var b = Run(new DataLoader(train, 4, shuffle: true, seed: 3, numWorkers: 2));
        Assert.Equal(a, b);

        train.Transform = new Compose(new ToTensor(), new Resize(16, 16));
        Assert.Equal(new[] { 3, 16, 16 }, train.SampleShape);
        Assert.Equal(new[] { 4, 3, 16, 16 }, new DataLoader(train, 4).First().Images.Shape);
        Assert.Throws<ArgumentException>(() => train.Transform = new Resize(8, 8));

        static List<float[]> Run(DataLoader loader) => loader.Select(batch => batch.Images.Data.ToArray()).ToList();
    }

    [Fact]
    public void A_truncated_file_is_reported_with_file_record_and_offset()
    {
        using var tmp = new TempDir();
        WriteSplits(tmp.Path);
        string path = tmp.Write("test_batch.bin", Batch(9, 3).Concat(Record(9, 3, 1)[..100]).ToArray());
        var ex = Assert.Throws<InvalidDataException>(() => Cifar10Dataset.Load(tmp.Path, train: false));
        Assert.Contains(path, ex.Message);
        Assert.Contains("truncated: record 3 starts at byte offset 9219", ex.Message); // 3 * 3073
        Assert.Contains("ends at offset 9319", ex.Message);
        Assert.Contains("100 of the record's 3073 bytes", ex.Message);

        tmp.Write("test_batch.bin", []);
        Assert.Contains("empty", Assert.Throws<InvalidDataException>(() => Cifar10Dataset.Load(tmp.Path, train: false)).Message);
    }

    [Fact]
    public void A_bad_label_or_a_missing_file_is_named()
    {
        using var tmp = new TempDir();
        WriteSplits(tmp.Path);
        byte[] bytes = Batch(9, 4);
        bytes[2 * Cifar10Dataset.RecordBytes] = 10; // CIFAR-100's fine labels go to 99
        string path = tmp.Write("test_batch.bin", bytes);
        var ex = Assert.Throws<InvalidDataException>(() => Cifar10Dataset.Load(tmp.Path, train: false));
        Assert.Contains($"file {path}: record 2 (byte offset 6146) has label 10", ex.Message);

        File.Delete(Path.Combine(tmp.Path, "data_batch_3.bin"));
        var missing = Assert.Throws<FileNotFoundException>(() => Cifar10Dataset.Load(tmp.Path, train: true));
        Assert.Contains("data_batch_3.bin", missing.Message);
        Assert.Throws<DirectoryNotFoundException>(() => Cifar10Dataset.Load(Path.Combine(tmp.Path, "nope"), train: true));
    }
}
