// ReLU on the CPU: forward clamps at zero, backward passes the gradient where the output was positive.
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace GraphCompiler.Backends.Cpu;

public static class ReluKernels
{
    /// <summary>y = max(x, 0). y may be x (in place).</summary>
    public static void Forward(ReadOnlySpan<float> x, Span<float> y)
    {
        if (y.Length < x.Length) throw new ArgumentException($"ReLU output has {y.Length} elements, input has {x.Length}.", nameof(y));
        TensorPrimitives.Max(x, 0f, y.Slice(0, x.Length));
    }

    /// <summary>dx = dy where y &gt; 0, else 0. Reads y (the forward output), so x need not be kept; dx may be dy.</summary>
    public static void Backward(ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx)
    {
        int len = y.Length;
        if (dy.Length < len || dx.Length < len)
            throw new ArgumentException($"ReLU backward buffers are shorter ({dy.Length}, {dx.Length}) than y ({len}).");
        ref float ry = ref MemoryMarshal.GetReference(y);
        ref float rdy = ref MemoryMarshal.GetReference(dy);
        ref float rdx = ref MemoryMarshal.GetReference(dx);
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i <= len - Vector512<float>.Count; i += Vector512<float>.Count)
            {
                var mask = Vector512.GreaterThan(Vector512.LoadUnsafe(ref ry, (nuint)i), Vector512<float>.Zero);
                (Vector512.LoadUnsafe(ref rdy, (nuint)i) & mask).StoreUnsafe(ref rdx, (nuint)i);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            for (; i <= len - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                var mask = Vector256.GreaterThan(Vector256.LoadUnsafe(ref ry, (nuint)i), Vector256<float>.Zero);
                (Vector256.LoadUnsafe(ref rdy, (nuint)i) & mask).StoreUnsafe(ref rdx, (nuint)i);
            }
        }
        for (; i < len; i++) dx[i] = y[i] > 0 ? dy[i] : 0f;
    }
}
