// The ILGPU kernels of every step kind a schedule holds, one thread per output element; epilogues, element-wise ops and
// losses are generic struct functors (IActivation, IRowLoss) so that each variant is its own specialised kernel.
using ILGPU;
using GraphCompiler.Compiler;

namespace GraphCompiler.Backends.Ilgpu;

/// <summary>An activation as a kernel type argument: <see cref="Apply"/> in forward epilogues, <see cref="Mask"/> in backward ones.</summary>
public interface IActivation
{
    /// <summary>act(x).</summary>
    float Apply(float x);

    /// <summary>dy · act′ expressed through the activation's output y (as the CPU kernels do).</summary>
    float Mask(float y, float dy);
}

/// <summary>No activation: the epilogue of an unfused GEMM or convolution.</summary>
public readonly struct IdentityActivation : IActivation
{
    public float Apply(float x) => x;

    public float Mask(float y, float dy) => dy;
}

/// <summary>ReLU; its derivative is 1 where the output is positive.</summary>
public readonly struct ReluActivation : IActivation
{
    public float Apply(float x) => x > 0f ? x : 0f;

    public float Mask(float y, float dy) => y > 0f ? dy : 0f;
}

/// <summary>
/// One row of a classification loss as a kernel type argument: returns the row's loss and writes its gradient row, scaled
/// by <c>scale</c> (1/N for the mean, times a loss scale).
/// </summary>
public interface IRowLoss
{
    float Row(ArrayView<float> output, ArrayView<float> grad, int offset, int target, int classes, float scale);
}

/// <summary>Cross-entropy on logits: loss = lse − x[t], grad = (softmax − onehot)·scale.</summary>
public readonly struct CrossEntropyRow : IRowLoss
{
    public float Row(ArrayView<float> output, ArrayView<float> grad, int offset, int target, int classes, float scale)
    {
        float max = IlgpuKernels.RowMax(output, offset, classes);
        float logSum = IlgpuKernels.LogSumExpShifted(output, offset, classes, max);
        for (int j = 0; j < classes; j++) grad[offset + j] = MathF.Exp(output[offset + j] - max - logSum) * scale;
        grad[offset + target] -= scale;
        return logSum - (output[offset + target] - max); // (x − max) first: exact even when |x| is large
    }
}

/// <summary>NLL on log-probabilities: loss = −x[t], grad = −onehot·scale.</summary>
public readonly struct NllRow : IRowLoss
{
    public float Row(ArrayView<float> output, ArrayView<float> grad, int offset, int target, int classes, float scale)
    {
        for (int j = 0; j < classes; j++) grad[offset + j] = 0f;
        grad[offset + target] = -scale;
        return -output[offset + target];
    }
}

/// <summary>NLL of a LogSoftmax output with the LogSoftmax backward folded in: grad at the logits = (exp(y) − onehot)·scale.</summary>
public readonly struct NllOfLogSoftmaxRow : IRowLoss
{
    public float Row(ArrayView<float> output, ArrayView<float> grad, int offset, int target, int classes, float scale)
    {
        for (int j = 0; j < classes; j++) grad[offset + j] = MathF.Exp(output[offset + j]) * scale;
        grad[offset + target] -= scale;
        return -output[offset + target];
    }
}

/// <summary>A Linear layer's sizes: N rows of InF inputs and OutF outputs; HasBias is 0 or 1.</summary>
public readonly record struct LinearDims(int N, int InF, int OutF, int HasBias);

/// <summary>A convolution's geometry with the batch size and whether it has a bias (0 or 1).</summary>
public readonly record struct ConvParams(Conv2dGeometry G, int N, int HasBias);

/// <summary>Rows of <see cref="Classes"/> values; <see cref="Scale"/> is the loss gradient's factor.</summary>
public readonly record struct RowParams(int Classes, float Scale);

/// <summary>One SGD update's options, PyTorch's semantics; Nesterov and FirstStep are 0 or 1.</summary>
public readonly record struct SgdParams(float Lr, float Momentum, float Dampening, float WeightDecay, int Nesterov, int FirstStep);

/// <summary>The kernels; each is launched over one index per output element (or row, or parameter element).</summary>
public static class IlgpuKernels
{
    /// <summary>y = act(x), element-wise (an unfused activation).</summary>
    public static void Map<TAct>(Index1D i, ArrayView<float> x, ArrayView<float> y) where TAct : struct, IActivation =>
        y[i] = default(TAct).Apply(x[i]);

