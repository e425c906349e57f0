// The readers the fuzz suite attacks, each with valid seed files built here, the tokens of its format and its memory allowance.
using System.Buffers.Binary;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using GraphCompiler.Data;
using GraphCompiler.IO;
using GraphCompiler.IO.TensorBoard;
using GraphCompiler.Nn;
using GraphCompiler.Optim;
using GraphCompiler.Optim.Schedulers;
using GraphCompiler.Tests.Models;
using GraphCompiler.Tests.Onnx;
using GraphCompiler.Tests.Onnx.Protos;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Bmp;
using SixLabors.ImageSharp.Formats.Gif;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.Formats.Tga;
using SixLabors.ImageSharp.PixelFormats;

namespace GraphCompiler.Tests.Fuzz;

internal static class FuzzTargets
{
    public static readonly IReadOnlyDictionary<string, Func<FuzzTarget>> All = new Dictionary<string, Func<FuzzTarget>>
    {
        ["idx"] = () => new IdxTarget(gzip: false),
        ["idx-gzip"] = () => new IdxTarget(gzip: true),
        ["cifar10"] = () => new Cifar10Target(),
        ["safetensors"] = () => new SafeTensorsTarget(),
        ["state-dict"] = () => new StateDictTarget(),
        ["checkpoint"] = () => new CheckpointTarget(),
        ["tensorboard"] = () => new TensorBoardTarget(),
        ["image-folder"] = () => new ImageFolderTarget(),
        ["onnx-tensor"] = () => new OnnxTensorTarget(),
        ["onnx-model"] = () => new OnnxModelTarget(),
    };

    public static byte[] Ascii(string s) => Encoding.ASCII.GetBytes(s);

    public static byte[] Gzip(byte[] data)
    {
        using var output = new MemoryStream();
        using (var gz = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true)) gz.Write(data);
        return output.ToArray();
    }

    /// <summary>How many bytes a gzip stream yields before it ends or breaks: the "bytes present" of a compressed input.</summary>
    public static long DecompressedLength(byte[] data)
    {
        long total = 0;
        try
        {
            using var gz = new GZipStream(new MemoryStream(data), CompressionMode.Decompress);
            var buffer = new byte[1 << 16];
            int n;
            while ((n = gz.Read(buffer)) > 0) total += n;
        }
        catch (InvalidDataException)
        {
            // The bytes before the damage count; the reader sees the same ones.
        }
        return total;
    }

    public static string Sha(IEnumerable<byte[]> parts)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (byte[] p in parts) sha.AppendData(p);
        return Convert.ToHexString(sha.GetHashAndReset());
    }
}

/// <summary>MNIST-style idx files, plain or gzipped: images (rank 3) and labels (rank 1), by the rank byte of the magic.</summary>
internal sealed class IdxTarget(bool gzip) : FuzzTarget
{
    private static readonly byte[][] Plain =
    [
        Make(0x803, [3, 4, 5], 60),
        Make(0x803, [0, 28, 28], 0),
        Make(0x803, [1, 28, 28], 784),
        Make(0x801, [10], 10),
        Make(0x801, [0], 0),
    ];

    private readonly byte[][] _seeds = gzip ? Plain.Select(FuzzTargets.Gzip).ToArray() : Plain;

    public override string Name => gzip ? "idx-gzip" : "idx";

    public override IReadOnlyList<byte[]> Seeds => _seeds;

    public override int HeaderBytes => gzip ? 24 : 16;

