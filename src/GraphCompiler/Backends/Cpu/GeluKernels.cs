// GELU on the CPU, exact (erf) and tanh-approximated as PyTorch's approximate='tanh'; its derivative needs the input.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using static GraphCompiler.Backends.Cpu.BufferChecks;

namespace GraphCompiler.Backends.Cpu;

/// <summary>
/// Exact: y = x·Φ(x) = ½x(1 + erf(x/√2)), dy/dx = Φ(x) + x·φ(x). Tanh form: y = ½x(1 + tanh u), u = √(2/π)(x + 0.044715x³).
/// erf is Abramowitz–Stegun 7.1.26 (absolute error below 1.5e-7, under float rounding of the result); tanh is
/// 1 − 2/(e^{2u} + 1), exact in the limits. Everything is Vector512 with a scalar tail of the same formulas.
/// </summary>
public static class GeluKernels
{
    private const int ParallelThreshold = 1 << 15;

    /// <summary>y = gelu(x). y may be x.</summary>
    public static unsafe void Forward(ReadOnlySpan<float> x, Span<float> y, bool approximateTanh = false)
    {
        CheckLength(y, x.Length, nameof(y));
        fixed (float* px = x, py = y)
        {
            var body = new Body((nint)px, 0, (nint)py, approximateTanh, backward: false);
            Elementwise.For(x.Length, ParallelThreshold, ref body);
        }
    }

    /// <summary>dx = dy · gelu′(x), from the forward input x. dx may be dy.</summary>
    public static unsafe void Backward(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dx, bool approximateTanh = false)
    {
        CheckLength(dy, x.Length, nameof(dy)); CheckLength(dx, x.Length, nameof(dx));
        fixed (float* px = x, pdy = dy, pdx = dx)
        {
            var body = new Body((nint)px, (nint)pdy, (nint)pdx, approximateTanh, backward: true);
            Elementwise.For(x.Length, ParallelThreshold, ref body);
        }
    }

    private const float InvSqrt2 = 0.70710678118654752f;
    private const float InvSqrt2Pi = 0.39894228040143268f;
    private const float Sqrt2OverPi = 0.79788456080286536f;
    private const float Cubic = 0.044715f;

    private readonly unsafe struct Body(nint x, nint dy, nint outp, bool tanh, bool backward) : IElementwiseBody
    {
        public void Run(int start, int count)
        {
            float* px = (float*)x + start, pdy = (float*)dy + start, po = (float*)outp + start;
            int i = 0;
            if (Vector512.IsHardwareAccelerated)
                for (; i <= count - 16; i += 16)
                {
                    var v = Vector512.Load(px + i);
                    var r = backward ? Vector512.Load(pdy + i) * Derivative(v, tanh) : Value(v, tanh);
                    r.Store(po + i);
                }
            for (; i < count; i++) po[i] = backward ? pdy[i] * Derivative(px[i], tanh) : Value(px[i], tanh);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> Value(Vector512<float> x, bool tanh)
    {
        var half = Vector512.Create(0.5f);
        if (tanh) return half * x * (Vector512<float>.One + Tanh(Vector512.Create(Sqrt2OverPi) * (x + Vector512.Create(Cubic) * x * x * x)));
        return half * x * (Vector512<float>.One + Erf(x * Vector512.Create(InvSqrt2)));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> Derivative(Vector512<float> x, bool tanh)
    {
        var half = Vector512.Create(0.5f);
        var one = Vector512<float>.One;
        if (tanh)
        {
            var x2 = x * x;
            var t = Tanh(Vector512.Create(Sqrt2OverPi) * (x + Vector512.Create(Cubic) * x2 * x));
            var du = Vector512.Create(Sqrt2OverPi) * (one + Vector512.Create(3 * Cubic) * x2);
            return half * (one + t) + half * x * (one - t * t) * du;
        }
        var pdf = Vector512.Create(InvSqrt2Pi) * Vector512.Exp(Vector512.Create(-0.5f) * x * x);
        return half * (one + Erf(x * Vector512.Create(InvSqrt2))) + x * pdf;
    }

    internal static float Value(float x, bool tanh) => tanh
        ? 0.5f * x * (1f + Tanh(Sqrt2OverPi * (x + Cubic * x * x * x)))
        : 0.5f * x * (1f + Erf(x * InvSqrt2));

    internal static float Derivative(float x, bool tanh)
    {
        if (tanh)
        {
            float t = Tanh(Sqrt2OverPi * (x + Cubic * x * x * x));
            return 0.5f * (1f + t) + 0.5f * x * (1f - t * t) * Sqrt2OverPi * (1f + 3 * Cubic * x * x);
        }
        return 0.5f * (1f + Erf(x * InvSqrt2)) + x * InvSqrt2Pi * MathF.Exp(-0.5f * x * x);
    }

    // Abramowitz–Stegun 7.1.26: erf(|z|) = 1 − (a1·t + … + a5·t⁵)·e^{−z²}, t = 1/(1 + p|z|); odd in z.
    private const float P = 0.3275911f, A1 = 0.254829592f, A2 = -0.284496736f, A3 = 1.421413741f, A4 = -1.453152027f, A5 = 1.061405429f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> Erf(Vector512<float> z)
    {
        var a = Vector512.Abs(z);
        var t = Vector512<float>.One / (Vector512<float>.One + Vector512.Create(P) * a);
        var poly = ((((Vector512.Create(A5) * t + Vector512.Create(A4)) * t + Vector512.Create(A3)) * t + Vector512.Create(A2)) * t + Vector512.Create(A1)) * t;
        var r = Vector512<float>.One - poly * Vector512.Exp(-(a * a));
        return Vector512.CopySign(r, z);
    }

    internal static float Erf(float z)
    {
        float a = MathF.Abs(z), t = 1f / (1f + P * a);
        float r = 1f - ((((A5 * t + A4) * t + A3) * t + A2) * t + A1) * t * MathF.Exp(-a * a);
        return MathF.CopySign(r, z);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Tanh(Vector512<float> u) =>
        Vector512<float>.One - Vector512.Create(2f) / (Vector512.Exp(u + u) + Vector512<float>.One);

    private static float Tanh(float u) => MathF.Tanh(u);
}
