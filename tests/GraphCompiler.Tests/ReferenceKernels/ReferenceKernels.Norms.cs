// Plain double-precision loops for the normalisation and dropout kernels, written from PyTorch's definitions.
using GraphCompiler.Backends.Cpu;

namespace GraphCompiler.Backends.Reference;

public static partial class ReferenceKernels
{
    // ---- BatchNorm over (n, channels, spatial); weight/bias empty when affine=False ----

    /// <summary>
    /// Training mode: batch mean and biased variance per channel; updates the running statistics (when non-empty) with
    /// <paramref name="momentum"/> and the unbiased variance.
    /// </summary>
    public static void BatchNormForwardTraining(ReadOnlySpan<double> x, ReadOnlySpan<double> w, ReadOnlySpan<double> b, Span<double> y,
        Span<double> runningMean, Span<double> runningVar, int n, int channels, int spatial, double eps, double momentum)
    {
        int m = n * spatial;
        for (int c = 0; c < channels; c++)
        {
            double mean = 0;
            for (int i = 0; i < n; i++)
                for (int s = 0; s < spatial; s++) mean += x[(i * channels + c) * spatial + s];
            mean /= m;
            double var = 0;
            for (int i = 0; i < n; i++)
                for (int s = 0; s < spatial; s++)
                {
                    double d = x[(i * channels + c) * spatial + s] - mean;
                    var += d * d;
                }
            if (!runningMean.IsEmpty)
            {
                runningMean[c] = (1 - momentum) * runningMean[c] + momentum * mean;
                runningVar[c] = (1 - momentum) * runningVar[c] + momentum * var / (m - 1);
            }
            Normalize(x, w, b, y, c, mean, var / m, n, channels, spatial, eps);
        }
    }

    /// <summary>Eval mode: normalises with the running statistics.</summary>
    public static void BatchNormForwardInference(ReadOnlySpan<double> x, ReadOnlySpan<double> w, ReadOnlySpan<double> b,
        ReadOnlySpan<double> runningMean, ReadOnlySpan<double> runningVar, Span<double> y, int n, int channels, int spatial, double eps)
    {
        for (int c = 0; c < channels; c++) Normalize(x, w, b, y, c, runningMean[c], runningVar[c], n, channels, spatial, eps);
    }

    /// <summary>
    /// Training-mode gradients, from y = w·x̂ + b with x̂ = (x − μ)/σ and μ, σ functions of x:
    /// dx = (w/σ)·(dy − mean(dy) − x̂·mean(dy·x̂)), dw = Σ dy·x̂, db = Σ dy (dw, db may be empty).
    /// </summary>
    public static void BatchNormBackwardTraining(ReadOnlySpan<double> x, ReadOnlySpan<double> w, ReadOnlySpan<double> dy,
        Span<double> dx, Span<double> dw, Span<double> db, int n, int channels, int spatial, double eps)
    {
        int m = n * spatial;
        for (int c = 0; c < channels; c++)
        {
            double mean = 0, var = 0;
            for (int i = 0; i < n; i++)
                for (int s = 0; s < spatial; s++) mean += x[(i * channels + c) * spatial + s];
            mean /= m;
            for (int i = 0; i < n; i++)
                for (int s = 0; s < spatial; s++) var += Math.Pow(x[(i * channels + c) * spatial + s] - mean, 2);
            double sigma = Math.Sqrt(var / m + eps);
            double sumDy = 0, sumDyXhat = 0;
            for (int i = 0; i < n; i++)
                for (int s = 0; s < spatial; s++)
                {
                    int k = (i * channels + c) * spatial + s;
                    sumDy += dy[k];
                    sumDyXhat += dy[k] * (x[k] - mean) / sigma;
                }
            double wc = w.IsEmpty ? 1 : w[c];
            for (int i = 0; i < n; i++)
                for (int s = 0; s < spatial; s++)
                {
                    int k = (i * channels + c) * spatial + s;
                    double xhat = (x[k] - mean) / sigma;
                    dx[k] = wc / sigma * (dy[k] - sumDy / m - xhat * sumDyXhat / m);
                }
            if (!dw.IsEmpty) dw[c] = sumDyXhat;
            if (!db.IsEmpty) db[c] = sumDy;
        }
    }