    public static byte[] Make(int magic, int[] dims, int payload)
    {
        var bytes = new byte[4 + 4 * dims.Length + payload];
        BinaryPrimitives.WriteInt32BigEndian(bytes, magic);
        for (int i = 0; i < dims.Length; i++) BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4 + 4 * i), dims[i]);
        for (int i = 0; i < payload; i++) bytes[4 + 4 * dims.Length + i] = (byte)(i * 13);
        return bytes;
    }

    // Half the gzip inputs are mutated before compression, so the damage reaches the idx header instead of the deflate stream.
    public override byte[] Generate(Random rng) =>
        gzip && rng.Next(2) == 0 ? FuzzTargets.Gzip(Mutator.Mutate(rng, Plain, [], 16)) : base.Generate(rng);

    public override void Load(string path, byte[] bytes)
    {
        bool labels = gzip ? PeekRank(bytes) == 1 : bytes.Length > 3 && bytes[3] == 1;
        if (labels) Idx.ReadLabels(path);
        else Idx.ReadImages(path);
    }

    private static int PeekRank(byte[] gz)
    {
        try
        {
            using var s = new GZipStream(new MemoryStream(gz), CompressionMode.Decompress);
            Span<byte> head = stackalloc byte[4];
            return s.ReadAtLeast(head, 4, throwOnEndOfStream: false) == 4 ? head[3] : -1;
        }
        catch (InvalidDataException)
        {
            return -1;
        }
    }

    // The result holds the payload once; the bounded reader's doubling buffer may hold up to twice the bytes present
    // while it grows, plus its first 64 KiB chunk. Gzip counts the decompressed bytes, as the contract says.
    public override long AllowedBytes(byte[] input) =>
        4 * Math.Max(input.Length, gzip ? FuzzTargets.DecompressedLength(input) : 0) + (1 << 20);
}

/// <summary>CIFAR-10 binary batches: whole 3073-byte records, label 0..9.</summary>
internal sealed class Cifar10Target : FuzzTarget
{
    private static readonly byte[][] SeedFiles = [Records(1), Records(2)];

    public override string Name => "cifar10";

    public override IReadOnlyList<byte[]> Seeds => SeedFiles;

    public override int HeaderBytes => 8;

    private static byte[] Records(int n)
    {
        var bytes = new byte[n * Cifar10Dataset.RecordBytes];
        for (int r = 0; r < n; r++)
        {
            bytes[r * Cifar10Dataset.RecordBytes] = (byte)(r * 3 % 10);
            for (int i = 1; i < Cifar10Dataset.RecordBytes; i++) bytes[r * Cifar10Dataset.RecordBytes + i] = (byte)(i * 7 + r);
        }
        return bytes;
    }

    public override void Load(string path, byte[] bytes)
    {
        var ds = Cifar10Dataset.FromFiles([path]);
        if (ds.Count > 0) ds.Get(ds.Count - 1, new float[Cifar10Dataset.ImageBytes], out _);
    }

    // Pixels once, labels, a 1 MiB read buffer, one record and one float sample.
    public override long AllowedBytes(byte[] input) => 2L * input.Length + (3 << 20);
}

/// <summary>safetensors files: the 8-byte length, the JSON header, the data.</summary>
internal sealed class SafeTensorsTarget : FuzzTarget
{
    private static readonly byte[][] SeedFiles =
    [
        Write(new()
        {
            ["weight"] = SafeTensor.FromFloat([1f, -2f, 3.5f, 0f, 1e-3f, 7f], 2, 3),
            ["bias"] = SafeTensor.FromDouble([0.25, -1.5], 2),
            ["count"] = SafeTensor.FromInt64([5_000_000_000L], []),
            ["ids"] = SafeTensor.FromInt32([1, 2, 3], 3),
        }, new() { ["format"] = "pt", ["note"] = "héllo ✓" }),
        Write(new() { ["empty"] = SafeTensor.FromFloat([], 0, 4) }, null),
    ];

    public override string Name => "safetensors";

    public override IReadOnlyList<byte[]> Seeds => SeedFiles;

    public override int HeaderBytes => 200;

    public override IReadOnlyList<byte[]> Tokens => JsonTokens;

    public static readonly byte[][] JsonTokens =
    [
        [0xC3, 0x28], [0xFF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xC0, 0xAF], FuzzTargets.Ascii("\\uD800"), FuzzTargets.Ascii("\\uDC00x"),
        FuzzTargets.Ascii("\""), FuzzTargets.Ascii("{"), FuzzTargets.Ascii("}"), FuzzTargets.Ascii("["), FuzzTargets.Ascii("]"),
        FuzzTargets.Ascii(","), FuzzTargets.Ascii(":"), FuzzTargets.Ascii("1e999"), FuzzTargets.Ascii("-1"), FuzzTargets.Ascii("18446744073709551615"),
        FuzzTargets.Ascii("2147483647"), FuzzTargets.Ascii("\"F32\""), FuzzTargets.Ascii("\"I64\""), FuzzTargets.Ascii("\"BF16\""),
        FuzzTargets.Ascii("\"__metadata__\""), FuzzTargets.Ascii("\"data_offsets\""), FuzzTargets.Ascii("\"shape\""), FuzzTargets.Ascii("\"dtype\""),
        FuzzTargets.Ascii("null"), FuzzTargets.Ascii("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["),
    ];

