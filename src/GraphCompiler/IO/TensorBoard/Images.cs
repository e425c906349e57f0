// Turns tensors into the 8-bit pixels and PNG bytes TensorBoard image summaries carry, and tiles batches into grids.
using StbImageWriteSharp;

namespace GraphCompiler.IO.TensorBoard;

/// <summary>8-bit interleaved (HWC) pixels: what a PNG stores.</summary>
public sealed record HwcImage(byte[] Pixels, int Height, int Width, int Channels);

/// <summary>Image conversions for TensorBoard: float CHW → 8-bit HWC, PNG encoding, and torchvision's <c>make_grid</c>.</summary>
public static class Images
{
    /// <summary>
    /// Converts a float image in [0, 1], shaped [C, H, W] (C = 1, 3 or 4) or [H, W], to 8-bit HWC the way
    /// torch.utils.tensorboard does: multiply by 255, clip to [0, 255], truncate toward zero.
    /// </summary>
    public static HwcImage ToHwc(Tensor image)
    {
        ArgumentNullException.ThrowIfNull(image);
        (int c, int h, int w) = image.Rank switch
        {
            2 => (1, image.Shape[0], image.Shape[1]),
            3 => (image.Shape[0], image.Shape[1], image.Shape[2]),
            _ => throw new ArgumentException($"An image tensor is [C, H, W] or [H, W], not {image}."),
        };
        CheckChannels(c);
        if (h <= 0 || w <= 0) throw new ArgumentException($"An image needs at least one pixel, not {image}.");
        var pixels = new byte[c * h * w];
        float[] data = image.Data;
        int plane = h * w;
        for (int ch = 0; ch < c; ch++)
            for (int i = 0; i < plane; i++)
            {
                float scaled = data[ch * plane + i] * 255f;
                // NaN compares false both ways, so it lands on 0 rather than on an undefined cast.
                pixels[i * c + ch] = scaled >= 255f ? (byte)255 : scaled > 0f ? (byte)scaled : (byte)0;
            }
        return new HwcImage(pixels, h, w, c);
    }

    /// <summary>Encodes 8-bit HWC pixels as PNG.</summary>
    public static byte[] EncodePng(HwcImage image)
    {
        ArgumentNullException.ThrowIfNull(image);
        CheckChannels(image.Channels);
        if (image.Pixels.Length != image.Height * image.Width * image.Channels)
            throw new ArgumentException(
                $"An HWC image of {image.Height}x{image.Width}x{image.Channels} needs {image.Height * image.Width * image.Channels} bytes, not {image.Pixels.Length}.");
        var components = image.Channels switch
        {
            1 => ColorComponents.Grey,
            3 => ColorComponents.RedGreenBlue,
            _ => ColorComponents.RedGreenBlueAlpha,
        };
        using var png = new MemoryStream();
        new ImageWriter().WritePng(image.Pixels, image.Width, image.Height, components, png);
        return png.ToArray();
    }

    /// <summary>
    /// Tiles a batch [N, C, H, W] into one [C, H', W'] image as torchvision's <c>make_grid</c> does:
    /// <paramref name="nrow"/> images per row, <paramref name="padding"/> pixels of <paramref name="padValue"/> around and
    /// between them, one-channel images widened to RGB, and a batch of one returned unpadded.
    /// </summary>
    public static Tensor MakeGrid(Tensor images, int nrow = 8, int padding = 2, float padValue = 0f)
    {
        ArgumentNullException.ThrowIfNull(images);
        if (images.Rank != 4) throw new ArgumentException($"A batch of images is [N, C, H, W], not {images}.");
        if (nrow <= 0) throw new ArgumentOutOfRangeException(nameof(nrow), nrow, "A grid needs at least one image per row.");
        if (padding < 0) throw new ArgumentOutOfRangeException(nameof(padding), padding, "Padding cannot be negative.");
        int n = images.Shape[0], c = images.Shape[1], h = images.Shape[2], w = images.Shape[3];
        if (n == 0) throw new ArgumentException("A grid needs at least one image.");
        CheckChannels(c);
        int outC = c == 1 ? 3 : c;
        if (n == 1)
        {
            var single = new float[outC * h * w];
            for (int oc = 0; oc < outC; oc++) Array.Copy(images.Data, (c == 1 ? 0 : oc) * h * w, single, oc * h * w, h * w);
            return new Tensor(single, [outC, h, w]);
        }
        int columns = Math.Min(nrow, n);
        int rows = (n + columns - 1) / columns;
        int cellH = h + padding, cellW = w + padding;
        int gridH = cellH * rows + padding, gridW = cellW * columns + padding;
        var grid = new float[outC * gridH * gridW];
        Array.Fill(grid, padValue);
        for (int k = 0; k < n; k++)
        {
            int top = (k / columns) * cellH + padding, left = (k % columns) * cellW + padding;
            for (int oc = 0; oc < outC; oc++)
            {
                int source = ((k * c) + (c == 1 ? 0 : oc)) * h * w;
                for (int y = 0; y < h; y++)
                    Array.Copy(images.Data, source + y * w, grid, (oc * gridH + top + y) * gridW + left, w);
            }
        }
        return new Tensor(grid, [outC, gridH, gridW]);
    }

    private static void CheckChannels(int channels)
    {
        if (channels is not (1 or 3 or 4))
            throw new ArgumentException($"An image has 1 (grey), 3 (RGB) or 4 (RGBA) channels, not {channels}.");
    }
}
