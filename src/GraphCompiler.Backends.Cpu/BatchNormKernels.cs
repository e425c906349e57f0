// Batch normalisation on the CPU over (N, C, S) — S = 1 for BatchNorm1d on (N,C), L or H·W otherwise — in PyTorch's
// training (batch statistics, running-stat update) and eval (running statistics) modes, with the matching backward.
using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using static GraphCompiler.Backends.Cpu.BufferChecks;

namespace GraphCompiler.Backends.Cpu;

/// <summary>
/// <c>torch.nn.functional.batch_norm</c> over x of shape (n, channels, spatial), normalising each channel over n·spatial
/// values. <c>weight</c>/<c>bias</c> (channels) are empty for <c>affine=False</c>; running statistics are empty for
/// <c>track_running_stats=False</c>. Forward kernels write the statistics they used, <c>mean</c> and
/// <c>invStd</c> = 1/√(var + eps) (channels each), which <see cref="Backward"/> reads.
/// </summary>
public static class BatchNormKernels
{
    // Below this many elements one core finishes before another is woken.
    private const int ParallelThreshold = 1 << 15;

    [ThreadStatic] private static double[]? t_sums;

    /// <summary>
    /// Training mode: normalises with the batch's mean and biased variance, and (when the running buffers are given) sets
    /// running = (1 − momentum)·running + momentum·batch, with the unbiased variance for <c>runningVar</c>. The caller
    /// passes PyTorch's exponential_average_factor as <paramref name="momentum"/> (1/num_batches_tracked for a cumulative
    /// average). y may be x.
    /// </summary>
    public static unsafe void ForwardTraining(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, Span<float> y,
        Span<float> mean, Span<float> invStd, Span<float> runningMean, Span<float> runningVar,
        int n, int channels, int spatial, float eps, float momentum)
    {
        CheckShape(x, y, weight, bias, mean, invStd, n, channels, spatial);
        CheckRunning(runningMean, runningVar, channels);
        long m = (long)n * spatial;
        if (m < 2)
            throw new ArgumentException($"BatchNorm in training mode needs more than one value per channel, got input of {n} sample(s) × {spatial} position(s) (PyTorch rejects this too).", nameof(x));
        fixed (float* px = x, pw = weight, pb = bias, py = y, pm = mean, ps = invStd, prm = runningMean, prv = runningVar)
        {
            var body = new TrainBody(px, pw, pb, py, pm, ps, prm, prv, n, channels, spatial, eps, momentum);
            if (spatial == 1) body.RunRows();
            else CpuRanges.For(channels, Chunks(n, channels, spatial), ref body);
        }
    }

    /// <summary>Eval mode: normalises with the running statistics, which it also writes to <paramref name="mean"/>/<paramref name="invStd"/> for <see cref="Backward"/>. y may be x.</summary>
    public static unsafe void ForwardInference(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias,
        ReadOnlySpan<float> runningMean, ReadOnlySpan<float> runningVar, Span<float> y, Span<float> mean, Span<float> invStd,
        int n, int channels, int spatial, float eps)
    {
        CheckShape(x, y, weight, bias, mean, invStd, n, channels, spatial);
        CheckLength(runningMean, channels, nameof(runningMean)); CheckLength(runningVar, channels, nameof(runningVar));
        for (int c = 0; c < channels; c++)
        {
            mean[c] = runningMean[c];
            invStd[c] = 1f / MathF.Sqrt(runningVar[c] + eps);
        }
        fixed (float* px = x, pw = weight, pb = bias, py = y, pm = mean, ps = invStd)
        {
            var body = new NormalizeBody(px, pw, pb, py, pm, ps, n, channels, spatial);
            if (spatial == 1) body.RunRows();
            else CpuRanges.For(channels, Chunks(n, channels, spatial), ref body);
        }
    }

