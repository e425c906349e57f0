// Layer normalisation on the CPU: each row of (rows, size) — the trailing normalized_shape flattened — normalised by its
// own mean and biased variance, with an optional element-wise affine, and the matching backward.
using System.Numerics.Tensors;
using static GraphCompiler.Backends.Cpu.BufferChecks;

namespace GraphCompiler.Backends.Cpu;

/// <summary>
/// <c>torch.nn.functional.layer_norm</c> over x viewed as (rows, size), where size is the product of normalized_shape.
/// <c>weight</c>/<c>bias</c> (size) are empty for <c>elementwise_affine=False</c>. Forward writes each row's
/// <c>mean</c> and <c>invStd</c> = 1/√(var + eps) (rows each), which <see cref="Backward"/> reads.
/// </summary>
public static class LayerNormKernels
{
    private const int ParallelThreshold = 1 << 15;

    /// <summary>y = (x − mean)·invStd·w + b per row. y may be x.</summary>
    public static unsafe void Forward(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, Span<float> y,
        Span<float> mean, Span<float> invStd, int rows, int size, float eps)
    {
        CheckSizes(rows, size);
        long len = (long)rows * size;
        CheckLength(x, len, nameof(x)); CheckLength(y, len, nameof(y));
        CheckAffine(weight, size, nameof(weight)); CheckAffine(bias, size, nameof(bias));
        CheckLength(mean, rows, nameof(mean)); CheckLength(invStd, rows, nameof(invStd));
        fixed (float* px = x, pw = weight, pb = bias, py = y, pm = mean, ps = invStd)
        {
            var body = new ForwardBody(px, pw, pb, py, pm, ps, size, eps);
            CpuRanges.For(rows, Chunks(rows, size), ref body);
        }
    }

    /// <summary>
    /// dx = invStd·(g − mean(g) − x̂·mean(g·x̂)) with g = dy·w, overwritten (dx may be dy); <paramref name="dWeight"/> += Σ_rows dy·x̂,
    /// <paramref name="dBias"/> += Σ_rows dy. Any of dx, dWeight, dBias may be empty to skip it.
    /// </summary>
    public static unsafe void Backward(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> weight,
        ReadOnlySpan<float> mean, ReadOnlySpan<float> invStd, Span<float> dx, Span<float> dWeight, Span<float> dBias, int rows, int size)
    {
        CheckSizes(rows, size);
        long len = (long)rows * size;
        CheckLength(dy, len, nameof(dy)); CheckLength(x, len, nameof(x));
        if (!dx.IsEmpty) CheckLength(dx, len, nameof(dx));
        CheckAffine(weight, size, nameof(weight)); CheckAffine(dWeight, size, nameof(dWeight)); CheckAffine(dBias, size, nameof(dBias));
        CheckLength(mean, rows, nameof(mean)); CheckLength(invStd, rows, nameof(invStd));
        if (!dWeight.IsEmpty && weight.IsEmpty) throw new ArgumentException("dWeight was given for a LayerNorm without weight (elementwise_affine=False).", nameof(dWeight));
        fixed (float* pdy = dy, px = x, pw = weight, pm = mean, ps = invStd, pdx = dx, pdw = dWeight, pdb = dBias)
        {
            // The parameter gradients sum over rows, so they split by column; dx splits by row.
            if (pdw != null || pdb != null)
            {
                var body = new ParamBody(pdy, px, pm, ps, pdw, pdb, rows, size);
                CpuRanges.For(size, Math.Min(Chunks(rows, size), Math.Max(1, size / 64)), ref body);
            }
            if (pdx != null)
            {
                var body = new InputBody(pdy, px, pw, pm, ps, pdx, size);
                CpuRanges.For(rows, Chunks(rows, size), ref body);
            }
        }
    }

    private static int Chunks(int rows, int size) =>
        (long)rows * size < ParallelThreshold ? 1 : Math.Min(rows, CpuParallel.WorkerCount * 4);

