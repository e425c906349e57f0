// Element-wise multiply with broadcasting on the CPU and its VJP: da = Σ dy·b over the dims a was broadcast along.
using System.Numerics.Tensors;

namespace GraphCompiler.Backends.Cpu;

public static class MulKernels
{
    /// <summary>y = a · b, broadcast as <paramref name="g"/> says, for <paramref name="n"/> samples. y may be a or b when it has their shape.</summary>
    public static void Forward(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y, BroadcastGeometry g, int n) =>
        Broadcast.Forward<Broadcast.Times>(a, b, y, g, n, "Mul");

    /// <summary>da = dy · b summed over the dims a was broadcast along (overwrites da).</summary>
    public static void BackwardLeft(ReadOnlySpan<float> dy, ReadOnlySpan<float> b, Span<float> da, BroadcastGeometry g, int n) =>
        Backward(dy, b, da, g, n, "da", "b");

    /// <summary>db = dy · a summed over the dims b was broadcast along (overwrites db).</summary>
    public static void BackwardRight(ReadOnlySpan<float> dy, ReadOnlySpan<float> a, Span<float> db, BroadcastGeometry g, int n) =>
        Backward(dy, a, db, g.Swapped, n, "db", "a");

    // Written for the left operand; the right one runs it on the swapped geometry, where "a" is b and "b" is a.
    private static void Backward(ReadOnlySpan<float> dy, ReadOnlySpan<float> other, Span<float> dx, BroadcastGeometry g, int n, string gradName, string otherName)
    {
        Broadcast.CheckBackward(dy, dx, g, n, "Mul", gradName);
        BufferChecks.CheckLength(other, (long)n * g.BPerSample, otherName);
        if (g.IsSame)
        {
            int len = n * g.YPerSample;
            TensorPrimitives.Multiply(dy[..len], other[..len], dx[..len]);
            return;
        }
        if (g.APerSample != g.YPerSample) dx[..(n * g.APerSample)].Clear();
        for (int s = 0; s < n; s++)
        {
            ReadOnlySpan<float> sdy = dy.Slice(s * g.YPerSample, g.YPerSample), so = other.Slice(s * g.BPerSample, g.BPerSample);
            Span<float> sdx = dx.Slice(s * g.APerSample, g.APerSample);
            bool overwrite = g.APerSample == g.YPerSample; // each dx element is written by exactly one run
            for (int r = 0; r < g.Rows; r++)
            {
                var (ao, bo) = g.Offsets(r);
                ReadOnlySpan<float> row = sdy.Slice(r * g.Inner, g.Inner);
                if (g.AInner == 1)
                {
                    Span<float> target = sdx.Slice(ao, g.Inner);
                    if (overwrite)
                    {
                        if (g.BInner == 1) TensorPrimitives.Multiply(row, so.Slice(bo, g.Inner), target);
                        else TensorPrimitives.Multiply(row, so[bo], target);
                    }
                    else if (g.BInner == 1) TensorPrimitives.MultiplyAdd(row, so.Slice(bo, g.Inner), target, target);
                    else TensorPrimitives.MultiplyAdd(row, so[bo], target, target);
                }
                else sdx[ao] += g.BInner == 1 ? TensorPrimitives.Dot(row, so.Slice(bo, g.Inner)) : TensorPrimitives.Sum(row) * so[bo];
            }
        }
    }
}
