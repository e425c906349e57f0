// Per-thread state for building samples: the per-sample random generator seeded from (seed, epoch, index) and reusable scratch memory.
namespace GraphCompiler.Data;

/// <summary>
/// What a dataset and its transforms need while producing one sample, owned by one thread at a time: a
/// random generator and scratch buffers. <see cref="BeginSample"/> reseeds <see cref="Rng"/> from
/// (<see cref="Seed"/>, <see cref="Epoch"/>, index) alone, so a sample's random crop or flip does not depend
/// on which thread built it, on what it built before, or on how many workers a <see cref="DataLoader"/> runs.
/// Scratch buffers grow to the largest request and are then reused, so steady-state sample building allocates nothing.
/// </summary>
public sealed class SampleContext
{
    private readonly List<float[]> _floats = [];
    private readonly List<byte[]> _bytes = [];
    private int _floatDepth;
    private int _byteDepth;

    public SampleContext(ulong seed = 0, int epoch = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(epoch);
        Seed = seed;
        Epoch = epoch;
    }

    public ulong Seed { get; private set; }

    public int Epoch { get; private set; }

    /// <summary>The sample being built (set by <see cref="BeginSample"/>); -1 before the first.</summary>
    public int Index { get; private set; } = -1;

    /// <summary>The current sample's generator; random transforms draw from it and from nothing else.</summary>
    public Rng Rng { get; } = new(0);

    /// <summary>Switches to another (seed, epoch); the loader does this at the start of each epoch.</summary>
    public void Reset(ulong seed, int epoch)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(epoch);
        Seed = seed;
        Epoch = epoch;
        Index = -1;
    }

    /// <summary>Reseeds <see cref="Rng"/> for sample <paramref name="index"/>. Idempotent: calling it twice for one index is harmless.</summary>
    public void BeginSample(int index)
    {
        Index = index;
        Rng.Reseed(SampleSeed(Seed, Epoch, index));
    }

    /// <summary>
    /// The generator seed of sample <paramref name="index"/> in <paramref name="epoch"/>. It mixes through a stream
    /// (the constant) distinct from the shuffle's, so a sample's augmentation is uncorrelated with the epoch's order.
    /// </summary>
    public static ulong SampleSeed(ulong seed, int epoch, int index) =>
        Mix(Mix(seed ^ Mix((ulong)epoch + 0xD1B54A32D192ED03UL)) ^ Mix((ulong)(uint)index + 0x8CB92BA72F3D8DD7UL));

    internal static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>
    /// A scratch span of <paramref name="length"/> floats, valid until the matching <see cref="Release"/>.
    /// Rentals nest like a stack (a transform inside a transform gets its own buffers); contents are arbitrary.
    /// </summary>
    public Span<float> RentFloats(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (_floatDepth == _floats.Count) _floats.Add(new float[Math.Max(length, 16)]);
        if (_floats[_floatDepth].Length < length) _floats[_floatDepth] = new float[length];
        return _floats[_floatDepth++].AsSpan(0, length);
    }

    /// <summary>A scratch span of <paramref name="length"/> bytes; see <see cref="RentFloats"/>.</summary>
    public Span<byte> RentBytes(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (_byteDepth == _bytes.Count) _bytes.Add(new byte[Math.Max(length, 64)]);
        if (_bytes[_byteDepth].Length < length) _bytes[_byteDepth] = new byte[length];
        return _bytes[_byteDepth++].AsSpan(0, length);
    }

    /// <summary>A position to return to with <see cref="Release"/>: every rental made after it is given back.</summary>
    public (int Floats, int Bytes) Mark() => (_floatDepth, _byteDepth);

    public void Release((int Floats, int Bytes) mark)
    {
        if (mark.Floats > _floatDepth || mark.Bytes > _byteDepth)
            throw new InvalidOperationException("SampleContext.Release was given a mark taken after the rentals it would release.");
        _floatDepth = mark.Floats;
        _byteDepth = mark.Bytes;
    }

    [ThreadStatic] private static SampleContext? t_default;

    /// <summary>
    /// The calling thread's context for the overloads that take none (e.g. <see cref="IDataset.Get(int, Span{float}, out int)"/>):
    /// seed 0, epoch 0, so such a call builds the same sample every time, the one epoch 0 of a seed-0 loader builds.
    /// </summary>
    public static SampleContext ForCurrentThread()
    {
        SampleContext c = t_default ??= new SampleContext();
        if (c._floatDepth == 0 && c._byteDepth == 0) c.Reset(0, 0);
        return c;
    }
}