    /// <summary>dx = dy · act′(y), element-wise (an unfused activation's backward).</summary>
    public static void MaskGrad<TAct>(Index1D i, ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dx) where TAct : struct, IActivation =>
        dx[i] = default(TAct).Mask(y[i], dy[i]);

    /// <summary>y (N, OutF) = act(x · Wᵀ + b); one thread per output.</summary>
    public static void LinearForward<TAct>(Index1D i, ArrayView<float> x, ArrayView<float> w, ArrayView<float> b, ArrayView<float> y, LinearDims d)
        where TAct : struct, IActivation
    {
        int r = i / d.OutF, o = i % d.OutF;
        float s = d.HasBias != 0 ? b[o] : 0f;
        for (int k = 0; k < d.InF; k++) s += x[r * d.InF + k] * w[o * d.InF + k];
        y[i] = default(TAct).Apply(s);
    }

    /// <summary>dx (N, InF) = (dy · W) · act′(yAct), where yAct is the output of the activation that fed this layer.</summary>
    public static void LinearBackwardInput<TAct>(Index1D i, ArrayView<float> dy, ArrayView<float> w, ArrayView<float> yAct, ArrayView<float> dx, LinearDims d)
        where TAct : struct, IActivation
    {
        int r = i / d.InF, k = i % d.InF;
        float s = 0f;
        for (int o = 0; o < d.OutF; o++) s += dy[r * d.OutF + o] * w[o * d.InF + k];
        dx[i] = default(TAct).Mask(yAct[i], s);
    }

    /// <summary>dW (OutF, InF) += dyᵀ · x for the first OutF·InF threads, db (OutF) += Σ dy for the rest.</summary>
    public static void LinearBackwardParams(Index1D i, ArrayView<float> dy, ArrayView<float> x, ArrayView<float> dw, ArrayView<float> db, LinearDims d)
    {
        float s = 0f;
        if (i < d.OutF * d.InF)
        {
            int o = i / d.InF, k = i % d.InF;
            for (int r = 0; r < d.N; r++) s += dy[r * d.OutF + o] * x[r * d.InF + k];
            dw[i] += s;
        }
        else
        {
            int o = i - d.OutF * d.InF;
            for (int r = 0; r < d.N; r++) s += dy[r * d.OutF + o];
            db[o] += s;
        }
    }

    /// <summary>y (N, Cout, OutH, OutW) = act(x ⋆ W + b), zero padding; one thread per output.</summary>
    public static void Conv2dForward<TAct>(Index1D i, ArrayView<float> x, ArrayView<float> w, ArrayView<float> b, ArrayView<float> y, ConvParams p)
        where TAct : struct, IActivation
    {
        Conv2dGeometry g = p.G;
        int ow = i % g.OutW, oh = i / g.OutW % g.OutH, o = i / (g.OutW * g.OutH) % g.OutChannels, n = i / (g.OutW * g.OutH * g.OutChannels);
        float s = p.HasBias != 0 ? b[o] : 0f;
        for (int c = 0; c < g.InChannels; c++)
        {
            for (int kh = 0; kh < g.KernelH; kh++)
            {
                int ih = oh * g.StrideH - g.PadH + kh;
                if (ih < 0 || ih >= g.InH) continue;
                for (int kw = 0; kw < g.KernelW; kw++)
                {
                    int iw = ow * g.StrideW - g.PadW + kw;
                    if (iw < 0 || iw >= g.InW) continue;
                    s += x[((n * g.InChannels + c) * g.InH + ih) * g.InW + iw] * w[((o * g.InChannels + c) * g.KernelH + kh) * g.KernelW + kw];
                }
            }
        }
        y[i] = default(TAct).Apply(s);
    }

