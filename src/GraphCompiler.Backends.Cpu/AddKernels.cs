// Element-wise add with broadcasting on the CPU, its VJP (a sum over the broadcast dims), and the gradient accumulation a
// value read by several ops needs (its contributions are added up).
using System.Numerics.Tensors;

namespace GraphCompiler.Backends.Cpu;

public static class AddKernels
{
    /// <summary>y = a + b, broadcast as <paramref name="g"/> says, for <paramref name="n"/> samples. y may be a or b when it has their shape.</summary>
    public static void Forward(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y, BroadcastGeometry g, int n) =>
        Broadcast.Forward<Broadcast.Plus>(a, b, y, g, n, "Add");

    /// <summary>da = dy summed over the dims a was broadcast along (overwrites da).</summary>
    public static void BackwardLeft(ReadOnlySpan<float> dy, Span<float> da, BroadcastGeometry g, int n) => Reduce(dy, da, g, n, "da");

    /// <summary>db = dy summed over the dims b was broadcast along (overwrites db).</summary>
    public static void BackwardRight(ReadOnlySpan<float> dy, Span<float> db, BroadcastGeometry g, int n) => Reduce(dy, db, g.Swapped, n, "db");

    private static void Reduce(ReadOnlySpan<float> dy, Span<float> dx, BroadcastGeometry g, int n, string operand)
    {
        Broadcast.CheckBackward(dy, dx, g, n, "Add", operand);
        if (g.APerSample == g.YPerSample)
        {
            dy[..(n * g.YPerSample)].CopyTo(dx);
            return;
        }
        dx[..(n * g.APerSample)].Clear();
        for (int s = 0; s < n; s++)
        {
            ReadOnlySpan<float> sdy = dy.Slice(s * g.YPerSample, g.YPerSample);
            Span<float> sdx = dx.Slice(s * g.APerSample, g.APerSample);
            for (int r = 0; r < g.Rows; r++)
            {
                int ao = g.Offsets(r).A;
                ReadOnlySpan<float> row = sdy.Slice(r * g.Inner, g.Inner);
                if (g.AInner == 1)
                {
                    Span<float> target = sdx.Slice(ao, g.Inner);
                    TensorPrimitives.Add(target, row, target);
                }
                else sdx[ao] += TensorPrimitives.Sum(row);
            }
        }
    }

    /// <summary>
    /// grad += contribution: adds the gradient that one more reader of a value produced into the value's gradient. The two
    /// must have the same length.
    /// </summary>
    public static void Accumulate(ReadOnlySpan<float> contribution, Span<float> grad)
    {
        if (contribution.Length != grad.Length)
            throw new ArgumentException($"Gradient contribution has {contribution.Length} elements but the gradient has {grad.Length}.", nameof(contribution));
        TensorPrimitives.Add(grad, contribution, grad);
    }
}

/// <summary>The broadcasting forward loop and the argument checks shared by the element-wise binary kernels.</summary>
internal static class Broadcast
{
    /// <summary>A commutative element-wise operation, on spans (SIMD) and on scalars.</summary>
    public interface IOperation
    {
        static abstract void Apply(ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> destination);

        static abstract void Apply(ReadOnlySpan<float> x, float y, Span<float> destination);

        static abstract float Apply(float x, float y);
    }

    public readonly struct Plus : IOperation
    {
        public static void Apply(ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> destination) => TensorPrimitives.Add(x, y, destination);

        public static void Apply(ReadOnlySpan<float> x, float y, Span<float> destination) => TensorPrimitives.Add(x, y, destination);

        public static float Apply(float x, float y) => x + y;
    }

    public readonly struct Times : IOperation
    {
        public static void Apply(ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> destination) => TensorPrimitives.Multiply(x, y, destination);

        public static void Apply(ReadOnlySpan<float> x, float y, Span<float> destination) => TensorPrimitives.Multiply(x, y, destination);

        public static float Apply(float x, float y) => x * y;
    }

    /// <summary>y = a ∘ b, broadcast as <paramref name="g"/> says, for <paramref name="n"/> samples, one run of the inner dim at a time.</summary>
    public static void Forward<TOp>(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y, BroadcastGeometry g, int n, string op)
        where TOp : struct, IOperation
    {
        CheckForward(a, b, y, g, n, op);
        if (g.IsSame)
        {
            int len = n * g.YPerSample;
            TOp.Apply(a[..len], b[..len], y[..len]);
            return;
        }
        for (int s = 0; s < n; s++)
        {
            ReadOnlySpan<float> sa = a.Slice(s * g.APerSample, g.APerSample), sb = b.Slice(s * g.BPerSample, g.BPerSample);
            Span<float> sy = y.Slice(s * g.YPerSample, g.YPerSample);
            for (int r = 0; r < g.Rows; r++)
            {
                var (ao, bo) = g.Offsets(r);
                Span<float> row = sy.Slice(r * g.Inner, g.Inner);
                if (g.AInner == 1 && g.BInner == 1) TOp.Apply(sa.Slice(ao, g.Inner), sb.Slice(bo, g.Inner), row);
                else if (g.AInner == 1) TOp.Apply(sa.Slice(ao, g.Inner), sb[bo], row);
                else if (g.BInner == 1) TOp.Apply(sb.Slice(bo, g.Inner), sa[ao], row);
                else row.Fill(TOp.Apply(sa[ao], sb[bo]));
            }
        }
    }

    public static void CheckForward(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y, BroadcastGeometry g, int n, string op)
    {
        ArgumentNullException.ThrowIfNull(g);
        if (n < 0) throw new ArgumentOutOfRangeException(nameof(n), n, $"{op} needs a non-negative batch size.");
        BufferChecks.CheckLength(a, (long)n * g.APerSample, "a");
        BufferChecks.CheckLength(b, (long)n * g.BPerSample, "b");
        BufferChecks.CheckLength(y, (long)n * g.YPerSample, "y");
    }

    /// <summary><paramref name="operand"/> names the gradient buffer in messages: "da" or "db".</summary>
    public static void CheckBackward(ReadOnlySpan<float> dy, Span<float> dx, BroadcastGeometry g, int n, string op, string operand)
    {
        ArgumentNullException.ThrowIfNull(g);
        if (n < 0) throw new ArgumentOutOfRangeException(nameof(n), n, $"{op} needs a non-negative batch size.");
        BufferChecks.CheckLength(dy, (long)n * g.YPerSample, "dy");
        BufferChecks.CheckLength(dx, (long)n * g.APerSample, operand);
    }
}
