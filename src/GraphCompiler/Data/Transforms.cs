// Per-sample transforms in torchvision's style (ToTensor, Normalize, Compose) that turn stored pixel bytes into model input.
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace GraphCompiler.Data;

/// <summary>
/// One step of a sample pipeline, on CHW samples. A step converts stored u8 pixels into floats
/// (<see cref="ConsumesBytes"/>, e.g. <see cref="ToTensor"/>), rewrites a float sample (e.g. <see cref="Normalize"/>,
/// <see cref="Resize"/>), or only moves pixels (<see cref="WorksOnBytes"/>: crops, flips), in which case it runs on
/// bytes as well, so <see cref="Compose"/> accepts it before ToTensor as torchvision does.
/// <para>
/// Steps work on caller-owned spans and keep no per-sample state: all randomness comes from
/// <see cref="SampleContext.Rng"/>, seeded per sample, and all scratch memory from the context, so one transform
/// object serves every loader worker at once and a sample's augmentation depends only on (seed, epoch, index).
/// A step may change the sample's height and width (<see cref="OutputShape(ReadOnlySpan{int}, Span{int})"/>) but not its rank.
/// </para>
/// </summary>
public abstract class Transform
{
    /// <summary>True for a step that reads the stored bytes and writes floats; a <see cref="Compose"/> has exactly one.</summary>
    public virtual bool ConsumesBytes => false;

    /// <summary>True for a step that only moves or drops pixels (crop, flip, constant padding), so it runs on bytes too.</summary>
    public virtual bool WorksOnBytes => false;

    /// <summary>The shape this step produces from a sample of <paramref name="input"/> shape; throws if it cannot take that input.</summary>
    public virtual void OutputShape(ReadOnlySpan<int> input, Span<int> output)
    {
        if (output.Length != input.Length) throw new ArgumentException($"output shape span has {output.Length} entries, the input shape {input.Length}.", nameof(output));
        input.CopyTo(output);
    }

    /// <summary>The shape this step produces from a sample of <paramref name="input"/> shape.</summary>
    public int[] OutputShape(ReadOnlySpan<int> input)
    {
        var output = new int[input.Length];
        OutputShape(input, output);
        return output;
    }

    /// <summary>Converts stored pixels into <paramref name="sample"/> (CHW, <paramref name="shape"/> = [C, H, W]); for steps that keep the shape.</summary>
    public virtual void Apply(ReadOnlySpan<byte> pixels, Span<float> sample, ReadOnlySpan<int> shape) =>
        throw new InvalidOperationException($"{GetType().Name} works on float tensors, not raw pixel bytes: put ToTensor() before it.");

    /// <summary>Rewrites a float CHW sample in place; only steps that keep the shape support it.</summary>
    public virtual void Apply(Span<float> sample, ReadOnlySpan<int> shape) =>
        throw new InvalidOperationException(ConsumesBytes
            ? $"{GetType().Name} converts raw pixel bytes and must be the first transform."
            : $"{GetType().Name} does not run in place; call Apply(source, shape, destination, context).");

    /// <summary>
    /// Converts stored pixels (CHW bytes of <paramref name="shape"/>) into <paramref name="sample"/>, which holds
    /// <see cref="OutputShape(ReadOnlySpan{int})"/> elements, drawing any randomness from <paramref name="context"/>.
    /// </summary>
    public virtual void Apply(ReadOnlySpan<byte> pixels, ReadOnlySpan<int> shape, Span<float> sample, SampleContext context) =>
        Apply(pixels, sample, shape);

    /// <summary>
    /// Reads a float sample of <paramref name="shape"/> from <paramref name="source"/> and writes the result to
    /// <paramref name="destination"/> (<see cref="OutputShape(ReadOnlySpan{int})"/> elements; must not overlap the source).
    /// The default copies and then runs the in-place <see cref="Apply(Span{float}, ReadOnlySpan{int})"/>.
    /// </summary>
    public virtual void Apply(ReadOnlySpan<float> source, ReadOnlySpan<int> shape, Span<float> destination, SampleContext context)
    {
        if (ConsumesBytes) throw new InvalidOperationException($"{GetType().Name} converts raw pixel bytes and must be the first transform.");
        CheckSample(source.Length, shape, GetType().Name);
        if (destination.Length != source.Length)
            throw new ArgumentException($"{GetType().Name}: destination has {destination.Length} elements, the sample {source.Length}.", nameof(destination));
        source.CopyTo(destination);
        Apply(destination, shape);
    }

