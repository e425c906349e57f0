// softmax and log_softmax over any dimension on the CPU: the tensor seen as (outer, dim, inner), reduced over dim.
using System.Numerics.Tensors;
using static GraphCompiler.Backends.Cpu.BufferChecks;

namespace GraphCompiler.Backends.Cpu;

/// <summary>
/// Legend: O outer (product of the dims before), D the reduced dim, I inner (product of the dims after). With I = 1 each
/// row of D is contiguous and is reduced with whole-row TensorPrimitives calls; otherwise each (D, I) slab is reduced a
/// row of I at a time, so every pass is still a contiguous vector operation. Slabs are split across cores when large.
/// </summary>
public static class SoftmaxKernels
{
    private const long ParallelThresholdElements = 1 << 16;

    [ThreadStatic] private static float[]? t_scratch;

    /// <summary>y (O, D, I) = exp(x − max) / Σ exp(x − max) over D. y may be x.</summary>
    public static void Forward(ReadOnlySpan<float> x, Span<float> y, int outer, int dim, int inner) =>
        Run(x, default, y, outer, dim, inner, log: false, backward: false);

    /// <summary>dx (O, D, I) = y · (dy − Σ_D dy·y), with y the forward output. dx may be dy.</summary>
    public static void Backward(ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx, int outer, int dim, int inner) =>
        Run(y, dy, dx, outer, dim, inner, log: false, backward: true);

    /// <summary>The shared driver: checks, then runs one (D, I) slab per outer index, in parallel when large.</summary>
    internal static unsafe void Run(ReadOnlySpan<float> a, ReadOnlySpan<float> dy, Span<float> result, int outer, int dim, int inner, bool log, bool backward)
    {
        if (outer < 0 || dim <= 0 || inner <= 0)
            throw new ArgumentException($"{(log ? "LogSoftmax" : "Softmax")} needs outer ≥ 0, dim ≥ 1 and inner ≥ 1, got ({outer}, {dim}, {inner}).");
        long total = (long)outer * dim * inner;
        CheckLength(a, total, backward ? "y" : "x");
        if (backward) CheckLength(dy, total, nameof(dy));
        CheckLength(result, total, backward ? "dx" : "y");
        if (dim == 1)
        {
            // A one-element softmax is exactly 1 (log: 0) whatever x is, so its gradient is exactly 0.
            result.Slice(0, (int)total).Fill(backward || log ? 0f : 1f);
            return;
        }
        fixed (float* pa = a, pd = dy, pr = result)
        {
            var body = new SlabBody((nint)pa, (nint)pd, (nint)pr, dim, inner, log, backward);
            int chunks = total < ParallelThresholdElements ? 1 : Math.Min(outer, CpuParallel.WorkerCount);
            CpuRanges.For(outer, chunks, ref body);
        }
    }

    private readonly unsafe struct SlabBody(nint a, nint dy, nint result, int dim, int inner, bool log, bool backward) : IRangeBody
    {
        public void Run(int start, int end)
        {
            int slab = dim * inner;
            Span<float> scratch = Scratch(inner == 1 ? 2 * dim : 3 * inner);
            for (int o = start; o < end; o++)
            {
                long off = (long)o * slab;
                var src = new ReadOnlySpan<float>((float*)a + off, slab);
                var dst = new Span<float>((float*)result + off, slab);
                var grad = backward ? new ReadOnlySpan<float>((float*)dy + off, slab) : default;
                if (inner == 1)
                {
                    if (!backward) ForwardRow(src, dst, scratch, log);
                    else BackwardRow(src, grad, dst, scratch.Slice(0, dim), log);
                }
                else if (!backward) ForwardSlab(src, dst, scratch, dim, inner, log);
                else BackwardSlab(src, grad, dst, scratch, dim, inner, log);
            }
        }
    }

    private static Span<float> Scratch(int length)
    {
        if (t_scratch is null || t_scratch.Length < length) t_scratch = new float[Math.Max(length, 64)];
        return t_scratch.AsSpan(0, length);
    }

