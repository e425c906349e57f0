// 2-D max pooling on the CPU (any window, stride, padding, dilation, ceil mode): forward records each window's winner so
// backward is a plain scatter.
using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using GraphCompiler.Compiler;

namespace GraphCompiler.Backends.Cpu;

public static class MaxPool2dKernels
{
    // Planes are independent; below this many input elements a single thread is faster than waking another.
    private const long ParallelThresholdElements = 1 << 18;

    /// <summary>
    /// y (N, C, OutH, OutW) = window max of x (N, C, InH, InW); argmax (N, C, OutH, OutW) = ih·InW + iw of the max within
    /// its plane. Padding counts as −∞, and the first maximum in row-major window order wins, as in PyTorch.
    /// </summary>
    public static void Forward(ReadOnlySpan<float> x, Span<float> y, Span<int> argmax, in Pool2dGeometry g, int n)
    {
        int planes = Check(g, n, x.Length, y.Length, argmax.Length);
        int inPlane = g.InH * g.InW, outPlane = g.OutH * g.OutW;
        var geo = g;
        unsafe
        {
            fixed (float* px = x, py = y)
            fixed (int* pa = argmax)
            {
                var body = new ForwardBody((nint)px, (nint)py, (nint)pa, inPlane, outPlane, geo);
                CpuRanges.For(planes, Chunks(planes, (long)planes * inPlane), ref body);
            }
        }
    }

    private readonly unsafe struct ForwardBody(nint xp, nint yp, nint ap, int inPlane, int outPlane, Pool2dGeometry geo) : IRangeBody
    {
        public void Run(int start, int end)
        {
            for (int pl = start; pl < end; pl++)
                ForwardPlane(new ReadOnlySpan<float>((float*)xp + (long)pl * inPlane, inPlane),
                    new Span<float>((float*)yp + (long)pl * outPlane, outPlane),
                    new Span<int>((int*)ap + (long)pl * outPlane, outPlane), geo);
        }
    }

    private static void ForwardPlane(ReadOnlySpan<float> x, Span<float> y, Span<int> argmax, in Pool2dGeometry g)
    {
        if (g.IsPlain2x2)
        {
            if (g.OutW % 16 != 0 && Avx2.IsSupported) ForwardPlane2x2Gather(x, y, argmax, g.InW, g.OutH, g.OutW);
            else ForwardPlane2x2(x, y, argmax, g.InW, g.OutH, g.OutW);
            return;
        }
        int ow = g.OutW, dh = g.DilationH, dw = g.DilationW;
        for (int oy = 0; oy < g.OutH; oy++)
        {
            int h0 = oy * g.StrideH - g.PadH;
            var (ks, ke) = Taps(h0, dh, g.KernelH, g.InH);
            for (int ox = 0; ox < ow; ox++)
            {
                int w0 = ox * g.StrideW - g.PadW;
                var (js, je) = Taps(w0, dw, g.KernelW, g.InW);
                float best = float.NegativeInfinity;
                int arg = -1; // stays −1 only if the window lies wholly in the padding
                for (int ki = ks; ki < ke; ki++)
                {
                    int ih = h0 + ki * dh;
                    var row = x.Slice(ih * g.InW);
                    for (int kj = js, iw = w0 + js * dw; kj < je; kj++, iw += dw)
                    {
                        float v = row[iw];
                        // The first maximum in window order wins; a NaN wins and stays, as in PyTorch.
                        if (v > best || arg < 0 || float.IsNaN(v)) { best = v; arg = ih * g.InW + iw; }
                    }
                }
                y[oy * ow + ox] = best;
                argmax[oy * ow + ox] = arg;
            }
        }
    }

    /// <summary>The kernel taps [start, end) whose input index origin + tap·dilation lies inside [0, size).</summary>
    internal static (int Start, int End) Taps(int origin, int dilation, int kernel, int size)
    {
        int start = origin >= 0 ? 0 : (-origin + dilation - 1) / dilation;
        int end = origin > size - 1 ? 0 : Math.Min(kernel, (size - 1 - origin) / dilation + 1);
        return (start, Math.Max(start, end));
    }