    /// <summary>The byte form of <see cref="Apply(ReadOnlySpan{float}, ReadOnlySpan{int}, Span{float}, SampleContext)"/>, for <see cref="WorksOnBytes"/> steps.</summary>
    public virtual void Apply(ReadOnlySpan<byte> source, ReadOnlySpan<int> shape, Span<byte> destination, SampleContext context) =>
        throw new InvalidOperationException($"{GetType().Name} works on float tensors, not raw pixel bytes: put it after ToTensor().");

    /// <summary>Elements of one sample of <paramref name="shape"/>, checked against the span it must fill.</summary>
    private protected static int CheckSample(int length, ReadOnlySpan<int> shape, string who)
    {
        long n = 1;
        foreach (int d in shape) n *= d;
        if (n != length)
            throw new ArgumentException($"{who}: sample span has {length} elements but shape [{string.Join(", ", shape.ToArray())}] needs {n}.");
        return length;
    }

    /// <summary>Elements of a sample of <paramref name="shape"/>.</summary>
    internal static int SizeOf(ReadOnlySpan<int> shape)
    {
        long n = 1;
        foreach (int d in shape) n *= d;
        return checked((int)n);
    }

    /// <summary>Checks that <paramref name="shape"/> is CHW with positive dimensions; returns (C, H, W).</summary>
    private protected static (int C, int H, int W) Chw(ReadOnlySpan<int> shape, string who)
    {
        if (shape.Length != 3 || shape[0] < 1 || shape[1] < 1 || shape[2] < 1)
            throw new ArgumentException($"{who} expects a CHW sample shape with positive dimensions, got [{string.Join(", ", shape.ToArray())}].");
        return (shape[0], shape[1], shape[2]);
    }
}

/// <summary>
/// torchvision's <c>ToTensor</c> for u8 images: each byte <c>b</c> becomes <c>b / 255f</c>, in [0, 1].
/// Bytes are copied in their stored order, so the source must already be CHW (MNIST's single channel is).
/// </summary>
public sealed class ToTensor : Transform
{
    public override bool ConsumesBytes => true;

    public override void Apply(ReadOnlySpan<byte> pixels, Span<float> sample, ReadOnlySpan<int> shape)
    {
        CheckSample(sample.Length, shape, nameof(ToTensor));
        if (pixels.Length != sample.Length)
            throw new ArgumentException($"ToTensor: {pixels.Length} pixel bytes for a sample of {sample.Length} elements.");
        Convert(pixels, sample);
    }

    public override void Apply(ReadOnlySpan<byte> pixels, ReadOnlySpan<int> shape, Span<float> sample, SampleContext context) =>
        Apply(pixels, sample, shape);

    /// <summary>
    /// <c>dst[i] = src[i] / 255f</c>, vectorized. It divides rather than multiplying by 1/255 because
    /// that is what PyTorch does (<c>img.float().div(255)</c>), and the two differ in the last bit for
    /// some bytes; parity tests compare exactly.
    /// </summary>
    // Fully optimized from the first call: the loader runs this 60k times an epoch, and tier-0 SIMD code is
    // several times slower for the first few hundred milliseconds of a run.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Convert(ReadOnlySpan<byte> src, Span<float> dst)
    {
        if (dst.Length < src.Length) throw new ArgumentException($"destination holds {dst.Length} floats, source has {src.Length} bytes.");
        int i = 0;
        if (Vector.IsHardwareAccelerated && src.Length >= Vector<byte>.Count)
        {
            var scale = new Vector<float>(255f);
            int floatsPerVector = Vector<float>.Count;
            for (; i <= src.Length - Vector<byte>.Count; i += Vector<byte>.Count)
            {
                // One vector of bytes widens to four vectors of int32; values stay below 256, so the
                // signed int->float conversion (a single instruction) is exact.
                var bytes = new Vector<byte>(src.Slice(i));
                Vector.Widen(bytes, out Vector<ushort> lo, out Vector<ushort> hi);
                Vector.Widen(lo, out Vector<uint> a, out Vector<uint> b);
                Vector.Widen(hi, out Vector<uint> c, out Vector<uint> d);
                Span<float> o = dst.Slice(i);
                (Vector.ConvertToSingle(Vector.AsVectorInt32(a)) / scale).CopyTo(o);
                (Vector.ConvertToSingle(Vector.AsVectorInt32(b)) / scale).CopyTo(o.Slice(floatsPerVector));
                (Vector.ConvertToSingle(Vector.AsVectorInt32(c)) / scale).CopyTo(o.Slice(2 * floatsPerVector));
                (Vector.ConvertToSingle(Vector.AsVectorInt32(d)) / scale).CopyTo(o.Slice(3 * floatsPerVector));
            }
        }
        for (; i < src.Length; i++) dst[i] = src[i] / 255f;
    }