    /// <summary>
    /// Gradients from dy (n, channels, spatial), given the forward's x and the <paramref name="mean"/>/<paramref name="invStd"/>
    /// it wrote. With <paramref name="batchStatistics"/> (training mode) the statistics are functions of x and dx is the
    /// full batch-norm gradient w·invStd·(dy − mean(dy) − x̂·mean(dy·x̂)); otherwise (eval) dx = w·invStd·dy.
    /// dx is overwritten and may be dy; <paramref name="dWeight"/> += Σ dy·x̂ and <paramref name="dBias"/> += Σ dy.
    /// Any of dx, dWeight, dBias may be empty to skip it.
    /// </summary>
    public static unsafe void Backward(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> weight,
        ReadOnlySpan<float> mean, ReadOnlySpan<float> invStd, Span<float> dx, Span<float> dWeight, Span<float> dBias,
        int n, int channels, int spatial, bool batchStatistics)
    {
        long len = (long)n * channels * spatial;
        CheckLength(dy, len, nameof(dy)); CheckLength(x, len, nameof(x));
        if (!dx.IsEmpty) CheckLength(dx, len, nameof(dx));
        CheckOptional(weight, channels, nameof(weight)); CheckOptional(dWeight, channels, nameof(dWeight)); CheckOptional(dBias, channels, nameof(dBias));
        CheckLength(mean, channels, nameof(mean)); CheckLength(invStd, channels, nameof(invStd));
        if (!dWeight.IsEmpty && weight.IsEmpty) throw new ArgumentException("dWeight was given for a BatchNorm without weight (affine=False).", nameof(dWeight));
        fixed (float* pdy = dy, px = x, pw = weight, pm = mean, ps = invStd, pdx = dx, pdw = dWeight, pdb = dBias)
        {
            var body = new BackwardBody(pdy, px, pw, pm, ps, pdx, pdw, pdb, n, channels, spatial, batchStatistics);
            if (spatial == 1) body.RunRows();
            else CpuRanges.For(channels, Chunks(n, channels, spatial), ref body);
        }
    }

    private static int Chunks(int n, int channels, int spatial) =>
        (long)n * channels * spatial < ParallelThreshold ? 1 : Math.Min(channels, CpuParallel.WorkerCount * 4);

    private static double[] Sums(int count)
    {
        if (t_sums is null || t_sums.Length < count) t_sums = new double[Math.Max(count, 64)];
        return t_sums;
    }

    // ------------------------------------------------------------------ per-channel bodies (spatial > 1) and row paths (spatial = 1)

    private readonly unsafe struct TrainBody(float* x, float* w, float* b, float* y, float* mean, float* invStd, float* runMean, float* runVar,
        int n, int channels, int spatial, float eps, float momentum) : IRangeBody
    {
        public void Run(int start, int end)
        {
            long m = (long)n * spatial;
            for (int c = start; c < end; c++)
            {
                double sum = 0;
                for (int i = 0; i < n; i++) sum += TensorPrimitives.Sum(Slice(x, i, c));
                float mu = (float)(sum / m);
                double ss = 0;
                for (int i = 0; i < n; i++) ss += NormMath.SumSquaredDeviation(Slice(x, i, c), mu);
                Finish(c, mu, ss);
                float scale = w == null ? invStd[c] : w[c] * invStd[c];
                float shift = (b == null ? 0f : b[c]) - mu * scale;
                for (int i = 0; i < n; i++) NormMath.ScaleShift(Slice(x, i, c), scale, shift, Slice(y, i, c));
            }
        }

        // (n, channels) rows: per-channel sums accumulated across rows in double.
        public void RunRows()
        {
            double[] sums = Sums(channels);
            Array.Clear(sums, 0, channels);
            for (int i = 0; i < n; i++)
            {
                float* row = x + (long)i * channels;
                for (int c = 0; c < channels; c++) sums[c] += row[c];
            }
            for (int c = 0; c < channels; c++) mean[c] = (float)(sums[c] / n);
            Array.Clear(sums, 0, channels);
            for (int i = 0; i < n; i++)
            {
                float* row = x + (long)i * channels;
                for (int c = 0; c < channels; c++)
                {
                    double d = row[c] - mean[c];
                    sums[c] += d * d;
                }
            }
            for (int c = 0; c < channels; c++) Finish(c, mean[c], sums[c]);
            new NormalizeBody(x, w, b, y, mean, invStd, n, channels, 1).RunRows();
        }

        private void Finish(int c, float mu, double squaredDeviations)
        {
            long m = (long)n * spatial;
            double biased = squaredDeviations / m;
            mean[c] = mu;
            invStd[c] = (float)(1.0 / Math.Sqrt(biased + eps));
            if (runMean != null)
            {
                runMean[c] = (1 - momentum) * runMean[c] + momentum * mu;
                runVar[c] = (1 - momentum) * runVar[c] + momentum * (float)(squaredDeviations / (m - 1));
            }
        }

        private Span<float> Slice(float* p, int i, int c) => new(p + ((long)i * channels + c) * spatial, spatial);
    }