    /// <summary>
    /// The CNN workhorse (kernel 2, stride 2, no padding): no window clipping, and no data-dependent branches —
    /// on real activations the winner is random, so branches would mispredict half the time.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void ForwardPlane2x2(ReadOnlySpan<float> x, Span<float> y, Span<int> argmax, int inW, int oh, int ow)
    {
        fixed (float* px = x, py = y)
        fixed (int* pa = argmax)
        {
            for (int oy = 0; oy < oh; oy++)
            {
                float* r0 = px + 2 * oy * inW, r1 = r0 + inW;
                float* yo = py + oy * ow;
                int* ao = pa + oy * ow;
                int base0 = 2 * oy * inW;
                int ox = 0;
                if (Avx512F.IsSupported)
                {
                    // 16 outputs at a time: split each pair of 16-float loads into even and odd columns, then
                    // compare in window order with strict '>' so the first maximum wins, as in PyTorch.
                    var evenIdx = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
                    var oddIdx = evenIdx + Vector512<int>.One;
                    for (; ox + 16 <= ow; ox += 16)
                    {
                        int j = 2 * ox;
                        Vector512<float> a0 = Vector512.Load(r0 + j), a1 = Vector512.Load(r0 + j + 16);
                        Vector512<float> b0 = Vector512.Load(r1 + j), b1 = Vector512.Load(r1 + j + 16);
                        var best = Avx512F.PermuteVar16x32x2(a0, evenIdx, a1);
                        var arg = Vector512.Create(base0 + j) + evenIdx;
                        Pick(ref best, ref arg, Avx512F.PermuteVar16x32x2(a0, oddIdx, a1), Vector512.Create(base0 + j + 1) + evenIdx);
                        Pick(ref best, ref arg, Avx512F.PermuteVar16x32x2(b0, evenIdx, b1), Vector512.Create(base0 + inW + j) + evenIdx);
                        Pick(ref best, ref arg, Avx512F.PermuteVar16x32x2(b0, oddIdx, b1), Vector512.Create(base0 + inW + j + 1) + evenIdx);
                        best.Store(yo + ox);
                        arg.Store(ao + ox);
                    }
                }
                for (; ox < ow; ox++)
                {
                    int j = 2 * ox;
                    float best = r0[j]; int arg = base0 + j;
                    float v = r0[j + 1]; bool gt = v > best; best = gt ? v : best; arg = gt ? base0 + j + 1 : arg;
                    v = r1[j]; gt = v > best; best = gt ? v : best; arg = gt ? base0 + inW + j : arg;
                    v = r1[j + 1]; gt = v > best; best = gt ? v : best; arg = gt ? base0 + inW + j + 1 : arg;
                    yo[ox] = best;
                    ao[ox] = arg;
                }
            }
        }
    }

    // Narrow planes (OutW 8 or 4 in CifarNet) leave a 16-wide row loop nothing to do; there, eight windows at a time
    // are fetched with gathers, using a table of each window's top-left input index. One table pair per plane shape,
    // built once and shared: a model's pools alternate between shapes every step, and a rebuilt table is an allocation.
    private static readonly ConcurrentDictionary<(int InW, int OH, int OW), (int[] Starts, int[] WindowOf)> TableCache = new();

    private static void Tables(int inW, int oh, int ow, out int[] windowStarts, out int[] windowOfInput)
    {
        (windowStarts, windowOfInput) = TableCache.GetOrAdd((inW, oh, ow), static key =>
        {
            var (inW, oh, ow) = key;
            var starts = new int[oh * ow];
            var windowOf = new int[4 * oh * ow];
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++)
                    starts[oy * ow + ox] = 2 * oy * inW + 2 * ox;
            for (int iy = 0; iy < 2 * oh; iy++)
                for (int ix = 0; ix < 2 * ow; ix++)
                    windowOf[iy * 2 * ow + ix] = iy / 2 * ow + ix / 2;
            return (starts, windowOf);
        });
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void ForwardPlane2x2Gather(ReadOnlySpan<float> x, Span<float> y, Span<int> argmax, int inW, int oh, int ow)
    {
        Tables(inW, oh, ow, out int[] starts, out _);
        int count = oh * ow;
        fixed (float* px = x, py = y)
        fixed (int* pa = argmax, st = starts)
        {
            var right = Vector256<int>.One;
            var down = Vector256.Create(inW);
            int o = 0;
            for (; o + 8 <= count; o += 8)
            {
                var i0 = Vector256.Load(st + o);
                var best = Avx2.GatherVector256(px, i0, 4);
                var arg = i0;
                var i1 = i0 + right; Pick(ref best, ref arg, Avx2.GatherVector256(px, i1, 4), i1);
                var i2 = i0 + down; Pick(ref best, ref arg, Avx2.GatherVector256(px, i2, 4), i2);
                var i3 = i2 + right; Pick(ref best, ref arg, Avx2.GatherVector256(px, i3, 4), i3);
                best.Store(py + o);
                arg.Store(pa + o);
            }
            for (; o < count; o++)
            {
                int i = st[o];
                float best = px[i]; int arg = i;
                if (px[i + 1] > best) { best = px[i + 1]; arg = i + 1; }
                if (px[i + inW] > best) { best = px[i + inW]; arg = i + inW; }
                if (px[i + inW + 1] > best) { best = px[i + inW + 1]; arg = i + inW + 1; }
                py[o] = best;
                pa[o] = arg;
            }
        }
    }