    /// <summary>
    /// <c>dst[i] = table[src[i]]</c>: any per-byte function (such as ToTensor then Normalize) in one pass.
    /// A byte has only 256 values, so computing the function once per value and gathering is both exact
    /// (the table holds the scalar result) and faster than three vector divisions per element.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static unsafe void Lookup(ReadOnlySpan<byte> src, Span<float> dst, ReadOnlySpan<float> table)
    {
        if (table.Length != 256) throw new ArgumentException($"a byte lookup table needs 256 entries, got {table.Length}.", nameof(table));
        if (dst.Length < src.Length) throw new ArgumentException($"destination holds {dst.Length} floats, source has {src.Length} bytes.");
        fixed (byte* s = src)
        fixed (float* d = dst)
        fixed (float* t = table)
        {
            int i = 0, n = src.Length;
            if (Avx2.IsSupported)
            {
                // vpmovzxbd widens 8 bytes to 8 int32 indices; vgatherdps fetches their table entries.
                for (; i <= n - 8; i += 8)
                    Avx.Store(d + i, Avx2.GatherVector256(t, Avx2.ConvertToVector256Int32(s + i), sizeof(float)));
            }
            for (; i < n; i++) d[i] = t[s[i]];
        }
    }

    public override string ToString() => "ToTensor()";
}

/// <summary>
/// torchvision's <c>Normalize(mean, std)</c>: per channel <c>x = (x - mean[c]) / std[c]</c>, in place on a CHW sample.
/// A single mean/std applies to every channel (as torchvision's broadcasting does).
/// </summary>
public sealed class Normalize : Transform
{
    private readonly float[] _mean;
    private readonly float[] _std;

    public Normalize(float[] mean, float[] std)
    {
        ArgumentNullException.ThrowIfNull(mean);
        ArgumentNullException.ThrowIfNull(std);
        if (mean.Length == 0) throw new ArgumentException("Normalize needs at least one mean.", nameof(mean));
        if (mean.Length != std.Length)
            throw new ArgumentException($"Normalize has {mean.Length} means but {std.Length} standard deviations.", nameof(std));
        for (int c = 0; c < std.Length; c++)
        {
            // Zero std would turn the channel into inf/NaN; torchvision rejects it too.
            if (!(std[c] != 0f) || !float.IsFinite(std[c]))
                throw new ArgumentException($"Normalize std[{c}] is {std[c]}; it must be finite and non-zero.", nameof(std));
            if (!float.IsFinite(mean[c]))
                throw new ArgumentException($"Normalize mean[{c}] is {mean[c]}; it must be finite.", nameof(mean));
        }
        _mean = (float[])mean.Clone();
        _std = (float[])std.Clone();
        _byteTables = new float[_mean.Length][];
        for (int c = 0; c < _mean.Length; c++)
        {
            var table = new float[256];
            // The same float32 operations, in the same order, as ToTensor then Normalize: bit-identical results.
            for (int b = 0; b < 256; b++) table[b] = (b / 255f - _mean[c]) / _std[c];
            _byteTables[c] = table;
        }
    }

    /// <summary>Per channel, the normalized value of each byte after ToTensor; used when the two run fused.</summary>
    private readonly float[][] _byteTables;

    public IReadOnlyList<float> Mean => _mean;

    public IReadOnlyList<float> Std => _std;

    public override void Apply(Span<float> sample, ReadOnlySpan<int> shape)
    {
        int channels = CheckChannels(sample.Length, shape);
        int plane = sample.Length / channels;
        for (int c = 0; c < channels; c++)
        {
            int k = _mean.Length == 1 ? 0 : c;
            Span<float> p = sample.Slice(c * plane, plane);
            // Subtract then divide, as torchvision does (sub_(mean).div_(std)), so results match bit for bit.
            System.Numerics.Tensors.TensorPrimitives.Subtract(p, _mean[k], p);
            System.Numerics.Tensors.TensorPrimitives.Divide(p, _std[k], p);
        }
    }