    /// <summary>dx (N, Cin, InH, InW) = (dy ⋆ᵀ W) · act′(xAct), gathered per input element (no atomics).</summary>
    public static void Conv2dBackwardInput<TAct>(Index1D i, ArrayView<float> dy, ArrayView<float> w, ArrayView<float> xAct, ArrayView<float> dx, ConvParams p)
        where TAct : struct, IActivation
    {
        Conv2dGeometry g = p.G;
        int iw = i % g.InW, ih = i / g.InW % g.InH, c = i / (g.InW * g.InH) % g.InChannels, n = i / (g.InW * g.InH * g.InChannels);
        int outH = g.OutH, outW = g.OutW;
        float s = 0f;
        for (int kh = 0; kh < g.KernelH; kh++)
        {
            int th = ih + g.PadH - kh;
            if (th < 0 || th % g.StrideH != 0 || th / g.StrideH >= outH) continue;
            int oh = th / g.StrideH;
            for (int kw = 0; kw < g.KernelW; kw++)
            {
                int tw = iw + g.PadW - kw;
                if (tw < 0 || tw % g.StrideW != 0 || tw / g.StrideW >= outW) continue;
                int ow = tw / g.StrideW;
                for (int o = 0; o < g.OutChannels; o++)
                    s += dy[((n * g.OutChannels + o) * outH + oh) * outW + ow] * w[((o * g.InChannels + c) * g.KernelH + kh) * g.KernelW + kw];
            }
        }
        dx[i] = default(TAct).Mask(xAct[i], s);
    }

    /// <summary>dW (Cout, Cin, KH, KW) += dy ⋆ x for the first Cout·PatchSize threads, db (Cout) += Σ dy for the rest.</summary>
    public static void Conv2dBackwardParams(Index1D i, ArrayView<float> dy, ArrayView<float> x, ArrayView<float> dw, ArrayView<float> db, ConvParams p)
    {
        Conv2dGeometry g = p.G;
        int outH = g.OutH, outW = g.OutW, patch = g.PatchSize;
        float s = 0f;
        if (i < g.OutChannels * patch)
        {
            int kw = i % g.KernelW, kh = i / g.KernelW % g.KernelH, c = i / (g.KernelW * g.KernelH) % g.InChannels, o = i / patch;
            for (int n = 0; n < p.N; n++)
                for (int oh = 0; oh < outH; oh++)
                {
                    int ih = oh * g.StrideH - g.PadH + kh;
                    if (ih < 0 || ih >= g.InH) continue;
                    for (int ow = 0; ow < outW; ow++)
                    {
                        int iw = ow * g.StrideW - g.PadW + kw;
                        if (iw < 0 || iw >= g.InW) continue;
                        s += dy[((n * g.OutChannels + o) * outH + oh) * outW + ow] * x[((n * g.InChannels + c) * g.InH + ih) * g.InW + iw];
                    }
                }
            dw[i] += s;
        }
        else
        {
            int o = i - g.OutChannels * patch;
            for (int n = 0; n < p.N; n++)
                for (int j = 0; j < outH * outW; j++) s += dy[(n * g.OutChannels + o) * outH * outW + j];
            db[o] += s;
        }
    }

    /// <summary>
    /// y = window max, argmax = ih·InW + iw of the winner in its plane; padding counts as −∞ and the first maximum in
    /// row-major window order wins, as in PyTorch and the CPU kernel.
    /// </summary>
    public static void MaxPool2dForward(Index1D i, ArrayView<float> x, ArrayView<float> y, ArrayView<int> argmax, Pool2dGeometry g)
    {
        int outH = g.OutH, outW = g.OutW;
        int ox = i % outW, oy = i / outW % outH, plane = i / (outW * outH);
        float best = float.NegativeInfinity;
        int arg = -1;
        for (int kh = 0; kh < g.KernelH; kh++)
        {
            int ih = oy * g.StrideH - g.PadH + kh;
            if (ih < 0 || ih >= g.InH) continue;
            for (int kw = 0; kw < g.KernelW; kw++)
            {
                int iw = ox * g.StrideW - g.PadW + kw;
                if (iw < 0 || iw >= g.InW) continue;
                float v = x[(plane * g.InH + ih) * g.InW + iw];
                if (arg < 0 || v > best)
                {
                    best = v;
                    arg = ih * g.InW + iw;
                }
            }
        }
        y[i] = best;
        argmax[i] = arg;
    }

