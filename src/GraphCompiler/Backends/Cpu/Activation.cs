// Element-wise activations that other kernels apply as an epilogue: to their output as it is written (forward), or to
// the gradient they produce, masked by the activation's derivative (backward).
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace GraphCompiler.Backends.Cpu;

/// <summary>The activations a kernel can fuse: exactly those whose derivative is a function of their output.</summary>
public enum ActivationKind
{
    None,
    Relu,
    /// <summary>x where x &gt; 0, slope · x elsewhere.</summary>
    LeakyRelu,
    Sigmoid,
    Tanh,
}

/// <summary>
/// An activation fused into the kernel that feeds it. Every member's derivative is a function of its output y, so the
/// backward epilogue needs only the forward output: dx ← dx · act′(y). ReLU: [y &gt; 0]; LeakyReLU: 1 or slope by the
/// sign of y; sigmoid: y(1 − y); tanh: 1 − y². (GELU and SiLU need their input and so are kernels of their own.)
/// </summary>
public readonly record struct Activation
{
    private Activation(ActivationKind kind, float slope)
    {
        Kind = kind;
        Slope = slope;
    }

    public ActivationKind Kind { get; }

    /// <summary>LeakyReLU's negative slope; 0 for every other kind.</summary>
    public float Slope { get; }

    public static Activation None => default;

    public static Activation Relu => new(ActivationKind.Relu, 0f);

    public static Activation Sigmoid => new(ActivationKind.Sigmoid, 0f);

    public static Activation Tanh => new(ActivationKind.Tanh, 0f);

    /// <summary>
    /// LeakyReLU with PyTorch's <c>negative_slope</c>. Its derivative depends only on the sign of x, which y shares when
    /// the slope is ≥ 0: only then may it be fused. With a negative slope, give the backward x instead of y.
    /// </summary>
    public static Activation LeakyRelu(float negativeSlope)
    {
        if (!float.IsFinite(negativeSlope))
            throw new ArgumentOutOfRangeException(nameof(negativeSlope), negativeSlope, "LeakyReLU needs a finite negative slope.");
        return new(ActivationKind.LeakyRelu, negativeSlope);
    }

    /// <summary>Whether act′ can be computed from the output alone (false only for LeakyReLU with a negative slope).</summary>
    public bool DerivativeFromOutput => Kind != ActivationKind.LeakyRelu || Slope >= 0f;

    /// <summary>As the generator prints it: <c>Relu</c>, <c>LeakyRelu(0.01f)</c>.</summary>
    public override string ToString() => Kind == ActivationKind.LeakyRelu ? $"LeakyRelu({Slope:R}f)" : Kind.ToString();
}

public static class Epilogue
{
    /// <summary>
    /// y ← act(y) over a block a kernel has just written. The GEMM applies ReLU and LeakyReLU in its register stores
    /// instead; this is for sigmoid and tanh and for the edges that have no GEMM (a zero-depth product).
    /// </summary>
    public static void Apply(Span<float> y, Activation activation) => Apply(y, y, activation);

    /// <summary>y = act(x); y may be x.</summary>
    public static unsafe void Apply(ReadOnlySpan<float> x, Span<float> y, Activation activation)
    {
        y = y.Slice(0, x.Length);
        switch (activation.Kind)
        {
            case ActivationKind.None: x.CopyTo(y); break;
            case ActivationKind.Relu: TensorPrimitives.Max(x, 0f, y); break;
            case ActivationKind.Sigmoid: TensorPrimitives.Sigmoid(x, y); break;
            case ActivationKind.Tanh: TensorPrimitives.Tanh(x, y); break;
            case ActivationKind.LeakyRelu:
                fixed (float* px = x, py = y) LeakyRelu(px, py, x.Length, activation.Slope);
                break;
        }
    }

