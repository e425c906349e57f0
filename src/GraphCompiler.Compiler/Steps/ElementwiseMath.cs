// Each activation of the catalog written once, as a value and its derivative, generic over the number type: a float on
// an ILGPU device, a Vector512 or Vector256 of floats in the CPU kernels.
namespace GraphCompiler.Compiler
{
    /// <summary>
    /// The arithmetic an activation needs, for one number type <typeparamref name="T"/> (a lane-wise vector or a scalar).
    /// Backends supply it as a struct, so every use is specialised and inlined.
    /// </summary>
    public interface IFloatOps<T>
    {
        T Constant(float value);
        T Add(T a, T b);
        T Subtract(T a, T b);
        T Multiply(T a, T b);
        T Divide(T a, T b);
        T Exp(T x);
        T Abs(T x);
        T Max(T a, T b);
        /// <summary>|magnitude| with the sign of <paramref name="sign"/>.</summary>
        T CopySign(T magnitude, T sign);
        /// <summary>Per lane: <paramref name="ifPositive"/> where x &gt; 0, else <paramref name="otherwise"/>.</summary>
        T WherePositive(T x, T ifPositive, T otherwise);
    }

    /// <summary>
    /// One activation: its value y = f(x) and its backward dx = dy · f′. <see cref="Backward"/> receives both x and y; an
    /// activation whose derivative is a function of its output (<see cref="Elementwise.DerivativeFromOutput"/>) reads only y,
    /// the others only x, so a kernel that kept just one of them passes it for both.
    /// </summary>
    public interface IActivationDef
    {
        T Value<T, TOps>(T x, TOps o) where TOps : struct, IFloatOps<T>;

        T Backward<T, TOps>(T x, T y, T dy, TOps o) where TOps : struct, IFloatOps<T>;
    }

    /// <summary>Runs something specialised for one activation's definition (a CPU loop, an ILGPU kernel instance).</summary>
    public interface IActivationVisitor<out TResult>
    {
        TResult Visit<TDef>(TDef def) where TDef : struct, IActivationDef;
    }

    public readonly struct IdentityDef : IActivationDef
    {
        public T Value<T, TOps>(T x, TOps o) where TOps : struct, IFloatOps<T> => x;

        public T Backward<T, TOps>(T x, T y, T dy, TOps o) where TOps : struct, IFloatOps<T> => dy;
    }

    /// <summary>max(x, 0); backward dy where y &gt; 0, else 0.</summary>
    public readonly struct ReluDef : IActivationDef
    {
        public T Value<T, TOps>(T x, TOps o) where TOps : struct, IFloatOps<T> => o.Max(x, o.Constant(0f));

        public T Backward<T, TOps>(T x, T y, T dy, TOps o) where TOps : struct, IFloatOps<T> => o.WherePositive(y, dy, o.Constant(0f));
    }

    /// <summary>x where x &gt; 0, slope·x elsewhere; backward dy or slope·dy by the sign of x (which y shares when slope ≥ 0).</summary>
    public readonly struct LeakyReluDef : IActivationDef
    {
        private readonly float _slope;

        public LeakyReluDef(float slope) => _slope = slope;

        public T Value<T, TOps>(T x, TOps o) where TOps : struct, IFloatOps<T> => o.WherePositive(x, x, o.Multiply(o.Constant(_slope), x));

        public T Backward<T, TOps>(T x, T y, T dy, TOps o) where TOps : struct, IFloatOps<T> =>
            o.WherePositive(_slope >= 0f ? y : x, dy, o.Multiply(o.Constant(_slope), dy));
    }

    /// <summary>1 / (1 + e^−x); backward dy · y(1 − y).</summary>
    public readonly struct SigmoidDef : IActivationDef
    {
        public T Value<T, TOps>(T x, TOps o) where TOps : struct, IFloatOps<T> => ElementwiseMath.Sigmoid(x, o);

        public T Backward<T, TOps>(T x, T y, T dy, TOps o) where TOps : struct, IFloatOps<T> => o.Multiply(o.Multiply(dy, y), o.Subtract(o.Constant(1f), y));
    }

    /// <summary>tanh x; backward dy · (1 − y²).</summary>
    public readonly struct TanhDef : IActivationDef
    {
        public T Value<T, TOps>(T x, TOps o) where TOps : struct, IFloatOps<T> => ElementwiseMath.Tanh(x, o);

        public T Backward<T, TOps>(T x, T y, T dy, TOps o) where TOps : struct, IFloatOps<T> => o.Multiply(dy, o.Subtract(o.Constant(1f), o.Multiply(y, y)));
    }

    /// <summary>x·Φ(x) = ½x(1 + erf(x/√2)); derivative Φ(x) + x·φ(x), from x.</summary>
    public readonly struct GeluDef : IActivationDef
    {
        public T Value<T, TOps>(T x, TOps o) where TOps : struct, IFloatOps<T> =>
            o.Multiply(o.Multiply(o.Constant(0.5f), x), o.Add(o.Constant(1f), ElementwiseMath.Erf(o.Multiply(x, o.Constant(ElementwiseMath.InvSqrt2)), o)));

        public T Backward<T, TOps>(T x, T y, T dy, TOps o) where TOps : struct, IFloatOps<T>
        {
            T cdf = o.Multiply(o.Constant(0.5f), o.Add(o.Constant(1f), ElementwiseMath.Erf(o.Multiply(x, o.Constant(ElementwiseMath.InvSqrt2)), o)));
            T pdf = o.Multiply(o.Constant(ElementwiseMath.InvSqrt2Pi), o.Exp(o.Multiply(o.Constant(-0.5f), o.Multiply(x, x))));
            return o.Multiply(dy, o.Add(cdf, o.Multiply(x, pdf)));
        }
    }