    public static byte[] Write(Dictionary<string, SafeTensor> tensors, Dictionary<string, string>? metadata)
    {
        using var s = new MemoryStream();
        SafeTensors.Write(s, tensors, metadata);
        return s.ToArray();
    }

    public override void Load(string path, byte[] bytes) => SafeTensors.ReadWithMetadata(path);

    // The data once as bytes and once as typed arrays, the JSON document over the header, the decoded strings.
    public override long AllowedBytes(byte[] input) => 16L * input.Length + (1 << 20);
}

/// <summary>StateDict.Load into a model with parameters and buffers; a rejected load must leave them as they were.</summary>
internal sealed class StateDictTarget : FuzzTarget
{
    private readonly BnSequential _model = new(seed: 1);
    private readonly byte[] _seed;

    public StateDictTarget()
    {
        var donor = new BnSequential(seed: 4);
        donor.Bn.NumBatchesTracked!.Int64Data[0] = 12;
        _seed = SafeTensorsTarget.Write(StateDict.Save(donor), new() { ["format"] = "pt" });
        ResetState();
    }

    public override string Name => "state-dict";

    public override IReadOnlyList<byte[]> Seeds => [_seed];

    public override int HeaderBytes => 400;

    public override IReadOnlyList<byte[]> Tokens => SafeTensorsTarget.JsonTokens;

    public override void Load(string path, byte[] bytes) => StateDict.Load(path, _model);

    public override string StateDigest() => ModelDigest(_model);

    public override void ResetState()
    {
        var fresh = new BnSequential(seed: 1);
        foreach (var (p, q) in _model.Parameters().Zip(fresh.Parameters())) q.Data.CopyTo(p.Data, 0);
        foreach (var (b, c) in _model.Buffers().Zip(fresh.Buffers()))
        {
            c.Data.CopyTo(b.Data, 0);
            c.Int64Data.CopyTo(b.Int64Data, 0);
        }
    }

    public static string ModelDigest(ICompiledModel model) => FuzzTargets.Sha(
        model.Parameters().Select(p => Bytes(p.Data))
            .Concat(model.Buffers().SelectMany(b => new[] { Bytes(b.Data), b.Int64Data.SelectMany(BitConverter.GetBytes).ToArray() })));

    public static byte[] Bytes(float[] values) => System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray();

    public override long AllowedBytes(byte[] input) => 32L * input.Length + (1 << 20);
}

/// <summary>TrainingCheckpoint.Load of model, Adam state, StepLR and an RNG; a rejected load must change none of them.</summary>
internal sealed class CheckpointTarget : FuzzTarget
{
    private readonly BnSequential _model;
    private readonly Adam _adam;
    private readonly StepLR _schedule;
    private readonly Dictionary<string, Rng> _rngs;
    private readonly byte[] _seed;
    private readonly string _seedPath = Path.Combine(Path.GetTempPath(), $"gc-fuzz-checkpoint-seed-{Guid.NewGuid():N}.safetensors");

    public CheckpointTarget()
    {
        (_model, _adam, _schedule, _rngs) = Build(seed: 3);
        foreach (Parameter p in _model.Parameters())
            for (int i = 0; i < p.Count; i++) p.Grad[i] = 0.01f * ((i % 7) - 3);
        _adam.Step();
        _schedule.Step();
        TrainingCheckpoint.Save(_seedPath, _model, _adam, _schedule, epoch: 2, _rngs);
        _seed = File.ReadAllBytes(_seedPath);
    }

    private static (BnSequential, Adam, StepLR, Dictionary<string, Rng>) Build(ulong seed)
    {
        var model = new BnSequential(seed);
        var adam = new Adam(model.Parameters(), lr: 1e-3, amsgrad: true);
        return (model, adam, new StepLR(adam, stepSize: 2), new Dictionary<string, Rng> { ["aug"] = new Rng(9) });
    }

