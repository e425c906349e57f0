// One SGD update of one parameter buffer with PyTorch's exact momentum, dampening, Nesterov and weight-decay rules.
using System.Numerics.Tensors;

namespace GraphCompiler.Backends.Cpu;

public static class SgdKernels
{
    // Fused multiply-adds throughout, because ATen's add(x, alpha) is vec::fmadd: with them the trajectories equal
    // torch.optim.SGD's bit for bit (Optim/OptimizerParityTests), where separate multiply and add drift by an ulp a step.
    // Work in L1-sized chunks so the effective gradient g needs only a stack buffer, never a heap one.
    private const int Chunk = 1024;

    /// <summary>
    /// g = grad + weightDecay·p; with momentum: buf = firstStep ? g : momentum·buf + (1 − dampening)·g and
    /// g = nesterov ? g + momentum·buf : buf; then p −= lr·g. momentumBuffer may be empty when momentum == 0.
    /// </summary>
    public static void Step(Span<float> param, ReadOnlySpan<float> grad, Span<float> momentumBuffer, float lr, float momentum,
        float dampening, float weightDecay, bool nesterov, bool firstStep)
    {
        int len = param.Length;
        if (grad.Length != len) throw new ArgumentException($"Gradient has {grad.Length} elements, parameter has {len}.", nameof(grad));
        if (momentum != 0 && momentumBuffer.Length != len)
            throw new ArgumentException($"Momentum buffer has {momentumBuffer.Length} elements, parameter has {len}.", nameof(momentumBuffer));
        if (nesterov && (momentum <= 0 || dampening != 0))
            throw new ArgumentException("Nesterov momentum requires a momentum and zero dampening (as in PyTorch).", nameof(nesterov));

        if (momentum == 0 && weightDecay == 0)
        {
            TensorPrimitives.FusedMultiplyAdd(grad, -lr, param, param); // the plain case: p += (−lr)·grad, one pass
            return;
        }

        Span<float> g = stackalloc float[Chunk];
        for (int start = 0; start < len; start += Chunk)
        {
            int count = Math.Min(Chunk, len - start);
            var p = param.Slice(start, count);
            var gc = g.Slice(0, count);
            var gr = grad.Slice(start, count);
            if (weightDecay != 0) TensorPrimitives.FusedMultiplyAdd(p, weightDecay, gr, gc);
            else gr.CopyTo(gc);

            if (momentum != 0)
            {
                var buf = momentumBuffer.Slice(start, count);
                if (firstStep) gc.CopyTo(buf);
                else
                {
                    TensorPrimitives.Multiply(buf, momentum, buf);
                    TensorPrimitives.FusedMultiplyAdd(gc, 1 - dampening, buf, buf);
                }
                if (nesterov) TensorPrimitives.FusedMultiplyAdd(buf, momentum, gc, gc);
                else buf.CopyTo(gc);
            }
            TensorPrimitives.FusedMultiplyAdd(gc, -lr, p, p);
        }
    }
}
