// Decodes image files (PNG, JPEG, BMP, TGA, GIF) to RGB bytes with a size limit read from the header and a memory budget per decode.
using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Bmp;
using SixLabors.ImageSharp.Formats.Gif;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.Formats.Tga;
using SixLabors.ImageSharp.Memory;
using SixLabors.ImageSharp.PixelFormats;

namespace GraphCompiler.Data;

/// <summary>
/// The image decoder behind <see cref="ImageFolderDataset"/>, built for files nobody vouches for. The size comes from
/// the header first, and an image above <c>maxPixels</c> is refused before any pixel is decoded, as PIL refuses a
/// "decompression bomb" (its <c>Image.MAX_IMAGE_PIXELS</c> is the default here). The decode itself then runs under a
/// memory budget proportional to that header size and to the file's length, so a header that lies (a GIF frame larger
/// than its screen, a thousand frames, a chunk length of 1 GiB) fails with a budget error instead of allocating.
/// Everything is managed memory (no native pools to leak), single-threaded (the loader's workers are the parallelism),
/// and every failure is an <see cref="InvalidDataException"/> naming the file.
/// </summary>
public static class ImageDecoder
{
    /// <summary>PIL's <c>Image.MAX_IMAGE_PIXELS</c>: about a quarter of a gigabyte of RGB, far above any training image.</summary>
    public const long DefaultMaxPixels = 89_478_485;

    /// <summary>Bytes a decode may allocate per header pixel: the RGB frame (3), the decoder's own planes and rows, with room.</summary>
    internal const long BudgetBytesPerPixel = 16;

    /// <summary>Bytes a decode may allocate per byte of the file, for the decoders' buffers that follow the input (chunks, segments).</summary>
    internal const long BudgetBytesPerFileByte = 4;

    /// <summary>A floor for tiny files, whose decoders still allocate tables and a few rows.</summary>
    internal const long BudgetFloorBytes = 1 << 20;

    /// <summary>Width and height from the header alone, checked against <paramref name="maxPixels"/>.</summary>
    public static (int Height, int Width) Probe(ReadOnlySpan<byte> file, string path, long maxPixels = DefaultMaxPixels)
    {
        ArgumentNullException.ThrowIfNull(path);
        CheckMaxPixels(maxPixels);
        return Identify(file.ToArray(), path, maxPixels);
    }

