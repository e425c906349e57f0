// Every element-wise activation on the CPU: the catalog's one definition of each (ElementwiseMath) run over Vector512,
// Vector256 and a scalar tail, over whole buffers split across cores, and as the epilogue other kernels apply in place.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using GraphCompiler.Compiler;
using static GraphCompiler.Backends.Cpu.BufferChecks;

namespace GraphCompiler.Backends.Cpu;

/// <summary>
/// y = f(x) and dx = dy · f′ for any activation of the catalog. The backward reads the forward output y when f′ is a
/// function of it (<see cref="Elementwise.DerivativeFromOutput"/>: ReLU, LeakyReLU with slope ≥ 0, sigmoid, tanh), so x
/// need not be kept; otherwise (GELU, SiLU, a negative-slope LeakyReLU) it reads x.
/// </summary>
public static class ElementwiseKernels
{
    // ReLU-like passes stream memory (a core saturates it near 1M floats); the others compute an exp per element.
    private const int CheapThreshold = 1 << 20;
    private const int TranscendentalThreshold = 1 << 15;

    /// <summary>y = f(x). y may be x.</summary>
    public static unsafe void Forward(ReadOnlySpan<float> x, Span<float> y, Elementwise f)
    {
        CheckLength(y, x.Length, nameof(y));
        fixed (float* px = x, py = y)
        {
            var body = new ForwardBody((nint)px, (nint)py, f);
            ElementwisePass.For(x.Length, Threshold(f), ref body);
        }
    }

    /// <summary>dx = dy · f′, evaluated on <paramref name="on"/>: the forward output y, or the input x where f′ needs it. dx may be dy.</summary>
    public static unsafe void Backward(ReadOnlySpan<float> on, ReadOnlySpan<float> dy, Span<float> dx, Elementwise f)
    {
        CheckLength(dy, on.Length, nameof(dy)); CheckLength(dx, on.Length, nameof(dx));
        fixed (float* pon = on, pdy = dy, pdx = dx)
        {
            var body = new BackwardBody((nint)pon, (nint)pdy, (nint)pdx, f);
            ElementwisePass.For(on.Length, Threshold(f), ref body);
        }
    }

    /// <summary>Whether f computes an exp per element, which makes a second core pay off on far shorter passes.</summary>
    internal static bool Transcendental(Elementwise f) => f.Kind is not (ElementwiseKind.Identity or ElementwiseKind.Relu or ElementwiseKind.LeakyRelu);

    private static int Threshold(Elementwise f) => Transcendental(f) ? TranscendentalThreshold : CheapThreshold;

    private readonly unsafe struct ForwardBody(nint x, nint y, Elementwise f) : IElementwiseBody
    {
        public void Run(int start, int count) => Value((float*)x + start, (float*)y + start, count, f);
    }

    private readonly unsafe struct BackwardBody(nint on, nint dy, nint dx, Elementwise f) : IElementwiseBody
    {
        public void Run(int start, int count) => Gradient((float*)on + start, (float*)on + start, (float*)dy + start, (float*)dx + start, count, f);
    }

    /// <summary>y = f(x) over len floats on one core; y may be x.</summary>
    internal static unsafe void Value(float* x, float* y, int len, Elementwise f) =>
        ElementwiseMath.Dispatch<int, ValueLoop>(f, new ValueLoop((nint)x, (nint)y, len));

    /// <summary>
    /// dx = dy · f′ over len floats on one core, f′ reading x or y as it needs (<see cref="IActivationDef.Backward"/>);
    /// a caller that kept only one of them passes it for both. dx may be dy.
    /// </summary>
    internal static unsafe void Gradient(float* x, float* y, float* dy, float* dx, int len, Elementwise f) =>
        ElementwiseMath.Dispatch<int, GradientLoop>(f, new GradientLoop((nint)x, (nint)y, (nint)dy, (nint)dx, len));

    // The loops: one instantiation per activation, each with the widest vectors the machine has and a scalar tail.
    private readonly unsafe struct ValueLoop(nint x, nint y, int len) : IActivationVisitor<int>
    {
        public int Visit<TDef>(TDef def) where TDef : struct, IActivationDef
        {
            float* px = (float*)x, py = (float*)y;
            int i = 0;
            if (Vector512.IsHardwareAccelerated)
                for (; i <= len - Vector512<float>.Count; i += Vector512<float>.Count)
                    def.Value(Vector512.Load(px + i), default(Vector512Ops)).Store(py + i);
            if (Vector256.IsHardwareAccelerated)
                for (; i <= len - Vector256<float>.Count; i += Vector256<float>.Count)
                    def.Value(Vector256.Load(px + i), default(Vector256Ops)).Store(py + i);
            for (; i < len; i++) py[i] = def.Value(px[i], default(ScalarOps));
            return 0;
        }
    }

