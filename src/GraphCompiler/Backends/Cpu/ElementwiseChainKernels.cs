// A chain of element-wise activations fused into one kernel: y = f_k(…f_1(x)) forward, dx = dy · Π f_i′ backward by
// recomputing the chain from x, block by block in stack buffers, so no intermediate value is ever stored.
using System.Runtime.Intrinsics;
using static GraphCompiler.Backends.Cpu.BufferChecks;

namespace GraphCompiler.Backends.Cpu;

/// <summary>The element-wise activations a chain can hold.</summary>
public enum ElementwiseStageKind
{
    Relu,
    /// <summary>x where x &gt; 0, slope · x elsewhere (any finite slope, negative included).</summary>
    LeakyRelu,
    Sigmoid,
    Tanh,
    /// <summary>Exact GELU, x·Φ(x).</summary>
    Gelu,
    /// <summary>GELU in PyTorch's approximate='tanh' form.</summary>
    GeluTanh,
    Silu,
}

/// <summary>One stage of an <see cref="ElementwiseChain"/>: an activation and its parameter (LeakyReLU's slope, else 0).</summary>
public readonly record struct ElementwiseStage
{
    private ElementwiseStage(ElementwiseStageKind kind, float slope)
    {
        Kind = kind;
        Slope = slope;
    }

    public ElementwiseStageKind Kind { get; }

    /// <summary>LeakyReLU's negative slope; 0 for every other kind.</summary>
    public float Slope { get; }

    public static ElementwiseStage Relu => new(ElementwiseStageKind.Relu, 0f);

    public static ElementwiseStage Sigmoid => new(ElementwiseStageKind.Sigmoid, 0f);

    public static ElementwiseStage Tanh => new(ElementwiseStageKind.Tanh, 0f);

    public static ElementwiseStage Silu => new(ElementwiseStageKind.Silu, 0f);

    /// <summary>GELU, exact or (<paramref name="approximateTanh"/>) PyTorch's approximate='tanh'.</summary>
    public static ElementwiseStage Gelu(bool approximateTanh) => new(approximateTanh ? ElementwiseStageKind.GeluTanh : ElementwiseStageKind.Gelu, 0f);

    /// <summary>LeakyReLU with PyTorch's <c>negative_slope</c>, which may be negative.</summary>
    public static ElementwiseStage LeakyRelu(float negativeSlope)
    {
        if (!float.IsFinite(negativeSlope))
            throw new ArgumentOutOfRangeException(nameof(negativeSlope), negativeSlope, "LeakyReLU needs a finite negative slope.");
        return new(ElementwiseStageKind.LeakyRelu, negativeSlope);
    }

    /// <summary>Whether f′ is computed from the stage's output (sigmoid, tanh) rather than its input (the rest).</summary>
    internal bool DerivativeFromOutput => Kind is ElementwiseStageKind.Sigmoid or ElementwiseStageKind.Tanh;
}

/// <summary>
/// The stages of a fused chain, first applied first. The generator emits one as a static field of the model (like a
/// geometry), so the kernels read it without allocating.
/// </summary>
public sealed class ElementwiseChain
{
    private readonly ElementwiseStage[] _stages;

    /// <summary>A chain of at least one stage (the compiler fuses two or more).</summary>
    public ElementwiseChain(params ElementwiseStage[] stages)
    {
        ArgumentNullException.ThrowIfNull(stages);
        if (stages.Length == 0) throw new ArgumentException("An element-wise chain needs at least one stage.", nameof(stages));
        _stages = (ElementwiseStage[])stages.Clone();
    }

    public int Count => _stages.Length;

    public ElementwiseStage this[int index] => _stages[index];

    internal ReadOnlySpan<ElementwiseStage> Stages => _stages;

    /// <summary>Whether a stage computes an exp or erf per element (worth splitting across cores sooner).</summary>
    internal bool Transcendental
    {
        get
        {
            foreach (ElementwiseStage s in _stages)
                if (s.Kind is not (ElementwiseStageKind.Relu or ElementwiseStageKind.LeakyRelu)) return true;
            return false;
        }
    }

    /// <summary>The stages as written, e.g. <c>Relu → Sigmoid → Tanh</c>.</summary>
    public override string ToString() => string.Join(" → ", _stages.Select(s => s.Kind == ElementwiseStageKind.LeakyRelu ? $"LeakyRelu({s.Slope:R})" : s.Kind.ToString()));
}

/// <summary>
/// y = f_k(…f_1(x)) and dx = dy · Π f_i′(x_i), x_i the input of stage i, recomputed from x. Each worker streams blocks of
/// <see cref="Block"/> floats through every stage in stack buffers, so a chain costs one read of x (and dy) and one write of
/// y (dx), whatever its length. Long passes are split across cores.
/// </summary>
public static class ElementwiseChainKernels
{
    /// <summary>Floats per block: 1 KB, which stays in L1 across the stages.</summary>
    public const int Block = 256;

    private const int CheapThreshold = 1 << 20;
    private const int TranscendentalThreshold = 1 << 15;

