// torchvision's geometric transforms on CHW samples: Resize (bilinear, tensor path), CenterCrop, RandomCrop and RandomHorizontalFlip.
using System.Runtime.CompilerServices;

namespace GraphCompiler.Data;

/// <summary>
/// torchvision's <c>Resize</c> on tensors, which is <c>F.interpolate(mode='bilinear', align_corners=False,
/// antialias=False)</c>: each output pixel samples the input at <c>(i + 0.5) * in / out - 0.5</c> (clamped at 0)
/// and blends the two nearest rows and columns. Downscaling therefore skips pixels rather than averaging them,
/// exactly as PyTorch's tensor path does. Runs on floats (put it after ToTensor); matches PyTorch 1.13 within 2e-7
/// on the checked-in reference (about half the values bit for bit; the rest differ in summation rounding).
/// </summary>
public sealed class Resize : Transform
{
    private readonly int _height;
    private readonly int _width;
    private readonly int _shorter;

    /// <summary>Resizes every sample to <paramref name="height"/> x <paramref name="width"/> (torchvision's <c>Resize((h, w))</c>).</summary>
    public Resize(int height, int width)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        _height = height;
        _width = width;
    }

    /// <summary>
    /// Scales the shorter side to <paramref name="size"/>, keeping the aspect ratio (torchvision's <c>Resize(size)</c>;
    /// the longer side is <c>int(size * long / short)</c>). Samples of different aspect ratios then differ in shape,
    /// so follow it with a crop when a dataset needs one sample shape.
    /// </summary>
    public Resize(int size)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 1);
        _shorter = size;
    }

    public override void OutputShape(ReadOnlySpan<int> input, Span<int> output)
    {
        (int c, int h, int w) = Chw(input, nameof(Resize));
        output[0] = c;
        if (_shorter == 0)
        {
            output[1] = _height;
            output[2] = _width;
            return;
        }
        int shortSide = Math.Min(h, w), longSide = Math.Max(h, w);
        int newLong = (int)((double)_shorter * longSide / shortSide);
        (output[1], output[2]) = w <= h ? (newLong, _shorter) : (_shorter, newLong);
    }

    public override void Apply(ReadOnlySpan<float> source, ReadOnlySpan<int> shape, Span<float> destination, SampleContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        (int c, int h, int w) = Chw(shape, nameof(Resize));
        CheckSample(source.Length, shape, nameof(Resize));
        Span<int> o = stackalloc int[3];
        OutputShape(shape, o);
        int oh = o[1], ow = o[2];
        CheckSample(destination.Length, o, nameof(Resize) + " (destination)");

        var mark = context.Mark();
        try
        {
            // Per output column and row: the two source indices and their weights, computed once per sample.
            Span<float> cols = context.RentFloats(4 * ow), rows = context.RentFloats(4 * oh);
            Weights(w, ow, cols);
            Weights(h, oh, rows);
            for (int ch = 0; ch < c; ch++)
            {
                ReadOnlySpan<float> plane = source.Slice(ch * h * w, h * w);
                Span<float> outPlane = destination.Slice(ch * oh * ow, oh * ow);
                for (int y = 0; y < oh; y++)
                {
                    ReadOnlySpan<float> r0 = plane.Slice((int)rows[4 * y] * w, w), r1 = plane.Slice((int)rows[4 * y + 1] * w, w);
                    float h0 = rows[4 * y + 2], h1 = rows[4 * y + 3];
                    Span<float> dst = outPlane.Slice(y * ow, ow);
                    for (int x = 0; x < ow; x++)
                    {
                        int x0 = (int)cols[4 * x], x1 = (int)cols[4 * x + 1];
                        float w0 = cols[4 * x + 2], w1 = cols[4 * x + 3];
                        // PyTorch's order: blend along width within each row, then the two rows.
                        dst[x] = h0 * (w0 * r0[x0] + w1 * r0[x1]) + h1 * (w0 * r1[x0] + w1 * r1[x1]);
                    }
                }
            }
        }
        finally
        {
            context.Release(mark);
        }
    }

    /// <summary>
    /// PyTorch's <c>compute_source_index_and_lambda</c> for one axis, as (index0, index1, lambda0, lambda1) per
    /// output position (indices stored as floats; they are far below 2^24). Same size: an exact copy.
    /// </summary>
    private static void Weights(int inSize, int outSize, Span<float> table)
    {
        float scale = (float)inSize / outSize;
        for (int i = 0; i < outSize; i++)
        {
            int i0, i1;
            float l0, l1;
            if (inSize == outSize)
            {
                i0 = i1 = i;
                l0 = 1f;
                l1 = 0f;
            }
            else
            {
                float real = scale * (i + 0.5f) - 0.5f;
                if (real < 0f) real = 0f;
                i0 = Math.Min((int)MathF.Floor(real), inSize - 1);
                l1 = Math.Clamp(real - i0, 0f, 1f);
                i1 = i0 + (i0 < inSize - 1 ? 1 : 0);
                l0 = 1f - l1;
            }
            table[4 * i] = i0;
            table[4 * i + 1] = i1;
            table[4 * i + 2] = l0;
            table[4 * i + 3] = l1;
        }
    }

    public override string ToString() => _shorter == 0 ? $"Resize(({_height}, {_width}))" : $"Resize({_shorter})";
}