    private static void ForwardRow(ReadOnlySpan<float> x, Span<float> y, Span<float> scratch, bool log)
    {
        // log: (x − max) − log Σ, never x − (max + log Σ), whose rounding costs float's spacing at |max|.
        Span<float> shifted = scratch.Slice(0, x.Length), e = scratch.Slice(x.Length, x.Length);
        TensorPrimitives.Subtract(x, TensorPrimitives.Max(x), shifted);
        TensorPrimitives.Exp(shifted, e);
        float sum = TensorPrimitives.Sum(e);
        if (log) TensorPrimitives.Subtract(shifted, MathF.Log(sum), y);
        else TensorPrimitives.Multiply(e, 1f / sum, y);
    }

    private static void BackwardRow(ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx, Span<float> t, bool log)
    {
        if (log)
        {
            float s = TensorPrimitives.Sum(dy);
            TensorPrimitives.Exp(y, t);
            TensorPrimitives.MultiplyAdd(t, -s, dy, dx); // dy − exp(y)·Σdy
        }
        else
        {
            float s = TensorPrimitives.Dot(dy, y);
            TensorPrimitives.Subtract(dy, s, dx);
            TensorPrimitives.Multiply(dx, y, dx);        // y · (dy − Σ dy·y)
        }
    }

    // A slab is D rows of I: the max, the sum and the log-sum-exp are rows of I, built one input row at a time.
    private static void ForwardSlab(ReadOnlySpan<float> x, Span<float> y, Span<float> scratch, int dim, int inner, bool log)
    {
        Span<float> max = scratch.Slice(0, inner), sum = scratch.Slice(inner, inner), e = scratch.Slice(2 * inner, inner);
        x.Slice(0, inner).CopyTo(max);
        for (int d = 1; d < dim; d++) TensorPrimitives.Max(max, x.Slice(d * inner, inner), max);
        sum.Clear();
        for (int d = 0; d < dim; d++)
        {
            // log keeps x − max in y: the result is (x − max) − log Σ, never x − (max + log Σ) (see ForwardRow).
            Span<float> shifted = log ? y.Slice(d * inner, inner) : e;
            TensorPrimitives.Subtract(x.Slice(d * inner, inner), max, shifted);
            TensorPrimitives.Exp(shifted, e);
            TensorPrimitives.Add(sum, e, sum);
            if (!log) e.CopyTo(y.Slice(d * inner, inner));
        }
        if (log)
        {
            TensorPrimitives.Log(sum, sum);
            for (int d = 0; d < dim; d++) TensorPrimitives.Subtract(y.Slice(d * inner, inner), sum, y.Slice(d * inner, inner));
        }
        else
        {
            TensorPrimitives.Reciprocal(sum, sum);
            for (int d = 0; d < dim; d++) TensorPrimitives.Multiply(y.Slice(d * inner, inner), sum, y.Slice(d * inner, inner));
        }
    }

    private static void BackwardSlab(ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx, Span<float> scratch, int dim, int inner, bool log)
    {
        Span<float> acc = scratch.Slice(0, inner), t = scratch.Slice(inner, inner);
        acc.Clear();
        for (int d = 0; d < dim; d++)
        {
            if (log) TensorPrimitives.Add(acc, dy.Slice(d * inner, inner), acc);
            else TensorPrimitives.MultiplyAdd(dy.Slice(d * inner, inner), y.Slice(d * inner, inner), acc, acc);
        }
        for (int d = 0; d < dim; d++)
        {
            ReadOnlySpan<float> yd = y.Slice(d * inner, inner), dyd = dy.Slice(d * inner, inner);
            Span<float> dxd = dx.Slice(d * inner, inner);
            if (log)
            {
                TensorPrimitives.Exp(yd, t);
                TensorPrimitives.Multiply(t, acc, t);
                TensorPrimitives.Subtract(dyd, t, dxd);
            }
            else
            {
                TensorPrimitives.Subtract(dyd, acc, dxd);
                TensorPrimitives.Multiply(dxd, yd, dxd);
            }
        }
    }
}
