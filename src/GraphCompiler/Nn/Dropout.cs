// A dropout layer: its probability, and the seed and step counter that make its masks reproducible and resumable.
using GraphCompiler.Backends.Cpu;

namespace GraphCompiler.Nn;

/// <summary>
/// <c>torch.nn.Dropout(p)</c>: in training mode zeroes each element with probability p and scales the rest by 1/(1 − p);
/// in eval mode the identity. Masks come from a counter-based generator keyed by <see cref="Seed"/> and the training-step
/// counter in the non-persistent int64 buffer <c>&lt;name&gt;.step</c>, so a training checkpoint that saves the buffer
/// resumes with the same masks an uninterrupted run draws. PyTorch's state_dict has no entry for dropout, and neither has ours.
/// </summary>
public sealed class Dropout : Module
{
    /// <summary>A dropout whose mask seed is drawn from <paramref name="rng"/> (generated models pass their initialisation generator).</summary>
    public Dropout(string name, float p, Rng rng)
        : this(name, p, ((ulong)rng.NextUInt32() << 32) | rng.NextUInt32())
    {
    }

    public Dropout(string name, float p, ulong seed)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (!(p >= 0f && p <= 1f)) throw new ArgumentOutOfRangeException(nameof(p), p, $"Dropout '{name}': probability must be in [0, 1].");
        Name = name;
        P = p;
        Seed = seed;
        StepBuffer = ModelBuffer.Int64(name + ".step", [], persistent: false);
    }

    public override string Name { get; }

    /// <summary>The probability of zeroing an element.</summary>
    public float P { get; }

    /// <summary>Keys this layer's masks (derived from the model's seed and the layer).</summary>
    public ulong Seed { get; }

    /// <summary>int64 scalar: how many training-mode passes have drawn a mask (the next pass draws mask number Step).</summary>
    public ModelBuffer StepBuffer { get; }

    /// <summary>Training mode (true at first): masks drawn; false: the identity. The model's <c>Train()</c>/<c>Eval()</c> set it.</summary>
    public bool Training { get; set; } = true;

    /// <summary>The layer's buffers: its non-persistent step counter.</summary>
    public IEnumerable<ModelBuffer> Buffers()
    {
        yield return StepBuffer;
    }

    public long Step
    {
        get => StepBuffer.Int64Data[0];
        set => StepBuffer.Int64Data[0] = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "The dropout step must be non-negative.");
    }

    /// <summary>
    /// Training mode: draws the next mask into <paramref name="mask"/> (length values) and writes y = x·mask; eval mode:
    /// copies x to y (nothing when they are the same buffer). y may be x.
    /// </summary>
    public void Forward(ReadOnlySpan<float> x, Span<float> y, Span<float> mask, int length, bool training)
    {
        if (!training)
        {
            x[..length].CopyTo(y);
            return;
        }
        DropoutKernels.Forward(x, y, mask, length, P, Seed, Step);
        Step++;
    }

    /// <summary>dx = dy·mask in training mode, dy in eval mode. dx may be dy.</summary>
    public void Backward(ReadOnlySpan<float> dy, ReadOnlySpan<float> mask, Span<float> dx, int length, bool training)
    {
        if (training) DropoutKernels.Backward(dy, mask, dx, length);
        else dy[..length].CopyTo(dx);
    }

    /// <summary>In the layer's own <see cref="Training"/> mode over all of x (what generated code calls): y and mask as long as x.</summary>
    public void Forward(ReadOnlySpan<float> x, Span<float> y, Span<float> mask) => Forward(x, y, mask, x.Length, Training);

    /// <summary>In the layer's own <see cref="Training"/> mode over all of dy.</summary>
    public void Backward(ReadOnlySpan<float> dy, ReadOnlySpan<float> mask, Span<float> dx) => Backward(dy, mask, dx, dy.Length, Training);

    public override string ToString() => $"Dropout(p={P.ToString("G", System.Globalization.CultureInfo.InvariantCulture)}, inplace=False)";
}