    private readonly unsafe struct NormalizeBody(float* x, float* w, float* b, float* y, float* mean, float* invStd, int n, int channels, int spatial) : IRangeBody
    {
        public void Run(int start, int end)
        {
            for (int c = start; c < end; c++)
            {
                float scale = w == null ? invStd[c] : w[c] * invStd[c];
                float shift = (b == null ? 0f : b[c]) - mean[c] * scale;
                for (int i = 0; i < n; i++)
                {
                    long o = ((long)i * channels + c) * spatial;
                    NormMath.ScaleShift(new ReadOnlySpan<float>(x + o, spatial), scale, shift, new Span<float>(y + o, spatial));
                }
            }
        }

        // (n, channels): y = x·scale + shift with per-channel vectors, SIMD along the row.
        public void RunRows()
        {
            double[] d = Sums(2 * channels);
            Span<float> scale = MemoryMarshal.Cast<double, float>(d.AsSpan(0, channels)), shift = MemoryMarshal.Cast<double, float>(d.AsSpan(channels, channels));
            for (int c = 0; c < channels; c++)
            {
                scale[c] = w == null ? invStd[c] : w[c] * invStd[c];
                shift[c] = (b == null ? 0f : b[c]) - mean[c] * scale[c];
            }
            for (int i = 0; i < n; i++)
            {
                long o = (long)i * channels;
                TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(x + o, channels), scale[..channels], shift[..channels], new Span<float>(y + o, channels));
            }
        }
    }

    private readonly unsafe struct BackwardBody(float* dy, float* x, float* w, float* mean, float* invStd, float* dx, float* dw, float* db,
        int n, int channels, int spatial, bool batchStatistics) : IRangeBody
    {
        public void Run(int start, int end)
        {
            long m = (long)n * spatial;
            for (int c = start; c < end; c++)
            {
                float mu = mean[c], istd = invStd[c];
                double sumDy = 0, sumDyXmu = 0;
                for (int i = 0; i < n; i++)
                {
                    long o = ((long)i * channels + c) * spatial;
                    var dyi = new ReadOnlySpan<float>(dy + o, spatial);
                    sumDy += TensorPrimitives.Sum(dyi);
                    sumDyXmu += NormMath.DotDeviation(dyi, new ReadOnlySpan<float>(x + o, spatial), mu);
                }
                if (dw != null) dw[c] += (float)(sumDyXmu * istd);
                if (db != null) db[c] += (float)sumDy;
                if (dx == null) continue;
                var (a, bx, k) = InputGradCoefficients(c, mu, istd, sumDy, sumDyXmu, m);
                for (int i = 0; i < n; i++)
                {
                    long o = ((long)i * channels + c) * spatial;
                    var dxi = new Span<float>(dx + o, spatial);
                    NormMath.ScaleShift(new ReadOnlySpan<float>(dy + o, spatial), a, k, dxi);
                    if (batchStatistics) TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(x + o, spatial), bx, dxi, dxi);
                }
            }
        }

        public void RunRows()
        {
            double[] sums = Sums(4 * channels); // [0, 2C): Σdy and Σdy·(x−μ); [2C, 4C) as floats: the coefficients
            Array.Clear(sums, 0, 2 * channels);
            for (int i = 0; i < n; i++)
            {
                float* dyr = dy + (long)i * channels, xr = x + (long)i * channels;
                for (int c = 0; c < channels; c++)
                {
                    sums[c] += dyr[c];
                    sums[channels + c] += (double)dyr[c] * (xr[c] - mean[c]);
                }
            }
            for (int c = 0; c < channels; c++)
            {
                if (dw != null) dw[c] += (float)(sums[channels + c] * invStd[c]);
                if (db != null) db[c] += (float)sums[c];
            }
            if (dx == null) return;
            Span<float> coef = MemoryMarshal.Cast<double, float>(sums.AsSpan(2 * channels, 2 * channels)); // dx = a·dy + bx·x + k
            for (int c = 0; c < channels; c++)
            {
                var (a, bx, k) = InputGradCoefficients(c, mean[c], invStd[c], sums[c], sums[channels + c], n);
                coef[c] = a; coef[channels + c] = bx; coef[2 * channels + c] = k;
            }
            var av = coef[..channels];
            var bv = coef.Slice(channels, channels);
            var kv = coef.Slice(2 * channels, channels);
            for (int i = 0; i < n; i++)
            {
                long o = (long)i * channels;
                var dxi = new Span<float>(dx + o, channels);
                TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(dy + o, channels), av, kv, dxi);
                if (batchStatistics) TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(x + o, channels), bv, dxi, dxi);
            }
        }

        // dx = a·dy + bx·x + k: a = w·invStd; in training also bx = −a·invStd²·mean(dy·(x−μ)) and k = −a·mean(dy) − bx·μ.
        private (float A, float Bx, float K) InputGradCoefficients(int c, float mu, float istd, double sumDy, double sumDyXmu, long m)
        {
            double a = (w == null ? 1.0 : w[c]) * istd;
            if (!batchStatistics) return ((float)a, 0f, 0f);
            double bx = -a * istd * istd * (sumDyXmu / m);
            double k = -a * (sumDy / m) - bx * mu;
            return ((float)a, (float)bx, (float)k);
        }
    }

    // ------------------------------------------------------------------ argument checks

    private static void CheckShape(ReadOnlySpan<float> x, Span<float> y, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias,
        Span<float> mean, Span<float> invStd, int n, int channels, int spatial)
    {
        if (n <= 0 || channels <= 0 || spatial <= 0)
            throw new ArgumentException($"BatchNorm needs positive sizes, got n={n}, channels={channels}, spatial={spatial}.");
        long len = (long)n * channels * spatial;
        CheckLength(x, len, nameof(x)); CheckLength(y, len, nameof(y));
        CheckOptional(weight, channels, nameof(weight)); CheckOptional(bias, channels, nameof(bias));
        CheckLength(mean, channels, nameof(mean)); CheckLength(invStd, channels, nameof(invStd));
    }

    private static void CheckRunning(Span<float> runningMean, Span<float> runningVar, int channels)
    {
        if (runningMean.IsEmpty != runningVar.IsEmpty)
            throw new ArgumentException("BatchNorm running statistics: give both running_mean and running_var, or neither (track_running_stats=False).");
        CheckOptional(runningMean, channels, nameof(runningMean)); CheckOptional(runningVar, channels, nameof(runningVar));
    }

    private static void CheckOptional(ReadOnlySpan<float> span, int channels, string name)
    {
        if (!span.IsEmpty) CheckLength(span, channels, name);
    }
}

