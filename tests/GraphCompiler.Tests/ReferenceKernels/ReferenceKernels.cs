// Plain, obviously-correct double-precision loops for every CPU kernel: the yardstick the fast kernels are tested against.
using GraphCompiler.Backends.Cpu;
using GraphCompiler.Compiler;

namespace GraphCompiler.Backends.Reference;

/// <summary>
/// One direct loop nest per op, written from the definition, in double so that finite differences of these
/// forwards are accurate. Backward functions overwrite every gradient they produce (no accumulation).
/// </summary>
public static partial class ReferenceKernels
{
    // ---- Linear: y (n, outF) = x (n, inF) · wᵀ (inF, outF) + b (outF) ----

    public static void LinearForward(ReadOnlySpan<double> x, ReadOnlySpan<double> w, ReadOnlySpan<double> b, Span<double> y, int n, int inF, int outF)
    {
        for (int i = 0; i < n; i++)
            for (int o = 0; o < outF; o++)
            {
                double s = b.IsEmpty ? 0 : b[o];
                for (int k = 0; k < inF; k++) s += x[i * inF + k] * w[o * inF + k];
                y[i * outF + o] = s;
            }
    }

    /// <summary>dx (n, inF), dw (outF, inF), db (outF, may be empty) from dy (n, outF).</summary>
    public static void LinearBackward(ReadOnlySpan<double> x, ReadOnlySpan<double> w, ReadOnlySpan<double> dy,
        Span<double> dx, Span<double> dw, Span<double> db, int n, int inF, int outF)
    {
        for (int i = 0; i < n; i++)
            for (int k = 0; k < inF; k++)
            {
                double s = 0;
                for (int o = 0; o < outF; o++) s += dy[i * outF + o] * w[o * inF + k];
                dx[i * inF + k] = s;
            }
        for (int o = 0; o < outF; o++)
        {
            for (int k = 0; k < inF; k++)
            {
                double s = 0;
                for (int i = 0; i < n; i++) s += dy[i * outF + o] * x[i * inF + k];
                dw[o * inF + k] = s;
            }
            if (!db.IsEmpty)
            {
                double s = 0;
                for (int i = 0; i < n; i++) s += dy[i * outF + o];
                db[o] = s;
            }
        }
    }

    // ---- Conv2d: y[n, f, oy, ox] = b[f] + Σ_{c in f's group, ki, kj} x[n, c, oy·sh − ph + ki·dh, ox·sw − pw + kj·dw] · w[f, c mod C/G, ki, kj] ----

    public static void Conv2dForward(ReadOnlySpan<double> x, ReadOnlySpan<double> w, ReadOnlySpan<double> b, Span<double> y, in Conv2dGeometry g, int n)
    {
        int oh = g.OutH, ow = g.OutW, cg = g.InChannels / g.Groups, fg = g.OutChannels / g.Groups;
        for (int img = 0; img < n; img++)
            for (int f = 0; f < g.OutChannels; f++)
                for (int oy = 0; oy < oh; oy++)
                    for (int ox = 0; ox < ow; ox++)
                    {
                        double s = b.IsEmpty ? 0 : b[f];
                        for (int cl = 0; cl < cg; cl++)
                            for (int ki = 0; ki < g.KernelH; ki++)
                                for (int kj = 0; kj < g.KernelW; kj++)
                                {
                                    int c = f / fg * cg + cl;
                                    int ih = oy * g.StrideH - g.PadH + ki * g.DilationH, iw = ox * g.StrideW - g.PadW + kj * g.DilationW;
                                    if (ih < 0 || ih >= g.InH || iw < 0 || iw >= g.InW) continue;
                                    s += x[((img * g.InChannels + c) * g.InH + ih) * g.InW + iw] * w[((f * cg + cl) * g.KernelH + ki) * g.KernelW + kj];
                                }
                        y[((img * g.OutChannels + f) * oh + oy) * ow + ox] = s;
                    }
    }

