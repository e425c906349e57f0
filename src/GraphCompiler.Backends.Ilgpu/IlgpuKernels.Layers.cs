// The ILGPU kernels of the broadcasting binary ops, concatenation, batch and layer normalisation, and dropout: per-channel
// or per-row statistics in one thread each (double sums, as the CPU kernels keep), then one thread per element.
using ILGPU;

namespace GraphCompiler.Backends.Ilgpu;

/// <summary>Batch-norm sizes: N samples of Channels × Spatial values; Factor is the running-average factor (0: no update).</summary>
public readonly record struct BatchNormDims(int N, int Channels, int Spatial, float Eps, float Factor, int HasWeight, int HasBias);

/// <summary>Layer-norm sizes: Rows rows of Size values; HasAffine is 0 or 1.</summary>
public readonly record struct LayerNormDims(int Rows, int Size, float Eps, int HasAffine);

/// <summary>One input of a concatenation: rows of Inner values placed at Offset in rows of OutInner.</summary>
public readonly record struct CatDims(int Inner, int OutInner, int Offset);

/// <summary>
/// A dropout mask draw: the stream key of (seed, step) computed on the host, the integer threshold of p in 2⁻²⁴ units and
/// the kept elements' scale 1/(1 − p).
/// </summary>
public readonly record struct DropoutParams(ulong Key, uint Threshold, float Scale)
{
    /// <summary>
    /// The draw of step <paramref name="step"/> under <paramref name="seed"/>: bit for bit the CPU's (DropoutKernels), so a
    /// seed gives the same masks on every backend. Element i keeps when Mix(key + i·golden) >> 40 ≥ ⌈p·2²⁴⌉.
    /// </summary>
    public static DropoutParams Of(float p, ulong seed, long step) =>
        new(Mix(seed ^ Mix((ulong)step + 0x9E3779B97F4A7C15UL)), (uint)Math.Ceiling(p * (double)(1 << 24)), p == 1f ? 0f : 1f / (1f - p));

    /// <summary>SplitMix64's finaliser.</summary>
    public static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}

public static partial class IlgpuKernels
{
    // ---- broadcasting: shape = (rank, y dims…, a dims…, b dims…) per sample, a and b right-aligned with leading ones ----

    /// <summary>Element <paramref name="o"/> of a sample's output, as an element index of the operand whose dims start at <paramref name="first"/>.</summary>
    private static int OperandIndex(ArrayView<int> shape, int o, int first)
    {
        int rank = shape[0], index = 0, stride = 1;
        for (int d = rank - 1; d >= 0; d--)
        {
            int size = shape[1 + d], dim = shape[first + d];
            int k = o % size;
            o /= size;
            if (dim != 1) index += k * stride;
            stride *= dim;
        }
        return index;
    }

    private static int PerSample(ArrayView<int> shape, int first)
    {
        int p = 1;
        for (int d = 0; d < shape[0]; d++) p *= shape[first + d];
        return p;
    }

    /// <summary>y = a + b (Multiply 0) or a · b (1) with NumPy broadcasting; one thread per output element.</summary>
    public static void BroadcastForward(Index1D i, ArrayView<float> a, ArrayView<float> b, ArrayView<float> y, ArrayView<int> shape, int multiply)
    {
        int rank = shape[0];
        int yPer = PerSample(shape, 1), aPer = PerSample(shape, 1 + rank), bPer = PerSample(shape, 1 + 2 * rank);
        int s = i / yPer, o = i % yPer;
        float va = a[s * aPer + OperandIndex(shape, o, 1 + rank)], vb = b[s * bPer + OperandIndex(shape, o, 1 + 2 * rank)];
        y[i] = multiply != 0 ? va * vb : va + vb;
    }

    /// <summary>
    /// The gradient of one operand (its dims at <paramref name="first"/>): Σ dy (· other, when <paramref name="multiply"/>)
    /// over the output elements it was broadcast to; one thread per operand element, gathering (no atomics), overwriting.
    /// <paramref name="otherFirst"/> is where the other operand's dims start.
    /// </summary>
    public static void BroadcastBackward(Index1D i, ArrayView<float> dy, ArrayView<float> other, ArrayView<float> dx, ArrayView<int> shape,
        int first, int otherFirst, int multiply)
    {
        int rank = shape[0];
        int yPer = PerSample(shape, 1), xPer = PerSample(shape, first), otherPer = PerSample(shape, otherFirst);
        int s = i / xPer, j = i % xPer;
        // The output elements reading x[j]: x's own dims fixed at j's multi-index, its broadcast dims free.
        int free = 1;
        for (int d = 0; d < rank; d++)
            if (shape[first + d] == 1) free *= shape[1 + d];
        float sum = 0f;
        for (int f = 0; f < free; f++)
        {
            int o = 0, stride = 1, rest = j, fr = f;
            for (int d = rank - 1; d >= 0; d--)
            {
                int size = shape[1 + d], k;
                if (shape[first + d] == 1)
                {
                    k = fr % size;
                    fr /= size;
                }
                else
                {
                    k = rest % size;
                    rest /= size;
                }
                o += k * stride;
                stride *= size;
            }
            float g = dy[s * yPer + o];
            sum += multiply != 0 ? g * other[s * otherPer + OperandIndex(shape, o, otherFirst)] : g;
        }
        dx[i] = sum;
    }