    /// <summary>
    /// dx (N, C, InH, InW) = Σ dy · act′(yAct) over the windows whose argmax is this element, gathered per input element;
    /// yAct is the pool's output, i.e. the preceding activation's output at each argmax.
    /// </summary>
    public static void MaxPool2dBackward<TAct>(Index1D i, ArrayView<float> dy, ArrayView<int> argmax, ArrayView<float> yAct, ArrayView<float> dx, Pool2dGeometry g)
        where TAct : struct, IActivation
    {
        int outH = g.OutH, outW = g.OutW;
        int iw = i % g.InW, ih = i / g.InW % g.InH, plane = i / (g.InW * g.InH);
        int local = ih * g.InW + iw;
        int th = ih + g.PadH - g.KernelH + 1, tw = iw + g.PadW - g.KernelW + 1;
        int oy0 = th <= 0 ? 0 : (th + g.StrideH - 1) / g.StrideH, ox0 = tw <= 0 ? 0 : (tw + g.StrideW - 1) / g.StrideW;
        int oy1 = Math.Min(outH - 1, (ih + g.PadH) / g.StrideH), ox1 = Math.Min(outW - 1, (iw + g.PadW) / g.StrideW);
        float s = 0f;
        for (int oy = oy0; oy <= oy1; oy++)
            for (int ox = ox0; ox <= ox1; ox++)
            {
                int o = (plane * outH + oy) * outW + ox;
                if (argmax[o] == local) s += default(TAct).Mask(yAct[o], dy[o]);
            }
        dx[i] = s;
    }

    /// <summary>y = x − logΣexp(x) per row; one thread per row.</summary>
    public static void LogSoftmaxForward(Index1D row, ArrayView<float> x, ArrayView<float> y, int classes)
    {
        int offset = row * classes;
        float max = RowMax(x, offset, classes);
        float logSum = LogSumExpShifted(x, offset, classes, max);
        for (int j = 0; j < classes; j++) y[offset + j] = (x[offset + j] - max) - logSum; // as the CPU kernel: precise at large |x|
    }

    /// <summary>dx = dy − exp(y) · Σ dy per row, with y the forward output.</summary>
    public static void LogSoftmaxBackward(Index1D row, ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dx, int classes)
    {
        int offset = row * classes;
        float s = 0f;
        for (int j = 0; j < classes; j++) s += dy[offset + j];
        for (int j = 0; j < classes; j++) dx[offset + j] = dy[offset + j] - MathF.Exp(y[offset + j]) * s;
    }

    /// <summary>A loss's gradient rows and each row's loss (summed on the host in double, as the CPU kernels sum).</summary>
    public static void LossGradient<TLoss>(Index1D row, ArrayView<float> output, ArrayView<int> targets, ArrayView<float> grad, ArrayView<float> rowLoss, RowParams p)
        where TLoss : struct, IRowLoss =>
        rowLoss[row] = default(TLoss).Row(output, grad, row * p.Classes, targets[row], p.Classes, p.Scale);

    /// <summary>
    /// PyTorch's SGD on one element: g = grad + wd·p; with momentum buf = first ? g : m·buf + (1 − dampening)·g and
    /// g = nesterov ? g + m·buf : buf; then p −= lr·g.
    /// </summary>
    public static void SgdStep(Index1D i, ArrayView<float> param, ArrayView<float> grad, ArrayView<float> momentumBuffer, SgdParams o)
    {
        float g = grad[i] + o.WeightDecay * param[i];
        if (o.Momentum != 0f)
        {
            float buf = o.FirstStep != 0 ? g : o.Momentum * momentumBuffer[i] + (1f - o.Dampening) * g;
            momentumBuffer[i] = buf;
            g = o.Nesterov != 0 ? g + o.Momentum * buf : buf;
        }
        param[i] -= o.Lr * g;
    }

    /// <summary>The largest value of one row.</summary>
    internal static float RowMax(ArrayView<float> x, int offset, int count)
    {
        float max = x[offset];
        for (int j = 1; j < count; j++) max = Math.Max(max, x[offset + j]);
        return max;
    }

    /// <summary>
    /// log Σ exp(x − max) over one row (no term overflows). Callers subtract it from x − max, not from x, so the result
    /// keeps its precision when |x| is large (x − (max + log Σ) loses up to 2e-4 at |x| ≈ 1e4).
    /// </summary>
    internal static float LogSumExpShifted(ArrayView<float> x, int offset, int count, float max)
    {
        float sum = 0f;
        for (int j = 0; j < count; j++) sum += MathF.Exp(x[offset + j] - max);
        return MathF.Log(sum);
    }
}
