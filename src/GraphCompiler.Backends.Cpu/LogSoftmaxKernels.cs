// log_softmax on the CPU: a max-shifted log-sum-exp per row (last dim) or over any dim, and its vector-Jacobian product.
using System.Numerics.Tensors;
using static GraphCompiler.Backends.Cpu.BufferChecks;

namespace GraphCompiler.Backends.Cpu;

public static class LogSoftmaxKernels
{
    [ThreadStatic] private static float[]? t_row;

    internal static Span<float> RowScratch(int c)
    {
        if (t_row is null || t_row.Length < c) t_row = new float[Math.Max(c, 64)];
        return t_row.AsSpan(0, c);
    }

    /// <summary>
    /// y (n, c) = (x − max) − logΣexp(x − max) per row: never x − (max + logΣ), whose rounding of max + logΣ costs
    /// float's spacing at |max| (2.4e-4 at 1e4). y may be x.
    /// </summary>
    public static void Forward(ReadOnlySpan<float> x, Span<float> y, int n, int c)
    {
        CheckLength(x, (long)n * c, nameof(x)); CheckLength(y, (long)n * c, nameof(y));
        Span<float> scratch = RowScratch(2 * c), shifted = scratch.Slice(0, c), e = scratch.Slice(c, c); // x − max, exp(x − max)
        for (int i = 0; i < n; i++)
        {
            var xi = x.Slice(i * c, c);
            TensorPrimitives.Subtract(xi, TensorPrimitives.Max(xi), shifted);
            TensorPrimitives.Exp(shifted, e);
            TensorPrimitives.Subtract(shifted, MathF.Log(TensorPrimitives.Sum(e)), y.Slice(i * c, c));
        }
    }

    /// <summary>dx (n, c) = dy − exp(y)·Σdy per row, with y the forward output. dx may be dy.</summary>
    public static void Backward(ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx, int n, int c)
    {
        CheckLength(y, (long)n * c, nameof(y)); CheckLength(dy, (long)n * c, nameof(dy)); CheckLength(dx, (long)n * c, nameof(dx));
        Span<float> p = RowScratch(c); // softmax = exp(y) (c)
        for (int i = 0; i < n; i++)
        {
            var dyi = dy.Slice(i * c, c);
            float s = TensorPrimitives.Sum(dyi);
            TensorPrimitives.Exp(y.Slice(i * c, c), p);
            TensorPrimitives.MultiplyAdd(p, -s, dyi, dx.Slice(i * c, c));
        }
    }

    /// <summary>y (outer, dim, inner) = x − logΣexp(x) over dim, for a softmax over any dimension. y may be x.</summary>
    public static void Forward(ReadOnlySpan<float> x, Span<float> y, int outer, int dim, int inner) =>
        SoftmaxKernels.Run(x, default, y, outer, dim, inner, log: true, backward: false);

    /// <summary>dx (outer, dim, inner) = dy − exp(y)·Σ_dim dy, with y the forward output. dx may be dy.</summary>
    public static void Backward(ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx, int outer, int dim, int inner) =>
        SoftmaxKernels.Run(y, dy, dx, outer, dim, inner, log: true, backward: true);
}
