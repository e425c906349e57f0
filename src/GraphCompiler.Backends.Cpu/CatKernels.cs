// Concatenation along a per-sample dim on the CPU: one strided copy per input (forward), and each input's slice of dy back.
namespace GraphCompiler.Backends.Cpu;

public static class CatKernels
{
    /// <summary>
    /// Copies one input x into its place in y: for each of <paramref name="n"/> samples × <paramref name="rows"/> rows (the
    /// dims before the concatenation dim), <paramref name="inner"/> floats of x go to y at <paramref name="offset"/> within a
    /// row of <paramref name="outInner"/> floats.
    /// </summary>
    public static void Forward(ReadOnlySpan<float> x, Span<float> y, int rows, int inner, int outInner, int offset, int n)
    {
        Check(rows, inner, outInner, offset, n);
        BufferChecks.CheckLength(x, (long)n * rows * inner, "x");
        BufferChecks.CheckLength(y, (long)n * rows * outInner, "y");
        for (int r = 0; r < n * rows; r++) x.Slice(r * inner, inner).CopyTo(y.Slice(r * outInner + offset, inner));
    }

    /// <summary>dx = the slice of dy that <see cref="Forward"/> wrote x into (overwrites dx).</summary>
    public static void Backward(ReadOnlySpan<float> dy, Span<float> dx, int rows, int inner, int outInner, int offset, int n)
    {
        Check(rows, inner, outInner, offset, n);
        BufferChecks.CheckLength(dy, (long)n * rows * outInner, "dy");
        BufferChecks.CheckLength(dx, (long)n * rows * inner, "dx");
        for (int r = 0; r < n * rows; r++) dy.Slice(r * outInner + offset, inner).CopyTo(dx.Slice(r * inner, inner));
    }

    private static void Check(int rows, int inner, int outInner, int offset, int n)
    {
        if (n < 0 || rows <= 0 || inner <= 0 || offset < 0 || offset + inner > outInner)
            throw new ArgumentException(
                $"Cat slice out of range: {rows} rows of {inner} floats at offset {offset} in rows of {outInner}, batch {n}.");
    }
}
