// 2-D max pooling on the CPU: forward records each window's winner so backward is a plain scatter.

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
                nint xp = (nint)px, yp = (nint)py, ap = (nint)pa;
                ForPlanes(planes, (long)planes * inPlane, (start, end) =>
                {
                    for (int pl = start; pl < end; pl++)
                        ForwardPlane(new ReadOnlySpan<float>((float*)xp + (long)pl * inPlane, inPlane),
                            new Span<float>((float*)yp + (long)pl * outPlane, outPlane),
                            new Span<int>((int*)ap + (long)pl * outPlane, outPlane), geo);
                });
            }
        }
    }

    private static void ForwardPlane(ReadOnlySpan<float> x, Span<float> y, Span<int> argmax, in Pool2dGeometry g)
    {
        int ow = g.OutW;
        for (int oy = 0; oy < g.OutH; oy++)
        {
            int h0 = oy * g.StrideH - g.PadH;
            int hs = Math.Max(h0, 0), he = Math.Min(h0 + g.KernelH, g.InH);
            for (int ox = 0; ox < ow; ox++)
            {
                int w0 = ox * g.StrideW - g.PadW;
                int ws = Math.Max(w0, 0), we = Math.Min(w0 + g.KernelW, g.InW);
                float best = float.NegativeInfinity;
                int arg = -1; // stays −1 only if the window lies wholly in the padding
                for (int ih = hs; ih < he; ih++)
                {
                    var row = x.Slice(ih * g.InW);
                    for (int iw = ws; iw < we; iw++)
                    {
                        float v = row[iw];
                        if (v > best || arg < 0) { best = v; arg = ih * g.InW + iw; }
                    }
                }
                y[oy * ow + ox] = best;
                argmax[oy * ow + ox] = arg;
            }
        }
    }

    /// <summary>dx (N, C, InH, InW) = Σ of dy routed to each window's argmax. Overwrites dx.</summary>
    public static void Backward(ReadOnlySpan<float> dy, ReadOnlySpan<int> argmax, Span<float> dx, in Pool2dGeometry g, int n)
    {
        int planes = Check(g, n, dx.Length, dy.Length, argmax.Length);
        int inPlane = g.InH * g.InW, outPlane = g.OutH * g.OutW;
        unsafe
        {
            fixed (float* pdy = dy, pdx = dx)
            fixed (int* pa = argmax)
            {
                nint dyp = (nint)pdy, dxp = (nint)pdx, ap = (nint)pa;
                ForPlanes(planes, (long)planes * inPlane, (start, end) =>
                {
                    for (int pl = start; pl < end; pl++)
                    {
                        float* d = (float*)dxp + (long)pl * inPlane;          // dx (InH, InW)
                        float* s = (float*)dyp + (long)pl * outPlane;         // dy (OutH, OutW)
                        int* a = (int*)ap + (long)pl * outPlane;              // argmax (OutH, OutW)
                        new Span<float>(d, inPlane).Clear();
                        for (int o = 0; o < outPlane; o++)
                        {
                            int i = a[o];
                            if ((uint)i < (uint)inPlane) d[i] += s[o]; // overlapping windows may share a winner
                        }
                    }
                });
            }
        }
    }

    private static int Check(in Pool2dGeometry g, int n, int inputLength, int outputLength, int argmaxLength)
    {
        if (g.OutH <= 0 || g.OutW <= 0 || g.StrideH <= 0 || g.StrideW <= 0)
            throw new ArgumentException($"MaxPool2d geometry {g} gives no output pixels.");
        int planes = checked(n * g.Channels);
        if (inputLength < (long)planes * g.InH * g.InW) throw new ArgumentException($"MaxPool2d input has {inputLength} elements, {g} with N={n} needs {(long)planes * g.InH * g.InW}.");
        if (outputLength < (long)planes * g.OutH * g.OutW) throw new ArgumentException($"MaxPool2d output has {outputLength} elements, {g} with N={n} needs {(long)planes * g.OutH * g.OutW}.");
        if (argmaxLength < (long)planes * g.OutH * g.OutW) throw new ArgumentException($"MaxPool2d argmax has {argmaxLength} elements, {g} with N={n} needs {(long)planes * g.OutH * g.OutW}.");
        return planes;
    }

    private static void ForPlanes(int planes, long work, Action<int, int> body)
    {
        int chunks = work < ParallelThresholdElements ? 1 : Math.Min(planes, Environment.ProcessorCount);
        if (chunks == 1) { body(0, planes); return; }
        Parallel.For(0, chunks, c => body((int)((long)planes * c / chunks), (int)((long)planes * (c + 1) / chunks)));
    }
}
