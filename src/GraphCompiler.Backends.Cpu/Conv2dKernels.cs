// 2-D convolution on the CPU (NCHW, any stride, padding, dilation and groups): im2col + packed GEMM forward, GEMM + col2im backward.
using System.Buffers;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using static GraphCompiler.Backends.Cpu.BufferChecks;
using GraphCompiler.Compiler;

namespace GraphCompiler.Backends.Cpu;

/// <summary>
/// Legend: N batch, C in channels, F out channels, H×W input, P = OutH·OutW output pixels, G groups, K = C/G·kh·kw patch size.
/// Per image and group (each group is an independent convolution of C/G channels into F/G): forward y (F, P) = w (F, K) · col (K, P); backward input dcol (K, P) = wᵀ · dy, then col2im; backward
/// weights dw (F, K) += dy (F, P) · colᵀ. Each image is one GEMM, so the batch is split across cores and each GEMM
/// stays on its thread; a single image (or a small batch) lets the GEMM itself go parallel instead. With unit column
/// stride, im2col copies whole rows of a zero-padded plane and the forward writes col directly in the GEMM's packed
/// layout, because with few output channels the data movement, not the arithmetic, sets the speed.
/// </summary>
public static class Conv2dKernels
{
    // Below this many multiply-adds per call, splitting images across threads costs more than it saves.
    private const long ParallelThresholdMacs = 1_000_000;

    [ThreadStatic] private static float[]? t_col;
    [ThreadStatic] private static float[]? t_padded;
    [ThreadStatic] private static int[]? t_rowOffsets;

    /// <summary>y (N, F, OutH, OutW) = conv(x (N, C, H, W), w (F, C, kh, kw)) + b (F) or empty. Overwrites y.</summary>
    public static void Forward(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> b, Span<float> y, in Conv2dGeometry g, int n)
        => Forward(x, w, b, y, g, n, Elementwise.Identity);

    /// <summary>
    /// As above with y ← act(y) fused into the GEMM: the micro-kernel applies the activation as it stores each finished
    /// register tile, so the output is written once.
    /// </summary>
    public static void Forward(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> b, Span<float> y, in Conv2dGeometry g, int n,
        Elementwise activation)
    {
        Check(g, n, x.Length, y.Length, w.Length);
        if (!b.IsEmpty) CheckLength(b, g.OutChannels, nameof(b));
        unsafe
        {
            fixed (float* px = x, pw = w, pb = b, py = y)
            {
                var body = new ForwardBody((nint)px, (nint)pw, (nint)pb, (nint)py, b.Length, g, activation);
                ForEachImage(g, n, ref body);
            }
        }
    }

    private readonly unsafe struct ForwardBody(nint xp, nint wp, nint bp, nint yp, int bLen, Conv2dGeometry geo, Elementwise activation)
        : IImageBody
    {
        public void Run(int img, bool nested)
        {
            Conv2dGeometry gg = geo.PerGroup();
            int k = gg.PatchSize, p = gg.OutH * gg.OutW, f = gg.OutChannels;
            int inSize = gg.InChannels * gg.InH * gg.InW, outSize = f * p;
            long imgIn = (long)img * inSize * geo.Groups, imgOut = (long)img * outSize * geo.Groups;
            for (int grp = 0; grp < geo.Groups; grp++)
            {
                var xi = new ReadOnlySpan<float>((float*)xp + imgIn + (long)grp * inSize, inSize);  // x (C/G, H, W)
                var yi = new Span<float>((float*)yp + imgOut + (long)grp * outSize, outSize);        // y (F/G, P)
                var wSpan = new ReadOnlySpan<float>((float*)wp + (long)grp * f * k, f * k);          // w (F/G, K)
                if (bLen > 0)
                    for (int co = 0; co < f; co++) yi.Slice(co * p, p).Fill(((float*)bp)[grp * f + co]);
                if (IsDepthwise(gg))
                {
                    if (bLen == 0) yi.Clear(); // the direct path accumulates onto y
                    DepthwiseForward(xi, wSpan, yi, gg);
                    Epilogue.Apply(yi, activation);
                    continue;
                }
                // The pre-packed GEMM runs on this thread: use it unless this image alone is big enough to split across cores.
                if (gg.StrideW == 1 && p <= Gemm.MaxPackedN && (nested || (long)f * p * k < Gemm.ParallelThresholdMacs))
                {
                    Span<float> packed = Scratch(ref t_col, Gemm.PackedBLength(k, p));      // col (K, P), GEMM-packed
                    Im2PackedB(xi, packed, gg);
                    Gemm.MultiplyPackedB(false, f, p, k, wSpan, k, packed, yi, p, accumulate: bLen > 0, activation);
                }
                else
                {
                    Span<float> col = Scratch(ref t_col, k * p);                            // col (K, P)
                    Im2Col(xi, col, gg);
                    Gemm.Multiply(false, false, f, p, k, wSpan, k, col, p, yi, p, accumulate: bLen > 0, allowParallel: !nested, activation);
                }
            }
        }
    }