/// <summary>
/// Shared by the crops: copies a window of a CHW image, filling positions outside the image with a constant.
/// Generic so the same code moves bytes (before ToTensor) and floats (after).
/// </summary>
internal static class Window
{
    public static void Copy<T>(ReadOnlySpan<T> src, int c, int h, int w, Span<T> dst, int oh, int ow, int top, int left, T fill)
    {
        // Columns [x0, x1) of each output row come from the image; the rest are fill.
        int x0 = Math.Clamp(-left, 0, ow), x1 = Math.Clamp(w - left, x0, ow);
        for (int ch = 0; ch < c; ch++)
        {
            for (int y = 0; y < oh; y++)
            {
                Span<T> row = dst.Slice((ch * oh + y) * ow, ow);
                int sy = top + y;
                if ((uint)sy >= (uint)h)
                {
                    row.Fill(fill);
                    continue;
                }
                row[..x0].Fill(fill);
                src.Slice((ch * h + sy) * w + left + x0, x1 - x0).CopyTo(row[x0..x1]);
                row[x1..].Fill(fill);
            }
        }
    }

    public static byte ByteFill(float fill, string who)
    {
        if (fill is < 0f or > 255f || fill != MathF.Floor(fill))
            throw new InvalidOperationException($"{who} runs on pixel bytes here (before ToTensor), so its fill must be a whole number in 0..255, not {fill}; as in torchvision, fill is in the units of the data it pads.");
        return (byte)fill;
    }
}

/// <summary>
/// torchvision's <c>CenterCrop</c>: the middle <c>height x width</c> window, top-left at
/// <c>round((H - height) / 2)</c> with Python's round-half-to-even; a dimension smaller than the crop is
/// zero-padded on both sides first (the extra pixel on the right/bottom), as torchvision does.
/// </summary>
public sealed class CenterCrop : Transform
{
    private readonly int _height;
    private readonly int _width;

    public CenterCrop(int size) : this(size, size)
    {
    }