    /// <summary>grad += contribution.</summary>
    public static void Accumulate(Index1D i, ArrayView<float> contribution, ArrayView<float> grad) => grad[i] += contribution[i];

    /// <summary>One input's values into its place in the concatenation; one thread per input element.</summary>
    public static void CatForward(Index1D i, ArrayView<float> x, ArrayView<float> y, CatDims d) =>
        y[i / d.Inner * d.OutInner + d.Offset + i % d.Inner] = x[i];

    /// <summary>dx = the slice of dy the forward wrote x into (overwrites).</summary>
    public static void CatBackward(Index1D i, ArrayView<float> dy, ArrayView<float> dx, CatDims d) =>
        dx[i] = dy[i / d.Inner * d.OutInner + d.Offset + i % d.Inner];

    // ---- batch norm over (N, C, Spatial) ----

    /// <summary>
    /// Training mode, one thread per channel: the batch mean and biased variance (double sums), mean and 1/σ written for the
    /// backward, and with a non-zero factor the running statistics moved towards the batch's (unbiased variance).
    /// </summary>
    public static void BatchNormStatistics(Index1D c, ArrayView<float> x, ArrayView<float> mean, ArrayView<float> invStd,
        ArrayView<float> runningMean, ArrayView<float> runningVar, BatchNormDims d)
    {
        long m = (long)d.N * d.Spatial;
        double sum = 0;
        for (int n = 0; n < d.N; n++)
            for (int s = 0; s < d.Spatial; s++) sum += x[(n * d.Channels + c) * d.Spatial + s];
        float mu = (float)(sum / m);
        double sq = 0;
        for (int n = 0; n < d.N; n++)
            for (int s = 0; s < d.Spatial; s++)
            {
                double dev = x[(n * d.Channels + c) * d.Spatial + s] - mu;
                sq += dev * dev;
            }
        double variance = sq / m;
        mean[c] = mu;
        invStd[c] = (float)(1.0 / Math.Sqrt(variance + d.Eps));
        if (d.Factor != 0f)
        {
            runningMean[c] = (1f - d.Factor) * runningMean[c] + d.Factor * mu;
            runningVar[c] = (1f - d.Factor) * runningVar[c] + d.Factor * (float)(sq / (m - 1));
        }
    }

    /// <summary>Eval mode, one thread per channel: the running statistics as the constants mean and 1/σ.</summary>
    public static void BatchNormRunning(Index1D c, ArrayView<float> runningMean, ArrayView<float> runningVar, ArrayView<float> mean, ArrayView<float> invStd, float eps)
    {
        mean[c] = runningMean[c];
        invStd[c] = 1f / MathF.Sqrt(runningVar[c] + eps);
    }

    /// <summary>y = (x − mean)·invStd·w + b, one thread per element.</summary>
    public static void BatchNormNormalize(Index1D i, ArrayView<float> x, ArrayView<float> w, ArrayView<float> b, ArrayView<float> mean, ArrayView<float> invStd,
        ArrayView<float> y, BatchNormDims d)
    {
        int c = i / d.Spatial % d.Channels;
        float v = (x[i] - mean[c]) * invStd[c];
        if (d.HasWeight != 0) v *= w[c];
        if (d.HasBias != 0) v += b[c];
        y[i] = v;
    }

    /// <summary>
    /// One thread per channel: Σ dy and Σ dy·x̂ into <paramref name="sums"/> (2·C: the first C, then the second), and with
    /// <paramref name="accumulate"/> added to dw and db (where present).
    /// </summary>
    public static void BatchNormGradSums(Index1D c, ArrayView<float> dy, ArrayView<float> x, ArrayView<float> mean, ArrayView<float> invStd,
        ArrayView<float> sums, ArrayView<float> dw, ArrayView<float> db, BatchNormDims d, int accumulate)
    {
        double sumDy = 0, sumDyXhat = 0;
        float mu = mean[c], inv = invStd[c];
        for (int n = 0; n < d.N; n++)
            for (int s = 0; s < d.Spatial; s++)
            {
                int k = (n * d.Channels + c) * d.Spatial + s;
                sumDy += dy[k];
                sumDyXhat += dy[k] * (double)(x[k] - mu) * inv;
            }
        sums[c] = (float)sumDy;
        sums[d.Channels + c] = (float)sumDyXhat;
        if (accumulate != 0)
        {
            if (d.HasWeight != 0) dw[c] += (float)sumDyXhat;
            if (d.HasBias != 0) db[c] += (float)sumDy;
        }
    }

