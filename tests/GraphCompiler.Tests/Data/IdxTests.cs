// Tests of the idx reader: the shipped Fashion-MNIST subset against values the generator script printed, and every error path.
using GraphCompiler.Data;
using Xunit;

namespace GraphCompiler.Tests.Data;

public class IdxTests
{
    // From samples/FashionMnist/data/make_subset.py's output (also in that folder's README).
    private static readonly byte[] TrainRow14 =
        [0, 0, 1, 4, 6, 7, 2, 0, 0, 0, 0, 0, 237, 226, 217, 223, 222, 219, 222, 221, 216, 223, 229, 215, 218, 255, 77, 0];

    private static readonly byte[] TestRow14 =
        [0, 0, 0, 0, 0, 0, 2, 4, 1, 0, 0, 0, 98, 136, 110, 109, 110, 162, 135, 144, 149, 159, 167, 144, 158, 169, 119, 0];

    private static long Sum(ReadOnlySpan<byte> bytes)
    {
        long s = 0;
        foreach (byte b in bytes) s += b;
        return s;
    }

    [Fact]
    public void Subset_train_matches_the_generator_script()
    {
        IdxImages images = Idx.ReadImages(Path.Combine(SubsetFiles.Directory, "train-images-idx3-ubyte.gz"));
        IdxLabels labels = Idx.ReadLabels(Path.Combine(SubsetFiles.Directory, "train-labels-idx1-ubyte.gz"));
        Assert.Equal(10000, images.Count);
        Assert.Equal(28, images.Rows);
        Assert.Equal(28, images.Columns);
        Assert.Equal(10000 * 784, images.Pixels.Length);
        Assert.Equal(10000, labels.Count);
        Assert.Equal(new byte[] { 9, 0, 0, 3, 0, 2, 7, 2, 5, 5 }, labels.Labels[..10]);
        Assert.Equal(76247, Sum(images.Image(0)));
        Assert.Equal(TrainRow14, images.Image(0).Slice(14 * 28, 28).ToArray());
        Assert.Equal(6, labels.Labels[9999]);
        Assert.Equal(79936, Sum(images.Image(9999)));
    }

    [Fact]
    public void Subset_test_matches_the_generator_script()
    {
        IdxImages images = Idx.ReadImages(Path.Combine(SubsetFiles.Directory, "t10k-images-idx3-ubyte.gz"));
        IdxLabels labels = Idx.ReadLabels(Path.Combine(SubsetFiles.Directory, "t10k-labels-idx1-ubyte.gz"));
        Assert.Equal(2000, images.Count);
        Assert.Equal(2000, labels.Count);
        Assert.Equal(new byte[] { 9, 2, 1, 1, 6, 1, 4, 6, 5, 7 }, labels.Labels[..10]);
        Assert.Equal(33456, Sum(images.Image(0)));
        Assert.Equal(TestRow14, images.Image(0).Slice(14 * 28, 28).ToArray());
        Assert.Equal(0, labels.Labels[1999]);
        Assert.Equal(59629, Sum(images.Image(1999)));
    }

    [Fact]
    public void Subset_class_balance_matches_the_generator_script()
    {
        MnistDataset train = MnistDataset.Load(SubsetFiles.Directory, train: true);
        MnistDataset test = MnistDataset.Load(SubsetFiles.Directory, train: false);
        Assert.Equal(new[] { 942, 1027, 1016, 1019, 974, 989, 1021, 1022, 990, 1000 }, train.ClassCounts());
        Assert.Equal(new[] { 200, 203, 214, 190, 219, 195, 197, 200, 194, 188 }, test.ClassCounts());
    }

    [Fact]
    public void Gzipped_and_plain_files_read_the_same()
    {
        using var dir = new TempDir();
        foreach (string name in new[] { "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte" })
            dir.Write(name, IdxBytes.Gunzip(Path.Combine(SubsetFiles.Directory, name + ".gz")));

        IdxImages gz = Idx.ReadImages(Path.Combine(SubsetFiles.Directory, "t10k-images-idx3-ubyte.gz"));
        IdxImages plain = Idx.ReadImages(dir.File("t10k-images-idx3-ubyte"));
        Assert.Equal((gz.Count, gz.Rows, gz.Columns), (plain.Count, plain.Rows, plain.Columns));
        Assert.True(gz.Pixels.AsSpan().SequenceEqual(plain.Pixels));
        Assert.Equal(Idx.ReadLabels(Path.Combine(SubsetFiles.Directory, "t10k-labels-idx1-ubyte.gz")).Labels,
                     Idx.ReadLabels(dir.File("t10k-labels-idx1-ubyte")).Labels);

        // Load finds the uncompressed names too.
        MnistDataset fromPlain = MnistDataset.Load(dir.Path, train: false);
        Assert.Equal(2000, fromPlain.Count);
        Assert.True(fromPlain.RawImage(1234).SequenceEqual(gz.Image(1234)));
    }