    /// <summary>y = x where x &gt; 0, slope · x elsewhere, over len floats (y may be x).</summary>
    internal static unsafe void LeakyRelu(float* x, float* y, int len, float slope)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var s = Vector512.Create(slope);
            for (; i <= len - Vector512<float>.Count; i += Vector512<float>.Count)
                LeakyRelu(Vector512.Load(x + i), s).Store(y + i);
        }
        for (; i < len; i++) y[i] = x[i] > 0 ? x[i] : slope * x[i];
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> LeakyRelu(Vector512<float> v, Vector512<float> slope) =>
        Vector512.ConditionalSelect(Vector512.GreaterThan(v, Vector512<float>.Zero), v, v * slope);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> LeakyRelu(Vector256<float> v, Vector256<float> slope) =>
        Vector256.ConditionalSelect(Vector256.GreaterThan(v, Vector256<float>.Zero), v, v * slope);

    /// <summary>
    /// dx ← dx · act′(y), with y the activation's output, over a block the calling kernel has just written. For ReLU and
    /// LeakyReLU only the sign of y matters, so their input may be passed instead (which a negative slope requires).
    /// </summary>
    public static unsafe void MaskGradient(ReadOnlySpan<float> y, Span<float> dx, Activation activation)
    {
        if (activation.Kind == ActivationKind.None) return;
        int len = dx.Length;
        if (y.Length < len) throw new ArgumentException($"Activation output has {y.Length} elements, its gradient {len}.", nameof(y));
        fixed (float* py = y, pdx = dx) MaskGradient(py, pdx, pdx, len, activation);
    }

    /// <summary>dx = dy · act′(y) over len floats; dx may be dy.</summary>
    internal static unsafe void MaskGradient(float* py, float* pdy, float* pdx, int len, Activation activation)
    {
        ActivationKind kind = activation.Kind;
        int i = 0;
        if (kind == ActivationKind.Relu)
        {
            // The hot path of every CNN: a mask and an AND, nothing else in the loop.
            if (Vector512.IsHardwareAccelerated)
                for (; i <= len - Vector512<float>.Count; i += Vector512<float>.Count)
                    (Vector512.Load(pdy + i) & Vector512.GreaterThan(Vector512.Load(py + i), Vector512<float>.Zero)).Store(pdx + i);
            for (; i <= len - Vector256<float>.Count; i += Vector256<float>.Count)
                (Vector256.Load(pdy + i) & Vector256.GreaterThan(Vector256.Load(py + i), Vector256<float>.Zero)).Store(pdx + i);
            for (; i < len; i++) pdx[i] = py[i] > 0 ? pdy[i] : 0f;
            return;
        }
        if (Vector512.IsHardwareAccelerated)
        {
            var one = Vector512<float>.One;
            var slope = Vector512.Create(activation.Slope);
            for (; i <= len - Vector512<float>.Count; i += Vector512<float>.Count)
            {
                Vector512<float> y = Vector512.Load(py + i), d = Vector512.Load(pdy + i);
                d = kind switch
                {
                    ActivationKind.Relu => d & Vector512.GreaterThan(y, Vector512<float>.Zero),
                    ActivationKind.LeakyRelu => Vector512.ConditionalSelect(Vector512.GreaterThan(y, Vector512<float>.Zero), d, d * slope),
                    ActivationKind.Sigmoid => d * y * (one - y),
                    _ => d * (one - y * y),
                };
                d.Store(pdx + i);
            }
        }
        for (; i <= len - Vector256<float>.Count; i += Vector256<float>.Count)
        {
            Vector256<float> y = Vector256.Load(py + i), d = Vector256.Load(pdy + i);
            d = kind switch
            {
                ActivationKind.Relu => d & Vector256.GreaterThan(y, Vector256<float>.Zero),
                ActivationKind.LeakyRelu => Vector256.ConditionalSelect(Vector256.GreaterThan(y, Vector256<float>.Zero), d, d * Vector256.Create(activation.Slope)),
                ActivationKind.Sigmoid => d * y * (Vector256<float>.One - y),
                _ => d * (Vector256<float>.One - y * y),
            };
            d.Store(pdx + i);
        }
        for (; i < len; i++)
        {
            float y = py[i], d = pdy[i];
            pdx[i] = kind switch
            {
                ActivationKind.Relu => y > 0 ? d : 0f,
                ActivationKind.LeakyRelu => y > 0 ? d : d * activation.Slope,
                ActivationKind.Sigmoid => d * y * (1f - y),
                _ => d * (1f - y * y),
            };
        }
    }
}