    public CenterCrop(int height, int width)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        _height = height;
        _width = width;
    }

    public override bool WorksOnBytes => true;

    public override void OutputShape(ReadOnlySpan<int> input, Span<int> output)
    {
        (int c, _, _) = Chw(input, nameof(CenterCrop));
        output[0] = c;
        output[1] = _height;
        output[2] = _width;
    }

    public override void Apply(ReadOnlySpan<float> source, ReadOnlySpan<int> shape, Span<float> destination, SampleContext context) =>
        Run(source, shape, destination, 0f);

    public override void Apply(ReadOnlySpan<byte> source, ReadOnlySpan<int> shape, Span<byte> destination, SampleContext context) =>
        Run(source, shape, destination, (byte)0);

    private void Run<T>(ReadOnlySpan<T> source, ReadOnlySpan<int> shape, Span<T> destination, T zero)
    {
        (int c, int h, int w) = Chw(shape, nameof(CenterCrop));
        CheckSample(source.Length, shape, nameof(CenterCrop));
        CheckSample(destination.Length, [c, _height, _width], nameof(CenterCrop) + " (destination)");
        Window.Copy(source, c, h, w, destination, _height, _width, Offset(h, _height), Offset(w, _width), zero);
    }

    /// <summary>Where the crop starts along one axis; negative when the axis is padded.</summary>
    private static int Offset(int size, int crop) =>
        crop > size ? -((crop - size) / 2) : (int)Math.Round((size - crop) / 2.0, MidpointRounding.ToEven);

    public override string ToString() => $"CenterCrop(({_height}, {_width}))";
}

/// <summary>
/// torchvision's <c>RandomCrop(size, padding, pad_if_needed, fill, padding_mode='constant')</c>: pads with
/// <c>fill</c>, then takes a <c>height x width</c> window whose top and left are drawn uniformly (top first) from
/// the sample's <see cref="SampleContext.Rng"/>; when the padded image is exactly the crop size nothing is drawn.
/// <c>fill</c> is in the units of the data: a byte value before ToTensor, a float after.
/// </summary>
public sealed class RandomCrop : Transform
{
    private readonly int _height;
    private readonly int _width;
    private readonly int _left, _top, _right, _bottom;

    /// <summary>A square crop with the same padding on every side (torchvision's <c>RandomCrop(32, padding=4)</c>).</summary>
    public RandomCrop(int size, int padding = 0, bool padIfNeeded = false, float fill = 0f)
        : this(size, size, [padding], padIfNeeded, fill)
    {
    }

    /// <summary>
    /// <paramref name="padding"/> follows torchvision: one value for all sides, two for (left/right, top/bottom),
    /// or four for (left, top, right, bottom); null for none.
    /// </summary>
    public RandomCrop(int height, int width, int[]? padding, bool padIfNeeded = false, float fill = 0f)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        if (!float.IsFinite(fill)) throw new ArgumentOutOfRangeException(nameof(fill), fill, "fill must be finite.");
        padding ??= [0];
        (_left, _top, _right, _bottom) = padding.Length switch
        {
            1 => (padding[0], padding[0], padding[0], padding[0]),
            2 => (padding[0], padding[1], padding[0], padding[1]),
            4 => (padding[0], padding[1], padding[2], padding[3]),
            _ => throw new ArgumentException($"padding takes 1, 2 or 4 values, as torchvision's does, not {padding.Length}.", nameof(padding)),
        };
        if (_left < 0 || _top < 0 || _right < 0 || _bottom < 0)
            throw new ArgumentOutOfRangeException(nameof(padding), $"padding ({string.Join(", ", padding)}) must not be negative.");
        _height = height;
        _width = width;
        PadIfNeeded = padIfNeeded;
        Fill = fill;
    }

    public bool PadIfNeeded { get; }

    public float Fill { get; }

    public override bool WorksOnBytes => true;

    public override void OutputShape(ReadOnlySpan<int> input, Span<int> output)
    {
        (int c, int h, int w) = Chw(input, nameof(RandomCrop));
        Padded(h, w);
        output[0] = c;
        output[1] = _height;
        output[2] = _width;
    }

    /// <summary>The padded image's size and how far its origin sits above/left of the sample's.</summary>
    private (int H, int W, int Top, int Left) Padded(int h, int w)
    {
        int ph = h + _top + _bottom, pw = w + _left + _right, top = _top, left = _left;
        // torchvision pads a too-narrow image by the whole shortfall on both sides (F.pad(img, [size - width, 0])).
        if (PadIfNeeded && pw < _width)
        {
            int extra = _width - pw;
            left += extra;
            pw += 2 * extra;
        }
        if (PadIfNeeded && ph < _height)
        {
            int extra = _height - ph;
            top += extra;
            ph += 2 * extra;
        }
        if (ph < _height || pw < _width)
            throw new ArgumentException(
                $"RandomCrop: required crop size ({_height}, {_width}) is larger than the {(ph != h || pw != w ? "padded " : "")}input image size ({ph}, {pw}); pad more or set padIfNeeded.");
        return (ph, pw, top, left);
    }

    public override void Apply(ReadOnlySpan<float> source, ReadOnlySpan<int> shape, Span<float> destination, SampleContext context) =>
        Run(source, shape, destination, Fill, context);

    public override void Apply(ReadOnlySpan<byte> source, ReadOnlySpan<int> shape, Span<byte> destination, SampleContext context) =>
        Run(source, shape, destination, Window.ByteFill(Fill, nameof(RandomCrop)), context);

    private void Run<T>(ReadOnlySpan<T> source, ReadOnlySpan<int> shape, Span<T> destination, T fill, SampleContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        (int c, int h, int w) = Chw(shape, nameof(RandomCrop));
        CheckSample(source.Length, shape, nameof(RandomCrop));
        CheckSample(destination.Length, [c, _height, _width], nameof(RandomCrop) + " (destination)");
        (int ph, int pw, int padTop, int padLeft) = Padded(h, w);
        int i = 0, j = 0;
        if (ph != _height || pw != _width)
        {
            i = context.Rng.NextInt(ph - _height + 1);
            j = context.Rng.NextInt(pw - _width + 1);
        }
        Window.Copy(source, c, h, w, destination, _height, _width, i - padTop, j - padLeft, fill);
    }

    public override string ToString() =>
        $"RandomCrop(({_height}, {_width}), padding=({_left}, {_top}, {_right}, {_bottom}), padIfNeeded={PadIfNeeded}, fill={Fill})";
}