    /// <summary>dx (n, C, H, W), dw (F, C/G, kh, kw), db (F, may be empty) from dy (n, F, OutH, OutW).</summary>
    public static void Conv2dBackward(ReadOnlySpan<double> x, ReadOnlySpan<double> w, ReadOnlySpan<double> dy,
        Span<double> dx, Span<double> dw, Span<double> db, in Conv2dGeometry g, int n)
    {
        dx.Clear(); dw.Clear(); db.Clear();
        int oh = g.OutH, ow = g.OutW, cg = g.InChannels / g.Groups, fg = g.OutChannels / g.Groups;
        for (int img = 0; img < n; img++)
            for (int f = 0; f < g.OutChannels; f++)
                for (int oy = 0; oy < oh; oy++)
                    for (int ox = 0; ox < ow; ox++)
                    {
                        double d = dy[((img * g.OutChannels + f) * oh + oy) * ow + ox];
                        if (!db.IsEmpty) db[f] += d;
                        for (int cl = 0; cl < cg; cl++)
                            for (int ki = 0; ki < g.KernelH; ki++)
                                for (int kj = 0; kj < g.KernelW; kj++)
                                {
                                    int c = f / fg * cg + cl;
                                    int ih = oy * g.StrideH - g.PadH + ki * g.DilationH, iw = ox * g.StrideW - g.PadW + kj * g.DilationW;
                                    if (ih < 0 || ih >= g.InH || iw < 0 || iw >= g.InW) continue;
                                    int xi = ((img * g.InChannels + c) * g.InH + ih) * g.InW + iw;
                                    int wi = ((f * cg + cl) * g.KernelH + ki) * g.KernelW + kj;
                                    dx[xi] += d * w[wi];
                                    dw[wi] += d * x[xi];
                                }
                    }
    }

    // ---- MaxPool2d: y = max over each (dilated) window, padding counts as −∞, first maximum wins ----

    public static void MaxPool2dForward(ReadOnlySpan<double> x, Span<double> y, Span<int> argmax, in Pool2dGeometry g, int n)
    {
        int oh = g.OutH, ow = g.OutW;
        for (int plane = 0; plane < n * g.Channels; plane++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++)
                {
                    double best = double.NegativeInfinity;
                    int arg = -1;
                    for (int ki = 0; ki < g.KernelH; ki++)
                        for (int kj = 0; kj < g.KernelW; kj++)
                        {
                            int ih = oy * g.StrideH - g.PadH + ki * g.DilationH, iw = ox * g.StrideW - g.PadW + kj * g.DilationW;
                            if (ih < 0 || ih >= g.InH || iw < 0 || iw >= g.InW) continue;
                            double v = x[(plane * g.InH + ih) * g.InW + iw];
                            if (arg < 0 || v > best) { best = v; arg = ih * g.InW + iw; }
                        }
                    y[(plane * oh + oy) * ow + ox] = best;
                    argmax[(plane * oh + oy) * ow + ox] = arg;
                }
    }

    /// <summary>dx (n, C, H, W) from dy (n, C, OutH, OutW), recomputing each window's winner from x.</summary>
    public static void MaxPool2dBackward(ReadOnlySpan<double> x, ReadOnlySpan<double> dy, Span<double> dx, in Pool2dGeometry g, int n)
    {
        int count = n * g.Channels * g.OutH * g.OutW;
        var y = new double[count];
        var argmax = new int[count];
        MaxPool2dForward(x, y, argmax, g, n);
        dx.Clear();
        int outPlane = g.OutH * g.OutW, inPlane = g.InH * g.InW;
        for (int i = 0; i < count; i++)
            if (argmax[i] >= 0) dx[i / outPlane * inPlane + argmax[i]] += dy[i];
    }

    // ---- ReLU ----

    public static void ReluForward(ReadOnlySpan<double> x, Span<double> y)
    {
        for (int i = 0; i < x.Length; i++) y[i] = x[i] > 0 ? x[i] : 0;
    }

    public static void ReluBackward(ReadOnlySpan<double> x, ReadOnlySpan<double> dy, Span<double> dx)
    {
        for (int i = 0; i < x.Length; i++) dx[i] = x[i] > 0 ? dy[i] : 0;
    }