    public override string Name => "checkpoint";

    public override IReadOnlyList<byte[]> Seeds => [_seed];

    public override int HeaderBytes => 1500;

    public override IReadOnlyList<byte[]> Tokens => SafeTensorsTarget.JsonTokens;

    public override void Load(string path, byte[] bytes) => TrainingCheckpoint.Load(path, _model, _adam, _schedule, _rngs);

    public override string StateDigest()
    {
        var parts = new List<byte[]> { FuzzTargets.Ascii(StateDictTarget.ModelDigest(_model)) };
        foreach (ParamGroup g in _adam.ParamGroups)
            parts.Add(FuzzTargets.Ascii($"{g.LearningRate:R} {g.InitialLearningRate:R} {g.WeightDecay:R} {g.Betas} {g.Eps:R} {g.Amsgrad}"));
        foreach (var (k, v) in _schedule.GetState()) parts.Add(FuzzTargets.Ascii($"{k}={string.Join(",", v.Select(x => x.ToString("R")))}"));
        parts.Add(FuzzTargets.Ascii(_rngs["aug"].State.ToString()));
        // Adam's moments: saving is the one public view of them, and what a resumed run would see.
        string probe = _seedPath + ".digest";
        TrainingCheckpoint.Save(probe, _model, _adam, _schedule, epoch: 0, _rngs);
        parts.Add(File.ReadAllBytes(probe));
        return FuzzTargets.Sha(parts);
    }

    public override void ResetState() => TrainingCheckpoint.Load(_seedPath, _model, _adam, _schedule, _rngs);

    public override void Dispose()
    {
        foreach (string f in new[] { _seedPath, _seedPath + ".digest" })
        {
            try { File.Delete(f); } catch (IOException) { }
        }
    }

    public override long AllowedBytes(byte[] input) => 32L * input.Length + (1 << 20);
}

/// <summary>TensorBoard event files read back by EventFileReader: TFRecord framing with masked CRC-32C, Event protos inside.</summary>
internal sealed class TensorBoardTarget : FuzzTarget
{
    private static readonly Lazy<byte[][]> SeedFiles = new(() =>
    {
        string dir = Path.Combine(Path.GetTempPath(), $"gc-fuzz-tb-seed-{Guid.NewGuid():N}");
        try
        {
            using (var w = new SummaryWriter(dir))
            {
                w.AddScalar("train/loss", 0.5, 1, wallTime: 1000);
                w.AddText("notes", "**hi** ✓", 2, wallTime: 1001);
                w.AddHistogram("w", [0.1f, -0.2f, 0.3f, 5f], 3, wallTime: 1002);
                w.AddImage("img", new byte[2 * 3 * 3], 2, 3, 3, 4, wallTime: 1003);
            }
            return [File.ReadAllBytes(EventFileReader.EventFiles(dir)[0])];
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    });

    public override string Name => "tensorboard";

    public override IReadOnlyList<byte[]> Seeds => SeedFiles.Value;

    public override int HeaderBytes => 12;

    // Half the inputs get their checksums repaired after mutation, or nearly every input would stop at the first CRC.
    public override byte[] Generate(Random rng)
    {
        byte[] data = base.Generate(rng);
        return rng.Next(2) == 0 ? FixCrcs(data) : data;
    }

    public static byte[] FixCrcs(byte[] data)
    {
        data = (byte[])data.Clone();
        long offset = 0;
        while (offset + TfRecordFormat.HeaderSize <= data.Length)
        {
            Span<byte> header = data.AsSpan((int)offset, TfRecordFormat.HeaderSize);
            BinaryPrimitives.WriteUInt32LittleEndian(header[8..], Crc32C.ComputeMasked(header[..8]));
            ulong length = BinaryPrimitives.ReadUInt64LittleEndian(header);
            long end = offset + TfRecordFormat.HeaderSize + (long)Math.Min(length, int.MaxValue);
            if (length > int.MaxValue || end + TfRecordFormat.FooterSize > data.Length) break;
            BinaryPrimitives.WriteUInt32LittleEndian(data.AsSpan((int)end), Crc32C.ComputeMasked(data.AsSpan((int)offset + TfRecordFormat.HeaderSize, (int)length)));
            offset = end + TfRecordFormat.FooterSize;
        }
        return data;
    }

    public override void Load(string path, byte[] bytes) => EventFileReader.ReadEvents(path);

    // Each record's bytes, the parsed Event (strings, PNG bytes), a 64 KiB file buffer.
    public override long AllowedBytes(byte[] input) => 16L * input.Length + (1 << 20);
}

/// <summary>ImageFolderDataset: probe the first image's header in the constructor, then decode it in Get.</summary>
internal sealed class ImageFolderTarget : FuzzTarget
{
    /// <summary>A low limit, so that a header may claim anything up to it and the memory check still means something.</summary>
    public const long MaxPixels = 1 << 16;

