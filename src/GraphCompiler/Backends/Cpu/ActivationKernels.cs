// The fusable activations (ReLU, LeakyReLU, sigmoid, tanh) as kernels of their own, for when no producer can apply them.
using static GraphCompiler.Backends.Cpu.BufferChecks;

namespace GraphCompiler.Backends.Cpu;

/// <summary>
/// y = act(x) and dx = dy · act′(y): the same arithmetic as the fused <see cref="Epilogue"/>, over a whole buffer and split
/// across cores when long. Backward reads the forward output, so x need not be kept — except for a LeakyReLU with a
/// negative slope, whose backward must be given x in place of y (<see cref="Activation.DerivativeFromOutput"/>).
/// </summary>
public static class ActivationKernels
{
    // ReLU-like passes stream memory (a core saturates it near 1M floats); sigmoid and tanh compute an exp per element.
    private const int CheapThreshold = 1 << 20;
    private const int TranscendentalThreshold = 1 << 15;

    /// <summary>y = act(x). y may be x.</summary>
    public static unsafe void Forward(ReadOnlySpan<float> x, Span<float> y, Activation activation)
    {
        CheckLength(y, x.Length, nameof(y));
        if (activation.Kind == ActivationKind.None) throw new ArgumentException("ActivationKernels needs an activation, not None.", nameof(activation));
        fixed (float* px = x, py = y)
        {
            var body = new ForwardBody((nint)px, (nint)py, activation);
            Elementwise.For(x.Length, Threshold(activation), ref body);
        }
    }

    /// <summary>dx = dy · act′(y), with y the forward output (x for a negative-slope LeakyReLU). dx may be dy.</summary>
    public static unsafe void Backward(ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx, Activation activation)
    {
        CheckLength(dy, y.Length, nameof(dy)); CheckLength(dx, y.Length, nameof(dx));
        if (activation.Kind == ActivationKind.None) throw new ArgumentException("ActivationKernels needs an activation, not None.", nameof(activation));
        fixed (float* py = y, pdy = dy, pdx = dx)
        {
            var body = new BackwardBody((nint)py, (nint)pdy, (nint)pdx, activation);
            Elementwise.For(y.Length, CheapThreshold, ref body);
        }
    }

    private static int Threshold(Activation a) => a.Kind is ActivationKind.Sigmoid or ActivationKind.Tanh ? TranscendentalThreshold : CheapThreshold;

    private readonly unsafe struct ForwardBody(nint x, nint y, Activation activation) : IElementwiseBody
    {
        public void Run(int start, int count) =>
            Epilogue.Apply(new ReadOnlySpan<float>((float*)x + start, count), new Span<float>((float*)y + start, count), activation);
    }

    private readonly unsafe struct BackwardBody(nint y, nint dy, nint dx, Activation activation) : IElementwiseBody
    {
        public void Run(int start, int count) =>
            Epilogue.MaskGradient((float*)y + start, (float*)dy + start, (float*)dx + start, count, activation);
    }
}
