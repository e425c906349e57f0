// Reads the idx files MNIST and Fashion-MNIST ship in (u8 images [n,rows,cols] and u8 labels [n]), gzipped or not.
using System.Buffers.Binary;
using System.IO.Compression;

namespace GraphCompiler.Data;

/// <summary>A u8 image array read from an idx3 file: <see cref="Count"/> images of <see cref="Rows"/> x <see cref="Columns"/>, row-major.</summary>
public sealed class IdxImages
{
    public IdxImages(string source, int count, int rows, int columns, byte[] pixels)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(pixels);
        if (count < 0 || rows <= 0 || columns <= 0 || (long)count * rows * columns != pixels.Length)
            throw new ArgumentException(
                $"{source}: {pixels.Length} pixel bytes do not make {count} images of {rows}x{columns}.", nameof(pixels));
        Source = source;
        Count = count;
        Rows = rows;
        Columns = columns;
        Pixels = pixels;
    }

    /// <summary>The path or display name the data came from; error messages quote it.</summary>
    public string Source { get; }

    public int Count { get; }

    public int Rows { get; }

    public int Columns { get; }

    /// <summary>All images back to back, one byte per pixel; kept raw so a dataset converts only what a batch needs.</summary>
    public byte[] Pixels { get; }

    public int ImageSize => Rows * Columns;

    public ReadOnlySpan<byte> Image(int index)
    {
        if ((uint)index >= (uint)Count)
            throw new ArgumentOutOfRangeException(nameof(index), index, $"{Source} holds {Count} images.");
        return Pixels.AsSpan(index * ImageSize, ImageSize);
    }
}

/// <summary>A u8 label vector read from an idx1 file.</summary>
public sealed class IdxLabels
{
    public IdxLabels(string source, byte[] labels)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(labels);
        Source = source;
        Labels = labels;
    }

    public string Source { get; }

    public int Count => Labels.Length;

    public byte[] Labels { get; }
}

/// <summary>
/// Reader for the idx format (http://yann.lecun.com/exdb/mnist/): a big-endian header — two zero bytes,
/// an element-type byte, a rank byte, then one u32 per dimension — followed by the raw elements.
/// Only unsigned bytes are accepted because that is all MNIST-style datasets use.
/// Every problem is an <see cref="InvalidDataException"/> naming the file and what exactly is wrong,
/// because "index out of range" three calls later is useless when a download was cut short.
/// </summary>
public static class Idx
{
    public const int ImagesMagic = 0x00000803;
    public const int LabelsMagic = 0x00000801;
    private const byte UnsignedByteType = 0x08;

    public static IdxImages ReadImages(string path)
    {
        using FileStream stream = OpenFile(path);
        return ReadImages(stream, path);
    }

    /// <summary>Reads images from a stream (for example an embedded resource); <paramref name="name"/> is what errors call it. The stream is not disposed.</summary>
    public static IdxImages ReadImages(Stream stream, string name)
    {
        (int[] dims, byte[] data) = Read(stream, name, ImagesMagic, "images");
        return new IdxImages(name, dims[0], dims[1], dims[2], data);
    }

    public static IdxLabels ReadLabels(string path)
    {
        using FileStream stream = OpenFile(path);
        return ReadLabels(stream, path);
    }

    /// <summary>Reads labels from a stream; <paramref name="name"/> is what errors call it. The stream is not disposed.</summary>
    public static IdxLabels ReadLabels(Stream stream, string name)
    {
        (_, byte[] data) = Read(stream, name, LabelsMagic, "labels");
        return new IdxLabels(name, data);
    }

    private static FileStream OpenFile(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        // Sequential scan: the file is read once, front to back.
        return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
    }

    private static (int[] Dims, byte[] Data) Read(Stream stream, string name, int expectedMagic, string what)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(name);
        if (!stream.CanRead) throw new ArgumentException($"{name}: stream is not readable.", nameof(stream));

        // Gzip is detected by content, not by file name, so a mis-named file still reads.
        // Peeking needs a seekable stream; anything else (a network stream) is buffered first.
        if (!stream.CanSeek)
        {
            var buffered = new MemoryStream();
            stream.CopyTo(buffered);
            buffered.Position = 0;
            stream = buffered;
        }
        long start = stream.Position;
        Span<byte> peek = stackalloc byte[2];
        int peeked = stream.ReadAtLeast(peek, 2, throwOnEndOfStream: false);
        stream.Position = start;
        bool gzip = peeked == 2 && peek[0] == 0x1f && peek[1] == 0x8b;

