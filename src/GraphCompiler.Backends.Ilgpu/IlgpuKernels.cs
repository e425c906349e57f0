// The ILGPU kernels of the GEMM, convolution, pooling, element-wise and softmax steps, one thread per output element (or
// row); epilogues and element-wise ops take the core's activation definitions (IActivationDef) as generic struct
// arguments, so that each activation is its own specialised kernel and its maths is the one the CPU kernels use.
using GraphCompiler.Compiler;
using ILGPU;

namespace GraphCompiler.Backends.Ilgpu;

/// <summary>A Linear layer's sizes: N rows of InF inputs and OutF outputs; HasBias is 0 or 1.</summary>
public readonly record struct LinearDims(int N, int InF, int OutF, int HasBias);

/// <summary>A convolution's geometry with the batch size and whether it has a bias (0 or 1).</summary>
public readonly record struct ConvParams(Conv2dGeometry G, int N, int HasBias);

/// <summary>A tensor seen as (outer, dim, inner) and reduced over dim; Log selects log_softmax (0 or 1).</summary>
public readonly record struct SoftmaxDims(int Dim, int Inner, int Log);

/// <summary>The kernels; each is launched over one index per output element (or row, or parameter element).</summary>
public static partial class IlgpuKernels
{
    private static float Value<TAct>(TAct act, float x) where TAct : struct, IActivationDef => act.Value<float, DeviceFloatOps>(x, default);

    // The epilogue's backward: only activations whose derivative is a function of their output are fused, so y stands for x.
    private static float FromOutput<TAct>(TAct act, float y) where TAct : struct, IActivationDef => act.Backward<float, DeviceFloatOps>(y, y, 1f, default);

    /// <summary>y = f(x), element-wise.</summary>
    public static void Map<TAct>(Index1D i, ArrayView<float> x, ArrayView<float> y, TAct act) where TAct : struct, IActivationDef =>
        y[i] = Value(act, x[i]);

    /// <summary>
    /// dx = dy · f′, element-wise, from <paramref name="on"/>: the forward's output when f′ is a function of it (the step
    /// says which), else its input; the definition is given the same value for both.
    /// </summary>
    public static void MapGrad<TAct>(Index1D i, ArrayView<float> on, ArrayView<float> dy, ArrayView<float> dx, TAct act) where TAct : struct, IActivationDef =>
        dx[i] = act.Backward<float, DeviceFloatOps>(on[i], on[i], dy[i], default);

    /// <summary>y = f_k(…f_1(x)), one thread per element.</summary>
    public static void ChainForward(Index1D i, ArrayView<float> x, ArrayView<float> y, ChainStages stages)
    {
        float v = x[i];
        for (int s = 0; s < stages.Count; s++) v = stages.Value(s, v);
        y[i] = v;
    }

    /// <summary>dx = dy · Π f_s′, the chain recomputed from x (each stage's derivative at its own input and output).</summary>
    public static void ChainBackward(Index1D i, ArrayView<float> x, ArrayView<float> dy, ArrayView<float> dx, ChainStages stages)
    {
        float v = x[i], d = dy[i];
        for (int s = 0; s < stages.Count; s++)
        {
            float next = stages.Value(s, v);
            d *= stages.Derivative(s, v, next);
            v = next;
        }
        dx[i] = d;
    }

    /// <summary>y (N, OutF) = act(x · Wᵀ + b); one thread per output.</summary>
    public static void LinearForward<TAct>(Index1D i, ArrayView<float> x, ArrayView<float> w, ArrayView<float> b, ArrayView<float> y, LinearDims d, TAct act)
        where TAct : struct, IActivationDef
    {
        int r = i / d.OutF, o = i % d.OutF;
        float s = d.HasBias != 0 ? b[o] : 0f;
        for (int k = 0; k < d.InF; k++) s += x[r * d.InF + k] * w[o * d.InF + k];
        y[i] = Value(act, s);
    }

