// Plain double-precision loops for the pooling, activation and softmax ops, written from PyTorch's definitions.
using GraphCompiler.Backends.Cpu;
using GraphCompiler.Compiler;

namespace GraphCompiler.Backends.Reference;

public static partial class ReferenceKernels
{
    // ---- AvgPool2d: window sum over PyTorch's divisor (clipped to the padded input, or in-bounds count) ----

    public static void AvgPool2dForward(ReadOnlySpan<double> x, Span<double> y, in Pool2dGeometry g, int n)
    {
        for (int plane = 0; plane < n * g.Channels; plane++)
            for (int oy = 0; oy < g.OutH; oy++)
                for (int ox = 0; ox < g.OutW; ox++)
                {
                    double s = 0;
                    int divisor = AvgDivisor(g, oy, ox, out int hs, out int ws);
                    for (int ki = 0; ki < g.KernelH; ki++)
                        for (int kj = 0; kj < g.KernelW; kj++)
                        {
                            int ih = hs + ki, iw = ws + kj;
                            if (ih >= 0 && ih < g.InH && iw >= 0 && iw < g.InW) s += x[(plane * g.InH + ih) * g.InW + iw];
                        }
                    y[(plane * g.OutH + oy) * g.OutW + ox] = divisor == 0 ? 0 : s / divisor;
                }
    }

    public static void AvgPool2dBackward(ReadOnlySpan<double> dy, Span<double> dx, in Pool2dGeometry g, int n)
    {
        dx.Clear();
        for (int plane = 0; plane < n * g.Channels; plane++)
            for (int oy = 0; oy < g.OutH; oy++)
                for (int ox = 0; ox < g.OutW; ox++)
                {
                    int divisor = AvgDivisor(g, oy, ox, out int hs, out int ws);
                    if (divisor == 0) continue;
                    double d = dy[(plane * g.OutH + oy) * g.OutW + ox] / divisor;
                    for (int ki = 0; ki < g.KernelH; ki++)
                        for (int kj = 0; kj < g.KernelW; kj++)
                        {
                            int ih = hs + ki, iw = ws + kj;
                            if (ih >= 0 && ih < g.InH && iw >= 0 && iw < g.InW) dx[(plane * g.InH + ih) * g.InW + iw] += d;
                        }
                }
    }

    // Counted element by element rather than with PyTorch's min/max arithmetic, so the two are independent.
    private static int AvgDivisor(in Pool2dGeometry g, int oy, int ox, out int hs, out int ws)
    {
        hs = oy * g.StrideH - g.PadH; ws = ox * g.StrideW - g.PadW;
        int inPadded = 0, inBounds = 0;
        for (int ki = 0; ki < g.KernelH; ki++)
            for (int kj = 0; kj < g.KernelW; kj++)
            {
                int ih = hs + ki, iw = ws + kj;
                if (ih < g.InH + g.PadBottom && iw < g.InW + g.PadRight) inPadded++;
                if (ih >= 0 && ih < g.InH && iw >= 0 && iw < g.InW) inBounds++;
            }
        return inBounds == 0 ? 0 : g.CountIncludePad ? inPadded : inBounds;
    }

    // ---- AdaptiveAvgPool2d: output i averages input [⌊i·in/out⌋, ⌈(i+1)·in/out⌉) ----

    public static void AdaptiveAvgPool2dForward(ReadOnlySpan<double> x, Span<double> y, in AdaptivePool2dGeometry g, int n)
    {
        for (int plane = 0; plane < n * g.Channels; plane++)
            for (int oy = 0; oy < g.OutH; oy++)
                for (int ox = 0; ox < g.OutW; ox++)
                {
                    int h0 = (int)Math.Floor((double)oy * g.InH / g.OutH), h1 = (int)Math.Ceiling((double)(oy + 1) * g.InH / g.OutH);
                    int w0 = (int)Math.Floor((double)ox * g.InW / g.OutW), w1 = (int)Math.Ceiling((double)(ox + 1) * g.InW / g.OutW);
                    double s = 0;
                    for (int ih = h0; ih < h1; ih++)
                        for (int iw = w0; iw < w1; iw++) s += x[(plane * g.InH + ih) * g.InW + iw];
                    y[(plane * g.OutH + oy) * g.OutW + ox] = s / ((h1 - h0) * (w1 - w0));
                }
    }

    public static void AdaptiveAvgPool2dBackward(ReadOnlySpan<double> dy, Span<double> dx, in AdaptivePool2dGeometry g, int n)
    {
        dx.Clear();
        for (int plane = 0; plane < n * g.Channels; plane++)
            for (int oy = 0; oy < g.OutH; oy++)
                for (int ox = 0; ox < g.OutW; ox++)
                {
                    int h0 = (int)Math.Floor((double)oy * g.InH / g.OutH), h1 = (int)Math.Ceiling((double)(oy + 1) * g.InH / g.OutH);
                    int w0 = (int)Math.Floor((double)ox * g.InW / g.OutW), w1 = (int)Math.Ceiling((double)(ox + 1) * g.InW / g.OutW);
                    double d = dy[(plane * g.OutH + oy) * g.OutW + ox] / ((h1 - h0) * (w1 - w0));
                    for (int ih = h0; ih < h1; ih++)
                        for (int iw = w0; iw < w1; iw++) dx[(plane * g.InH + ih) * g.InW + iw] += d;
                }
    }