    [Fact]
    public void Gzip_is_detected_by_content_not_by_name()
    {
        using var dir = new TempDir();
        string misnamed = dir.Write("labels.bin", IdxBytes.Gzip(IdxBytes.Labels(3, 1, 4)));
        Assert.Equal(new byte[] { 3, 1, 4 }, Idx.ReadLabels(misnamed).Labels);
    }

    [Fact]
    public void Reads_from_non_seekable_streams()
    {
        byte[] gz = IdxBytes.Gzip(IdxBytes.Images(2, 3, 4));
        using var stream = new NonSeekable(new MemoryStream(gz));
        IdxImages images = Idx.ReadImages(stream, "network images");
        Assert.Equal("network images", images.Source);
        Assert.Equal(2, images.Count);
        Assert.Equal((byte)(5 * 7), images.Pixels[5]);
    }

    [Fact]
    public void Full_dataset_starts_with_the_subset_when_installed()
    {
        // The Debian package is optional on a developer machine; the subset tests above need nothing installed.
        const string full = "/usr/share/datasets/fashion-mnist";
        if (!File.Exists(Path.Combine(full, "train-images-idx3-ubyte.gz"))) return;
        MnistDataset all = MnistDataset.Load(full, train: true);
        MnistDataset subset = MnistDataset.Load(SubsetFiles.Directory, train: true);
        Assert.Equal(60000, all.Count);
        Assert.Equal(new[] { 6000, 6000, 6000, 6000, 6000, 6000, 6000, 6000, 6000, 6000 }, all.ClassCounts());
        for (int i = 0; i < subset.Count; i += 997)
        {
            Assert.True(all.RawImage(i).SequenceEqual(subset.RawImage(i)));
            Assert.Equal(all.Label(i), subset.Label(i));
        }
    }

    // ---- error paths: each message must name the file and say exactly what is wrong ----

    private static InvalidDataException ReadImagesFails(TempDir dir, string name, byte[] bytes)
    {
        string path = dir.Write(name, bytes);
        var e = Assert.Throws<InvalidDataException>(() => Idx.ReadImages(path));
        Assert.Contains(path, e.Message);
        return e;
    }

    [Fact]
    public void Bad_magic_reports_expected_and_actual_values_at_offset_0()
    {
        using var dir = new TempDir();
        var e = ReadImagesFails(dir, "junk-idx3", [0x12, 0x34, 0x56, 0x78, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 9]);
        Assert.Contains("bad magic number 0x12345678 at offset 0", e.Message);
        Assert.Contains("expected 0x00000803", e.Message);
    }

    [Fact]
    public void Html_error_page_instead_of_data_is_a_bad_magic()
    {
        using var dir = new TempDir();
        var e = ReadImagesFails(dir, "train-images-idx3-ubyte", "<!DOCTYPE html><html>404</html>"u8.ToArray());
        Assert.Contains("bad magic number 0x3C21444F at offset 0", e.Message);
    }

    [Fact]
    public void Unexpected_element_type_is_named()
    {
        using var dir = new TempDir();
        var e = ReadImagesFails(dir, "floats-idx3", IdxBytes.Make(0x00000D03, [1, 1, 1], [0, 0, 0, 0]));
        Assert.Contains("unexpected element type 0x0D (float32)", e.Message);
        Assert.Contains("0x00000D03 at offset 0", e.Message);
        Assert.Contains("expected 0x08 (unsigned byte)", e.Message);
    }

    [Fact]
    public void Labels_file_read_as_images_is_a_rank_error()
    {
        using var dir = new TempDir();
        var e = ReadImagesFails(dir, "train-labels-idx1-ubyte", IdxBytes.Labels(1, 2, 3));
        Assert.Contains("unexpected rank 1 in magic number 0x00000801 at offset 0, expected rank 3", e.Message);
        Assert.Contains("looks like a labels file", e.Message);

        string images = dir.Write("train-images-idx3-ubyte", IdxBytes.Images(1, 2, 2));
        var e2 = Assert.Throws<InvalidDataException>(() => Idx.ReadLabels(images));
        Assert.Contains(images, e2.Message);
        Assert.Contains("unexpected rank 3 in magic number 0x00000803 at offset 0, expected rank 1", e2.Message);
    }