    /// <summary>dx (N, InF) = (dy · W) · act′(yAct), where yAct is the output of the activation that fed this layer.</summary>
    public static void LinearBackwardInput<TAct>(Index1D i, ArrayView<float> dy, ArrayView<float> w, ArrayView<float> yAct, ArrayView<float> dx, LinearDims d, TAct act)
        where TAct : struct, IActivationDef
    {
        int r = i / d.InF, k = i % d.InF;
        float s = 0f;
        for (int o = 0; o < d.OutF; o++) s += dy[r * d.OutF + o] * w[o * d.InF + k];
        dx[i] = s * FromOutput(act, yAct[i]);
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

    /// <summary>
    /// y (N, Cout, OutH, OutW) = act(x ⋆ W + b): zero padding (top/left offsets; bottom/right only shape the output),
    /// dilated taps, and each output channel reading its group's input channels; one thread per output.
    /// </summary>
    public static void Conv2dForward<TAct>(Index1D i, ArrayView<float> x, ArrayView<float> w, ArrayView<float> b, ArrayView<float> y, ConvParams p, TAct act)
        where TAct : struct, IActivationDef
    {
        Conv2dGeometry g = p.G;
        int outH = g.OutH, outW = g.OutW, cinG = g.InChannels / g.Groups, coutG = g.OutChannels / g.Groups;
        int ow = i % outW, oh = i / outW % outH, o = i / (outW * outH) % g.OutChannels, n = i / (outW * outH * g.OutChannels);
        int c0 = o / coutG * cinG;
        float s = p.HasBias != 0 ? b[o] : 0f;
        for (int cl = 0; cl < cinG; cl++)
        {
            for (int kh = 0; kh < g.KernelH; kh++)
            {
                int ih = oh * g.StrideH - g.PadH + kh * g.DilationH;
                if (ih < 0 || ih >= g.InH) continue;
                for (int kw = 0; kw < g.KernelW; kw++)
                {
                    int iw = ow * g.StrideW - g.PadW + kw * g.DilationW;
                    if (iw < 0 || iw >= g.InW) continue;
                    s += x[((n * g.InChannels + c0 + cl) * g.InH + ih) * g.InW + iw] * w[((o * cinG + cl) * g.KernelH + kh) * g.KernelW + kw];
                }
            }
        }
        y[i] = Value(act, s);
    }

    /// <summary>dx (N, Cin, InH, InW) = (dy ⋆ᵀ W) · act′(xAct), gathered per input element over its group's output channels (no atomics).</summary>
    public static void Conv2dBackwardInput<TAct>(Index1D i, ArrayView<float> dy, ArrayView<float> w, ArrayView<float> xAct, ArrayView<float> dx, ConvParams p, TAct act)
        where TAct : struct, IActivationDef
    {
        Conv2dGeometry g = p.G;
        int outH = g.OutH, outW = g.OutW, cinG = g.InChannels / g.Groups, coutG = g.OutChannels / g.Groups;
        int iw = i % g.InW, ih = i / g.InW % g.InH, c = i / (g.InW * g.InH) % g.InChannels, n = i / (g.InW * g.InH * g.InChannels);
        int o0 = c / cinG * coutG, cl = c % cinG;
        float s = 0f;
        for (int kh = 0; kh < g.KernelH; kh++)
        {
            int th = ih + g.PadH - kh * g.DilationH;
            if (th < 0 || th % g.StrideH != 0 || th / g.StrideH >= outH) continue;
            int oh = th / g.StrideH;
            for (int kw = 0; kw < g.KernelW; kw++)
            {
                int tw = iw + g.PadW - kw * g.DilationW;
                if (tw < 0 || tw % g.StrideW != 0 || tw / g.StrideW >= outW) continue;
                int ow = tw / g.StrideW;
                for (int ol = 0; ol < coutG; ol++)
                {
                    int o = o0 + ol;
                    s += dy[((n * g.OutChannels + o) * outH + oh) * outW + ow] * w[((o * cinG + cl) * g.KernelH + kh) * g.KernelW + kw];
                }
            }
        }
        dx[i] = s * FromOutput(act, xAct[i]);
    }

    /// <summary>dW (Cout, Cin/Groups, KH, KW) += dy ⋆ x for the first Cout·PatchSize threads, db (Cout) += Σ dy for the rest.</summary>
    public static void Conv2dBackwardParams(Index1D i, ArrayView<float> dy, ArrayView<float> x, ArrayView<float> dw, ArrayView<float> db, ConvParams p)
    {
        Conv2dGeometry g = p.G;
        int outH = g.OutH, outW = g.OutW, patch = g.PatchSize, cinG = g.InChannels / g.Groups, coutG = g.OutChannels / g.Groups;
        float s = 0f;
        if (i < g.OutChannels * patch)
        {
            int kw = i % g.KernelW, kh = i / g.KernelW % g.KernelH, cl = i / (g.KernelW * g.KernelH) % cinG, o = i / patch;
            int c = o / coutG * cinG + cl;
            for (int n = 0; n < p.N; n++)
                for (int oh = 0; oh < outH; oh++)
                {
                    int ih = oh * g.StrideH - g.PadH + kh * g.DilationH;
                    if (ih < 0 || ih >= g.InH) continue;
                    for (int ow = 0; ow < outW; ow++)
                    {
                        int iw = ow * g.StrideW - g.PadW + kw * g.DilationW;
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
    /// y = window max, argmax = ih·InW + iw of the winner in its plane; padding counts as −∞, taps are dilated, and the
    /// first maximum in row-major window order wins, as in PyTorch and the CPU kernel.
    /// </summary>
    public static void MaxPool2dForward(Index1D i, ArrayView<float> x, ArrayView<float> y, ArrayView<int> argmax, Pool2dGeometry g)
    {
        int outH = g.OutH, outW = g.OutW;
        int ox = i % outW, oy = i / outW % outH, plane = i / (outW * outH);
        float best = float.NegativeInfinity;
        int arg = -1;
        for (int kh = 0; kh < g.KernelH; kh++)
        {
            int ih = oy * g.StrideH - g.PadH + kh * g.DilationH;
            if (ih < 0 || ih >= g.InH) continue;
            for (int kw = 0; kw < g.KernelW; kw++)
            {
                int iw = ox * g.StrideW - g.PadW + kw * g.DilationW;
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
    /// dx (N, C, InH, InW) = Σ dy · act′(yAct) over the windows whose argmax is this element, gathered per input element
    /// (a window holds an element at most at one tap); yAct is the pool's output, i.e. the preceding activation's output at
    /// each argmax.
    /// </summary>
    public static void MaxPool2dBackward<TAct>(Index1D i, ArrayView<float> dy, ArrayView<int> argmax, ArrayView<float> yAct, ArrayView<float> dx, Pool2dGeometry g, TAct act)
        where TAct : struct, IActivationDef
    {
        int outH = g.OutH, outW = g.OutW;
        int iw = i % g.InW, ih = i / g.InW % g.InH, plane = i / (g.InW * g.InH);
        int local = ih * g.InW + iw;
        float s = 0f;
        for (int kh = 0; kh < g.KernelH; kh++)
        {
            int th = ih + g.PadH - kh * g.DilationH;
            if (th < 0 || th % g.StrideH != 0 || th / g.StrideH >= outH) continue;
            for (int kw = 0; kw < g.KernelW; kw++)
            {
                int tw = iw + g.PadW - kw * g.DilationW;
                if (tw < 0 || tw % g.StrideW != 0 || tw / g.StrideW >= outW) continue;
                int o = (plane * outH + th / g.StrideH) * outW + tw / g.StrideW;
                if (argmax[o] == local) s += dy[o] * FromOutput(act, yAct[o]);
            }
        }
        dx[i] = s;
    }

    /// <summary>
    /// PyTorch's avg_pool2d window of output (oy, ox): its in-bounds rows [h0, h1) and columns [w0, w1), and the divisor
    /// (the window's size within the padded input, or with count_include_pad off its in-bounds count; 0 when wholly in padding).
    /// </summary>
    private static int AvgWindow(Pool2dGeometry g, int oy, int ox, out int h0, out int h1, out int w0, out int w1)
    {
        int hs = oy * g.StrideH - g.PadH, ws = ox * g.StrideW - g.PadW;
        int he = Math.Min(hs + g.KernelH, g.InH + g.PadBottom), we = Math.Min(ws + g.KernelW, g.InW + g.PadRight);
        int poolSize = (he - hs) * (we - ws);
        h0 = Math.Max(hs, 0); w0 = Math.Max(ws, 0); h1 = Math.Min(he, g.InH); w1 = Math.Min(we, g.InW);
        if (h0 >= h1 || w0 >= w1) return 0;
        return g.CountIncludePad ? poolSize : (h1 - h0) * (w1 - w0);
    }

    /// <summary>y = Σ window / divisor (0 for a window wholly in padding).</summary>
    public static void AvgPool2dForward(Index1D i, ArrayView<float> x, ArrayView<float> y, Pool2dGeometry g)
    {
        int outH = g.OutH, outW = g.OutW;
        int ox = i % outW, oy = i / outW % outH, plane = i / (outW * outH);
        int divisor = AvgWindow(g, oy, ox, out int h0, out int h1, out int w0, out int w1);
        float s = 0f;
        for (int ih = h0; ih < h1; ih++)
            for (int iw = w0; iw < w1; iw++) s += x[(plane * g.InH + ih) * g.InW + iw];
        y[i] = divisor == 0 ? 0f : s / divisor;
    }

    /// <summary>dx = Σ dy / divisor over the windows holding this element, gathered per input element.</summary>
    public static void AvgPool2dBackward(Index1D i, ArrayView<float> dy, ArrayView<float> dx, Pool2dGeometry g)
    {
        int outH = g.OutH, outW = g.OutW;
        int iw = i % g.InW, ih = i / g.InW % g.InH, plane = i / (g.InW * g.InH);
        float s = 0f;
        for (int kh = 0; kh < g.KernelH; kh++)
        {
            int th = ih + g.PadH - kh;
            if (th < 0 || th % g.StrideH != 0 || th / g.StrideH >= outH) continue;
            for (int kw = 0; kw < g.KernelW; kw++)
            {
                int tw = iw + g.PadW - kw;
                if (tw < 0 || tw % g.StrideW != 0 || tw / g.StrideW >= outW) continue;
                int oy = th / g.StrideH, ox = tw / g.StrideW;
                int divisor = AvgWindow(g, oy, ox, out int h0, out int h1, out int w0, out int w1);
                if (divisor != 0 && ih >= h0 && ih < h1 && iw >= w0 && iw < w1) s += dy[(plane * outH + oy) * outW + ox] / divisor;
            }
        }
        dx[i] = s;
    }

    /// <summary>Output i of an adaptive pool averages input [⌊i·in/out⌋, ⌈(i+1)·in/out⌉).</summary>
    private static int AdaptiveStart(int o, int inSize, int outSize) => o * inSize / outSize;

    private static int AdaptiveEnd(int o, int inSize, int outSize) => ((o + 1) * inSize + outSize - 1) / outSize;

    public static void AdaptiveAvgPool2dForward(Index1D i, ArrayView<float> x, ArrayView<float> y, AdaptivePool2dGeometry g)
    {
        int ox = i % g.OutW, oy = i / g.OutW % g.OutH, plane = i / (g.OutW * g.OutH);
        int h0 = AdaptiveStart(oy, g.InH, g.OutH), h1 = AdaptiveEnd(oy, g.InH, g.OutH), w0 = AdaptiveStart(ox, g.InW, g.OutW), w1 = AdaptiveEnd(ox, g.InW, g.OutW);
        float s = 0f;
        for (int ih = h0; ih < h1; ih++)
            for (int iw = w0; iw < w1; iw++) s += x[(plane * g.InH + ih) * g.InW + iw];
        y[i] = s / ((h1 - h0) * (w1 - w0));
    }

    /// <summary>dx = Σ dy / window size over the (possibly overlapping) windows holding this element.</summary>
    public static void AdaptiveAvgPool2dBackward(Index1D i, ArrayView<float> dy, ArrayView<float> dx, AdaptivePool2dGeometry g)
    {
        int iw = i % g.InW, ih = i / g.InW % g.InH, plane = i / (g.InW * g.InH);
        float s = 0f;
        for (int oy = 0; oy < g.OutH; oy++)
        {
            int h0 = AdaptiveStart(oy, g.InH, g.OutH), h1 = AdaptiveEnd(oy, g.InH, g.OutH);
            if (ih < h0 || ih >= h1) continue;
            for (int ox = 0; ox < g.OutW; ox++)
            {
                int w0 = AdaptiveStart(ox, g.InW, g.OutW), w1 = AdaptiveEnd(ox, g.InW, g.OutW);
                if (iw >= w0 && iw < w1) s += dy[(plane * g.OutH + oy) * g.OutW + ox] / ((h1 - h0) * (w1 - w0));
            }
        }
        dx[i] = s;
    }

    /// <summary>
    /// softmax (or log_softmax) over dim of one (outer, inner) line; one thread per line. log_softmax keeps (x − max) −
    /// log Σ, never x − (max + log Σ), as the CPU kernel does: precise at large |x|. A one-element dim gives exactly 1 (0).
    /// </summary>
    public static void SoftmaxForward(Index1D line, ArrayView<float> x, ArrayView<float> y, SoftmaxDims d)
    {
        int o = line / d.Inner, j = line % d.Inner, start = o * d.Dim * d.Inner + j;
        float max = x[start];
        for (int k = 1; k < d.Dim; k++) max = Math.Max(max, x[start + k * d.Inner]);
        float sum = 0f;
        for (int k = 0; k < d.Dim; k++) sum += MathF.Exp(x[start + k * d.Inner] - max);
        float logSum = MathF.Log(sum);
        for (int k = 0; k < d.Dim; k++)
        {
            int at = start + k * d.Inner;
            y[at] = d.Dim == 1 ? (d.Log != 0 ? 0f : 1f) : d.Log != 0 ? (x[at] - max) - logSum : MathF.Exp(x[at] - max) / sum;
        }
    }

    /// <summary>From the forward's output y: softmax dx = y·(dy − Σ dy·y); log_softmax dx = dy − exp(y)·Σ dy.</summary>
    public static void SoftmaxBackward(Index1D line, ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dx, SoftmaxDims d)
    {
        int o = line / d.Inner, j = line % d.Inner, start = o * d.Dim * d.Inner + j;
        float s = 0f;
        for (int k = 0; k < d.Dim; k++)
        {
            int at = start + k * d.Inner;
            s += d.Log != 0 ? dy[at] : dy[at] * y[at];
        }
        for (int k = 0; k < d.Dim; k++)
        {
            int at = start + k * d.Inner;
            dx[at] = d.Dim == 1 ? 0f : d.Log != 0 ? dy[at] - MathF.Exp(y[at]) * s : y[at] * (dy[at] - s);
        }
    }
}