/// <summary>SIMD reductions about a centre, shared by the normalisation kernels: summing (x − μ) keeps precision when |μ| ≫ σ.</summary>
internal static class NormMath
{
    /// <summary>Σ (x − μ)².</summary>
    public static double SumSquaredDeviation(ReadOnlySpan<float> x, float mu)
    {
        var acc = Vector<float>.Zero;
        var m = new Vector<float>(mu);
        int i = 0;
        for (; i <= x.Length - Vector<float>.Count; i += Vector<float>.Count)
        {
            var d = new Vector<float>(x.Slice(i)) - m;
            acc += d * d;
        }
        double s = Vector.Sum(acc);
        for (; i < x.Length; i++)
        {
            double d = x[i] - mu;
            s += d * d;
        }
        return s;
    }

    /// <summary>Σ dy·(x − μ).</summary>
    public static double DotDeviation(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, float mu)
    {
        var acc = Vector<float>.Zero;
        var m = new Vector<float>(mu);
        int i = 0;
        for (; i <= x.Length - Vector<float>.Count; i += Vector<float>.Count)
            acc += new Vector<float>(dy.Slice(i)) * (new Vector<float>(x.Slice(i)) - m);
        double s = Vector.Sum(acc);
        for (; i < x.Length; i++) s += (double)dy[i] * (x[i] - mu);
        return s;
    }

    /// <summary>Σ dy·w·(x − μ).</summary>
    public static double DotWeightedDeviation(ReadOnlySpan<float> dy, ReadOnlySpan<float> w, ReadOnlySpan<float> x, float mu)
    {
        var acc = Vector<float>.Zero;
        var m = new Vector<float>(mu);
        int i = 0;
        for (; i <= x.Length - Vector<float>.Count; i += Vector<float>.Count)
            acc += new Vector<float>(dy.Slice(i)) * new Vector<float>(w.Slice(i)) * (new Vector<float>(x.Slice(i)) - m);
        double s = Vector.Sum(acc);
        for (; i < x.Length; i++) s += (double)dy[i] * w[i] * (x[i] - mu);
        return s;
    }

    /// <summary>y = x·a + b. y may be x.</summary>
    public static void ScaleShift(ReadOnlySpan<float> x, float a, float b, Span<float> y)
    {
        var va = new Vector<float>(a);
        var vb = new Vector<float>(b);
        int i = 0;
        for (; i <= x.Length - Vector<float>.Count; i += Vector<float>.Count)
            Vector.FusedMultiplyAdd(new Vector<float>(x.Slice(i)), va, vb).CopyTo(y.Slice(i));
        for (; i < x.Length; i++) y[i] = MathF.FusedMultiplyAdd(x[i], a, b);
    }

    /// <summary>acc += scale·dy·(x − μ).</summary>
    public static void AccumulateScaledDeviation(Span<float> acc, ReadOnlySpan<float> dy, ReadOnlySpan<float> x, float mu, float scale)
    {
        var m = new Vector<float>(mu);
        var s = new Vector<float>(scale);
        int i = 0;
        for (; i <= x.Length - Vector<float>.Count; i += Vector<float>.Count)
            (new Vector<float>(acc.Slice(i)) + s * new Vector<float>(dy.Slice(i)) * (new Vector<float>(x.Slice(i)) - m)).CopyTo(acc.Slice(i));
        for (; i < x.Length; i++) acc[i] += scale * dy[i] * (x[i] - mu);
    }
}