    /// <summary>
    /// dx per element: with batch statistics w·invStd·(dy − Σdy/m − x̂·Σdy·x̂/m); with running ones (eval) w·invStd·dy.
    /// </summary>
    public static void BatchNormBackwardInput(Index1D i, ArrayView<float> dy, ArrayView<float> x, ArrayView<float> w, ArrayView<float> mean, ArrayView<float> invStd,
        ArrayView<float> sums, ArrayView<float> dx, BatchNormDims d, int batchStatistics)
    {
        int c = i / d.Spatial % d.Channels;
        float scale = (d.HasWeight != 0 ? w[c] : 1f) * invStd[c];
        if (batchStatistics == 0)
        {
            dx[i] = scale * dy[i];
            return;
        }
        float m = (float)d.N * d.Spatial;
        float xhat = (x[i] - mean[c]) * invStd[c];
        dx[i] = scale * (dy[i] - sums[c] / m - xhat * sums[d.Channels + c] / m);
    }

    // ---- layer norm over the last Size values of each row ----

    /// <summary>One thread per row: mean and 1/σ (double sums), then the row normalised and scaled.</summary>
    public static void LayerNormForward(Index1D r, ArrayView<float> x, ArrayView<float> w, ArrayView<float> b, ArrayView<float> y,
        ArrayView<float> mean, ArrayView<float> invStd, LayerNormDims d)
    {
        int start = r * d.Size;
        double sum = 0;
        for (int j = 0; j < d.Size; j++) sum += x[start + j];
        float mu = (float)(sum / d.Size);
        double sq = 0;
        for (int j = 0; j < d.Size; j++)
        {
            double dev = x[start + j] - mu;
            sq += dev * dev;
        }
        float inv = (float)(1.0 / Math.Sqrt(sq / d.Size + d.Eps));
        mean[r] = mu;
        invStd[r] = inv;
        for (int j = 0; j < d.Size; j++)
        {
            float v = (x[start + j] - mu) * inv;
            y[start + j] = d.HasAffine != 0 ? v * w[j] + b[j] : v;
        }
    }

    /// <summary>One thread per row: dx = invStd·(g − mean(g) − x̂·mean(g·x̂)), g = dy·w.</summary>
    public static void LayerNormBackwardInput(Index1D r, ArrayView<float> dy, ArrayView<float> x, ArrayView<float> w, ArrayView<float> mean, ArrayView<float> invStd,
        ArrayView<float> dx, LayerNormDims d)
    {
        int start = r * d.Size;
        float mu = mean[r], inv = invStd[r];
        double sumG = 0, sumGXhat = 0;
        for (int j = 0; j < d.Size; j++)
        {
            float g = dy[start + j] * (d.HasAffine != 0 ? w[j] : 1f);
            sumG += g;
            sumGXhat += g * (double)(x[start + j] - mu) * inv;
        }
        float meanG = (float)(sumG / d.Size), meanGXhat = (float)(sumGXhat / d.Size);
        for (int j = 0; j < d.Size; j++)
        {
            float g = dy[start + j] * (d.HasAffine != 0 ? w[j] : 1f);
            dx[start + j] = inv * (g - meanG - (x[start + j] - mu) * inv * meanGXhat);
        }
    }

    /// <summary>One thread per normalised position j: dw[j] += Σ_rows dy·x̂, db[j] += Σ_rows dy.</summary>
    public static void LayerNormBackwardParams(Index1D j, ArrayView<float> dy, ArrayView<float> x, ArrayView<float> mean, ArrayView<float> invStd,
        ArrayView<float> dw, ArrayView<float> db, LayerNormDims d)
    {
        double sw = 0, sb = 0;
        for (int r = 0; r < d.Rows; r++)
        {
            int k = r * d.Size + j;
            sw += dy[k] * (double)(x[k] - mean[r]) * invStd[r];
            sb += dy[k];
        }
        dw[j] += (float)sw;
        db[j] += (float)sb;
    }

    // ---- dropout ----

    /// <summary>mask = scale where kept, 0 where dropped (the CPU's draw); y = x·mask.</summary>
    public static void DropoutForward(Index1D i, ArrayView<float> x, ArrayView<float> y, ArrayView<float> mask, DropoutParams p)
    {
        uint u = (uint)(DropoutParams.Mix(p.Key + (ulong)(long)(int)i * 0xD1B54A32D192ED03UL) >> 40);
        float m = u >= p.Threshold ? p.Scale : 0f;
        mask[i] = m;
        y[i] = x[i] * m;
    }

    /// <summary>dx = dy·mask.</summary>
    public static void Multiply(Index1D i, ArrayView<float> a, ArrayView<float> b, ArrayView<float> y) => y[i] = a[i] * b[i];

    /// <summary>y = x (a dropout in eval mode).</summary>
    public static void Copy(Index1D i, ArrayView<float> x, ArrayView<float> y) => y[i] = x[i];
}
