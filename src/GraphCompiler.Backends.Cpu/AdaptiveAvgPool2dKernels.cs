// Adaptive average pooling on the CPU: a fixed output size, each output averaging the input rows and columns
// [⌊i·in/out⌋, ⌈(i+1)·in/out⌉), as PyTorch's adaptive_avg_pool2d.
using GraphCompiler.Compiler;
namespace GraphCompiler.Backends.Cpu;

public static class AdaptiveAvgPool2dKernels
{
    private const long ParallelThresholdElements = 1 << 17;

    /// <summary>y (N, C, OutH, OutW) = adaptive window means of x (N, C, InH, InW). Overwrites y.</summary>
    public static unsafe void Forward(ReadOnlySpan<float> x, Span<float> y, in AdaptivePool2dGeometry g, int n)
    {
        int planes = Check(g, n, x.Length, y.Length);
        fixed (float* px = x, py = y)
        {
            var body = new Body((nint)px, (nint)py, g, backward: false);
            CpuRanges.For(planes, Chunks(planes, (long)planes * g.InH * g.InW), ref body);
        }
    }

    /// <summary>dx (N, C, InH, InW) = Σ over the windows containing each input of dy / window size. Overwrites dx.</summary>
    public static unsafe void Backward(ReadOnlySpan<float> dy, Span<float> dx, in AdaptivePool2dGeometry g, int n)
    {
        int planes = Check(g, n, dx.Length, dy.Length);
        fixed (float* pdy = dy, pdx = dx)
        {
            var body = new Body((nint)pdy, (nint)pdx, g, backward: true);
            CpuRanges.For(planes, Chunks(planes, (long)planes * g.InH * g.InW), ref body);
        }
    }

    /// <summary>Output index i of out covers input [start, end) of in.</summary>
    internal static (int Start, int End) Range(int i, int inSize, int outSize) =>
        ((int)((long)i * inSize / outSize), (int)(((long)(i + 1) * inSize + outSize - 1) / outSize));

    private readonly unsafe struct Body(nint src, nint dst, AdaptivePool2dGeometry g, bool backward) : IRangeBody
    {
        public void Run(int start, int end)
        {
            int inPlane = g.InH * g.InW, outPlane = g.OutH * g.OutW;
            for (int pl = start; pl < end; pl++)
            {
                float* x = (float*)(backward ? dst : src) + (long)pl * inPlane; // x or dx (InH, InW)
                float* y = (float*)(backward ? src : dst) + (long)pl * outPlane; // y or dy (OutH, OutW)
                if (backward) new Span<float>(x, inPlane).Clear();
                for (int oy = 0; oy < g.OutH; oy++)
                {
                    var (h0, h1) = Range(oy, g.InH, g.OutH);
                    for (int ox = 0; ox < g.OutW; ox++)
                    {
                        var (w0, w1) = Range(ox, g.InW, g.OutW);
                        float inv = 1f / ((h1 - h0) * (w1 - w0));
                        if (backward)
                        {
                            float d = y[oy * g.OutW + ox] * inv;
                            for (int ih = h0; ih < h1; ih++)
                                for (int iw = w0; iw < w1; iw++) x[ih * g.InW + iw] += d;
                        }
                        else
                        {
                            float s = 0f;
                            for (int ih = h0; ih < h1; ih++)
                                for (int iw = w0; iw < w1; iw++) s += x[ih * g.InW + iw];
                            y[oy * g.OutW + ox] = s * inv;
                        }
                    }
                }
            }
        }
    }

    private static int Check(in AdaptivePool2dGeometry g, int n, int inputLength, int outputLength)
    {
        if (g.Channels <= 0 || g.InH <= 0 || g.InW <= 0 || g.OutH <= 0 || g.OutW <= 0)
            throw new ArgumentException($"AdaptiveAvgPool2d geometry {g} needs positive sizes.");
        int planes = checked(n * g.Channels);
        if (inputLength < (long)planes * g.InH * g.InW) throw new ArgumentException($"AdaptiveAvgPool2d input has {inputLength} elements, {g} with N={n} needs {(long)planes * g.InH * g.InW}.");
        if (outputLength < (long)planes * g.OutH * g.OutW) throw new ArgumentException($"AdaptiveAvgPool2d output has {outputLength} elements, {g} with N={n} needs {(long)planes * g.OutH * g.OutW}.");
        return planes;
    }

    private static int Chunks(int planes, long work) =>
        work < ParallelThresholdElements ? 1 : Math.Min(planes, CpuParallel.WorkerCount);
}
