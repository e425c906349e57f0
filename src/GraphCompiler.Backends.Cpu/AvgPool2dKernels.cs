// 2-D average pooling on the CPU (any window, stride, padding, ceil mode, count_include_pad), forward and backward.
using System.Numerics.Tensors;
using GraphCompiler.Compiler;

namespace GraphCompiler.Backends.Cpu;

/// <summary>
/// Each output is the sum of its window's in-bounds inputs over a divisor that follows PyTorch's avg_pool2d: the
/// window's size clipped to the padded input (count_include_pad) or its in-bounds element count. Planes are
/// independent and split across cores; backward spreads dy / divisor back over each window.
/// </summary>
public static class AvgPool2dKernels
{
    private const long ParallelThresholdElements = 1 << 17;

    /// <summary>y (N, C, OutH, OutW) = window means of x (N, C, InH, InW). Overwrites y.</summary>
    public static unsafe void Forward(ReadOnlySpan<float> x, Span<float> y, in Pool2dGeometry g, int n)
    {
        int planes = Check(g, n, x.Length, y.Length);
        fixed (float* px = x, py = y)
        {
            var body = new Body((nint)px, (nint)py, g, backward: false);
            CpuRanges.For(planes, Chunks(planes, (long)planes * g.InH * g.InW), ref body);
        }
    }

    /// <summary>dx (N, C, InH, InW) = Σ over the windows containing each input of dy / divisor. Overwrites dx.</summary>
    public static unsafe void Backward(ReadOnlySpan<float> dy, Span<float> dx, in Pool2dGeometry g, int n)
    {
        int planes = Check(g, n, dx.Length, dy.Length);
        fixed (float* pdy = dy, pdx = dx)
        {
            var body = new Body((nint)pdy, (nint)pdx, g, backward: true);
            CpuRanges.For(planes, Chunks(planes, (long)planes * g.InH * g.InW), ref body);
        }
    }

    private readonly unsafe struct Body(nint src, nint dst, Pool2dGeometry g, bool backward) : IRangeBody
    {
        public void Run(int start, int end)
        {
            int inPlane = g.InH * g.InW, outPlane = g.OutH * g.OutW;
            for (int pl = start; pl < end; pl++)
            {
                if (backward) BackwardPlane((float*)src + (long)pl * outPlane, (float*)dst + (long)pl * inPlane, g);
                else ForwardPlane((float*)src + (long)pl * inPlane, (float*)dst + (long)pl * outPlane, g);
            }
        }
    }

    /// <summary>One output's in-bounds window [h0, h1) × [w0, w1) and its divisor; the divisor is 0 for a window wholly in padding.</summary>
    internal static float Window(in Pool2dGeometry g, int oy, int ox, out int h0, out int h1, out int w0, out int w1)
    {
        int hs = oy * g.StrideH - g.PadH, ws = ox * g.StrideW - g.PadW;
        int he = Math.Min(hs + g.KernelH, g.InH + g.PadBottom), we = Math.Min(ws + g.KernelW, g.InW + g.PadRight);
        int poolSize = (he - hs) * (we - ws);
        h0 = Math.Max(hs, 0); w0 = Math.Max(ws, 0); h1 = Math.Min(he, g.InH); w1 = Math.Min(we, g.InW);
        if (h0 >= h1 || w0 >= w1) return 0f;
        return g.CountIncludePad ? poolSize : (h1 - h0) * (w1 - w0);
    }

    private static unsafe void ForwardPlane(float* x, float* y, in Pool2dGeometry g)
    {
        for (int oy = 0; oy < g.OutH; oy++)
            for (int ox = 0; ox < g.OutW; ox++)
            {
                float div = Window(g, oy, ox, out int h0, out int h1, out int w0, out int w1);
                float s = 0f;
                if (div != 0f)
                {
                    int len = w1 - w0;
                    for (int ih = h0; ih < h1; ih++)
                    {
                        float* row = x + ih * g.InW + w0;
                        if (len >= 16) s += TensorPrimitives.Sum(new ReadOnlySpan<float>(row, len));
                        else for (int j = 0; j < len; j++) s += row[j];
                    }
                    s /= div;
                }
                y[oy * g.OutW + ox] = s;
            }
    }

    private static unsafe void BackwardPlane(float* dy, float* dx, in Pool2dGeometry g)
    {
        new Span<float>(dx, g.InH * g.InW).Clear();
        for (int oy = 0; oy < g.OutH; oy++)
            for (int ox = 0; ox < g.OutW; ox++)
            {
                float div = Window(g, oy, ox, out int h0, out int h1, out int w0, out int w1);
                if (div == 0f) continue;
                float d = dy[oy * g.OutW + ox] / div;
                int len = w1 - w0;
                for (int ih = h0; ih < h1; ih++)
                {
                    float* row = dx + ih * g.InW + w0;
                    if (len >= 16) TensorPrimitives.Add(new ReadOnlySpan<float>(row, len), d, new Span<float>(row, len));
                    else for (int j = 0; j < len; j++) row[j] += d;
                }
            }
    }

    private static int Check(in Pool2dGeometry g, int n, int inputLength, int outputLength)
    {
        if (!g.IsValid(out string problem)) throw new ArgumentException($"AvgPool2d geometry {g} is invalid: {problem}.");
        if (g.DilationH != 1 || g.DilationW != 1) throw new ArgumentException($"AvgPool2d has no dilation (as in PyTorch), got {g}.");
        int planes = checked(n * g.Channels);
        if (inputLength < (long)planes * g.InH * g.InW) throw new ArgumentException($"AvgPool2d input has {inputLength} elements, {g} with N={n} needs {(long)planes * g.InH * g.InW}.");
        if (outputLength < (long)planes * g.OutH * g.OutW) throw new ArgumentException($"AvgPool2d output has {outputLength} elements, {g} with N={n} needs {(long)planes * g.OutH * g.OutW}.");
        return planes;
    }

    private static int Chunks(int planes, long work) =>
        work < ParallelThresholdElements ? 1 : Math.Min(planes, CpuParallel.WorkerCount);
}