    private static readonly Lazy<byte[][]> SeedFiles = new(() =>
    {
        using var rgb = new Image<Rgb24>(7, 5);
        using var rgba = new Image<Rgba32>(6, 4);
        using var gray = new Image<L8>(9, 3);
        for (int y = 0; y < 5; y++)
            for (int x = 0; x < 7; x++) rgb[x, y] = new Rgb24((byte)(x * 30), (byte)(y * 50), (byte)(x * y * 9));
        for (int y = 0; y < 4; y++)
            for (int x = 0; x < 6; x++) rgba[x, y] = new Rgba32((byte)(x * 40), 80, (byte)(y * 60), (byte)(x * 20 + y));
        using var animated = new Image<Rgba32>(4, 4, new Rgba32(10, 200, 30, 255));
        using var second = new Image<Rgba32>(4, 4, new Rgba32(250, 0, 90, 255));
        animated.Frames.AddFrame(second.Frames.RootFrame);
        return
        [
            Encode(rgb, new PngEncoder()),
            Encode(rgba, new PngEncoder { InterlaceMethod = PngInterlaceMode.Adam7 }),
            Encode(rgb, new PngEncoder { ColorType = PngColorType.Palette }),
            Encode(gray, new PngEncoder { ColorType = PngColorType.Grayscale, BitDepth = PngBitDepth.Bit16 }),
            Encode(rgb, new JpegEncoder { Quality = 80 }),
            Encode(gray, new JpegEncoder { ColorType = JpegColorType.Luminance }),
            Encode(rgb, new BmpEncoder()),
            Encode(rgb, new BmpEncoder { BitsPerPixel = BmpBitsPerPixel.Pixel8 }),
            Encode(rgba, new TgaEncoder { Compression = TgaCompression.RunLength }),
            Encode(rgb, new GifEncoder()),
            Encode(animated, new GifEncoder()),
        ];
    });

    private static byte[] Encode<T>(Image<T> image, SixLabors.ImageSharp.Formats.IImageEncoder encoder) where T : unmanaged, IPixel<T>
    {
        using var s = new MemoryStream();
        image.Save(s, encoder);
        return s.ToArray();
    }

    private static readonly Transform Pipeline = new Compose(new ToTensor(), new Resize(4, 4));

    public override string Name => "image-folder";

    public override IReadOnlyList<byte[]> Seeds => SeedFiles.Value;

    public override int HeaderBytes => 48;

    public override string FileName => Path.Combine("cls", "img.png");

    public override IReadOnlyList<byte[]> Tokens { get; } =
    [
        FuzzTargets.Ascii("IHDR"), FuzzTargets.Ascii("IDAT"), FuzzTargets.Ascii("IEND"), FuzzTargets.Ascii("PLTE"), FuzzTargets.Ascii("tRNS"),
        FuzzTargets.Ascii("acTL"), FuzzTargets.Ascii("zTXt"), [0xFF, 0xD8], [0xFF, 0xE0], [0xFF, 0xDB], [0xFF, 0xC0], [0xFF, 0xC2], [0xFF, 0xC4],
        [0xFF, 0xDA], [0xFF, 0xD9], [0xFF, 0xDD], [0xFF, 0xE0, 0x80, 0x00], FuzzTargets.Ascii("GIF89a"), FuzzTargets.Ascii("NETSCAPE2.0"),
        [0x2C], [0x21, 0xF9, 0x04], [0x21, 0xFF, 0x0B], FuzzTargets.Ascii("BM"), [0x3B],
    ];

