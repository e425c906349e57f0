// Tests for the TensorBoard writer: files decoded back byte by byte, every CRC checked independently, every value compared.
using System.Buffers.Binary;
using System.Text;
using System.Text.RegularExpressions;
using Google.Protobuf;
using GraphCompiler.IO.TensorBoard;
using GraphCompiler.IO.TensorBoard.Protos;
using StbImageSharp;
using Xunit;

namespace GraphCompiler.Tests.IO;

public sealed class TensorBoardTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "gc-tensorboard-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    // ------------------------------------------------------------------ an independent decoder

    /// <summary>Bit-at-a-time CRC-32C, written from the definition so it shares no code with the writer's.</summary>
    private static uint BitwiseCrc32C(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFFu;
        foreach (byte b in data)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1)));
        }
        return ~crc;
    }

    private static uint MaskedCrc(ReadOnlySpan<byte> data)
    {
        uint crc = BitwiseCrc32C(data);
        return ((crc >> 15) | (crc << 17)) + 0xA282EAD8u;
    }

    /// <summary>Splits a file into its records by hand, asserting both checksums of each; returns (offset, data) pairs.</summary>
    private static List<(long Offset, byte[] Data)> DecodeByHand(string path, out int checksumsVerified)
    {
        byte[] bytes = File.ReadAllBytes(path);
        var records = new List<(long, byte[])>();
        checksumsVerified = 0;
        int at = 0;
        while (at < bytes.Length)
        {
            Assert.True(bytes.Length - at >= 16, $"record at {at} is cut short");
            ulong length = BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(at));
            Assert.Equal(MaskedCrc(bytes.AsSpan(at, 8)), BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at + 8)));
            checksumsVerified++;
            byte[] data = bytes.AsSpan(at + 12, (int)length).ToArray();
            Assert.Equal(MaskedCrc(data), BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at + 12 + (int)length)));
            checksumsVerified++;
            records.Add((at, data));
            at += 16 + (int)length;
        }
        return records;
    }

    /// <summary>The events of a file, decoded by hand and by <see cref="EventFileReader"/>, which must agree.</summary>
    private static List<Event> ReadBothWays(string path)
    {
        var byHand = DecodeByHand(path, out int verified);
        Assert.Equal(2 * byHand.Count, verified);
        var byReader = EventFileReader.ReadRecords(path).ToList();
        Assert.Equal(byHand.Select(r => r.Offset), byReader.Select(r => r.Offset));
        var events = byHand.Select(r => Event.Parser.ParseFrom(r.Data)).ToList();
        Assert.Equal(events, byReader.Select(r => r.Event)); // protobuf messages compare by value
        return events;
    }

    private string OnlyEventFile(string dir) => Assert.Single(EventFileReader.EventFiles(dir));

    // ------------------------------------------------------------------ CRC32C

    [Fact]
    public void Crc32C_gives_the_standard_check_value_on_both_paths()
    {
        Assert.Equal(0xE3069283u, Crc32C.Compute("123456789"u8));
        Assert.Equal(0xE3069283u, Crc32C.ComputeSoftware("123456789"u8));
        Assert.Equal(0u, Crc32C.Compute([]));
        // RFC 3720 (iSCSI) B.4: 32 bytes of zeros, of 0xFF.
        Assert.Equal(0x8A9136AAu, Crc32C.Compute(new byte[32]));
        Assert.Equal(0x62A8AB43u, Crc32C.Compute(Enumerable.Repeat((byte)0xFF, 32).ToArray()));
    }

    [Fact]
    public void Crc32C_hardware_and_table_paths_agree_with_the_definition_at_every_length()
    {
        var random = new Random(7);
        for (int length = 0; length < 70; length++)
        {
            byte[] data = new byte[length];
            random.NextBytes(data);
            uint expected = BitwiseCrc32C(data);
            Assert.Equal(expected, Crc32C.Compute(data));
            Assert.Equal(expected, Crc32C.ComputeSoftware(data));
        }
    }

    [Fact]
    public void Mask_matches_tfrecord_and_unmask_inverts_it()
    {
        foreach (uint crc in new[] { 0u, 1u, 0xE3069283u, 0xFFFFFFFFu, 0x12345678u })
        {
            Assert.Equal(((crc >> 15) | (crc << 17)) + 0xA282EAD8u, Crc32C.Mask(crc));
            Assert.Equal(crc, Crc32C.Unmask(Crc32C.Mask(crc)));
        }
    }

    // ------------------------------------------------------------------ the file

    [Fact]
    public void File_is_named_as_pytorch_names_it_and_opens_with_the_version_record()
    {
        double before = (DateTime.UtcNow - DateTime.UnixEpoch).TotalSeconds;
        string path, second;
        using (var writer = new SummaryWriter(_dir, filenameSuffix: ".run1"))
        using (var other = new SummaryWriter(_dir))
        {
            path = writer.FilePath;
            second = other.FilePath;
        }
        Assert.True(Directory.Exists(_dir));
        Assert.Matches(new Regex($@"^events\.out\.tfevents\.\d{{10}}\.[^/]+\.{Environment.ProcessId}\.\d+\.run1$"), Path.GetFileName(path));
        Assert.NotEqual(path, second); // the per-process counter keeps two writers in one second apart
        Assert.Equal(2, EventFileReader.EventFiles(_dir).Count);
        Event first = Assert.Single(ReadBothWays(path));
        Assert.Equal("brain.Event:2", first.FileVersion);
        Assert.Equal(0, first.Step);
        Assert.InRange(first.WallTime, before - 1, before + 60);
    }

    [Fact]
    public void Scalars_round_trip_with_tags_steps_values_and_wall_times()
    {
        string path;
        using (var writer = new SummaryWriter(_dir))
        {
            path = writer.FilePath;
            for (int step = 0; step < 25; step++)
            {
                writer.AddScalar("train/loss", 2.5 - step * 0.1, step, wallTime: 1000 + step);
                if (step % 5 == 4) writer.AddScalar("test/accuracy", step / 25.0, step);
            }
        }
        var events = ReadBothWays(path);
        Assert.Equal(1 + 25 + 5, events.Count);
        var losses = events.Where(e => e.Summary?.Value[0].Tag == "train/loss").ToList();
        Assert.Equal(Enumerable.Range(0, 25).Select(s => (long)s), losses.Select(e => e.Step));
        Assert.Equal(Enumerable.Range(0, 25).Select(s => (float)(2.5 - s * 0.1)), losses.Select(e => e.Summary.Value[0].SimpleValue));
        Assert.Equal(Enumerable.Range(0, 25).Select(s => 1000.0 + s), losses.Select(e => e.WallTime));
        var accuracy = events.Where(e => e.Summary?.Value[0].Tag == "test/accuracy").ToList();
        Assert.Equal([4L, 9, 14, 19, 24], accuracy.Select(e => e.Step));
        Assert.Equal(24 / 25f, accuracy[^1].Summary.Value[0].SimpleValue);
        Assert.All(events.Skip(1), e => Assert.Equal(Summary.Types.Value.ValueOneofCase.SimpleValue, e.Summary.Value[0].ValueCase));
    }

    [Fact]
    public void AddScalars_writes_one_run_per_key_as_pytorch_does()
    {
        using (var writer = new SummaryWriter(_dir))
        {
            writer.AddScalars("loss/compare", new Dictionary<string, double> { ["train"] = 0.5, ["test"] = 0.75 }, step: 3);
        }
        foreach ((string key, float value) in new[] { ("train", 0.5f), ("test", 0.75f) })
        {
            var events = ReadBothWays(OnlyEventFile(Path.Combine(_dir, "loss_compare_" + key)));
            Assert.Equal(2, events.Count);
            Assert.Equal(3, events[1].Step);
            Assert.Equal("loss/compare", events[1].Summary.Value[0].Tag);
            Assert.Equal(value, events[1].Summary.Value[0].SimpleValue);
        }
    }

    // ------------------------------------------------------------------ images

    private static ImageResult DecodePng(Summary.Types.Image image)
    {
        byte[] png = image.EncodedImageString.ToByteArray();
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A }, png[..8]);
        Assert.Equal("IHDR", Encoding.ASCII.GetString(png, 12, 4));
        Assert.Equal(image.Width, BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16)));
        Assert.Equal(image.Height, BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20)));
        ImageResult decoded = ImageResult.FromMemory(png, StbImageSharp.ColorComponents.Default);
        Assert.Equal(image.Width, decoded.Width);
        Assert.Equal(image.Height, decoded.Height);
        Assert.Equal(image.Colorspace, (int)decoded.SourceComp);
        return decoded;
    }

    [Fact]
    public void Float_chw_image_becomes_a_png_with_the_same_pixels()
    {
        // 3x4x5; every value sits half a level above an integer, so ×255 then truncation lands on that integer for sure.
        const int c = 3, h = 4, w = 5;
        var image = new Tensor([c, h, w]);
        for (int ch = 0; ch < c; ch++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    image[ch, y, x] = (Level(ch, y, x) + 0.5f) / 255f;
        // The clipping rules on a few chosen pixels: above 1 → 255, below 0 → 0, NaN → 0, 0.25 → 63 (truncated).
        image[0, 0, 0] = 2f;
        image[1, 0, 0] = -1f;
        image[2, 0, 0] = float.NaN;
        image[0, 0, 1] = 0.25f;
        string path;
        using (var writer = new SummaryWriter(_dir))
        {
            path = writer.FilePath;
            writer.AddImage("samples/input", image, step: 7);
        }
        Event e = ReadBothWays(path)[1];
        Assert.Equal(7, e.Step);
        Summary.Types.Value value = Assert.Single(e.Summary.Value);
        Assert.Equal("samples/input", value.Tag);
        Assert.Equal((h, w, 3), (value.Image.Height, value.Image.Width, value.Image.Colorspace));
        ImageResult decoded = DecodePng(value.Image);
        for (int ch = 0; ch < c; ch++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                {
                    int expected = (ch, y, x) switch
                    {
                        (0, 0, 0) => 255,
                        (1, 0, 0) or (2, 0, 0) => 0,
                        (0, 0, 1) => 63,
                        _ => Level(ch, y, x),
                    };
                    Assert.Equal(expected, decoded.Data[(y * w + x) * c + ch]);
                }

        static int Level(int ch, int y, int x) => (ch * 83 + y * 29 + x * 11) % 255;
    }

    [Fact]
    public void Byte_hwc_images_keep_their_channels_exactly()
    {
        byte[] grey = [0, 1, 2, 127, 128, 255];
        byte[] rgba = Enumerable.Range(0, 2 * 2 * 4).Select(i => (byte)(i * 16 + 3)).ToArray();
        string path;
        using (var writer = new SummaryWriter(_dir))
        {
            path = writer.FilePath;
            writer.AddImage("grey", grey, height: 2, width: 3, channels: 1, step: 1);
            writer.AddImage("rgba", rgba, height: 2, width: 2, channels: 4, step: 2);
            Assert.Throws<ArgumentException>(() => writer.AddImage("bad", grey, height: 2, width: 2, channels: 1, step: 3));
            Assert.Throws<ArgumentException>(() => writer.AddImage("bad", grey, height: 1, width: 3, channels: 2, step: 3));
        }
        var events = ReadBothWays(path);
        Assert.Equal(3, events.Count);
        ImageResult g = DecodePng(events[1].Summary.Value[0].Image);
        Assert.Equal(1, events[1].Summary.Value[0].Image.Colorspace);
        Assert.Equal(grey, g.Data);
        ImageResult c = DecodePng(events[2].Summary.Value[0].Image);
        Assert.Equal(4, events[2].Summary.Value[0].Image.Colorspace);
        Assert.Equal(rgba, c.Data);
    }

    [Fact]
    public void MakeGrid_tiles_like_torchvision()
    {
        // Five 1x2x3 images, two per row: 3 rows; cells (2+2)x(3+2) plus a 2-pixel border; grey widened to RGB.
        var batch = new Tensor([5, 1, 2, 3]);
        for (int k = 0; k < 5; k++)
            for (int i = 0; i < 6; i++) batch.Data[k * 6 + i] = k + i / 10f;
        Tensor grid = Images.MakeGrid(batch, nrow: 2, padding: 2, padValue: -1f);
        Assert.Equal([3, 3 * 4 + 2, 2 * 5 + 2], grid.Shape);
        for (int ch = 0; ch < 3; ch++)
            for (int gy = 0; gy < 14; gy++)
                for (int gx = 0; gx < 12; gx++)
                {
                    int row = (gy - 2) / 4, col = (gx - 2) / 5, y = (gy - 2) % 4, x = (gx - 2) % 5;
                    int k = row * 2 + col;
                    bool inside = gy >= 2 && gx >= 2 && y < 2 && x < 3 && k < 5;
                    Assert.Equal(inside ? k + (y * 3 + x) / 10f : -1f, grid[ch, gy, gx]);
                }

        // A batch of one comes back as the image itself, unpadded (torchvision's shortcut); RGB stays RGB.
        var one = new Tensor(Enumerable.Range(0, 12).Select(i => i / 12f).ToArray(), [1, 3, 2, 2]);
        Tensor single = Images.MakeGrid(one);
        Assert.Equal([3, 2, 2], single.Shape);
        Assert.Equal(one.Data, single.Data);

        // Fewer images than nrow: one row just wide enough.
        Assert.Equal([3, 6, 12], Images.MakeGrid(new Tensor([2, 3, 2, 3]), nrow: 8).Shape);
    }

    [Fact]
    public void AddImages_writes_the_grid_as_one_png()
    {
        var batch = new Tensor([3, 3, 4, 4]);
        for (int k = 0; k < 3; k++)
            for (int i = 0; i < 48; i++) batch.Data[k * 48 + i] = (40 * k + i + 10.5f) / 255f;
        string path;
        using (var writer = new SummaryWriter(_dir))
        {
            path = writer.FilePath;
            writer.AddImages("batch", batch, step: 4, nrow: 2);
        }
        Summary.Types.Image image = ReadBothWays(path)[1].Summary.Value[0].Image;
        // 2 columns x 2 rows of 4x4 with padding 2: (4+2)*2+2 = 14 each way.
        Assert.Equal((14, 14, 3), (image.Height, image.Width, image.Colorspace));
        ImageResult decoded = DecodePng(image);
        for (int k = 0; k < 4; k++)
            for (int ch = 0; ch < 3; ch++)
                for (int y = 0; y < 4; y++)
                    for (int x = 0; x < 4; x++)
                    {
                        int gy = (k / 2) * 6 + 2 + y, gx = (k % 2) * 6 + 2 + x;
                        int expected = k < 3 ? 40 * k + ch * 16 + y * 4 + x + 10 : 0;
                        Assert.Equal(expected, decoded.Data[(gy * 14 + gx) * 3 + ch]);
                    }
        Assert.Equal(0, decoded.Data[0]); // the border is the pad value
    }

    // ------------------------------------------------------------------ histograms

    private static void AssertConsistent(HistogramProto histo, double[] values)
    {
        Assert.Equal(values.Length, histo.Num);
        Assert.Equal(values.Length, histo.Bucket.Sum());
        Assert.Equal(histo.Bucket.Count, histo.BucketLimit.Count);
        for (int i = 1; i < histo.BucketLimit.Count; i++) Assert.True(histo.BucketLimit[i] > histo.BucketLimit[i - 1], $"limit {i} not ascending");
        Assert.Equal(0, histo.Bucket[0]); // the empty bucket PyTorch keeps before the first value
        Assert.Equal(values.Min(), histo.Min);
        Assert.Equal(values.Max(), histo.Max);
        Assert.Equal(values.Sum(), histo.Sum, 9);
        Assert.Equal(values.Sum(v => v * v), histo.SumSquares, 9);
        // Recount: bucket i holds [limit(i-1), limit(i)), the topmost value belonging to the last bucket.
        var recount = new double[histo.Bucket.Count];
        foreach (double v in values)
        {
            int i = 1;
            while (i < histo.BucketLimit.Count - 1 && v >= histo.BucketLimit[i]) i++;
            Assert.True(v >= histo.BucketLimit[i - 1] && v <= histo.BucketLimit[i], $"{v} is outside bucket {i}");
            recount[i]++;
        }
        Assert.Equal(recount, histo.Bucket);
    }

    [Fact]
    public void TensorFlow_buckets_are_pytorchs_default_bins()
    {
        IReadOnlyList<double> edges = Histograms.TensorFlowBucketEdges;
        Assert.Equal(2 * 774 + 1, edges.Count);
        Assert.Equal(0, edges[774]);
        Assert.Equal(1e-12, edges[775]);
        Assert.Equal(-1e-12, edges[773]);
        Assert.Equal(9.920775621859783e19, edges[^1]); // the last 1e-12 * 1.1^k below 1e20, as Python computes it
        // A single 1.0: the empty bucket before it and its own, with the limits Python's loop gives.
        HistogramProto one = Histograms.Build([1.0f]);
        Assert.Equal([0.917246389039776, 1.0089710279437536], one.BucketLimit);
        Assert.Equal([0.0, 1.0], one.Bucket);
        // A value exactly on an edge opens the bucket above it (numpy's half-open bins).
        double edge = edges[800];
        HistogramProto onEdge = Histograms.Build([edge]);
        Assert.Equal([edge, edges[801]], onEdge.BucketLimit);
        Assert.Equal([0.0, 1.0], onEdge.Bucket);
    }

    [Fact]
    public void Histogram_counts_every_value_once_in_ascending_buckets()
    {
        var random = new Random(3);
        float[] values = new float[1000];
        for (int i = 0; i < values.Length; i++) values[i] = (float)((random.NextDouble() - 0.3) * Math.Pow(10, random.Next(-3, 4)));
        values[0] = 0f;
        values[1] = 1e-12f;
        values[2] = -2.5e-3f;
        string path;
        using (var writer = new SummaryWriter(_dir))
        {
            path = writer.FilePath;
            writer.AddHistogram("weights", values, step: 11);
            writer.AddHistogram("weights/uniform", new Tensor(values, [10, 100]), step: 12, bins: 30);
        }
        var events = ReadBothWays(path);
        Assert.Equal(("weights", 11L), (events[1].Summary.Value[0].Tag, events[1].Step));
        double[] wide = values.Select(v => (double)v).ToArray();
        HistogramProto tf = events[1].Summary.Value[0].Histo;
        AssertConsistent(tf, wide);
        Assert.All(tf.BucketLimit, l => Assert.Contains(l, Histograms.TensorFlowBucketEdges));
        HistogramProto uniform = events[2].Summary.Value[0].Histo;
        AssertConsistent(uniform, wide);
        Assert.True(uniform.Bucket.Count <= 31);
    }

    [Fact]
    public void Histogram_with_integer_bins_follows_numpy()
    {
        HistogramProto h = Histograms.Build(Enumerable.Range(0, 10).Select(i => (float)i).ToArray(), bins: 5);
        Assert.Equal([0, 1.8, 3.6, 5.4, 7.2, 9], h.BucketLimit.Select(l => Math.Round(l, 12)));
        Assert.Equal([0.0, 2, 2, 2, 2, 2], h.Bucket);
        // All values equal: numpy widens the range to ±0.5; the value opens the upper bin.
        HistogramProto same = Histograms.Build([3f, 3f], bins: 2);
        Assert.Equal([3.0, 3.5], same.BucketLimit);
        Assert.Equal([0.0, 2], same.Bucket);
        Assert.Throws<ArgumentException>(() => Histograms.Build([1f, float.NaN]));
        Assert.Throws<ArgumentException>(() => Histograms.Build(ReadOnlySpan<float>.Empty));
    }

    // ------------------------------------------------------------------ text

    [Fact]
    public void Text_round_trips_as_a_text_plugin_tensor()
    {
        const string text = "epoch **3** — héllo, 世界\nsecond line";
        string path;
        using (var writer = new SummaryWriter(_dir))
        {
            path = writer.FilePath;
            writer.AddText("notes", text, step: 3);
        }
        Event e = ReadBothWays(path)[1];
        Assert.Equal(3, e.Step);
        Summary.Types.Value value = e.Summary.Value[0];
        Assert.Equal("notes/text_summary", value.Tag);
        Assert.Equal("text", value.Metadata.PluginData.PluginName);
        Assert.Equal(DataType.DtString, value.Tensor.Dtype);
        Assert.Equal(1, Assert.Single(value.Tensor.TensorShape.Dim).Size);
        Assert.Equal(text, Assert.Single(value.Tensor.StringVal).ToStringUtf8());
    }

    // ------------------------------------------------------------------ corruption and flushing

    private string WriteThreeScalars()
    {
        using var writer = new SummaryWriter(_dir);
        for (int step = 1; step <= 3; step++) writer.AddScalar("x", step, step);
        return writer.FilePath;
    }

    [Fact]
    public void A_flipped_data_byte_is_reported_with_file_and_offset_after_the_good_records()
    {
        string path = WriteThreeScalars();
        var records = DecodeByHand(path, out _);
        long offset = records[2].Offset;
        byte[] bytes = File.ReadAllBytes(path);
        bytes[offset + 12 + 3] ^= 0x40;
        File.WriteAllBytes(path, bytes);

        var seen = new List<long>();
        var error = Assert.Throws<InvalidDataException>(() =>
        {
            foreach (EventRecord r in EventFileReader.ReadRecords(path)) seen.Add(r.Event.Step);
        });
        Assert.Equal([0L, 1], seen); // the records before the damage still read
        Assert.Contains(path, error.Message);
        Assert.Contains($"byte offset {offset}", error.Message);
        Assert.Contains("data checksum mismatch", error.Message);
    }

    [Fact]
    public void A_flipped_length_byte_and_a_cut_tail_are_reported_with_their_offsets()
    {
        string path = WriteThreeScalars();
        var records = DecodeByHand(path, out _);
        byte[] original = File.ReadAllBytes(path);

        byte[] bytes = (byte[])original.Clone();
        bytes[records[1].Offset] ^= 0x01;
        File.WriteAllBytes(path, bytes);
        var error = Assert.Throws<InvalidDataException>(() => EventFileReader.ReadEvents(path));
        Assert.Contains($"byte offset {records[1].Offset}", error.Message);
        Assert.Contains("length checksum mismatch", error.Message);

        // A crash mid-write leaves a partial last record: everything before it still reads.
        File.WriteAllBytes(path, original[..^3]);
        var seen = new List<long>();
        error = Assert.Throws<InvalidDataException>(() =>
        {
            foreach (EventRecord r in EventFileReader.ReadRecords(path)) seen.Add(r.Event.Step);
        });
        Assert.Equal([0L, 1, 2], seen);
        Assert.Contains($"byte offset {records[3].Offset}", error.Message);
        Assert.Contains("truncated", error.Message);
    }

    [Fact]
    public void A_record_with_good_checksums_but_no_event_inside_is_reported()
    {
        Directory.CreateDirectory(_dir);
        string path = Path.Combine(_dir, "events.out.tfevents.0.bad");
        using (var stream = File.Create(path))
        {
            TfRecordFormat.Write(stream, new Event { FileVersion = "brain.Event:2" }.ToByteArray());
            TfRecordFormat.Write(stream, [0xFF, 0xFF, 0xFF]); // field 0 / truncated varint: not protobuf
        }
        Assert.Equal(2, DecodeByHand(path, out int verified).Count);
        Assert.Equal(4, verified);
        var error = Assert.Throws<InvalidDataException>(() => EventFileReader.ReadEvents(path));
        Assert.Contains($"byte offset {TfRecordFormat.HeaderSize + new Event { FileVersion = "brain.Event:2" }.CalculateSize() + TfRecordFormat.FooterSize}", error.Message);
        Assert.Contains("not an Event", error.Message);
    }

    [Fact]
    public void Records_reach_the_file_every_max_queue_events_and_on_flush()
    {
        using var writer = new SummaryWriter(_dir, maxQueue: 3, flushSeconds: 3600);
        Assert.Single(EventFileReader.ReadEvents(writer.FilePath)); // the version record is flushed at once
        writer.AddScalar("a", 1, 1);
        writer.AddScalar("a", 2, 2);
        Assert.Single(EventFileReader.ReadEvents(writer.FilePath)); // still buffered
        writer.AddScalar("a", 3, 3);
        Assert.Equal(4, EventFileReader.ReadEvents(writer.FilePath).Count);
        writer.AddScalar("a", 4, 4);
        writer.Flush();
        Assert.Equal(5, ReadBothWays(writer.FilePath).Count);
    }

    [Fact]
    public void The_timer_flushes_a_stalled_run()
    {
        using var writer = new SummaryWriter(_dir, maxQueue: 1000, flushSeconds: 0.05);
        writer.AddScalar("a", 1, 1);
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (EventFileReader.ReadEvents(writer.FilePath).Count < 2 && DateTime.UtcNow < deadline) Thread.Sleep(20);
        Assert.Equal(2, EventFileReader.ReadEvents(writer.FilePath).Count);
    }

    [Fact]
    public void A_disposed_writer_refuses_more_and_disposes_twice_safely()
    {
        var writer = new SummaryWriter(_dir);
        writer.Dispose();
        writer.Dispose();
        Assert.Throws<ObjectDisposedException>(() => writer.AddScalar("a", 1, 1));
        Assert.Throws<ObjectDisposedException>(() => writer.Flush());
    }
}