    /// <summary>PyTorch's approximate='tanh' GELU: ½x(1 + tanh u), u = √(2/π)(x + 0.044715x³); derivative from x.</summary>
    public readonly struct GeluTanhDef : IActivationDef
    {
        private static T U<T, TOps>(T x, TOps o) where TOps : struct, IFloatOps<T> =>
            o.Multiply(o.Constant(ElementwiseMath.Sqrt2OverPi), o.Add(x, o.Multiply(o.Constant(ElementwiseMath.Cubic), o.Multiply(x, o.Multiply(x, x)))));

        public T Value<T, TOps>(T x, TOps o) where TOps : struct, IFloatOps<T> =>
            o.Multiply(o.Multiply(o.Constant(0.5f), x), o.Add(o.Constant(1f), ElementwiseMath.Tanh(U(x, o), o)));

        public T Backward<T, TOps>(T x, T y, T dy, TOps o) where TOps : struct, IFloatOps<T>
        {
            T t = ElementwiseMath.Tanh(U(x, o), o);
            T du = o.Multiply(o.Constant(ElementwiseMath.Sqrt2OverPi), o.Add(o.Constant(1f), o.Multiply(o.Constant(3 * ElementwiseMath.Cubic), o.Multiply(x, x))));
            T half = o.Constant(0.5f);
            return o.Multiply(dy, o.Add(o.Multiply(half, o.Add(o.Constant(1f), t)), o.Multiply(o.Multiply(o.Multiply(half, x), o.Subtract(o.Constant(1f), o.Multiply(t, t))), du)));
        }
    }

    /// <summary>x·σ(x); derivative σ(x)(1 + x(1 − σ(x))), from x.</summary>
    public readonly struct SiluDef : IActivationDef
    {
        public T Value<T, TOps>(T x, TOps o) where TOps : struct, IFloatOps<T> => o.Multiply(x, ElementwiseMath.Sigmoid(x, o));

        public T Backward<T, TOps>(T x, T y, T dy, TOps o) where TOps : struct, IFloatOps<T>
        {
            T s = ElementwiseMath.Sigmoid(x, o);
            return o.Multiply(dy, o.Multiply(s, o.Add(o.Constant(1f), o.Multiply(x, o.Subtract(o.Constant(1f), s)))));
        }
    }

    /// <summary>The shared pieces of the definitions, and the dispatch from a catalog entry to its definition.</summary>
    public static class ElementwiseMath
    {
        public const float InvSqrt2 = 0.70710678118654752f;
        public const float InvSqrt2Pi = 0.39894228040143268f;
        public const float Sqrt2OverPi = 0.79788456080286536f;
        public const float Cubic = 0.044715f;

        // Abramowitz–Stegun 7.1.26: erf(|z|) = 1 − (a1·t + … + a5·t⁵)·e^{−z²}, t = 1/(1 + p|z|); odd in z. Absolute error
        // below 1.5e-7, under float rounding of the result.
        private const float P = 0.3275911f, A1 = 0.254829592f, A2 = -0.284496736f, A3 = 1.421413741f, A4 = -1.453152027f, A5 = 1.061405429f;

        public static T Erf<T, TOps>(T z, TOps o) where TOps : struct, IFloatOps<T>
        {
            T a = o.Abs(z);
            T t = o.Divide(o.Constant(1f), o.Add(o.Constant(1f), o.Multiply(o.Constant(P), a)));
            T poly = o.Multiply(o.Add(o.Multiply(o.Add(o.Multiply(o.Add(o.Multiply(o.Add(o.Multiply(o.Constant(A5), t), o.Constant(A4)), t),
                o.Constant(A3)), t), o.Constant(A2)), t), o.Constant(A1)), t);
            T r = o.Subtract(o.Constant(1f), o.Multiply(poly, o.Exp(o.Subtract(o.Constant(0f), o.Multiply(a, a)))));
            return o.CopySign(r, z);
        }

        /// <summary>1 − 2/(e^{2u} + 1): exact in both limits, no overflow to NaN.</summary>
        public static T Tanh<T, TOps>(T u, TOps o) where TOps : struct, IFloatOps<T> =>
            o.Subtract(o.Constant(1f), o.Divide(o.Constant(2f), o.Add(o.Exp(o.Add(u, u)), o.Constant(1f))));

        public static T Sigmoid<T, TOps>(T x, TOps o) where TOps : struct, IFloatOps<T> =>
            o.Divide(o.Constant(1f), o.Add(o.Constant(1f), o.Exp(o.Subtract(o.Constant(0f), x))));

        /// <summary>Calls <paramref name="visitor"/> with the definition of <paramref name="f"/>: the one switch from catalog entry to maths.</summary>
        public static TResult Dispatch<TResult, TVisitor>(Elementwise f, TVisitor visitor) where TVisitor : IActivationVisitor<TResult> => f.Kind switch
        {
            ElementwiseKind.Identity => visitor.Visit(new IdentityDef()),
            ElementwiseKind.Relu => visitor.Visit(new ReluDef()),
            ElementwiseKind.LeakyRelu => visitor.Visit(new LeakyReluDef(f.Slope)),
            ElementwiseKind.Sigmoid => visitor.Visit(new SigmoidDef()),
            ElementwiseKind.Tanh => visitor.Visit(new TanhDef()),
            ElementwiseKind.Gelu => visitor.Visit(new GeluDef()),
            ElementwiseKind.GeluTanh => visitor.Visit(new GeluTanhDef()),
            ElementwiseKind.Silu => visitor.Visit(new SiluDef()),
            _ => throw new System.ArgumentOutOfRangeException(nameof(f), f.Kind, "not an activation of the catalog"),
        };
    }
}