    public override void Apply(ReadOnlySpan<float> source, ReadOnlySpan<int> shape, Span<float> destination, SampleContext context)
    {
        int channels = CheckChannels(source.Length, shape);
        if (destination.Length != source.Length)
            throw new ArgumentException($"Normalize: destination has {destination.Length} elements, the sample {source.Length}.", nameof(destination));
        int plane = source.Length / channels;
        for (int c = 0; c < channels; c++)
        {
            int k = _mean.Length == 1 ? 0 : c;
            Span<float> p = destination.Slice(c * plane, plane);
            // The same two float32 operations as the in-place form, so both give identical bits.
            System.Numerics.Tensors.TensorPrimitives.Subtract(source.Slice(c * plane, plane), _mean[k], p);
            System.Numerics.Tensors.TensorPrimitives.Divide(p, _std[k], p);
        }
    }

    /// <summary>ToTensor followed by this Normalize, fused into one table lookup per pixel (see <see cref="ToTensor.Lookup"/>).</summary>
    internal void ApplyAfterToTensor(ReadOnlySpan<byte> pixels, Span<float> sample, ReadOnlySpan<int> shape)
    {
        int channels = CheckChannels(sample.Length, shape);
        if (pixels.Length != sample.Length)
            throw new ArgumentException($"ToTensor: {pixels.Length} pixel bytes for a sample of {sample.Length} elements.");
        int plane = sample.Length / channels;
        for (int c = 0; c < channels; c++)
        {
            int k = _mean.Length == 1 ? 0 : c;
            ToTensor.Lookup(pixels.Slice(c * plane, plane), sample.Slice(c * plane, plane), _byteTables[k]);
        }
    }

    private int CheckChannels(int length, ReadOnlySpan<int> shape)
    {
        CheckSample(length, shape, nameof(Normalize));
        if (shape.Length != 3) throw new ArgumentException($"Normalize expects a CHW sample shape, got [{string.Join(", ", shape.ToArray())}].");
        int channels = shape[0];
        if (_mean.Length != 1 && _mean.Length != channels)
            throw new ArgumentException($"Normalize has {_mean.Length} means/stds but the sample has {channels} channels.");
        return channels;
    }

    public override string ToString() => $"Normalize(mean=({string.Join(", ", _mean)}), std=({string.Join(", ", _std)}))";
}

/// <summary>
/// torchvision's <c>Compose</c>: runs its steps in order. Exactly one step converts the pixel bytes to floats
/// (<see cref="ToTensor"/>); steps before it must be pixel-moving steps that also run on bytes
/// (<see cref="Transform.WorksOnBytes"/>, e.g. <c>RandomCrop</c>, <c>RandomHorizontalFlip</c>, as in torchvision's CIFAR
/// recipe), steps after it work on floats. That is checked here, once, rather than per sample. Intermediate
/// results live in the <see cref="SampleContext"/>'s scratch buffers; the last step writes straight into the sample.
/// </summary>
public sealed class Compose : Transform
{
    private readonly Transform[] _steps;

    /// <summary>The steps as run: <c>ToTensor, Normalize</c> next to each other become one fused byte-to-float lookup.</summary>
    private readonly Transform[] _run;

    /// <summary>Index in <see cref="_run"/> of the step that converts bytes to floats.</summary>
    private readonly int _convert;

    public Compose(params Transform[] steps)
    {
        ArgumentNullException.ThrowIfNull(steps);
        if (steps.Length == 0) throw new ArgumentException("Compose needs at least one transform.", nameof(steps));
        int convert = -1;
        for (int i = 0; i < steps.Length; i++)
        {
            if (steps[i] is null) throw new ArgumentNullException(nameof(steps), $"Compose step {i} is null.");
            if (steps[i].ConsumesBytes)
            {
                if (convert >= 0)
                    throw new ArgumentException(
                        $"Compose step {i} is {steps[i].GetType().Name}, which reads raw bytes, but step {convert} ({steps[convert].GetType().Name}) already converted them to floats; only the first step that converts bytes may read them.", nameof(steps));
                convert = i;
            }
        }
        if (convert < 0)
        {
            if (!steps[0].WorksOnBytes)
                throw new ArgumentException($"Compose step 0 is {steps[0].GetType().Name}, which works on floats; start with ToTensor() to convert the pixel bytes.", nameof(steps));
            throw new ArgumentException("Compose has no step that converts the pixel bytes to floats; add ToTensor().", nameof(steps));
        }
        for (int i = 0; i < convert; i++)
        {
            if (!steps[i].WorksOnBytes)
                throw new ArgumentException(
                    $"Compose step {i} is {steps[i].GetType().Name}, which works on floats, but it comes before step {convert} ({steps[convert].GetType().Name}) converts the pixel bytes; start with ToTensor() or move it after.", nameof(steps));
        }
        _steps = (Transform[])steps.Clone();
        // The tutorial pipeline ToTensor(), Normalize(...) runs as one table lookup per pixel.
        var run = new List<Transform>(_steps.Length);
        for (int i = 0; i < _steps.Length; i++)
        {
            if (i == convert && _steps[i] is ToTensor && i + 1 < _steps.Length && _steps[i + 1] is Normalize normalize)
            {
                _convert = run.Count;
                run.Add(new FusedToTensorNormalize(normalize));
                i++;
                continue;
            }
            if (i == convert) _convert = run.Count;
            run.Add(_steps[i]);
        }
        _run = [.. run];
    }