    private readonly unsafe struct GradientLoop(nint x, nint y, nint dy, nint dx, int len) : IActivationVisitor<int>
    {
        public int Visit<TDef>(TDef def) where TDef : struct, IActivationDef
        {
            float* px = (float*)x, py = (float*)y, pdy = (float*)dy, pdx = (float*)dx;
            int i = 0;
            if (Vector512.IsHardwareAccelerated)
                for (; i <= len - Vector512<float>.Count; i += Vector512<float>.Count)
                    def.Backward(Vector512.Load(px + i), Vector512.Load(py + i), Vector512.Load(pdy + i), default(Vector512Ops)).Store(pdx + i);
            if (Vector256.IsHardwareAccelerated)
                for (; i <= len - Vector256<float>.Count; i += Vector256<float>.Count)
                    def.Backward(Vector256.Load(px + i), Vector256.Load(py + i), Vector256.Load(pdy + i), default(Vector256Ops)).Store(pdx + i);
            for (; i < len; i++) pdx[i] = def.Backward(px[i], py[i], pdy[i], default(ScalarOps));
            return 0;
        }
    }
}

/// <summary>An activation applied in place by the kernel that produced a block, forward or backward.</summary>
public static class Epilogue
{
    /// <summary>
    /// y ← f(y) over a block a kernel has just written. The GEMM applies ReLU and LeakyReLU in its register stores
    /// instead; this is for the others and for the edges that have no GEMM (a zero-depth product).
    /// </summary>
    public static unsafe void Apply(Span<float> y, Elementwise f)
    {
        if (f.IsIdentity) return;
        fixed (float* py = y) ElementwiseKernels.Value(py, py, y.Length, f);
    }

    /// <summary>
    /// dx ← dx · f′(y), with y the activation's output, over a block the calling kernel has just written. For ReLU and
    /// LeakyReLU only the sign matters, so their input may be passed instead (which a negative slope requires).
    /// </summary>
    public static unsafe void MaskGradient(ReadOnlySpan<float> y, Span<float> dx, Elementwise f)
    {
        if (f.IsIdentity) return;
        int len = dx.Length;
        if (y.Length < len) throw new ArgumentException($"Activation output has {y.Length} elements, its gradient {len}.", nameof(y));
        fixed (float* py = y, pdx = dx) ElementwiseKernels.Gradient(py, py, pdx, pdx, len, f);
    }
}

// The arithmetic the definitions need, per number type.
internal readonly struct Vector512Ops : IFloatOps<Vector512<float>>
{
    public Vector512<float> Constant(float value) => Vector512.Create(value);
    public Vector512<float> Add(Vector512<float> a, Vector512<float> b) => a + b;
    public Vector512<float> Subtract(Vector512<float> a, Vector512<float> b) => a - b;
    public Vector512<float> Multiply(Vector512<float> a, Vector512<float> b) => a * b;
    public Vector512<float> Divide(Vector512<float> a, Vector512<float> b) => a / b;
    public Vector512<float> Exp(Vector512<float> x) => Vector512.Exp(x);
    public Vector512<float> Abs(Vector512<float> x) => Vector512.Abs(x);
    public Vector512<float> Max(Vector512<float> a, Vector512<float> b) => Vector512.Max(a, b);
    public Vector512<float> CopySign(Vector512<float> magnitude, Vector512<float> sign) => Vector512.CopySign(magnitude, sign);
    public Vector512<float> WherePositive(Vector512<float> x, Vector512<float> ifPositive, Vector512<float> otherwise) =>
        Vector512.ConditionalSelect(Vector512.GreaterThan(x, Vector512<float>.Zero), ifPositive, otherwise);
}

internal readonly struct Vector256Ops : IFloatOps<Vector256<float>>
{
    public Vector256<float> Constant(float value) => Vector256.Create(value);
    public Vector256<float> Add(Vector256<float> a, Vector256<float> b) => a + b;
    public Vector256<float> Subtract(Vector256<float> a, Vector256<float> b) => a - b;
    public Vector256<float> Multiply(Vector256<float> a, Vector256<float> b) => a * b;
    public Vector256<float> Divide(Vector256<float> a, Vector256<float> b) => a / b;
    public Vector256<float> Exp(Vector256<float> x) => Vector256.Exp(x);
    public Vector256<float> Abs(Vector256<float> x) => Vector256.Abs(x);
    public Vector256<float> Max(Vector256<float> a, Vector256<float> b) => Vector256.Max(a, b);
    public Vector256<float> CopySign(Vector256<float> magnitude, Vector256<float> sign) => Vector256.CopySign(magnitude, sign);
    public Vector256<float> WherePositive(Vector256<float> x, Vector256<float> ifPositive, Vector256<float> otherwise) =>
        Vector256.ConditionalSelect(Vector256.GreaterThan(x, Vector256<float>.Zero), ifPositive, otherwise);
}

internal readonly struct ScalarOps : IFloatOps<float>
{
    public float Constant(float value) => value;
    public float Add(float a, float b) => a + b;
    public float Subtract(float a, float b) => a - b;
    public float Multiply(float a, float b) => a * b;
    public float Divide(float a, float b) => a / b;
    public float Exp(float x) => MathF.Exp(x);
    public float Abs(float x) => MathF.Abs(x);
    public float Max(float a, float b) => MathF.Max(a, b);
    public float CopySign(float magnitude, float sign) => MathF.CopySign(magnitude, sign);
    public float WherePositive(float x, float ifPositive, float otherwise) => x > 0f ? ifPositive : otherwise;
}
