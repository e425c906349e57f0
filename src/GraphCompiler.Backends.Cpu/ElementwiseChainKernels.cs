// A chain of element-wise activations fused into one kernel: y = f_k(…f_1(x)) forward, dx = dy · Π f_i′ backward by
// recomputing the chain from x, block by block in stack buffers, so no intermediate value is ever stored.
using GraphCompiler.Compiler;
using static GraphCompiler.Backends.Cpu.BufferChecks;

namespace GraphCompiler.Backends.Cpu;

/// <summary>
/// The stages of a fused chain, first applied first. The generator emits one as a static field of the model (like a
/// geometry), so the kernels read it without allocating.
/// </summary>
public sealed class ElementwiseChain
{
    private readonly Elementwise[] _stages;

    /// <summary>A chain of at least one stage (the compiler fuses two or more).</summary>
    public ElementwiseChain(params Elementwise[] stages)
    {
        ArgumentNullException.ThrowIfNull(stages);
        if (stages.Length == 0) throw new ArgumentException("An element-wise chain needs at least one stage.", nameof(stages));
        if (Array.Exists(stages, s => s.IsIdentity)) throw new ArgumentException("A chain's stages are activations, not the identity.", nameof(stages));
        _stages = (Elementwise[])stages.Clone();
    }

    public int Count => _stages.Length;

    public Elementwise this[int index] => _stages[index];

    internal ReadOnlySpan<Elementwise> Stages => _stages;

    /// <summary>Whether a stage computes an exp or erf per element (worth splitting across cores sooner).</summary>
    internal bool Transcendental
    {
        get
        {
            foreach (Elementwise s in _stages)
                if (ElementwiseKernels.Transcendental(s)) return true;
            return false;
        }
    }

    /// <summary>The stages as written, e.g. <c>Relu → Sigmoid → Tanh</c>.</summary>
    public override string ToString() => string.Join(" → ", _stages.Select(s => s.Member));
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
            ElementwisePass.For(x.Length, chain.Transcendental ? TranscendentalThreshold : CheapThreshold, ref body);
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
            ElementwisePass.For(x.Length, chain.Transcendental ? TranscendentalThreshold : CheapThreshold, ref body);
        }
    }

    private readonly unsafe struct Body(nint x, nint dy, nint outp, ElementwiseChain chain, bool backward) : IElementwiseBody
    {
        public void Run(int start, int count)
        {
            float* value = stackalloc float[Block];
            float* grad = stackalloc float[Block];
            ReadOnlySpan<Elementwise> stages = chain.Stages;
            for (int at = start; at < start + count; at += Block)
            {
                int len = Math.Min(Block, start + count - at);
                new ReadOnlySpan<float>((float*)x + at, len).CopyTo(new Span<float>(value, len));
                if (!backward)
                {
                    foreach (Elementwise s in stages) ElementwiseKernels.Value(value, value, len, s);
                    new ReadOnlySpan<float>(value, len).CopyTo(new Span<float>((float*)outp + at, len));
                    continue;
                }
                new ReadOnlySpan<float>((float*)dy + at, len).CopyTo(new Span<float>(grad, len));
                for (int i = 0; i < stages.Length; i++)
                {
                    // f′ of a stage reads its output (then the value moves on first) or its input (then it moves on after).
                    Elementwise s = stages[i];
                    if (s.DerivativeFromOutput)
                    {
                        ElementwiseKernels.Value(value, value, len, s);
                        ElementwiseKernels.Gradient(value, value, grad, grad, len, s);
                    }
                    else
                    {
                        ElementwiseKernels.Gradient(value, value, grad, grad, len, s);
                        if (i < stages.Length - 1) ElementwiseKernels.Value(value, value, len, s);
                    }
                }
                new ReadOnlySpan<float>(grad, len).CopyTo(new Span<float>((float*)outp + at, len));
            }
        }
    }
}