/// <summary>torchvision's <c>RandomHorizontalFlip(p)</c>: mirrors the sample left-right when the sample's Rng draws below <c>p</c> (one draw per sample).</summary>
public sealed class RandomHorizontalFlip : Transform
{
    public RandomHorizontalFlip(float p = 0.5f)
    {
        if (!(p >= 0f && p <= 1f)) throw new ArgumentOutOfRangeException(nameof(p), p, "p is a probability, in [0, 1].");
        P = p;
    }

    public float P { get; }

    public override bool WorksOnBytes => true;

    public override void Apply(ReadOnlySpan<float> source, ReadOnlySpan<int> shape, Span<float> destination, SampleContext context) =>
        Run(source, shape, destination, context);

    public override void Apply(ReadOnlySpan<byte> source, ReadOnlySpan<int> shape, Span<byte> destination, SampleContext context) =>
        Run(source, shape, destination, context);

    /// <summary>In place, with the calling thread's context (randomness not tied to a sample index).</summary>
    public override void Apply(Span<float> sample, ReadOnlySpan<int> shape)
    {
        (_, _, int w) = Chw(shape, nameof(RandomHorizontalFlip));
        CheckSample(sample.Length, shape, nameof(RandomHorizontalFlip));
        if (SampleContext.ForCurrentThread().Rng.NextFloat() < P)
        {
            for (int r = 0; r < sample.Length; r += w) sample.Slice(r, w).Reverse();
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Run<T>(ReadOnlySpan<T> source, ReadOnlySpan<int> shape, Span<T> destination, SampleContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        (_, _, int w) = Chw(shape, nameof(RandomHorizontalFlip));
        CheckSample(source.Length, shape, nameof(RandomHorizontalFlip));
        if (destination.Length != source.Length)
            throw new ArgumentException($"RandomHorizontalFlip: destination has {destination.Length} elements, the sample {source.Length}.", nameof(destination));
        source.CopyTo(destination);
        if (context.Rng.NextFloat() < P)
        {
            for (int r = 0; r < destination.Length; r += w) destination.Slice(r, w).Reverse();
        }
    }

    public override string ToString() => $"RandomHorizontalFlip(p={P})";
}
