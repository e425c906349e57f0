// Decodes image files (PNG, JPEG, BMP, TGA, GIF) to RGB bytes with a size limit read from the header and a memory budget per decode.
using System.Buffers;
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
