// Per-sample transforms in torchvision's style (ToTensor, Normalize, Compose) that turn stored pixel bytes into model input.
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace GraphCompiler.Data;

/// <summary>
/// One step of a sample pipeline. A step either converts the stored u8 pixels into floats
/// (<see cref="ConsumesBytes"/>, e.g. <see cref="ToTensor"/>) or rewrites a float CHW sample in place
/// (e.g. <see cref="Normalize"/>). Both work on caller-owned spans so a data loader can fill its
/// batch buffer without allocating.
/// </summary>
public abstract class Transform
{
    /// <summary>True for a step that reads the stored bytes; such a step must come first in a <see cref="Compose"/>.</summary>
    public virtual bool ConsumesBytes => false;

    /// <summary>Converts stored pixels into <paramref name="sample"/> (CHW, <paramref name="shape"/> = [C, H, W]).</summary>
    public virtual void Apply(ReadOnlySpan<byte> pixels, Span<float> sample, ReadOnlySpan<int> shape) =>
        throw new InvalidOperationException($"{GetType().Name} works on float tensors, not raw pixel bytes: put ToTensor() before it.");

    /// <summary>Rewrites a float CHW sample in place.</summary>
    public virtual void Apply(Span<float> sample, ReadOnlySpan<int> shape) =>
        throw new InvalidOperationException($"{GetType().Name} converts raw pixel bytes and must be the first transform.");

    /// <summary>Elements of one sample of <paramref name="shape"/>, checked against the span it must fill.</summary>
    private protected static int CheckSample(int length, ReadOnlySpan<int> shape, string who)
    {
        long n = 1;
        foreach (int d in shape) n *= d;
        if (n != length)
            throw new ArgumentException($"{who}: sample span has {length} elements but shape [{string.Join(", ", shape.ToArray())}] needs {n}.");
        return length;
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
/// torchvision's <c>Compose</c>: runs its steps in order. The first step must convert bytes
/// (<see cref="ToTensor"/>) and the rest must work on floats; that is checked here, once, rather than per sample.
/// </summary>
public sealed class Compose : Transform
{
    private readonly Transform[] _steps;

    public Compose(params Transform[] steps)
    {
        ArgumentNullException.ThrowIfNull(steps);
        if (steps.Length == 0) throw new ArgumentException("Compose needs at least one transform.", nameof(steps));
        for (int i = 0; i < steps.Length; i++)
        {
            if (steps[i] is null) throw new ArgumentNullException(nameof(steps), $"Compose step {i} is null.");
            if (i == 0 && !steps[i].ConsumesBytes)
                throw new ArgumentException($"Compose step 0 is {steps[i].GetType().Name}, which works on floats; start with ToTensor() to convert the pixel bytes.", nameof(steps));
            if (i > 0 && steps[i].ConsumesBytes)
                throw new ArgumentException($"Compose step {i} is {steps[i].GetType().Name}, which reads raw bytes; only the first step can.", nameof(steps));
        }
        _steps = (Transform[])steps.Clone();
        // The tutorial pipeline Compose([ToTensor(), Normalize(...)]) runs as one fused pass over the bytes.
        if (_steps is [ToTensor, Normalize normalize]) _fused = normalize;
    }

    private readonly Normalize? _fused;

    public IReadOnlyList<Transform> Steps => _steps;

    public override bool ConsumesBytes => true;

    public override void Apply(ReadOnlySpan<byte> pixels, Span<float> sample, ReadOnlySpan<int> shape)
    {
        if (_fused is not null)
        {
            _fused.ApplyAfterToTensor(pixels, sample, shape);
            return;
        }
        _steps[0].Apply(pixels, sample, shape);
        for (int i = 1; i < _steps.Length; i++) _steps[i].Apply(sample, shape);
    }

    public override string ToString() => $"Compose({string.Join(", ", _steps.Select(s => s.ToString()))})";
}