    /// <summary>Eval-mode gradients: the statistics are constants, so dx = w·dy/σ_running.</summary>
    public static void BatchNormBackwardInference(ReadOnlySpan<double> x, ReadOnlySpan<double> w, ReadOnlySpan<double> runningMean,
        ReadOnlySpan<double> runningVar, ReadOnlySpan<double> dy, Span<double> dx, Span<double> dw, Span<double> db, int n, int channels, int spatial, double eps)
    {
        for (int c = 0; c < channels; c++)
        {
            double sigma = Math.Sqrt(runningVar[c] + eps), wc = w.IsEmpty ? 1 : w[c];
            double sumDy = 0, sumDyXhat = 0;
            for (int i = 0; i < n; i++)
                for (int s = 0; s < spatial; s++)
                {
                    int k = (i * channels + c) * spatial + s;
                    dx[k] = wc * dy[k] / sigma;
                    sumDy += dy[k];
                    sumDyXhat += dy[k] * (x[k] - runningMean[c]) / sigma;
                }
            if (!dw.IsEmpty) dw[c] = sumDyXhat;
            if (!db.IsEmpty) db[c] = sumDy;
        }
    }

    private static void Normalize(ReadOnlySpan<double> x, ReadOnlySpan<double> w, ReadOnlySpan<double> b, Span<double> y, int c,
        double mean, double var, int n, int channels, int spatial, double eps)
    {
        double sigma = Math.Sqrt(var + eps);
        for (int i = 0; i < n; i++)
            for (int s = 0; s < spatial; s++)
            {
                int k = (i * channels + c) * spatial + s;
                y[k] = (x[k] - mean) / sigma * (w.IsEmpty ? 1 : w[c]) + (b.IsEmpty ? 0 : b[c]);
            }
    }

    // ---- LayerNorm over the last `size` values of each of `rows` rows; weight/bias empty when elementwise_affine=False ----

    public static void LayerNormForward(ReadOnlySpan<double> x, ReadOnlySpan<double> w, ReadOnlySpan<double> b, Span<double> y, int rows, int size, double eps)
    {
        for (int r = 0; r < rows; r++)
        {
            var (mean, sigma) = RowMoments(x.Slice(r * size, size), eps);
            for (int j = 0; j < size; j++)
                y[r * size + j] = (x[r * size + j] - mean) / sigma * (w.IsEmpty ? 1 : w[j]) + (b.IsEmpty ? 0 : b[j]);
        }
    }

    /// <summary>dx = (1/σ)·(g − mean(g) − x̂·mean(g·x̂)) with g = dy·w; dw = Σ_rows dy·x̂, db = Σ_rows dy (may be empty).</summary>
    public static void LayerNormBackward(ReadOnlySpan<double> x, ReadOnlySpan<double> w, ReadOnlySpan<double> dy,
        Span<double> dx, Span<double> dw, Span<double> db, int rows, int size, double eps)
    {
        dw.Clear();
        db.Clear();
        for (int r = 0; r < rows; r++)
        {
            var (mean, sigma) = RowMoments(x.Slice(r * size, size), eps);
            double sumG = 0, sumGXhat = 0;
            for (int j = 0; j < size; j++)
            {
                double g = dy[r * size + j] * (w.IsEmpty ? 1 : w[j]);
                sumG += g;
                sumGXhat += g * (x[r * size + j] - mean) / sigma;
            }
            for (int j = 0; j < size; j++)
            {
                int k = r * size + j;
                double xhat = (x[k] - mean) / sigma, g = dy[k] * (w.IsEmpty ? 1 : w[j]);
                dx[k] = (g - sumG / size - xhat * sumGXhat / size) / sigma;
                if (!dw.IsEmpty) dw[j] += dy[k] * xhat;
                if (!db.IsEmpty) db[j] += dy[k];
            }
        }
    }

    private static (double Mean, double Sigma) RowMoments(ReadOnlySpan<double> row, double eps)
    {
        double mean = 0, var = 0;
        foreach (double v in row) mean += v;
        mean /= row.Length;
        foreach (double v in row) var += (v - mean) * (v - mean);
        return (mean, Math.Sqrt(var / row.Length + eps));
    }

    // ---- Dropout (training mode): the mask is the CPU kernel's counter-based draw, the arithmetic is written out ----

    public static void DropoutForward(ReadOnlySpan<double> x, Span<double> y, double p, ulong seed, long step)
    {
        for (int i = 0; i < x.Length; i++) y[i] = DropoutKernels.Keeps((float)p, seed, step, i) ? x[i] / (1 - p) : 0;
    }

    public static void DropoutBackward(ReadOnlySpan<double> dy, Span<double> dx, double p, ulong seed, long step)
    {
        for (int i = 0; i < dy.Length; i++) dx[i] = DropoutKernels.Keeps((float)p, seed, step, i) ? dy[i] / (1 - p) : 0;
    }
}