    // ---- Element-wise activations, each with its derivative from the definition (at the input) ----

    public static double LeakyRelu(double x, double slope) => x > 0 ? x : slope * x;

    public static double LeakyReluGrad(double x, double slope) => x > 0 ? 1 : slope;

    public static double Sigmoid(double x) => 1 / (1 + Math.Exp(-x));

    public static double SigmoidGrad(double x) => Sigmoid(x) * (1 - Sigmoid(x));

    public static double TanhGrad(double x) => 1 - Math.Tanh(x) * Math.Tanh(x);

    public static double Gelu(double x) => 0.5 * x * (1 + Erf(x / Math.Sqrt(2)));

    public static double GeluGrad(double x) => 0.5 * (1 + Erf(x / Math.Sqrt(2))) + x * Math.Exp(-0.5 * x * x) / Math.Sqrt(2 * Math.PI);

    private static double TanhInner(double x) => Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x);

    public static double GeluTanh(double x) => 0.5 * x * (1 + Math.Tanh(TanhInner(x)));

    public static double GeluTanhGrad(double x)
    {
        double t = Math.Tanh(TanhInner(x));
        return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * Math.Sqrt(2 / Math.PI) * (1 + 3 * 0.044715 * x * x);
    }

    public static double Silu(double x) => x * Sigmoid(x);

    public static double SiluGrad(double x) => Sigmoid(x) * (1 + x * (1 - Sigmoid(x)));

    /// <summary>erf by its Maclaurin series below 3 and the asymptotic continued fraction above: ~1e-15 in double.</summary>
    public static double Erf(double z)
    {
        double a = Math.Abs(z), r;
        if (a < 3)
        {
            double term = a, sum = a;
            for (int k = 1; k < 200 && Math.Abs(term) > 1e-17 * Math.Abs(sum); k++)
            {
                term *= -a * a / k;
                sum += term / (2 * k + 1);
            }
            r = 2 / Math.Sqrt(Math.PI) * sum;
        }
        else
        {
            // erfc(a) = e^{−a²}/√π · 1/(a + 1/2/(a + 1/(a + 3/2/(a + …)))), evaluated from the tail.
            double f = a;
            for (int k = 60; k >= 1; k--) f = a + k / 2.0 / f;
            r = 1 - Math.Exp(-a * a) / Math.Sqrt(Math.PI) / f;
        }
        return z < 0 ? -r : r;
    }

    /// <summary>y = f(x) element-wise.</summary>
    public static void Map(ReadOnlySpan<double> x, Span<double> y, Func<double, double> f)
    {
        for (int i = 0; i < x.Length; i++) y[i] = f(x[i]);
    }

    /// <summary>dx = dy · f′(x) element-wise.</summary>
    public static void MapGrad(ReadOnlySpan<double> x, ReadOnlySpan<double> dy, Span<double> dx, Func<double, double> fPrime)
    {
        for (int i = 0; i < x.Length; i++) dx[i] = dy[i] * fPrime(x[i]);
    }

    // ---- Softmax and LogSoftmax over the middle dim of (outer, dim, inner) ----

    public static void SoftmaxForward(ReadOnlySpan<double> x, Span<double> y, int outer, int dim, int inner, bool log)
    {
        for (int o = 0; o < outer; o++)
            for (int j = 0; j < inner; j++)
            {
                double max = double.NegativeInfinity, s = 0;
                for (int d = 0; d < dim; d++) max = Math.Max(max, x[(o * dim + d) * inner + j]);
                for (int d = 0; d < dim; d++) s += Math.Exp(x[(o * dim + d) * inner + j] - max);
                for (int d = 0; d < dim; d++)
                {
                    int i = (o * dim + d) * inner + j;
                    y[i] = log ? x[i] - max - Math.Log(s) : Math.Exp(x[i] - max) / s;
                }
            }
    }

    /// <summary>
    /// dx from the input x through the full Jacobian: softmax ∂y_d/∂x_e = p_d(δ_de − p_e); log-softmax ∂y_d/∂x_e = δ_de − p_e.
    /// </summary>
    public static void SoftmaxBackward(ReadOnlySpan<double> x, ReadOnlySpan<double> dy, Span<double> dx, int outer, int dim, int inner, bool log)
    {
        var p = new double[x.Length];
        SoftmaxForward(x, p, outer, dim, inner, log: false);
        for (int o = 0; o < outer; o++)
            for (int j = 0; j < inner; j++)
                for (int e = 0; e < dim; e++)
                {
                    double s = 0;
                    for (int d = 0; d < dim; d++)
                    {
                        int id = (o * dim + d) * inner + j, ie = (o * dim + e) * inner + j;
                        double delta = d == e ? 1 : 0;
                        s += dy[id] * (log ? delta - p[ie] : p[id] * (delta - p[ie]));
                    }
                    dx[(o * dim + e) * inner + j] = s;
                }
    }
}