    // ---- Add and Mul with NumPy broadcasting over the per-sample dims: a (n, aDims), b (n, bDims) → y (n, broadcast) ----

    /// <summary>y = a + b (or a · b with <paramref name="multiply"/>), element by element through full multi-indices.</summary>
    public static void BroadcastForward(ReadOnlySpan<double> a, int[] aDims, ReadOnlySpan<double> b, int[] bDims, Span<double> y, int n, bool multiply)
    {
        var (yDims, ai, bi) = BroadcastIndex(aDims, bDims);
        int per = Numel(yDims);
        for (int s = 0; s < n; s++)
            for (int o = 0; o < per; o++)
            {
                double x1 = a[s * Numel(aDims) + ai(o)], x2 = b[s * Numel(bDims) + bi(o)];
                y[s * per + o] = multiply ? x1 * x2 : x1 + x2;
            }
    }

    /// <summary>da = Σ dy (· b), db = Σ dy (· a), summing over the dims each operand was broadcast along.</summary>
    public static void BroadcastBackward(ReadOnlySpan<double> a, int[] aDims, ReadOnlySpan<double> b, int[] bDims, ReadOnlySpan<double> dy,
        Span<double> da, Span<double> db, int n, bool multiply)
    {
        var (yDims, ai, bi) = BroadcastIndex(aDims, bDims);
        int per = Numel(yDims), aPer = Numel(aDims), bPer = Numel(bDims);
        da.Slice(0, n * aPer).Clear();
        db.Slice(0, n * bPer).Clear();
        for (int s = 0; s < n; s++)
            for (int o = 0; o < per; o++)
            {
                int ja = s * aPer + ai(o), jb = s * bPer + bi(o);
                double g = dy[s * per + o];
                da[ja] += multiply ? g * b[jb] : g;
                db[jb] += multiply ? g * a[ja] : g;
            }
    }

    /// <summary>The output dims and, for each output element of a sample, its element in a and in b.</summary>
    private static (int[] Dims, Func<int, int> A, Func<int, int> B) BroadcastIndex(int[] aDims, int[] bDims)
    {
        int rank = Math.Max(aDims.Length, bDims.Length);
        int[] x = [.. Enumerable.Repeat(1, rank - aDims.Length), .. aDims], z = [.. Enumerable.Repeat(1, rank - bDims.Length), .. bDims];
        int[] y = x.Zip(z, Math.Max).ToArray();
        int Index(int o, int[] dims)
        {
            int index = 0, stride = 1;
            for (int d = rank - 1; d >= 0; d--)
            {
                int i = o % y[d];
                o /= y[d];
                index += (dims[d] == 1 ? 0 : i) * stride;
                stride *= dims[d];
            }
            return index;
        }
        return (y, o => Index(o, x), o => Index(o, z));
    }

    private static int Numel(int[] dims) => dims.Aggregate(1, (p, d) => p * d);

    // ---- Cat along per-sample axis `axis` (1-based, as in the full shape) of inputs (n, dims_i) ----

    public static void CatForward(double[][] xs, int[][] dims, int axis, Span<double> y, int n)
    {
        int total = dims.Sum(d => d[axis - 1]), rows = dims[0].Take(axis - 1).Aggregate(1, (p, d) => p * d);
        int after = dims[0].Skip(axis).Aggregate(1, (p, d) => p * d);
        for (int s = 0; s < n; s++)
            for (int r = 0; r < rows; r++)
            {
                int offset = 0;
                for (int k = 0; k < xs.Length; k++)
                {
                    int len = dims[k][axis - 1] * after;
                    for (int j = 0; j < len; j++) y[((s * rows + r) * total) * after + offset + j] = xs[k][(s * rows + r) * len + j];
                    offset += len;
                }
            }
    }

