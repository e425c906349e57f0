// Fully connected layer on the CPU: forward and both backward halves, each one call into the packed GEMM.
using System.Numerics.Tensors;
using static GraphCompiler.Backends.Cpu.BufferChecks;

namespace GraphCompiler.Backends.Cpu;

public static class LinearKernels
{
    /// <summary>y (n, outF) = x (n, inF) · wᵀ + b, with w (outF, inF) and b (outF) or empty. Overwrites y.</summary>
    public static void Forward(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> b, Span<float> y, int n, int inF, int outF)
    {
        CheckLength(x, n * inF, nameof(x)); CheckLength(w, outF * inF, nameof(w)); CheckLength(y, n * outF, nameof(y));
        if (!b.IsEmpty)
        {
            CheckLength(b, outF, nameof(b));
            // Seed every row with the bias and let the GEMM accumulate onto it: no second pass over y.
            for (int i = 0; i < n; i++) b.CopyTo(y.Slice(i * outF, outF));
        }
        Gemm.Multiply(false, true, n, outF, inF, x, inF, w, inF, y, outF, accumulate: !b.IsEmpty);
    }

    /// <summary>dx (n, inF) = dy (n, outF) · w (outF, inF). Overwrites dx.</summary>
    public static void BackwardInput(ReadOnlySpan<float> dy, ReadOnlySpan<float> w, Span<float> dx, int n, int inF, int outF)
    {
        CheckLength(dy, n * outF, nameof(dy)); CheckLength(w, outF * inF, nameof(w)); CheckLength(dx, n * inF, nameof(dx));
        Gemm.Multiply(false, false, n, inF, outF, dy, outF, w, inF, dx, inF, accumulate: false);
    }

    /// <summary>dw (outF, inF) += dyᵀ · x; db (outF) += Σ_rows dy (db may be empty). Accumulates, as PyTorch's .grad does.</summary>
    public static void BackwardParams(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, Span<float> dw, Span<float> db, int n, int inF, int outF)
    {
        CheckLength(dy, n * outF, nameof(dy)); CheckLength(x, n * inF, nameof(x)); CheckLength(dw, outF * inF, nameof(dw));
        Gemm.Multiply(true, false, outF, inF, n, dy, outF, x, inF, dw, inF, accumulate: true);
        if (!db.IsEmpty)
        {
            CheckLength(db, outF, nameof(db));
            for (int i = 0; i < n; i++) TensorPrimitives.Add(db, dy.Slice(i * outF, outF), db);
        }
    }
}
