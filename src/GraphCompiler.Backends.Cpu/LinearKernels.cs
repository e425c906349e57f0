// Fully connected layer on the CPU: forward and both backward halves, each one call into the packed GEMM.
using System.Numerics.Tensors;
using static GraphCompiler.Backends.Cpu.BufferChecks;
using GraphCompiler.Compiler;

namespace GraphCompiler.Backends.Cpu;

public static class LinearKernels
{
    /// <summary>y (n, outF) = x (n, inF) · wᵀ + b, with w (outF, inF) and b (outF) or empty. Overwrites y.</summary>
    public static void Forward(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> b, Span<float> y, int n, int inF, int outF)
        => Forward(x, w, b, y, n, inF, outF, Elementwise.Identity);

    /// <summary>y = act(x · wᵀ + b): the GEMM applies the activation as it stores each finished register tile.</summary>
    public static void Forward(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> b, Span<float> y, int n, int inF, int outF,
        Elementwise activation)
    {
        CheckLength(x, n * inF, nameof(x)); CheckLength(w, outF * inF, nameof(w)); CheckLength(y, n * outF, nameof(y));
        if (!b.IsEmpty)
        {
            CheckLength(b, outF, nameof(b));
            // Seed every row with the bias and let the GEMM accumulate onto it: no second pass over y.
            for (int i = 0; i < n; i++) b.CopyTo(y.Slice(i * outF, outF));
        }
        Gemm.Multiply(false, true, n, outF, inF, x, inF, w, inF, y, outF, accumulate: !b.IsEmpty, allowParallel: true, activation);
    }

    // Rows per GEMM call when an activation backward is fused: the block's dx (≤ 64 × inF floats) is still in cache when
    // the mask runs over it, so the epilogue costs no extra trip to memory.
    private const int EpilogueRows = 64;

    /// <summary>dx (n, inF) = dy (n, outF) · w (outF, inF). Overwrites dx.</summary>
    public static void BackwardInput(ReadOnlySpan<float> dy, ReadOnlySpan<float> w, Span<float> dx, int n, int inF, int outF)
        => BackwardInput(dy, w, dx, n, inF, outF, default, Elementwise.Identity);

    /// <summary>
    /// dx = (dy · w) · act′(xAct): the backward of the activation that produced x, fused in as each block of dx rows is
    /// written. <paramref name="xAct"/> (n, inF) is that activation's output.
    /// </summary>
    public static void BackwardInput(ReadOnlySpan<float> dy, ReadOnlySpan<float> w, Span<float> dx, int n, int inF, int outF,
        ReadOnlySpan<float> xAct, Elementwise activation)
    {
        CheckLength(dy, n * outF, nameof(dy)); CheckLength(w, outF * inF, nameof(w)); CheckLength(dx, n * inF, nameof(dx));
        if (!activation.IsIdentity) CheckLength(xAct, n * inF, nameof(xAct));
        if (activation.IsIdentity || n <= EpilogueRows)
        {
            Gemm.Multiply(false, false, n, inF, outF, dy, outF, w, inF, dx, inF, accumulate: false);
            Epilogue.MaskGradient(xAct, dx.Slice(0, n * inF), activation);
            return;
        }
        for (int r = 0; r < n; r += EpilogueRows)
        {
            int rows = Math.Min(EpilogueRows, n - r);
            Span<float> dxb = dx.Slice(r * inF, rows * inF);
            Gemm.Multiply(false, false, rows, inF, outF, dy.Slice(r * outF, rows * outF), outF, w, inF, dxb, inF, accumulate: false);
            Epilogue.MaskGradient(xAct.Slice(r * inF, rows * inF), dxb, activation);
        }
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
