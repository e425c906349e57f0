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
            var body = new ForwardBody(xp, yp, len);
            CpuParallel.For(Environment.ProcessorCount, ref body);
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

    private static unsafe void BackwardParallel(nint y, nint dy, nint dx, int len)
    {
        var body = new BackwardBody(y, dy, dx, len);
        CpuParallel.For(Environment.ProcessorCount, ref body);
    }

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

    /// <summary>Part <paramref name="part"/> of [0, len): one contiguous, 64-float-aligned share per core.</summary>
    private static (int Start, int Count) Share(int part, int len)
    {
        int share = (len / Environment.ProcessorCount + 63) & ~63;
        int start = Math.Min(len, part * share);
        return (start, Math.Min(share, len - start));
    }

    private readonly unsafe struct ForwardBody(nint x, nint y, int len) : IParallelBody
    {
        public void Run(int part)
        {
            var (start, count) = Share(part, len);
            if (count > 0) TensorPrimitives.Max(new ReadOnlySpan<float>((float*)x + start, count), 0f, new Span<float>((float*)y + start, count));
        }
    }

    private readonly unsafe struct BackwardBody(nint y, nint dy, nint dx, int len) : IParallelBody
    {
        public void Run(int part)
        {
            var (start, count) = Share(part, len);
            if (count > 0) BackwardRange((float*)y + start, (float*)dy + start, (float*)dx + start, count);
        }
    }
}