    /// <summary>Input-centric 2×2 backward: each input fetches its window's dy and winner, keeps dy if it is the winner.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void BackwardPlane2x2Gather(float* dy, int* argmax, float* dx, int inW, int oh, int ow)
    {
        Tables(inW, oh, ow, out _, out int[] windowOf);
        int count = 4 * oh * ow;
        fixed (int* wo = windowOf)
        {
            var lane = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7);
            int i = 0;
            for (; i + 8 <= count; i += 8)
            {
                var w = Vector256.Load(wo + i);
                var winner = Avx2.GatherVector256(argmax, w, 4);
                var g = Avx2.GatherVector256(dy, w, 4);
                (g & Vector256.Equals(winner, Vector256.Create(i) + lane).AsSingle()).Store(dx + i);
            }
            for (; i < count; i++) dx[i] = argmax[wo[i]] == i ? dy[wo[i]] : 0f;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Pick(ref Vector256<float> best, ref Vector256<int> arg, Vector256<float> v, Vector256<int> index)
    {
        var gt = Vector256.GreaterThan(v, best);
        best = Vector256.ConditionalSelect(gt, v, best);
        arg = Vector256.ConditionalSelect(gt.AsInt32(), index, arg);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Pick(ref Vector512<float> best, ref Vector512<int> arg, Vector512<float> v, Vector512<int> index)
    {
        var gt = Vector512.GreaterThan(v, best);
        best = Vector512.ConditionalSelect(gt, v, best);
        arg = Vector512.ConditionalSelect(gt.AsInt32(), index, arg);
    }

    /// <summary>dx (N, C, InH, InW) = Σ of dy routed to each window's argmax. Overwrites dx.</summary>
    public static void Backward(ReadOnlySpan<float> dy, ReadOnlySpan<int> argmax, Span<float> dx, in Pool2dGeometry g, int n)
        => Backward(dy, argmax, dx, g, n, default, Elementwise.Identity);

    /// <summary>
    /// As above, with the backward of an activation that precedes the pool fused in: dx = Σ (dy · act′(y)) routed to each
    /// argmax, where <paramref name="y"/> is this pool's output (N, C, OutH, OutW). Since y[o] is the activation's output
    /// at argmax[o], act′(y[o]) is exactly the activation's mask there, so no separate pass over dx is needed.
    /// </summary>
    public static void Backward(ReadOnlySpan<float> dy, ReadOnlySpan<int> argmax, Span<float> dx, in Pool2dGeometry g, int n,
        ReadOnlySpan<float> y, Elementwise activation)
    {
        int planes = Check(g, n, dx.Length, dy.Length, argmax.Length);
        if (!activation.IsIdentity && y.Length < dy.Length)
            throw new ArgumentException($"MaxPool2d output has {y.Length} elements, its gradient {dy.Length}.", nameof(y));
        int inPlane = g.InH * g.InW, outPlane = g.OutH * g.OutW;
        // 2×2/2 windows that tile the plane exactly cover every input once: write each window whole, no clear, no scatter.
        bool tiled = g.IsPlain2x2 && g.InH % 2 == 0 && g.InW % 2 == 0;
        unsafe
        {
            fixed (float* pdy = dy, pdx = dx, py = y)
            fixed (int* pa = argmax)
            {
                var body = new BackwardBody((nint)pdy, (nint)pdx, (nint)pa, (nint)py, activation, inPlane, outPlane, tiled, g.InW, g.OutH, g.OutW);
                CpuRanges.For(planes, Chunks(planes, (long)planes * inPlane), ref body);
            }
        }
    }

    [ThreadStatic] private static float[]? t_maskedDy;

    private readonly unsafe struct BackwardBody(nint dyp, nint dxp, nint ap, nint yp, Elementwise activation,
        int inPlane, int outPlane, bool tiled, int inW, int oh, int ow) : IRangeBody
    {
        public void Run(int start, int end)
        {
            float[]? masked = null;
            if (!activation.IsIdentity)
            {
                if (t_maskedDy is null || t_maskedDy.Length < outPlane) t_maskedDy = new float[outPlane];
                masked = t_maskedDy;
            }
            fixed (float* pm = masked)
            {
                for (int pl = start; pl < end; pl++)
                {
                    float* d = (float*)dxp + (long)pl * inPlane;          // dx (InH, InW)
                    float* s = (float*)dyp + (long)pl * outPlane;         // dy (OutH, OutW)
                    int* a = (int*)ap + (long)pl * outPlane;              // argmax (OutH, OutW)
                    if (pm != null)
                    {
                        // dy · act′(y) for one plane: a few hundred floats in L1, read once by the scatter below.
                        new ReadOnlySpan<float>(s, outPlane).CopyTo(new Span<float>(pm, outPlane));
                        Epilogue.MaskGradient(new ReadOnlySpan<float>((float*)yp + (long)pl * outPlane, outPlane), new Span<float>(pm, outPlane), activation);
                        s = pm;
                    }
                    if (tiled && ow % 16 != 0 && Avx2.IsSupported) { BackwardPlane2x2Gather(s, a, d, inW, oh, ow); continue; }
                    if (tiled) { BackwardPlane2x2(s, a, d, inW, oh, ow); continue; }
                    new Span<float>(d, inPlane).Clear();
                    for (int o = 0; o < outPlane; o++)
                    {
                        int i = a[o];
                        if ((uint)i < (uint)inPlane) d[i] += s[o]; // overlapping windows may share a winner
                    }
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void BackwardPlane2x2(float* dy, int* argmax, float* dx, int inW, int oh, int ow)
    {
        for (int oy = 0; oy < oh; oy++)
        {
            float* r0 = dx + 2 * oy * inW, r1 = r0 + inW;
            float* s = dy + oy * ow;
            int* a = argmax + oy * ow;
            int base0 = 2 * oy * inW;
            int ox = 0;
            if (Avx512F.IsSupported)
            {
                // The inverse of the forward's even/odd split: interleave the four window positions back into two rows.
                var evenIdx = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
                var loIdx = Vector512.Create(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
                var hiIdx = loIdx + Vector512.Create(8);
                for (; ox + 16 <= ow; ox += 16)
                {
                    int j = 2 * ox;
                    var g = Vector512.Load(s + ox);
                    var arg = Vector512.Load(a + ox);
                    var pos = Vector512.Create(base0 + j) + evenIdx;
                    var v00 = g & Vector512.Equals(arg, pos).AsSingle();
                    var v01 = g & Vector512.Equals(arg, pos + Vector512<int>.One).AsSingle();
                    var v10 = g & Vector512.Equals(arg, pos + Vector512.Create(inW)).AsSingle();
                    var v11 = g & Vector512.Equals(arg, pos + Vector512.Create(inW + 1)).AsSingle();
                    Avx512F.PermuteVar16x32x2(v00, loIdx, v01).Store(r0 + j);
                    Avx512F.PermuteVar16x32x2(v00, hiIdx, v01).Store(r0 + j + 16);
                    Avx512F.PermuteVar16x32x2(v10, loIdx, v11).Store(r1 + j);
                    Avx512F.PermuteVar16x32x2(v10, hiIdx, v11).Store(r1 + j + 16);
                }
            }
            for (; ox < ow; ox++)
            {
                int j = 2 * ox, w = a[ox] - base0;
                float g = s[ox];
                r0[j] = w == j ? g : 0f;
                r0[j + 1] = w == j + 1 ? g : 0f;
                r1[j] = w == inW + j ? g : 0f;
                r1[j + 1] = w == inW + j + 1 ? g : 0f;
            }
        }
    }

    private static int Check(in Pool2dGeometry g, int n, int inputLength, int outputLength, int argmaxLength)
    {
        if (!g.IsValid(out string problem)) throw new ArgumentException($"MaxPool2d geometry {g} is invalid: {problem}.");
        int planes = checked(n * g.Channels);
        if (inputLength < (long)planes * g.InH * g.InW) throw new ArgumentException($"MaxPool2d input has {inputLength} elements, {g} with N={n} needs {(long)planes * g.InH * g.InW}.");
        if (outputLength < (long)planes * g.OutH * g.OutW) throw new ArgumentException($"MaxPool2d output has {outputLength} elements, {g} with N={n} needs {(long)planes * g.OutH * g.OutW}.");
        if (argmaxLength < (long)planes * g.OutH * g.OutW) throw new ArgumentException($"MaxPool2d argmax has {argmaxLength} elements, {g} with N={n} needs {(long)planes * g.OutH * g.OutW}.");
        return planes;
    }

    private static int Chunks(int planes, long work) =>
        work < ParallelThresholdElements ? 1 : Math.Min(planes, Environment.ProcessorCount);
}