    /// <summary>dx (N, C, H, W) = convᵀ(dy (N, F, OutH, OutW), w): per image dcol (K, P) = wᵀ · dy, then col2im. Overwrites dx.</summary>
    public static void BackwardInput(ReadOnlySpan<float> dy, ReadOnlySpan<float> w, Span<float> dx, in Conv2dGeometry g, int n)
        => BackwardInput(dy, w, dx, g, n, default, Elementwise.Identity);

    /// <summary>
    /// As above, with the backward of the activation that produced x fused in: each image's dx is multiplied by act′(xAct)
    /// right after its col2im, where <paramref name="xAct"/> (N, C, H, W) is that activation's output.
    /// </summary>
    public static void BackwardInput(ReadOnlySpan<float> dy, ReadOnlySpan<float> w, Span<float> dx, in Conv2dGeometry g, int n,
        ReadOnlySpan<float> xAct, Elementwise activation)
    {
        Check(g, n, dx.Length, dy.Length, w.Length);
        if (!activation.IsIdentity) CheckLength(xAct, (long)n * g.InChannels * g.InH * g.InW, nameof(xAct));
        unsafe
        {
            fixed (float* pdy = dy, pw = w, pdx = dx, pa = xAct)
            {
                var body = new BackwardInputBody((nint)pdy, (nint)pw, (nint)pdx, (nint)pa, g, activation);
                ForEachImage(g, n, ref body);
            }
        }
    }

    private readonly unsafe struct BackwardInputBody(nint dyp, nint wp, nint dxp, nint ap, Conv2dGeometry geo, Elementwise activation)
        : IImageBody
    {
        public void Run(int img, bool nested)
        {
            Conv2dGeometry gg = geo.PerGroup();
            int k = gg.PatchSize, p = gg.OutH * gg.OutW, f = gg.OutChannels;
            int inSize = gg.InChannels * gg.InH * gg.InW, outSize = f * p;
            long imgIn = (long)img * inSize * geo.Groups, imgOut = (long)img * outSize * geo.Groups;
            for (int grp = 0; grp < geo.Groups; grp++)
            {
                var dyi = new ReadOnlySpan<float>((float*)dyp + imgOut + (long)grp * outSize, outSize); // dy (F/G, P)
                var dxi = new Span<float>((float*)dxp + imgIn + (long)grp * inSize, inSize);            // dx (C/G, H, W)
                if (IsDepthwise(gg))
                {
                    DepthwiseBackwardInput(dyi, new ReadOnlySpan<float>((float*)wp + (long)grp * f * k, f * k), dxi, gg);
                    continue;
                }
                Span<float> dcol = Scratch(ref t_col, k * p);                                           // dcol (K, P)
                Gemm.Multiply(true, false, k, p, f, new ReadOnlySpan<float>((float*)wp + (long)grp * f * k, f * k), k, dyi, p, dcol, p,
                    accumulate: false, allowParallel: !nested);
                Col2Im(dcol, dxi, gg);
            }
            if (!activation.IsIdentity)
            {
                long len = (long)inSize * geo.Groups;
                Epilogue.MaskGradient(new ReadOnlySpan<float>((float*)ap + imgIn, (int)len), new Span<float>((float*)dxp + imgIn, (int)len), activation);
            }
        }
    }