    [Fact]
    public void Truncated_data_reports_declared_and_available_bytes()
    {
        using var dir = new TempDir();
        byte[] full = IdxBytes.Images(60000, 28, 28, _ => 1);
        var e = ReadImagesFails(dir, "train-images-idx3-ubyte", full[..(16 + 1000)]);
        Assert.Contains("header declares 60000 images of 28x28 (47040000 bytes from offset 16) but only 1000 bytes follow", e.Message);
    }

    [Fact]
    public void Truncated_gzip_reports_the_short_decompressed_data()
    {
        using var dir = new TempDir();
        byte[] gz = IdxBytes.Gzip(IdxBytes.Images(100, 28, 28, i => (byte)(i * 31 % 251)));
        string path = dir.Write("cut.gz", gz[..(gz.Length / 2)]);
        var e = Assert.Throws<InvalidDataException>(() => Idx.ReadImages(path));
        Assert.Contains(path, e.Message);
        // zlib does not flag a stream that just stops, so the short payload is what gets reported.
        Assert.Contains("header declares 100 images of 28x28 (78400 bytes from offset 16) but only ", e.Message);
        Assert.Contains("the gzip stream ended early", e.Message);
    }

    [Fact]
    public void Truncated_header_and_empty_file()
    {
        using var dir = new TempDir();
        var e = ReadImagesFails(dir, "short", [0, 0, 8, 3, 0, 0, 0, 5, 0, 0]);
        Assert.Contains("truncated header: rank 3 needs 16 header bytes but the data ends after 10", e.Message);

        e = ReadImagesFails(dir, "tiny", [0, 0]);
        Assert.Contains("only 2 bytes long", e.Message);

        e = ReadImagesFails(dir, "empty", []);
        Assert.Contains("is empty", e.Message);
    }

    [Fact]
    public void Trailing_bytes_are_rejected()
    {
        using var dir = new TempDir();
        byte[] ok = IdxBytes.Images(2, 3, 3);
        var e = ReadImagesFails(dir, "long", [.. ok, 1, 2, 3, 4, 5]);
        Assert.Contains("5 unexpected trailing bytes after the 18 bytes that the header (2 images of 3x3) declares; data should end at offset 34", e.Message);

        string labels = dir.Write("labels.gz", IdxBytes.Gzip([.. IdxBytes.Labels(1, 2), 7]));
        var e2 = Assert.Throws<InvalidDataException>(() => Idx.ReadLabels(labels));
        Assert.Contains(labels, e2.Message);
        Assert.Contains("1 unexpected trailing bytes", e2.Message);
        Assert.Contains("offsets are in the decompressed data", e2.Message);
    }

    [Fact]
    public void Corrupt_gzip_stream_is_reported()
    {
        using var dir = new TempDir();
        byte[] gz = IdxBytes.Gzip(IdxBytes.Images(4, 28, 28));
        // The first deflate block header follows gzip's 10-byte header; BTYPE=11 is reserved and invalid.
        gz[10] = 0xFF;
        string path = dir.Write("bad-block.gz", gz);
        var e = Assert.Throws<InvalidDataException>(() => Idx.ReadImages(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("corrupt gzip stream after 0 decompressed bytes", e.Message);
    }

    [Fact]
    public void Gzip_checksum_mismatch_is_reported()
    {
        using var dir = new TempDir();
        byte[] gz = IdxBytes.Gzip(IdxBytes.Labels(1, 2, 3, 4));
        gz[^8] ^= 0xFF; // the CRC-32 of the uncompressed data, in the gzip trailer
        string path = dir.Write("bad-crc.gz", gz);
        var e = Assert.Throws<InvalidDataException>(() => Idx.ReadLabels(path));
        Assert.Contains(path, e.Message);
        // Where zlib notices depends on its buffering (the whole member fits one read), so only the kind of error is checked.
        Assert.Contains("corrupt gzip stream after ", e.Message);
        Assert.Contains("checksum", e.Message);
    }

    [Fact]
    public void Stream_errors_use_the_display_name()
    {
        using var stream = new MemoryStream([1, 2, 3, 4, 5, 6, 7, 8]);
        var e = Assert.Throws<InvalidDataException>(() => Idx.ReadLabels(stream, "resource Foo.labels"));
        Assert.Contains("file resource Foo.labels: bad magic number 0x01020304 at offset 0, expected 0x00000801", e.Message);
    }

    [Fact]
    public void Missing_file_is_a_FileNotFoundException_naming_it()
    {
        using var dir = new TempDir();
        var e = Assert.Throws<FileNotFoundException>(() => Idx.ReadImages(dir.File("nope")));
        Assert.Contains(dir.File("nope"), e.Message);
    }

    private sealed class NonSeekable(Stream inner) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, Math.Min(count, 7));
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
