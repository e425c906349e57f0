// ReLU on the CPU: forward clamps at zero, backward passes the gradient where the output was positive.
using System.Numerics.Tensors;
using System.Runtime.Intrinsics;

namespace GraphCompiler.Backends.Cpu;

public static class ReluKernels
{
    // Above this many elements (4 MiB of floats) the pass is split across cores; below it one core streams it faster
    // than another can be woken.
    private const int ParallelThreshold = 1 << 20;

    /// <summary>y = max(x, 0). y may be x (in place).</summary>
    public static unsafe void Forward(ReadOnlySpan<float> x, Span<float> y)
    {
        if (y.Length < x.Length) throw new ArgumentException($"ReLU output has {y.Length} elements, input has {x.Length}.", nameof(y));
        int len = x.Length;
        if (len < ParallelThreshold || Environment.ProcessorCount == 1)
        {
            TensorPrimitives.Max(x, 0f, y.Slice(0, len));
            return;
        }
        fixed (float* px = x, py = y)
        {
            nint xp = (nint)px, yp = (nint)py;
            Split(len, (start, count) => TensorPrimitives.Max(new ReadOnlySpan<float>((float*)xp + start, count), 0f, new Span<float>((float*)yp + start, count)));
        }
    }

    /// <summary>dx = dy where y &gt; 0, else 0. Reads y (the forward output), so x need not be kept; dx may be dy.</summary>
    public static unsafe void Backward(ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx)
    {
        int len = y.Length;
        if (dy.Length < len || dx.Length < len)
            throw new ArgumentException($"ReLU backward buffers are shorter ({dy.Length}, {dx.Length}) than y ({len}).");
        fixed (float* py = y, pdy = dy, pdx = dx)
        {
            if (len < ParallelThreshold || Environment.ProcessorCount == 1) BackwardRange(py, pdy, pdx, len);
            else BackwardParallel((nint)py, (nint)pdy, (nint)pdx, len);
        }
    }

    // Separate so that the closure is allocated only when the work is split.
    private static unsafe void BackwardParallel(nint y, nint dy, nint dx, int len)
        => Split(len, (start, count) => BackwardRange((float*)y + start, (float*)dy + start, (float*)dx + start, count));

    private static unsafe void BackwardRange(float* y, float* dy, float* dx, int len)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i <= len - Vector512<float>.Count; i += Vector512<float>.Count)
            {
                var mask = Vector512.GreaterThan(Vector512.Load(y + i), Vector512<float>.Zero);
                (Vector512.Load(dy + i) & mask).Store(dx + i);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            for (; i <= len - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                var mask = Vector256.GreaterThan(Vector256.Load(y + i), Vector256<float>.Zero);
                (Vector256.Load(dy + i) & mask).Store(dx + i);
            }
        }
        for (; i < len; i++) dx[i] = y[i] > 0 ? dy[i] : 0f;
    }

    /// <summary>Runs body(start, count) over one contiguous, 64-float-aligned share of [0, len) per core.</summary>
    private static void Split(int len, Action<int, int> body)
    {
        int parts = Environment.ProcessorCount;
        int share = (len / parts + 63) & ~63;
        Parallel.For(0, parts, part =>
        {
            int start = part * share;
            int count = Math.Min(share, len - start);
            if (count > 0) body(start, count);
        });
    }
}