    private readonly unsafe struct ForwardBody(float* x, float* w, float* b, float* y, float* mean, float* invStd, int size, float eps) : IRangeBody
    {
        public void Run(int start, int end)
        {
            for (int r = start; r < end; r++)
            {
                var xr = new ReadOnlySpan<float>(x + (long)r * size, size);
                var yr = new Span<float>(y + (long)r * size, size);
                float mu = (float)((double)TensorPrimitives.Sum(xr) / size);
                float istd = (float)(1.0 / Math.Sqrt(NormMath.SumSquaredDeviation(xr, mu) / size + eps));
                mean[r] = mu;
                invStd[r] = istd;
                NormMath.ScaleShift(xr, istd, -mu * istd, yr);
                if (w != null && b != null) TensorPrimitives.MultiplyAdd(yr, new ReadOnlySpan<float>(w, size), new ReadOnlySpan<float>(b, size), yr);
                else if (w != null) TensorPrimitives.Multiply(yr, new ReadOnlySpan<float>(w, size), yr);
                else if (b != null) TensorPrimitives.Add(yr, new ReadOnlySpan<float>(b, size), yr);
            }
        }
    }

    private readonly unsafe struct InputBody(float* dy, float* x, float* w, float* mean, float* invStd, float* dx, int size) : IRangeBody
    {
        public void Run(int start, int end)
        {
            for (int r = start; r < end; r++)
            {
                long o = (long)r * size;
                var dyr = new ReadOnlySpan<float>(dy + o, size);
                var xr = new ReadOnlySpan<float>(x + o, size);
                var dxr = new Span<float>(dx + o, size);
                float mu = mean[r], istd = invStd[r];
                double sumG, sumGXmu;
                if (w == null)
                {
                    sumG = TensorPrimitives.Sum(dyr);
                    sumGXmu = NormMath.DotDeviation(dyr, xr, mu);
                }
                else
                {
                    var wr = new ReadOnlySpan<float>(w, size);
                    sumG = TensorPrimitives.Dot(dyr, wr);
                    sumGXmu = NormMath.DotWeightedDeviation(dyr, wr, xr, mu);
                }
                // dx = istd·g + bx·x + k, with bx = −istd³·mean(g·(x−μ)) and k = −istd·mean(g) − bx·μ.
                double bx = -(double)istd * istd * istd * (sumGXmu / size);
                double k = -(double)istd * (sumG / size) - bx * mu;
                if (w == null) NormMath.ScaleShift(dyr, istd, (float)k, dxr);
                else
                {
                    TensorPrimitives.Multiply(dyr, new ReadOnlySpan<float>(w, size), dxr);
                    NormMath.ScaleShift(dxr, istd, (float)k, dxr);
                }
                TensorPrimitives.MultiplyAdd(xr, (float)bx, dxr, dxr);
            }
        }
    }

    private readonly unsafe struct ParamBody(float* dy, float* x, float* mean, float* invStd, float* dw, float* db, int rows, int size) : IRangeBody
    {
        public void Run(int start, int end)
        {
            int cols = end - start;
            for (int r = 0; r < rows; r++)
            {
                long o = (long)r * size + start;
                var dyr = new ReadOnlySpan<float>(dy + o, cols);
                if (dw != null) NormMath.AccumulateScaledDeviation(new Span<float>(dw + start, cols), dyr, new ReadOnlySpan<float>(x + o, cols), mean[r], invStd[r]);
                if (db != null) TensorPrimitives.Add(new ReadOnlySpan<float>(db + start, cols), dyr, new Span<float>(db + start, cols));
            }
        }
    }

    private static void CheckSizes(int rows, int size)
    {
        if (rows <= 0 || size <= 0) throw new ArgumentException($"LayerNorm needs positive sizes, got rows={rows}, size={size}.");
    }

    private static void CheckAffine(ReadOnlySpan<float> span, int size, string name)
    {
        if (!span.IsEmpty) CheckLength(span, size, name);
    }
}