    public IReadOnlyList<Transform> Steps => _steps;

    public override bool ConsumesBytes => true;

    public override void OutputShape(ReadOnlySpan<int> input, Span<int> output)
    {
        if (output.Length != input.Length) throw new ArgumentException($"output shape span has {output.Length} entries, the input shape {input.Length}.", nameof(output));
        Span<int> a = stackalloc int[input.Length], b = stackalloc int[input.Length];
        input.CopyTo(a);
        foreach (Transform step in _run)
        {
            step.OutputShape(a, b);
            b.CopyTo(a);
        }
        a.CopyTo(output);
    }

    public override void Apply(ReadOnlySpan<byte> pixels, Span<float> sample, ReadOnlySpan<int> shape) =>
        Apply(pixels, shape, sample, SampleContext.ForCurrentThread());

    public override void Apply(ReadOnlySpan<byte> pixels, ReadOnlySpan<int> shape, Span<float> sample, SampleContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        int rank = shape.Length, n = _run.Length;
        // Every step's input shape, then the output shape: shapes[i] is step i's input.
        Span<int> shapes = rank * (n + 1) <= 256 ? stackalloc int[rank * (n + 1)] : new int[rank * (n + 1)];
        shape.CopyTo(shapes);
        for (int i = 0; i < n; i++) _run[i].OutputShape(shapes.Slice(i * rank, rank), shapes.Slice((i + 1) * rank, rank));
        ReadOnlySpan<int> Shape(Span<int> all, int i) => all.Slice(i * rank, rank);
        CheckSample(pixels.Length, shape, "Compose (input pixels)");
        CheckSample(sample.Length, Shape(shapes, n), "Compose (output sample)");

        var mark = context.Mark();
        try
        {
            ReadOnlySpan<byte> bytes = pixels;
            if (_convert > 0)
            {
                int max = 0;
                for (int i = 1; i <= _convert; i++) max = Math.Max(max, SizeOf(Shape(shapes, i)));
                Span<byte> a = context.RentBytes(max), b = context.RentBytes(max);
                for (int i = 0; i < _convert; i++)
                {
                    Span<byte> dst = (i % 2 == 0 ? a : b)[..SizeOf(Shape(shapes, i + 1))];
                    _run[i].Apply(bytes, Shape(shapes, i), dst, context);
                    bytes = dst;
                }
            }
            if (_convert == n - 1)
            {
                _run[_convert].Apply(bytes, Shape(shapes, _convert), sample, context);
                return;
            }
            int maxF = 0;
            for (int i = _convert + 1; i < n; i++) maxF = Math.Max(maxF, SizeOf(Shape(shapes, i)));
            Span<float> fa = context.RentFloats(maxF), fb = context.RentFloats(maxF);
            Span<float> current = fa[..SizeOf(Shape(shapes, _convert + 1))];
            _run[_convert].Apply(bytes, Shape(shapes, _convert), current, context);
            for (int i = _convert + 1; i < n; i++)
            {
                Span<float> dst = i == n - 1 ? sample : (current.Overlaps(fa) ? fb : fa)[..SizeOf(Shape(shapes, i + 1))];
                _run[i].Apply(current, Shape(shapes, i), dst, context);
                current = dst;
            }
        }
        finally
        {
            context.Release(mark);
        }
    }

    public override string ToString() => $"Compose({string.Join(", ", _steps.Select(s => s.ToString()))})";

    /// <summary>ToTensor then Normalize as one step, bit-identical to the two (see <see cref="Normalize"/>'s byte tables).</summary>
    private sealed class FusedToTensorNormalize(Normalize normalize) : Transform
    {
        public override bool ConsumesBytes => true;

        public override void Apply(ReadOnlySpan<byte> pixels, Span<float> sample, ReadOnlySpan<int> shape) =>
            normalize.ApplyAfterToTensor(pixels, sample, shape);
    }
}