    /// <summary>dw (F, C/G, kh, kw) += Σ_images dy (F, P) · colᵀ, group by group; db (F) += Σ dy. Accumulates.</summary>
    public static void BackwardParams(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, Span<float> dw, Span<float> db, in Conv2dGeometry g, int n)
    {
        Check(g, n, x.Length, dy.Length, dw.Length);
        if (!db.IsEmpty) CheckLength(db, g.OutChannels, nameof(db));
        var geo = g;
        int inSize = g.InChannels * g.InH * g.InW, outSize = g.OutChannels * g.OutH * g.OutW;
        int f = g.OutChannels, k = g.PatchSize, p = g.OutH * g.OutW;
        bool hasBias = !db.IsEmpty;
        int chunks = ChunkCount(geo, n);
        // Each chunk of images sums into its own (dw, db) partial; partials are added into the caller's grads at the end.
        int partialSize = f * k + f;
        float[] partials = ArrayPool<float>.Shared.Rent(chunks * partialSize);
        try
        {
            unsafe
            {
                fixed (float* pdy = dy, px = x, ppart = partials)
                {
                    var body = new ParamsBody((nint)pdy, (nint)px, (nint)ppart, partialSize, chunks, n, geo, hasBias);
                    if (chunks == 1) body.Chunk(0, nested: false);
                    else CpuParallel.For(chunks, ref body);
                }
            }
            for (int c = 0; c < chunks; c++)
            {
                var part = partials.AsSpan(c * partialSize, partialSize);
                TensorPrimitives.Add(dw.Slice(0, f * k), part.Slice(0, f * k), dw.Slice(0, f * k));
                if (hasBias) TensorPrimitives.Add(db.Slice(0, f), part.Slice(f * k, f), db.Slice(0, f));
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(partials);
        }
    }

    private readonly unsafe struct ParamsBody(nint dyp, nint xp, nint partp, int partialSize, int chunks, int n, Conv2dGeometry geo, bool hasBias)
        : IParallelBody
    {
        public void Run(int chunk) => Chunk(chunk, nested: true);

        public void Chunk(int chunk, bool nested)
        {
            Conv2dGeometry gg = geo.PerGroup();
            int f = gg.OutChannels, k = gg.PatchSize, p = gg.OutH * gg.OutW, groups = geo.Groups;
            int inSize = gg.InChannels * gg.InH * gg.InW, outSize = f * p;
            var part = new Span<float>((float*)partp + (long)chunk * partialSize, partialSize);
            Span<float> dwPart = part.Slice(0, groups * f * k), dbPart = part.Slice(groups * f * k, groups * f); // dw (F, K), db (F)
            dbPart.Clear();
            var (start, end) = ChunkRange(chunk, chunks, n);
            for (int img = start; img < end; img++)
            {
                for (int grp = 0; grp < groups; grp++)
                {
                    long group = (long)img * groups + grp;
                    var dyi = new ReadOnlySpan<float>((float*)dyp + group * outSize, outSize); // dy (F/G, P)
                    var xi = new ReadOnlySpan<float>((float*)xp + group * inSize, inSize);     // x (C/G, H, W)
                    Span<float> dwg = dwPart.Slice(grp * f * k, f * k);                        // dw (F/G, K)
                    if (IsDepthwise(gg)) DepthwiseBackwardWeights(dyi, xi, dwg, gg, accumulate: img > start);
                    else if (gg.StrideW == 1 && k <= Gemm.MaxPackedN && (nested || (long)f * p * k < Gemm.ParallelThresholdMacs))
                    {
                        Span<float> packed = Scratch(ref t_col, Gemm.PackedBLength(p, k));     // colᵀ (P, K), GEMM-packed
                        Im2PackedBTransposed(xi, packed, gg);
                        Gemm.MultiplyPackedB(false, f, k, p, dyi, p, packed, dwg, k, accumulate: img > start);
                    }
                    else
                    {
                        Span<float> col = Scratch(ref t_col, k * p);                               // col (K, P)
                        Im2Col(xi, col, gg);
                        // colᵀ is read through the GEMM's transposing packer, so no transposed copy is made.
                        Gemm.Multiply(false, true, f, k, p, dyi, p, col, p, dwg, k, accumulate: img > start, allowParallel: !nested);
                    }
                    if (hasBias)
                        for (int co = 0; co < f; co++) dbPart[grp * f + co] += TensorPrimitives.Sum(dyi.Slice(co * p, p));
                }
            }
            if (end == start) dwPart.Clear();
        }
    }

    private static void Check(in Conv2dGeometry g, int n, int inputLength, int outputLength, int weightLength)
    {
        if (!g.IsValid(out string problem)) throw new ArgumentException($"Conv2d geometry {g} is invalid: {problem}.");
        if (inputLength < (long)n * g.InChannels * g.InH * g.InW) throw new ArgumentException($"Conv2d input has {inputLength} elements, {g} with N={n} needs {(long)n * g.InChannels * g.InH * g.InW}.");
        if (outputLength < (long)n * g.OutChannels * g.OutH * g.OutW) throw new ArgumentException($"Conv2d output has {outputLength} elements, {g} with N={n} needs {(long)n * g.OutChannels * g.OutH * g.OutW}.");
        if (weightLength < (long)g.OutChannels * g.PatchSize) throw new ArgumentException($"Conv2d weight has {weightLength} elements, {g} needs {(long)g.OutChannels * g.PatchSize}.");
    }

    private static int ChunkCount(in Conv2dGeometry g, int n)
    {
        long macs = (long)n * g.OutChannels * g.PatchSize * g.OutH * g.OutW;
        return macs < ParallelThresholdMacs ? 1 : Math.Min(n, Environment.ProcessorCount);
    }

    private static (int Start, int End) ChunkRange(int chunk, int chunks, int n) => ((int)((long)n * chunk / chunks), (int)((long)n * (chunk + 1) / chunks));

    private interface IImageBody
    {
        void Run(int img, bool nested);
    }

    /// <summary>Runs body.Run(image, nested) for every image: split across cores in contiguous chunks, or serially when small.</summary>
    private static unsafe void ForEachImage<T>(in Conv2dGeometry g, int n, ref T body) where T : struct, IImageBody
    {
        int chunks = ChunkCount(g, n);
        if (chunks == 1)
        {
            for (int img = 0; img < n; img++) body.Run(img, false);
            return;
        }
        var images = new Images<T>((nint)Unsafe.AsPointer(ref body));
        CpuRanges.For(n, chunks, ref images);
    }

    private readonly unsafe struct Images<T>(nint body) : IRangeBody where T : struct, IImageBody
    {
        public void Run(int start, int end)
        {
            for (int img = start; img < end; img++) Unsafe.AsRef<T>((void*)body).Run(img, true);
        }
    }

    private static Span<float> Scratch(ref float[]? slot, int length)
    {
        if (slot is null || slot.Length < length) slot = GC.AllocateUninitializedArray<float>(length);
        return slot.AsSpan(0, length);
    }

    // For the kernel tap kOffset columns into the window, the output columns whose input column ow·s − pad + kOffset lies inside [0, W).
    private static (int Start, int End) ValidRange(int kOffset, int stride, int pad, int inSize, int outSize)
    {
        int start = Math.Max(0, (pad - kOffset + stride - 1) / stride);
        int end = Math.Min(outSize, (inSize - 1 + pad - kOffset) / stride + 1);
        if (inSize - 1 + pad - kOffset < 0) end = 0;
        return (start, Math.Max(start, end));
    }

    /// <summary>col (K, P): row (c, ki, kj) holds x[c, oh·sh − ph + ki·dh, ow·sw − pw + kj·dw] for every output pixel, 0 in the padding.</summary>
    internal static void Im2Col(ReadOnlySpan<float> x, Span<float> col, in Conv2dGeometry g)
    {
        if (g.StrideW == 1) { Im2ColStride1(x, col, g); return; }
        int oh = g.OutH, ow = g.OutW, p = oh * ow;
        int r = 0;
        for (int c = 0; c < g.InChannels; c++)
        {
            var plane = x.Slice(c * g.InH * g.InW, g.InH * g.InW); // x (H, W)
            for (int ki = 0; ki < g.KernelH; ki++)
            {
                for (int kj = 0; kj < g.KernelW; kj++, r++)
                {
                    var dst = col.Slice(r * p, p);
                    var (o0, o1) = ValidRange(kj * g.DilationW, g.StrideW, g.PadW, g.InW, ow);
                    for (int y = 0; y < oh; y++)
                    {
                        var d = dst.Slice(y * ow, ow);
                        int ih = y * g.StrideH - g.PadH + ki * g.DilationH;
                        if ((uint)ih >= (uint)g.InH || o0 >= o1) { d.Clear(); continue; }
                        d.Slice(0, o0).Clear();
                        d.Slice(o1).Clear();
                        var src = plane.Slice(ih * g.InW);
                        int iw0 = o0 * g.StrideW - g.PadW + kj * g.DilationW;
                        if (g.StrideW == 1) src.Slice(iw0, o1 - o0).CopyTo(d.Slice(o0));
                        else for (int o = o0, iw = iw0; o < o1; o++, iw += g.StrideW) d[o] = src[iw];
                    }
                }
            }
        }
    }

    /// <summary>The adjoint of <see cref="Im2Col"/>: dx (C, H, W) = Σ over patches of dcol (K, P). Overwrites dx.</summary>
    internal static void Col2Im(ReadOnlySpan<float> dcol, Span<float> dx, in Conv2dGeometry g)
    {
        if (g.StrideW == 1) { Col2ImStride1(dcol, dx, g); return; }
        dx.Slice(0, g.InChannels * g.InH * g.InW).Clear();
        int oh = g.OutH, ow = g.OutW, p = oh * ow;
        int r = 0;
        for (int c = 0; c < g.InChannels; c++)
        {
            var plane = dx.Slice(c * g.InH * g.InW, g.InH * g.InW); // dx (H, W)
            for (int ki = 0; ki < g.KernelH; ki++)
            {
                for (int kj = 0; kj < g.KernelW; kj++, r++)
                {
                    var src = dcol.Slice(r * p, p);
                    var (o0, o1) = ValidRange(kj * g.DilationW, g.StrideW, g.PadW, g.InW, ow);
                    if (o0 >= o1) continue;
                    for (int y = 0; y < oh; y++)
                    {
                        int ih = y * g.StrideH - g.PadH + ki * g.DilationH;
                        if ((uint)ih >= (uint)g.InH) continue;
                        var s = src.Slice(y * ow, ow);
                        var dst = plane.Slice(ih * g.InW);
                        int iw0 = o0 * g.StrideW - g.PadW + kj * g.DilationW;
                        if (g.StrideW == 1)
                        {
                            var d = dst.Slice(iw0, o1 - o0);
                            TensorPrimitives.Add(d, s.Slice(o0, o1 - o0), d);
                        }
                        else for (int o = o0, iw = iw0; o < o1; o++, iw += g.StrideW) dst[iw] += s[o];
                    }
                }
            }
        }
    }

    // With unit column stride, every im2col row segment is ow consecutive floats of a zero-padded copy of the
    // plane, so copying the input once into padding turns the whole transform into short vector copies with no
    // per-segment clipping — the clipped version spent more time in bookkeeping than the GEMM spent computing.

    /// <summary>padded (C, H + pads, W + pads) = x with a zero border (or, for the adjoint, the border dropped).</summary>
    private static unsafe Span<float> PaddedScratch(in Conv2dGeometry g, out int hp, out int wp)
    {
        hp = g.InH + g.PadH + g.PadBottom; wp = g.InW + g.PadW + g.PadRight;
        return Scratch(ref t_padded, g.InChannels * hp * wp);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Im2ColStride1(ReadOnlySpan<float> x, Span<float> col, in Conv2dGeometry g)
    {
        Span<float> padded = PaddedScratch(g, out int hp, out int wp); // padded (C, Hp, Wp)
        int oh = g.OutH, ow = g.OutW, sh = g.StrideH;
        fixed (float* px = x, pp = padded, pc = col)
        {
            FillPadded(px, pp, g, hp, wp);
            float* d = pc;
            for (int c = 0; c < g.InChannels; c++)
                for (int ki = 0; ki < g.KernelH; ki++)
                    for (int kj = 0; kj < g.KernelW; kj++)
                    {
                        float* src = pp + (c * hp + ki * g.DilationH) * wp + kj * g.DilationW;
                        for (int oy = 0; oy < oh; oy++, d += ow) CopyRow(src + oy * sh * wp, d, ow);
                    }
        }
    }

    private static unsafe void FillPadded(float* x, float* padded, in Conv2dGeometry g, int hp, int wp)
    {
        int h = g.InH, w = g.InW;
        if (hp == h && wp == w)
        {
            long bytes = (long)g.InChannels * h * w * sizeof(float);
            Buffer.MemoryCopy(x, padded, bytes, bytes);
            return;
        }
        new Span<float>(padded, g.InChannels * hp * wp).Clear();
        for (int c = 0; c < g.InChannels; c++)
            for (int i = 0; i < h; i++)
                CopyRow(x + (c * h + i) * w, padded + (c * hp + i + g.PadH) * wp + g.PadW, w);
    }

    /// <summary>
    /// im2col written straight into the GEMM's packed-B layout (see <see cref="Gemm.PackedBLength"/>): the forward GEMM
    /// then skips its own packing pass, which for few output channels costs as much as the multiply.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Im2PackedB(ReadOnlySpan<float> x, Span<float> packed, in Conv2dGeometry g)
    {
        Span<float> padded = PaddedScratch(g, out int hp, out int wp); // padded (C, Hp, Wp)
        int oh = g.OutH, ow = g.OutW, p = oh * ow, k = g.PatchSize, sh = g.StrideH;
        int nr = Gemm.PanelWidth, kcMax = Gemm.DepthBlock(k);
        int slivers = (p + nr - 1) / nr, nPadded = slivers * nr, tail = nPadded - p;
        fixed (float* px = x, pp = padded, pk = packed)
        {
            FillPadded(px, pp, g, hp, wp);
            int r = 0;
            for (int c = 0; c < g.InChannels; c++)
                for (int ki = 0; ki < g.KernelH; ki++)
                    for (int kj = 0; kj < g.KernelW; kj++, r++)
                    {
                        int pc = r / kcMax * kcMax, kc = Math.Min(kcMax, k - pc);
                        float* row = pk + (long)pc * nPadded + (r - pc) * nr; // row r of sliver 0; sliver s is kc·nr further on
                        long sliverStride = (long)kc * nr;
                        float* src = pp + (c * hp + ki * g.DilationH) * wp + kj * g.DilationW;
                        for (int oy = 0; oy < oh; oy++)
                        {
                            // Output row oy is pixels [oy·ow, oy·ow + ow); split it where it crosses a sliver boundary.
                            float* s = src + oy * sh * wp;
                            int j = oy * ow, len = ow;
                            while (len > 0)
                            {
                                int lane = j % nr, take = Math.Min(len, nr - lane);
                                CopyRow(s, row + j / nr * sliverStride + lane, take);
                                s += take; j += take; len -= take;
                            }
                        }
                        if (tail > 0) new Span<float>(row + (slivers - 1) * sliverStride + nr - tail, tail).Clear();
                    }
        }
    }

    /// <summary>
    /// colᵀ (P, K) written straight into the GEMM's packed-B layout for the weight gradient: depth runs over pixels,
    /// each NR-wide sliver over patch rows. Eight pixels of one output row × eight patch rows are one 8×8 register
    /// transpose, so col is neither materialised nor transposed in memory.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Im2PackedBTransposed(ReadOnlySpan<float> x, Span<float> packed, in Conv2dGeometry g)
    {
        Span<float> padded = PaddedScratch(g, out int hp, out int wp); // padded (C, Hp, Wp)
        int oh = g.OutH, ow = g.OutW, p = oh * ow, k = g.PatchSize, sh = g.StrideH;
        int nr = Gemm.PanelWidth, kb = Gemm.DepthBlock(p);
        int slivers = (k + nr - 1) / nr, kPadded = slivers * nr;
        if (t_rowOffsets is null || t_rowOffsets.Length < kPadded) t_rowOffsets = new int[kPadded];
        Span<int> rowOffsets = t_rowOffsets.AsSpan(0, kPadded); // where patch row r = (c, ki, kj) starts in padded
        int r = 0;
        for (int c = 0; c < g.InChannels; c++)
            for (int ki = 0; ki < g.KernelH; ki++)
                for (int kj = 0; kj < g.KernelW; kj++)
                    rowOffsets[r++] = (c * hp + ki * g.DilationH) * wp + kj * g.DilationW;
        bool simd = Avx.IsSupported;
        fixed (float* px = x, pp = padded, pk = packed)
        fixed (int* off = rowOffsets)
        {
            FillPadded(px, pp, g, hp, wp);
            for (int pc = 0; pc < p; pc += kb)
            {
                int kc = Math.Min(kb, p - pc);
                for (int s = 0; s < slivers; s++)
                {
                    float* sliver = pk + (long)pc * kPadded + (long)s * kc * nr; // (kc pixels, nr patch rows)
                    int r0 = s * nr, lanes = Math.Min(nr, k - r0);
                    for (int q = pc; q < pc + kc;)
                    {
                        int oy = q / ow, ox = q - oy * ow;
                        int pixel = oy * sh * wp + ox; // offset of pixel q's window origin in a padded plane
                        float* dst = sliver + (long)(q - pc) * nr;
                        if (simd && lanes == nr && ox + 8 <= ow && q + 8 <= pc + kc)
                        {
                            for (int l = 0; l < nr; l += 8)
                            {
                                int* o = off + r0 + l;
                                Gemm.Transpose8x8(
                                    Vector256.Load(pp + o[0] + pixel), Vector256.Load(pp + o[1] + pixel),
                                    Vector256.Load(pp + o[2] + pixel), Vector256.Load(pp + o[3] + pixel),
                                    Vector256.Load(pp + o[4] + pixel), Vector256.Load(pp + o[5] + pixel),
                                    Vector256.Load(pp + o[6] + pixel), Vector256.Load(pp + o[7] + pixel), dst + l, nr);
                            }
                            q += 8;
                        }
                        else
                        {
                            for (int l = 0; l < lanes; l++) dst[l] = pp[off[r0 + l] + pixel];
                            for (int l = lanes; l < nr; l++) dst[l] = 0f;
                            q++;
                        }
                    }
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Col2ImStride1(ReadOnlySpan<float> dcol, Span<float> dx, in Conv2dGeometry g)
    {
        Span<float> padded = PaddedScratch(g, out int hp, out int wp); // dpadded (C, Hp, Wp)
        padded.Clear();
        int oh = g.OutH, ow = g.OutW, h = g.InH, w = g.InW, sh = g.StrideH;
        fixed (float* pd = dcol, pp = padded, px = dx)
        {
            float* s = pd;
            for (int c = 0; c < g.InChannels; c++)
                for (int ki = 0; ki < g.KernelH; ki++)
                    for (int kj = 0; kj < g.KernelW; kj++)
                    {
                        float* dst = pp + (c * hp + ki * g.DilationH) * wp + kj * g.DilationW;
                        for (int oy = 0; oy < oh; oy++, s += ow) AddRow(s, dst + oy * sh * wp, ow);
                    }
            // Gradients that landed in the border belong to padding, not to x.
            for (int c = 0; c < g.InChannels; c++)
                for (int i = 0; i < h; i++)
                    CopyRow(pp + (c * hp + i + g.PadH) * wp + g.PadW, px + (c * h + i) * w, w);
        }
    }

    // A group with one input channel (depthwise, any channel multiplier) and unit stride: K = kh·kw is tiny, so an
    // im2col + GEMM would mostly move data and waste the 8-row register tile on one row. Instead each output row is
    // accumulated directly from kh·kw shifted rows of the zero-padded plane, 16 outputs per register.

    private static bool IsDepthwise(in Conv2dGeometry perGroup) => perGroup.InChannels == 1 && perGroup.StrideH == 1 && perGroup.StrideW == 1;

    /// <summary>y (M, P) += Σ_taps w[m, tap] · shifted padded x, for one input channel and its M output channels.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void DepthwiseForward(ReadOnlySpan<float> x, ReadOnlySpan<float> w, Span<float> y, in Conv2dGeometry g)
    {
        Span<float> padded = PaddedScratch(g, out int hp, out int wp); // padded (1, Hp, Wp)
        int oh = g.OutH, ow = g.OutW, taps = g.KernelH * g.KernelW;
        fixed (float* px = x, pp = padded, pw = w, py = y)
        {
            FillPadded(px, pp, g, hp, wp);
            for (int m = 0; m < g.OutChannels; m++)
            {
                float* wm = pw + m * taps;
                for (int oy = 0; oy < oh; oy++)
                {
                    float* yr = py + ((long)m * oh + oy) * ow;
                    int ox = 0;
                    if (Vector512.IsHardwareAccelerated)
                        for (; ox + 16 <= ow; ox += 16)
                        {
                            var acc = Vector512.Load(yr + ox);
                            for (int ki = 0; ki < g.KernelH; ki++)
                            {
                                float* src = pp + (oy + ki * g.DilationH) * wp + ox;
                                for (int kj = 0; kj < g.KernelW; kj++)
                                    acc = Vector512.FusedMultiplyAdd(Vector512.Create(wm[ki * g.KernelW + kj]), Vector512.Load(src + kj * g.DilationW), acc);
                            }
                            acc.Store(yr + ox);
                        }
                    for (; ox < ow; ox++)
                    {
                        float s = yr[ox];
                        for (int ki = 0; ki < g.KernelH; ki++)
                            for (int kj = 0; kj < g.KernelW; kj++)
                                s += wm[ki * g.KernelW + kj] * pp[(oy + ki * g.DilationH) * wp + ox + kj * g.DilationW];
                        yr[ox] = s;
                    }
                }
            }
        }
    }

    /// <summary>dx (1, H, W) = Σ_m Σ_taps w[m, tap] · dy[m] scattered to the shifted positions, cropped out of the padding. Overwrites dx.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void DepthwiseBackwardInput(ReadOnlySpan<float> dy, ReadOnlySpan<float> w, Span<float> dx, in Conv2dGeometry g)
    {
        Span<float> padded = PaddedScratch(g, out int hp, out int wp); // dpadded (1, Hp, Wp)
        padded.Clear();
        int oh = g.OutH, ow = g.OutW, taps = g.KernelH * g.KernelW;
        fixed (float* pd = dy, pp = padded, pw = w, px = dx)
        {
            for (int m = 0; m < g.OutChannels; m++)
                for (int ki = 0; ki < g.KernelH; ki++)
                    for (int kj = 0; kj < g.KernelW; kj++)
                    {
                        float wt = pw[m * taps + ki * g.KernelW + kj];
                        for (int oy = 0; oy < oh; oy++)
                            AxpyRow(wt, pd + ((long)m * oh + oy) * ow, pp + (oy + ki * g.DilationH) * wp + kj * g.DilationW, ow);
                    }
            for (int i = 0; i < g.InH; i++)
                CopyRow(pp + (i + g.PadH) * wp + g.PadW, px + i * g.InW, g.InW);
        }
    }

    /// <summary>dw (M, kh·kw) (+)= Σ_pixels dy[m] · shifted padded x: one dot product per output row and tap.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void DepthwiseBackwardWeights(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, Span<float> dw, in Conv2dGeometry g, bool accumulate)
    {
        Span<float> padded = PaddedScratch(g, out int hp, out int wp); // padded (1, Hp, Wp)
        int oh = g.OutH, ow = g.OutW, taps = g.KernelH * g.KernelW;
        fixed (float* px = x, pp = padded, pd = dy, pw = dw)
        {
            FillPadded(px, pp, g, hp, wp);
            for (int m = 0; m < g.OutChannels; m++)
                for (int ki = 0; ki < g.KernelH; ki++)
                    for (int kj = 0; kj < g.KernelW; kj++)
                    {
                        float s = 0f;
                        for (int oy = 0; oy < oh; oy++)
                            s += TensorPrimitives.Dot(new ReadOnlySpan<float>(pd + ((long)m * oh + oy) * ow, ow),
                                new ReadOnlySpan<float>(pp + (oy + ki * g.DilationH) * wp + kj * g.DilationW, ow));
                        float* slot = pw + m * taps + ki * g.KernelW + kj;
                        *slot = accumulate ? *slot + s : s;
                    }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void AxpyRow(float a, float* src, float* dst, int len)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var av = Vector512.Create(a);
            for (; i + 16 <= len; i += 16) Vector512.Store(Vector512.FusedMultiplyAdd(av, Vector512.Load(src + i), Vector512.Load(dst + i)), dst + i);
        }
        for (; i < len; i++) dst[i] += a * src[i];
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void CopyRow(float* src, float* dst, int len)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; i + 16 <= len; i += 16) Vector512.Store(Vector512.Load(src + i), dst + i);
        for (; i + 8 <= len; i += 8) Vector256.Store(Vector256.Load(src + i), dst + i);
        for (; i < len; i++) dst[i] = src[i];
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void AddRow(float* src, float* dst, int len)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; i + 16 <= len; i += 16) Vector512.Store(Vector512.Load(dst + i) + Vector512.Load(src + i), dst + i);
        for (; i + 8 <= len; i += 8) Vector256.Store(Vector256.Load(dst + i) + Vector256.Load(src + i), dst + i);
        for (; i < len; i++) dst[i] += src[i];
    }
}