    /// <summary>
    /// Decodes <paramref name="file"/> to RGB, HWC order (<c>Height * Width * 3</c> bytes), as torchvision's default
    /// loader does (<c>PIL.Image.open(f).convert("RGB")</c>; the first frame of an animation).
    /// </summary>
    public static (byte[] Rgb, int Height, int Width) Decode(byte[] file, string path, long maxPixels = DefaultMaxPixels)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentNullException.ThrowIfNull(path);
        CheckMaxPixels(maxPixels);
        (int h, int w) = Identify(file, path, maxPixels);
        CheckPngData(file, path);
        long budget = BudgetFloorBytes + BudgetBytesPerPixel * h * w + BudgetBytesPerFileByte * file.LongLength;
        try
        {
            using Image<Rgb24> image = Image.Load<Rgb24>(CreateConfiguration(budget), file);
            if (image.Width == w && image.Height == h)
            {
                var rgb = new byte[h * w * 3];
                image.Frames.RootFrame.CopyPixelDataTo(rgb);
                return (rgb, h, w);
            }
            (h, w) = (image.Height, image.Width);
        }
        catch (Exception e) when (IsDecodeFailure(e))
        {
            throw new InvalidDataException($"file {path}: corrupt or unsupported {w}x{h} image ({file.Length} bytes): {e.Message}", e);
        }
        throw new InvalidDataException($"file {path}: the header and the decoded image disagree on its size ({h}x{w} decoded).");
    }

    private static (int Height, int Width) Identify(byte[] file, string path, long maxPixels)
    {
        CheckAllocatingFields(file, path);
        IImageInfo? info;
        try
        {
            info = Image.Identify(CreateConfiguration(BudgetFloorBytes + BudgetBytesPerFileByte * file.LongLength), new MemoryStream(file, writable: false));
        }
        catch (Exception e) when (IsDecodeFailure(e))
        {
            throw new InvalidDataException($"file {path}: not a readable image header ({file.Length} bytes): {e.Message}", e);
        }
        if (info is null)
            throw new InvalidDataException($"file {path}: not a readable image ({file.Length} bytes): not PNG, JPEG, BMP, TGA or GIF.");
        if (info.Width < 1 || info.Height < 1)
            throw new InvalidDataException($"file {path}: the header declares a {info.Width}x{info.Height} image.");
        long pixels = (long)info.Width * info.Height;
        if (pixels > maxPixels)
            throw new InvalidDataException(
                $"file {path}: the header declares a {info.Width}x{info.Height} image ({pixels:N0} pixels), above the limit of {maxPixels:N0} pixels; " +
                "raise maxPixels if the image is genuine (PIL's limit, Image.MAX_IMAGE_PIXELS, is the default).");
        return (info.Height, info.Width);
    }

    /// <summary>
    /// The few header fields that ImageSharp 2.1 turns into a plain <c>new byte[n]</c> (outside the budgeted allocator),
    /// checked against the file's length first. Each was found by the fuzz suite (tests/fuzz/regressions/image-folder).
    /// </summary>
    private static void CheckAllocatingFields(byte[] file, string path)
    {
        if (file.Length >= 18 && file[0] == (byte)'B' && file[1] == (byte)'M')
        {
            // BMP: the palette is read as one array spanning the file header's pixel-data offset minus the headers.
            uint dataOffset = BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(10));
            uint infoSize = BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(14));
            if (dataOffset > file.Length || infoSize > file.Length)
                throw new InvalidDataException(
                    $"file {path}: BMP header field {(dataOffset > file.Length ? $"bfOffBits (offset 10) = {dataOffset}" : $"biSize (offset 14) = {infoSize}")} points past the end of the {file.Length}-byte file.");
        }
    }

    /// <summary>
    /// For a PNG, inflates the IDAT stream once (zlib, checksum verified) and requires exactly the bytes its header
    /// implies before ImageSharp sees it: ImageSharp 2.1.13's interlaced decoder spins forever on some damaged streams
    /// (tests/fuzz/regressions/image-folder/png-interlaced-spin.png), and its CancellationToken is not checked there.
    /// The inflate reads into a fixed scratch buffer, so it allocates nothing that the file does not back.
    /// </summary>
    private static void CheckPngData(byte[] file, string path)
    {
        ReadOnlySpan<byte> signature = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];
        if (file.Length < 8 || !file.AsSpan(0, 8).SequenceEqual(signature)) return;
        long expected = -1;
        using var idat = new MemoryStream();
        long offset = 8;
        bool idatEnded = false;
        while (offset + 12 <= file.Length)
        {
            uint length = BinaryPrimitives.ReadUInt32BigEndian(file.AsSpan((int)offset));
            string type = System.Text.Encoding.ASCII.GetString(file, (int)offset + 4, 4);
            if (length > int.MaxValue || offset + 12 + length > file.Length)
                throw new InvalidDataException($"file {path}: PNG chunk '{type}' at byte offset {offset} declares {length} bytes, past the end of the {file.Length}-byte file.");
            var data = file.AsSpan((int)offset + 8, (int)length);
            if (type == "IHDR" && length == 13 && expected < 0) expected = PngImageBytes(data);
            if (type == "IDAT")
            {
                if (idatEnded) throw new InvalidDataException($"file {path}: PNG chunk 'IDAT' at byte offset {offset} after another chunk ended the image data; IDAT chunks must be consecutive.");
                idat.Write(data);
            }
            else if (idat.Length > 0)
            {
                idatEnded = true;
            }
            offset += 12 + length;
            if (type == "IEND") break;
        }
        if (expected < 0) return; // no usable IHDR: ImageSharp's own error says so
        idat.Position = 0;
        long got = 0;
        try
        {
            using var inflater = new System.IO.Compression.ZLibStream(idat, System.IO.Compression.CompressionMode.Decompress);
            Span<byte> scratch = stackalloc byte[4096];
            int n;
            while ((n = inflater.Read(scratch)) > 0)
            {
                got += n;
                if (got > expected) break;
            }
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"file {path}: PNG image data (IDAT) is not a valid zlib stream after {got} bytes: {e.Message}", e);
        }
        if (got != expected)
            throw new InvalidDataException($"file {path}: PNG image data (IDAT) inflates to {(got > expected ? "more than " + expected : got)} bytes, but the header (IHDR) needs exactly {expected}.");
    }

    /// <summary>The filtered scanline bytes an IHDR implies: a filter byte per row, per Adam7 pass when interlaced; -1 for a bad header.</summary>
    private static long PngImageBytes(ReadOnlySpan<byte> ihdr)
    {
        long width = BinaryPrimitives.ReadUInt32BigEndian(ihdr), height = BinaryPrimitives.ReadUInt32BigEndian(ihdr[4..]);
        int depth = ihdr[8], colorType = ihdr[9], interlace = ihdr[12];
        int channels = colorType switch { 0 => 1, 2 => 3, 3 => 1, 4 => 2, 6 => 4, _ => 0 };
        if (channels == 0 || depth is not (1 or 2 or 4 or 8 or 16) || interlace > 1) return -1;
        long bitsPerPixel = channels * depth;
        long Rows(long h, long w) => w == 0 || h == 0 ? 0 : h * (1 + (w * bitsPerPixel + 7) / 8);
        if (interlace == 0) return Rows(height, width);
        // Adam7: per pass, the first row/column and the step.
        ReadOnlySpan<int> firstRow = [0, 0, 4, 0, 2, 0, 1], rowStep = [8, 8, 8, 4, 4, 2, 2], firstCol = [0, 4, 0, 2, 0, 1, 0], colStep = [8, 8, 4, 4, 2, 2, 1];
        long total = 0;
        for (int p = 0; p < 7; p++)
        {
            long rows = height > firstRow[p] ? (height - firstRow[p] + rowStep[p] - 1) / rowStep[p] : 0;
            long cols = width > firstCol[p] ? (width - firstCol[p] + colStep[p] - 1) / colStep[p] : 0;
            total += Rows(rows, cols);
        }
        return total;
    }

    // ImageSharp reports damage as ImageFormatException (InvalidImageContentException, UnknownImageFormatException) and a
    // blown budget as InvalidMemoryOperationException, but some truncations surface as whatever runtime exception the
    // decoder's code happened to hit. For bytes nobody vouches for, every one of them means "this file is bad"; only an
    // OutOfMemoryException (which the budget exists to prevent) is left alone, since the process is not fine after it.
    private static bool IsDecodeFailure(Exception e) => e is not OutOfMemoryException;

    private static void CheckMaxPixels(long maxPixels)
    {
        // Three bytes per pixel must fit one array, so a sample's size never overflows downstream.
        if (maxPixels < 1 || maxPixels > Array.MaxLength / 3)
            throw new ArgumentOutOfRangeException(nameof(maxPixels), maxPixels, $"The pixel limit must be in [1, {Array.MaxLength / 3}] (three bytes per pixel in one array).");
    }

    /// <summary>Only the five formats the dataset documents, one thread, and an allocator that stops at <paramref name="budget"/>.</summary>
    private static Configuration CreateConfiguration(long budget) =>
        new(new PngConfigurationModule(), new JpegConfigurationModule(), new GifConfigurationModule(),
            new BmpConfigurationModule(), new TgaConfigurationModule())
        {
            MaxDegreeOfParallelism = 1,
            MemoryAllocator = new BudgetAllocator(budget),
            // Stream-level reads are done from the byte array; no pooled native buffers.
            PreferContiguousImageBuffers = true,
        };

    /// <summary>
    /// Managed allocations (the GC reclaims whatever a failing decoder drops) that together may not exceed a budget.
    /// ImageSharp sizes its buffers from header fields, so this is where a lying header is stopped.
    /// </summary>
    private sealed class BudgetAllocator(long budget) : MemoryAllocator
    {
        private readonly SimpleGcMemoryAllocator _inner = new();
        private long _allocated;

        protected override int GetBufferCapacityInBytes() => int.MaxValue;

        public override IMemoryOwner<T> Allocate<T>(int length, AllocationOptions options = AllocationOptions.None)
        {
            long bytes = (long)length * Unsafe.SizeOf<T>();
            if (length < 0 || _allocated + bytes > budget)
                throw new InvalidMemoryOperationException(
                    $"decoding would allocate {_allocated + bytes:N0} bytes, more than the {budget:N0} this image's header and file size allow");
            _allocated += bytes;
            return _inner.Allocate<T>(length, options);
        }
    }
}