    /// <summary>y = chain(x). y may be x.</summary>
    public static unsafe void Forward(ReadOnlySpan<float> x, Span<float> y, ElementwiseChain chain)
    {
        ArgumentNullException.ThrowIfNull(chain);
        CheckLength(y, x.Length, nameof(y));
        fixed (float* px = x, py = y)
        {
            var body = new Body((nint)px, 0, (nint)py, chain, backward: false);
            Elementwise.For(x.Length, chain.Transcendental ? TranscendentalThreshold : CheapThreshold, ref body);
        }
    }

    /// <summary>dx = dy · chain′(x), from the chain's input x (overwritten, not accumulated). dx may be dy.</summary>
    public static unsafe void Backward(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dx, ElementwiseChain chain)
    {
        ArgumentNullException.ThrowIfNull(chain);
        CheckLength(dy, x.Length, nameof(dy)); CheckLength(dx, x.Length, nameof(dx));
        fixed (float* px = x, pdy = dy, pdx = dx)
        {
            var body = new Body((nint)px, (nint)pdy, (nint)pdx, chain, backward: true);
            Elementwise.For(x.Length, chain.Transcendental ? TranscendentalThreshold : CheapThreshold, ref body);
        }
    }

    private readonly unsafe struct Body(nint x, nint dy, nint outp, ElementwiseChain chain, bool backward) : IElementwiseBody
    {
        public void Run(int start, int count)
        {
            float* value = stackalloc float[Block];
            float* grad = stackalloc float[Block];
            ReadOnlySpan<ElementwiseStage> stages = chain.Stages;
            for (int at = start; at < start + count; at += Block)
            {
                int len = Math.Min(Block, start + count - at);
                new ReadOnlySpan<float>((float*)x + at, len).CopyTo(new Span<float>(value, len));
                if (!backward)
                {
                    foreach (ElementwiseStage s in stages) Apply(s, value, len);
                    new ReadOnlySpan<float>(value, len).CopyTo(new Span<float>((float*)outp + at, len));
                    continue;
                }
                new ReadOnlySpan<float>((float*)dy + at, len).CopyTo(new Span<float>(grad, len));
                for (int i = 0; i < stages.Length; i++)
                {
                    ElementwiseStage s = stages[i];
                    if (s.DerivativeFromOutput)
                    {
                        Apply(s, value, len);
                        Scale(s, value, grad, len);
                    }
                    else
                    {
                        Scale(s, value, grad, len);
                        if (i < stages.Length - 1) Apply(s, value, len);
                    }
                }
                new ReadOnlySpan<float>(grad, len).CopyTo(new Span<float>((float*)outp + at, len));
            }
        }
    }

    /// <summary>v ← f(v) over len floats.</summary>
    private static unsafe void Apply(ElementwiseStage s, float* v, int len)
    {
        var span = new Span<float>(v, len);
        switch (s.Kind)
        {
            case ElementwiseStageKind.Relu: Epilogue.Apply(span, Activation.Relu); return;
            case ElementwiseStageKind.LeakyRelu: Epilogue.LeakyRelu(v, v, len, s.Slope); return;
            case ElementwiseStageKind.Sigmoid: Epilogue.Apply(span, Activation.Sigmoid); return;
            case ElementwiseStageKind.Tanh: Epilogue.Apply(span, Activation.Tanh); return;
        }
        bool gelu = s.Kind != ElementwiseStageKind.Silu, tanh = s.Kind == ElementwiseStageKind.GeluTanh;
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; i <= len - 16; i += 16)
            {
                var x = Vector512.Load(v + i);
                (gelu ? GeluKernels.Value(x, tanh) : SiluKernels.Value(x)).Store(v + i);
            }
        for (; i < len; i++) v[i] = gelu ? GeluKernels.Value(v[i], tanh) : SiluKernels.Value(v[i]);
    }

    /// <summary>
    /// g ← g · f′ over len floats, with v the stage's input, or its output for <see cref="ElementwiseStage.DerivativeFromOutput"/>.
    /// </summary>
    private static unsafe void Scale(ElementwiseStage s, float* v, float* g, int len)
    {
        switch (s.Kind)
        {
            case ElementwiseStageKind.Relu: Epilogue.MaskGradient(v, g, g, len, Activation.Relu); return;
            // By the sign of the input, so a negative slope is right too.
            case ElementwiseStageKind.LeakyRelu: Epilogue.MaskGradient(v, g, g, len, Activation.LeakyRelu(s.Slope)); return;
            case ElementwiseStageKind.Sigmoid: Epilogue.MaskGradient(v, g, g, len, Activation.Sigmoid); return;
            case ElementwiseStageKind.Tanh: Epilogue.MaskGradient(v, g, g, len, Activation.Tanh); return;
        }
        bool gelu = s.Kind != ElementwiseStageKind.Silu, tanh = s.Kind == ElementwiseStageKind.GeluTanh;
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; i <= len - 16; i += 16)
            {
                var x = Vector512.Load(v + i);
                (Vector512.Load(g + i) * (gelu ? GeluKernels.Derivative(x, tanh) : SiluKernels.Derivative(x))).Store(g + i);
            }
        for (; i < len; i++) g[i] *= gelu ? GeluKernels.Derivative(v[i], tanh) : SiluKernels.Derivative(v[i]);
    }
}
