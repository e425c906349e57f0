// The kernels of the GEMM route (IlgpuGemmRoute.Im2colGemm): a plain GEMM (the ILGPU stand-in for cuBLAS), im2col and
// col2im, the channel-major transpose of a convolution's output gradient, and the epilogues (bias, activation, its
// derivative) that run after a GEMM, whichever library computed it.
using GraphCompiler.Compiler;
using ILGPU;

namespace GraphCompiler.Backends.Ilgpu;

/// <summary>
/// C (M, N) = Alpha · op(A) · op(B) + Beta · C over row-major matrices with leading dimensions (elements per row) Lda,
/// Ldb, Ldc; op(A) is A (M, K), or Aᵀ when TransA is 1 (A stored (K, M)); likewise B (K, N) or, with TransB, (N, K).
/// Beta 0 never reads C, as in BLAS.
/// </summary>
public readonly record struct GemmDims(int M, int N, int K, int Lda, int Ldb, int Ldc, int TransA, int TransB, float Alpha, float Beta)
{
    /// <summary>C = op(A) · op(B) (+ C when <paramref name="accumulate"/>) over packed matrices.</summary>
    public static GemmDims Packed(int m, int n, int k, bool transA, bool transB, bool accumulate) =>
        new(m, n, k, transA ? m : k, transB ? k : n, n, transA ? 1 : 0, transB ? 1 : 0, 1f, accumulate ? 1f : 0f);
}

/// <summary>
/// A convolution lowered to GEMMs over Cols = N·OutH·OutW columns: its columns matrix has one row per patch element
/// (c·KH·KW + kh·KW + kw, c over all input channels, so each group's rows are contiguous) and column n·OutH·OutW + p.
/// </summary>
public readonly record struct ConvGemmDims(Conv2dGeometry G, int N)
{
    public int Cols => N * G.OutH * G.OutW;
}

/// <summary>dst[i] (+)= Σ_{j &lt; Count} src[i·Step + j·Stride]: a bias gradient from rows (Linear) or channel-major rows (Conv2d).</summary>
public readonly record struct SumDims(int Count, int Step, int Stride);

public static partial class IlgpuKernels
{
    /// <summary>One thread per element of C; the reference the cuBLAS route is checked against (the direct kernels' sums, in GEMM form).</summary>
    public static void Gemm(Index1D i, ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, GemmDims d)
    {
        int row = i / d.N, col = i % d.N;
        float s = 0f;
        for (int k = 0; k < d.K; k++)
        {
            float av = d.TransA != 0 ? a[k * d.Lda + row] : a[row * d.Lda + k];
            float bv = d.TransB != 0 ? b[col * d.Ldb + k] : b[k * d.Ldb + col];
            s += av * bv;
        }
        int at = row * d.Ldc + col;
        c[at] = d.Beta == 0f ? d.Alpha * s : d.Alpha * s + d.Beta * c[at];
    }

    /// <summary>y (N, OutF) = act(y + b) in place: a Linear's epilogue after its GEMM.</summary>
    public static void BiasActivation<TAct>(Index1D i, ArrayView<float> y, ArrayView<float> b, LinearDims d, TAct act) where TAct : struct, IActivationDef =>
        y[i] = Value(act, d.HasBias != 0 ? y[i] + b[i % d.OutF] : y[i]);

    /// <summary>dx = g · act′(yAct): the fused activation's derivative applied after a GEMM computed g.</summary>
    public static void ScaleByDerivative<TAct>(Index1D i, ArrayView<float> g, ArrayView<float> yAct, ArrayView<float> dx, TAct act) where TAct : struct, IActivationDef =>
        dx[i] = g[i] * FromOutput(act, yAct[i]);

    /// <summary>dst[i] += Σ_j src[i·Step + j·Stride]: one thread per bias element.</summary>
    public static void SumAccumulate(Index1D i, ArrayView<float> src, ArrayView<float> dst, SumDims d)
    {
        float s = 0f;
        for (int j = 0; j < d.Count; j++) s += src[i * d.Step + j * d.Stride];
        dst[i] += s;
    }

    /// <summary>cols (Cin·KH·KW, N·OutH·OutW) = the input patch under each output position; zero where a tap falls in padding.</summary>
    public static void Im2col(Index1D i, ArrayView<float> x, ArrayView<float> cols, ConvGemmDims d)
    {
        Conv2dGeometry g = d.G;
        int outHW = g.OutH * g.OutW, kk = g.KernelH * g.KernelW;
        int row = i / d.Cols, col = i % d.Cols;
        int n = col / outHW, p = col % outHW, oh = p / g.OutW, ow = p % g.OutW;
        int c = row / kk, kh = row % kk / g.KernelW, kw = row % g.KernelW;
        int ih = oh * g.StrideH - g.PadH + kh * g.DilationH, iw = ow * g.StrideW - g.PadW + kw * g.DilationW;
        cols[i] = ih < 0 || ih >= g.InH || iw < 0 || iw >= g.InW ? 0f : x[((n * g.InChannels + c) * g.InH + ih) * g.InW + iw];
    }

    /// <summary>
    /// dx (N, Cin, InH, InW) = (Σ of the column gradients at every tap that read this element) · act′(xAct), gathered per
    /// input element (no atomics), with the taps of <see cref="Conv2dBackwardInput"/>.
    /// </summary>
    public static void Col2im<TAct>(Index1D i, ArrayView<float> dcols, ArrayView<float> xAct, ArrayView<float> dx, ConvGemmDims d, TAct act)
        where TAct : struct, IActivationDef
    {
        Conv2dGeometry g = d.G;
        int outH = g.OutH, outW = g.OutW, kk = g.KernelH * g.KernelW;
        int iw = i % g.InW, ih = i / g.InW % g.InH, c = i / (g.InW * g.InH) % g.InChannels, n = i / (g.InW * g.InH * g.InChannels);
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
                s += dcols[(c * kk + kh * g.KernelW + kw) * d.Cols + (n * outH + oh) * outW + tw / g.StrideW];
            }
        }
        dx[i] = s * FromOutput(act, xAct[i]);
    }

    /// <summary>y (N, Cout, OutH, OutW) = act(yCols[o, n·OutH·OutW + p] + b[o]): the convolution's epilogue, back to NCHW.</summary>
    public static void ConvEpilogue<TAct>(Index1D i, ArrayView<float> yCols, ArrayView<float> b, ArrayView<float> y, ConvParams p, TAct act)
        where TAct : struct, IActivationDef
    {
        int outHW = p.G.OutH * p.G.OutW;
        int at = i % outHW, o = i / outHW % p.G.OutChannels, n = i / (outHW * p.G.OutChannels);
        float v = yCols[o * (p.N * outHW) + n * outHW + at];
        y[i] = Value(act, p.HasBias != 0 ? v + b[o] : v);
    }

    /// <summary>dyCols (Cout, N·OutH·OutW) = dy (N, Cout, OutH, OutW): the output gradient channel-major, one thread per element.</summary>
    public static void ToChannelMajor(Index1D i, ArrayView<float> dy, ArrayView<float> dyCols, ConvParams p)
    {
        int outHW = p.G.OutH * p.G.OutW;
        int at = i % outHW, o = i / outHW % p.G.OutChannels, n = i / (outHW * p.G.OutChannels);
        dyCols[o * (p.N * outHW) + n * outHW + at] = dy[i];
    }
}