    public static void CatBackward(double[][] dxs, int[][] dims, int axis, ReadOnlySpan<double> dy, int n)
    {
        int total = dims.Sum(d => d[axis - 1]), rows = dims[0].Take(axis - 1).Aggregate(1, (p, d) => p * d);
        int after = dims[0].Skip(axis).Aggregate(1, (p, d) => p * d);
        for (int s = 0; s < n; s++)
            for (int r = 0; r < rows; r++)
            {
                int offset = 0;
                for (int k = 0; k < dxs.Length; k++)
                {
                    int len = dims[k][axis - 1] * after;
                    for (int j = 0; j < len; j++) dxs[k][(s * rows + r) * len + j] = dy[((s * rows + r) * total) * after + offset + j];
                    offset += len;
                }
            }
    }

    // ---- LogSoftmax over the last dim of (n, c) ----

    public static void LogSoftmaxForward(ReadOnlySpan<double> x, Span<double> y, int n, int c)
    {
        for (int i = 0; i < n; i++)
        {
            double lse = LogSumExp(x.Slice(i * c, c));
            for (int j = 0; j < c; j++) y[i * c + j] = x[i * c + j] - lse;
        }
    }

    /// <summary>dx_j = dy_j − softmax_j · Σ_k dy_k, from the input x.</summary>
    public static void LogSoftmaxBackward(ReadOnlySpan<double> x, ReadOnlySpan<double> dy, Span<double> dx, int n, int c)
    {
        for (int i = 0; i < n; i++)
        {
            double lse = LogSumExp(x.Slice(i * c, c));
            double s = 0;
            for (int j = 0; j < c; j++) s += dy[i * c + j];
            for (int j = 0; j < c; j++) dx[i * c + j] = dy[i * c + j] - Math.Exp(x[i * c + j] - lse) * s;
        }
    }

    // ---- Losses (mean over rows) ----

    public static double CrossEntropy(ReadOnlySpan<double> logits, ReadOnlySpan<int> targets, Span<double> grad, int n, int c)
    {
        CheckTargets(targets, n, c);
        double total = 0;
        for (int i = 0; i < n; i++)
        {
            var row = logits.Slice(i * c, c);
            double lse = LogSumExp(row);
            total += lse - row[targets[i]];
            if (!grad.IsEmpty)
                for (int j = 0; j < c; j++) grad[i * c + j] = (Math.Exp(row[j] - lse) - (j == targets[i] ? 1 : 0)) / n;
        }
        return total / n;
    }

    public static double Nll(ReadOnlySpan<double> logProbs, ReadOnlySpan<int> targets, Span<double> grad, int n, int c)
    {
        CheckTargets(targets, n, c);
        double total = 0;
        for (int i = 0; i < n; i++)
        {
            total -= logProbs[i * c + targets[i]];
            if (!grad.IsEmpty)
                for (int j = 0; j < c; j++) grad[i * c + j] = j == targets[i] ? -1.0 / n : 0;
        }
        return total / n;
    }

    // ---- SGD, written exactly as torch.optim.SGD's update ----

    public static void SgdStep(Span<double> param, ReadOnlySpan<double> grad, Span<double> momentumBuffer, double lr, double momentum,
        double dampening, double weightDecay, bool nesterov, bool firstStep)
    {
        for (int i = 0; i < param.Length; i++)
        {
            double g = grad[i] + weightDecay * param[i];
            if (momentum != 0)
            {
                momentumBuffer[i] = firstStep ? g : momentum * momentumBuffer[i] + (1 - dampening) * g;
                g = nesterov ? g + momentum * momentumBuffer[i] : momentumBuffer[i];
            }
            param[i] -= lr * g;
        }
    }

    private static double LogSumExp(ReadOnlySpan<double> row)
    {
        double max = double.NegativeInfinity;
        foreach (double v in row) max = Math.Max(max, v);
        double s = 0;
        foreach (double v in row) s += Math.Exp(v - max);
        return max + Math.Log(s);
    }

    private static void CheckTargets(ReadOnlySpan<int> targets, int n, int c)
    {
        for (int i = 0; i < n; i++)
            if ((uint)targets[i] >= (uint)c)
                throw new ArgumentException($"Target {targets[i]} in row {i} is outside the class range [0, {c}).", nameof(targets));
    }
}