        if (!gzip) return ReadBody(new Source(stream, name, false), expectedMagic, what);
        using var inflater = new GZipStream(stream, CompressionMode.Decompress, leaveOpen: true);
        return ReadBody(new Source(inflater, name, true), expectedMagic, what);
    }

    private static (int[] Dims, byte[] Data) ReadBody(Source src, int expectedMagic, string what)
    {
        int expectedRank = expectedMagic & 0xFF;
        string expectedDesc = $"0x{expectedMagic:X8} (idx {what}: unsigned bytes, rank {expectedRank})";

        Span<byte> magicBytes = stackalloc byte[4];
        int got = src.Read(magicBytes);
        if (got == 0) throw src.Error($"is empty; expected an idx header starting with magic {expectedDesc}");
        if (got < 4) throw src.Error($"is only {got} bytes long, too short for the 4-byte idx magic number {expectedDesc}");
        int magic = BinaryPrimitives.ReadInt32BigEndian(magicBytes);

        // The idx magic is two zero bytes, a type byte and a rank byte; report the part that is wrong,
        // since "wrong rank" usually means images and labels files were swapped.
        if (magicBytes[0] != 0 || magicBytes[1] != 0)
            throw src.Error($"bad magic number 0x{magic:X8} at offset 0, expected {expectedDesc}; this is not an idx file");
        if (magicBytes[2] != UnsignedByteType)
            throw src.Error($"unexpected element type 0x{magicBytes[2]:X2} ({TypeName(magicBytes[2])}) in magic number 0x{magic:X8} at offset 0, expected 0x{UnsignedByteType:X2} (unsigned byte): magic {expectedDesc}");
        if (magicBytes[3] != expectedRank)
        {
            string hint = magic == ImagesMagic ? " (this looks like an images file)" : magic == LabelsMagic ? " (this looks like a labels file)" : "";
            throw src.Error($"unexpected rank {magicBytes[3]} in magic number 0x{magic:X8} at offset 0, expected rank {expectedRank}: magic {expectedDesc}{hint}");
        }

        int headerSize = 4 + 4 * expectedRank;
        Span<byte> dimBytes = stackalloc byte[4 * expectedRank];
        got = src.Read(dimBytes);
        if (got < dimBytes.Length)
            throw src.Error($"truncated header: rank {expectedRank} needs {headerSize} header bytes but the data ends after {4 + got}");
        var dims = new int[expectedRank];
        long total = 1;
        for (int i = 0; i < expectedRank; i++)
        {
            uint d = BinaryPrimitives.ReadUInt32BigEndian(dimBytes.Slice(4 * i));
            if (d > int.MaxValue) throw src.Error($"dimension {i} is {d} (at offset {4 + 4 * i}), which cannot be right");
            if (i > 0 && d == 0) throw src.Error($"dimension {i} is 0 (at offset {4 + 4 * i}): {what} cannot be empty");
            dims[i] = (int)d;
            total *= d;
            if (total > Array.MaxLength) throw src.Error($"header declares {DescribeDims(dims.AsSpan(0, i + 1), what)}, {total}+ bytes, more than one array can hold");
        }
        // With zero items the total is 0 whatever the other dimensions say, but one item must still fit an array.
        long itemBytes = 1;
        for (int i = 1; i < expectedRank; i++) itemBytes *= dims[i];
        if (itemBytes > Array.MaxLength)
            throw src.Error($"header declares {DescribeDims(dims, what)}: one item of {itemBytes} bytes is more than one array can hold");

        // The header's size is a claim: read against it, so memory follows the bytes that arrive (BoundedRead).
        byte[] data = src.ReadDeclared(total, out long read);
        if (read < total)
        {
            string hint = src.Gzip ? "; the gzip stream ended early (incomplete download?)" : " (incomplete download?)";
            throw src.Error($"header declares {DescribeDims(dims, what)} ({total} bytes from offset {headerSize}) but only {read} bytes follow{hint}");
        }

        // Trailing bytes mean the header and the payload disagree; trusting either would silently misread.
        Span<byte> rest = stackalloc byte[4096];
        long trailing = 0;
        while ((got = src.Read(rest)) > 0) trailing += got;
        if (trailing > 0)
            throw src.Error($"{trailing} unexpected trailing bytes after the {total} bytes that the header ({DescribeDims(dims, what)}) declares; data should end at offset {headerSize + total}");

        return (dims, data);
    }

    private static string DescribeDims(ReadOnlySpan<int> dims, string what) => dims.Length switch
    {
        1 => $"{dims[0]} {what}",
        3 => $"{dims[0]} {what} of {dims[1]}x{dims[2]}",
        _ => $"{what} of shape [{string.Join(", ", dims.ToArray())}]",
    };

    private static string TypeName(byte type) => type switch
    {
        0x08 => "unsigned byte",
        0x09 => "signed byte",
        0x0B => "int16",
        0x0C => "int32",
        0x0D => "float32",
        0x0E => "float64",
        _ => "not an idx type",
    };

    /// <summary>The stream being decoded plus what error messages need to say where the problem is.</summary>
    private sealed class Source(Stream stream, string name, bool gzip)
    {
        private long _position;

        public bool Gzip => gzip;

        /// <summary>Fills as much of <paramref name="buffer"/> as the stream holds; a decoding failure becomes an error naming the file.</summary>
        public int Read(Span<byte> buffer)
        {
            try
            {
                int n = stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
                _position += n;
                return n;
            }
            catch (InvalidDataException e) when (gzip)
            {
                // .NET reports every zlib data error as "unsupported compression method", which misleads; say what it means.
                throw new InvalidDataException(
                    $"file {name}: corrupt gzip stream after {_position} decompressed bytes: the compressed data is damaged (bad block or checksum), so the file must be fetched again ({e.Message})", e);
            }
        }

        /// <summary>Reads the <paramref name="length"/> bytes a header declares, allocating only as they arrive.</summary>
        public byte[] ReadDeclared(long length, out long got)
        {
            try
            {
                byte[] data = GraphCompiler.IO.BoundedRead.ReadUpTo(stream, length, out got);
                _position += got;
                return data;
            }
            catch (InvalidDataException e) when (gzip)
            {
                throw new InvalidDataException(
                    $"file {name}: corrupt gzip stream after about {_position} decompressed bytes: the compressed data is damaged (bad block or checksum), so the file must be fetched again ({e.Message})", e);
            }
        }

        public InvalidDataException Error(string problem) =>
            new($"file {name}{(gzip ? " (gzip; offsets are in the decompressed data)" : "")}: {problem}.");
    }
}
