// Dropout on the CPU with a counter-based random mask: element i of step s keeps or drops by a hash of (seed, s, i) alone,
// so a step's mask is the same on any thread count and a resumed run redraws exactly the masks it would have drawn.
using System.Numerics;
using System.Numerics.Tensors;
using static GraphCompiler.Backends.Cpu.BufferChecks;

namespace GraphCompiler.Backends.Cpu;

/// <summary>
/// Training-mode <c>torch.nn.functional.dropout</c>: y = x·mask with mask = 1/(1−p) where kept, 0 where dropped; each
/// element is dropped with probability p. In eval mode dropout is the identity and these kernels are not called.
/// </summary>
public static class DropoutKernels
{
    private const int ParallelThreshold = 1 << 16;

    /// <summary>
    /// Draws the mask of step <paramref name="step"/> under <paramref name="seed"/> into <paramref name="mask"/> and writes
    /// y = x·mask. y may be x. p must be in [0, 1]; p = 1 drops everything (as PyTorch does).
    /// </summary>
    public static unsafe void Forward(ReadOnlySpan<float> x, Span<float> y, Span<float> mask, int length, float p, ulong seed, long step)
    {
        if (length < 0) throw new ArgumentOutOfRangeException(nameof(length), length, "Dropout length must be non-negative.");
        if (!(p >= 0f && p <= 1f)) throw new ArgumentOutOfRangeException(nameof(p), p, "Dropout probability must be in [0, 1].");
        CheckLength(x, length, nameof(x)); CheckLength(y, length, nameof(y)); CheckLength(mask, length, nameof(mask));
        fixed (float* pm = mask)
        {
            var body = new MaskBody(pm, Threshold(p), p == 1f ? 0f : 1f / (1f - p), StreamKey(seed, step));
            CpuRanges.For(length, length < ParallelThreshold ? 1 : CpuParallel.WorkerCount * 4, ref body);
        }
        TensorPrimitives.Multiply(x[..length], mask[..length], y[..length]);
    }

    /// <summary>dx = dy·mask (mask from <see cref="Forward"/>). dx may be dy.</summary>
    public static void Backward(ReadOnlySpan<float> dy, ReadOnlySpan<float> mask, Span<float> dx, int length)
    {
        CheckLength(dy, length, nameof(dy)); CheckLength(mask, length, nameof(mask)); CheckLength(dx, length, nameof(dx));
        TensorPrimitives.Multiply(dy[..length], mask[..length], dx[..length]);
    }

    /// <summary>Whether element <paramref name="index"/> of step <paramref name="step"/> is kept: its 24-bit uniform u = h/2²⁴ satisfies u ≥ p.</summary>
    public static bool Keeps(float p, ulong seed, long step, long index) => Uniform24(StreamKey(seed, step), index) >= Threshold(p);

    // u ≥ p ⇔ h ≥ ⌈p·2²⁴⌉ for the integer h = u·2²⁴.
    private static uint Threshold(float p) => (uint)Math.Ceiling(p * (double)(1 << 24));

    private static ulong StreamKey(ulong seed, long step) => Mix(seed ^ Mix((ulong)step + 0x9E3779B97F4A7C15UL));

    private static uint Uniform24(ulong key, long index) => (uint)(Mix(key + (ulong)index * 0xD1B54A32D192ED03UL) >> 40);

    // SplitMix64's finaliser: a bijection whose output bits each depend on every input bit.
    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    private readonly unsafe struct MaskBody(float* mask, uint threshold, float scale, ulong key) : IRangeBody
    {
        public void Run(int start, int end)
        {
            int i = start;
            if (Vector.IsHardwareAccelerated && Vector<ulong>.Count * 2 == Vector<float>.Count)
            {
                // The same integer hash as Uniform24, a vector of indices at a time: two ulong vectors give one float vector.
                var lanes = Vector<ulong>.Indices;
                var step = new Vector<ulong>((ulong)Vector<ulong>.Count);
                var golden = new Vector<ulong>(0xD1B54A32D192ED03UL);
                var keyV = new Vector<ulong>(key);
                var limit = new Vector<uint>(threshold);
                var scaleV = new Vector<float>(scale);
                for (; i <= end - Vector<float>.Count; i += Vector<float>.Count)
                {
                    var index = new Vector<ulong>((ulong)i) + lanes;
                    Vector<ulong> lo = Vector.ShiftRightLogical(Mix(keyV + index * golden), 40);
                    Vector<ulong> hi = Vector.ShiftRightLogical(Mix(keyV + (index + step) * golden), 40);
                    Vector<uint> u = Vector.Narrow(lo, hi);
                    Vector<int> keep = Vector.GreaterThanOrEqual(u, limit).As<uint, int>();
                    Vector.ConditionalSelect(keep, scaleV, Vector<float>.Zero).Store(mask + i);
                }
            }
            for (; i < end; i++) mask[i] = Uniform24(key, i) >= threshold ? scale : 0f;
        }

        private static Vector<ulong> Mix(Vector<ulong> z)
        {
            z = (z ^ Vector.ShiftRightLogical(z, 30)) * new Vector<ulong>(0xBF58476D1CE4E5B9UL);
            z = (z ^ Vector.ShiftRightLogical(z, 27)) * new Vector<ulong>(0x94D049BB133111EBUL);
            return z ^ Vector.ShiftRightLogical(z, 31);
        }
    }
}
