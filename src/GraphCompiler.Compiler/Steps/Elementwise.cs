// The one catalog of element-wise activations: what an op, an epilogue, a chain stage and every backend's functor name.
using System.Globalization;

namespace GraphCompiler.Compiler
{
    public enum ElementwiseKind
    {
        /// <summary>No activation: an epilogue that leaves the value as it is.</summary>
        Identity,
        Relu,
        /// <summary>x where x &gt; 0, slope · x elsewhere (any finite slope).</summary>
        LeakyRelu,
        Sigmoid,
        Tanh,
        /// <summary>Exact GELU, x·Φ(x).</summary>
        Gelu,
        /// <summary>GELU in PyTorch's approximate='tanh' form.</summary>
        GeluTanh,
        Silu,
    }

    /// <summary>
    /// An element-wise activation and its parameter (LeakyReLU's negative slope, else 0). Ops declare theirs once
    /// (<see cref="OpDef.Elementwise"/>); fusion uses it as a GEMM epilogue when <see cref="DerivativeFromOutput"/>, and as
    /// a stage of a fused chain in any case; <see cref="ElementwiseMath"/> defines its value and backward once for every
    /// backend (the CPU's vector widths, ILGPU's functors).
    /// </summary>
    public readonly record struct Elementwise(ElementwiseKind Kind, float Slope = 0f)
    {
        public static Elementwise Identity => default;

        public static Elementwise Relu => new Elementwise(ElementwiseKind.Relu);

        public static Elementwise Sigmoid => new Elementwise(ElementwiseKind.Sigmoid);

        public static Elementwise Tanh => new Elementwise(ElementwiseKind.Tanh);

        public static Elementwise Silu => new Elementwise(ElementwiseKind.Silu);

        /// <summary>LeakyReLU with PyTorch's <c>negative_slope</c>, which may be negative but must be finite.</summary>
        public static Elementwise LeakyRelu(float negativeSlope) => float.IsNaN(negativeSlope) || float.IsInfinity(negativeSlope)
            ? throw new System.ArgumentOutOfRangeException(nameof(negativeSlope), negativeSlope, "LeakyReLU needs a finite negative slope.")
            : new Elementwise(ElementwiseKind.LeakyRelu, negativeSlope);

        public static Elementwise Gelu(bool approximateTanh) => new Elementwise(approximateTanh ? ElementwiseKind.GeluTanh : ElementwiseKind.Gelu);

        public bool IsIdentity => Kind == ElementwiseKind.Identity;

        /// <summary>
        /// Whether act′ is a function of the output alone (ReLU: [y &gt; 0], LeakyReLU with slope ≥ 0: the sign of y is x's,
        /// sigmoid: y(1 − y), tanh: 1 − y²): only such an activation can be a producer's epilogue, its backward applied by
        /// the consumer's input-gradient kernel from the stored output.
        /// </summary>
        public bool DerivativeFromOutput => Kind == ElementwiseKind.Relu || Kind == ElementwiseKind.Sigmoid || Kind == ElementwiseKind.Tanh
            || (Kind == ElementwiseKind.LeakyRelu && Slope >= 0f);

        /// <summary>As C# after a catalog type's name: <c>Relu</c>, <c>LeakyRelu(0.01f)</c>, <c>Gelu(true)</c>.</summary>
        public string Member => Kind switch
        {
            ElementwiseKind.LeakyRelu => $"LeakyRelu({Slope.ToString("R", CultureInfo.InvariantCulture)}f)",
            ElementwiseKind.Gelu => "Gelu(false)",
            ElementwiseKind.GeluTanh => "Gelu(true)",
            _ => Kind.ToString(),
        };

        /// <summary>How the activation reads inside a kernel comment's formula: <c>relu</c>, <c>leakyrelu[0.2]</c>.</summary>
        public string Readable => Kind switch
        {
            ElementwiseKind.LeakyRelu => $"leakyrelu[{Slope.ToString("R", CultureInfo.InvariantCulture)}]",
            ElementwiseKind.Gelu => "gelu[false]",
            ElementwiseKind.GeluTanh => "gelu[true]",
            _ => Kind.ToString().ToLowerInvariant(),
        };
    }
}