    // Half the PNG-derived inputs get their chunk CRCs repaired, so damage gets past the checksum into the decoder.
    public override byte[] Generate(Random rng)
    {
        byte[] data = base.Generate(rng);
        return rng.Next(2) == 0 ? FixPngCrcs(data) : data;
    }

    public static byte[] FixPngCrcs(byte[] data)
    {
        if (data.Length < 8 || data[1] != (byte)'P' || data[2] != (byte)'N' || data[3] != (byte)'G') return data;
        data = (byte[])data.Clone();
        long offset = 8;
        while (offset + 12 <= data.Length)
        {
            uint length = BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan((int)offset));
            long end = offset + 8 + length;
            if (end + 4 > data.Length) break;
            uint crc = PngCrc(data.AsSpan((int)offset + 4, (int)length + 4));
            BinaryPrimitives.WriteUInt32BigEndian(data.AsSpan((int)end), crc);
            offset = end + 4;
        }
        return data;
    }

    /// <summary>PNG's CRC-32 (ISO-HDLC, the zlib one) over a chunk's type and data.</summary>
    public static uint PngCrc(ReadOnlySpan<byte> bytes)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in bytes)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320 : crc >> 1;
        }
        return ~crc;
    }

    public override void Load(string path, byte[] bytes)
    {
        string root = Path.GetDirectoryName(Path.GetDirectoryName(path))!;
        var ds = new ImageFolderDataset(root, Pipeline, MaxPixels);
        ds.Get(0, new float[3 * 4 * 4], out _);
    }

    // The decoder's budget (ImageDecoder: a floor, 16 bytes per header pixel, 4 per file byte) twice over, once for the
    // probe and once for the decode, plus the file read twice and the dataset's folder walk.
    public override long AllowedBytes(byte[] input) =>
        2 * (ImageDecoder.BudgetFloorBytes + ImageDecoder.BudgetBytesPerPixel * MaxPixels + ImageDecoder.BudgetBytesPerFileByte * input.Length)
        + 8L * input.Length + (2 << 20);
}

/// <summary>ONNX TensorProto files (a node case's input_N.pb / output_N.pb) read by the conformance tests.</summary>
internal sealed class OnnxTensorTarget : FuzzTarget
{
    private static readonly Lazy<byte[][]> SeedFiles = new(() =>
        new[] { "test_conv_with_strides_padding", "test_maxpool_2d_default", "test_nllloss_NC", "test_relu" }
            .Select(c => Path.Combine(OnnxCase.Directory, c, "test_data_set_0"))
            .Where(Directory.Exists)
            .SelectMany(d => Directory.GetFiles(d, "*.pb").Order(StringComparer.Ordinal).Take(2))
            .Select(File.ReadAllBytes).ToArray());

    public override string Name => "onnx-tensor";

    public override IReadOnlyList<byte[]> Seeds => SeedFiles.Value;

    public override int HeaderBytes => 24;

    public override void Load(string path, byte[] bytes) => OnnxTensor.Read(path);

    public override long AllowedBytes(byte[] input) => 32L * input.Length + (1 << 20);
}

/// <summary>ONNX ModelProto files (a node case's model.onnx).</summary>
internal sealed class OnnxModelTarget : FuzzTarget
{
    private static readonly Lazy<byte[][]> SeedFiles = new(() =>
        new[] { "test_conv_with_strides_padding", "test_maxpool_2d_default", "test_nllloss_NC", "test_gemm_default_no_bias" }
            .Select(c => Path.Combine(OnnxCase.Directory, c, "model.onnx"))
            .Where(File.Exists).Select(File.ReadAllBytes).ToArray());

    public override string Name => "onnx-model";

    public override IReadOnlyList<byte[]> Seeds => SeedFiles.Value;

    public override int HeaderBytes => 64;

    public override void Load(string path, byte[] bytes) => OnnxCase.ReadModel(path);

    public override long AllowedBytes(byte[] input) => 32L * input.Length + (1 << 20);
}
