// Element-wise activations that other kernels apply as an epilogue: to their output as it is written (forward), or to
// the gradient they produce, masked by the activation's derivative (backward).
using System.Numerics.Tensors;
using System.Runtime.Intrinsics;

namespace GraphCompiler.Backends.Cpu;

/// <summary>
/// An activation fused into the kernel that feeds it. Every member's derivative is a function of its output y, so the
/// backward epilogue needs only the forward output: dx ← dx · act′(y).
/// </summary>
public enum Activation
{
    None,
    Relu,
}

public static class Epilogue
{
    /// <summary>
    /// y ← act(y) over a block a kernel has just written. The GEMM applies activations in its register stores instead;
    /// this is for the edges that have no GEMM (a zero-depth product).
    /// </summary>
    public static void Apply(Span<float> y, Activation activation)
    {
        if (activation == Activation.Relu) TensorPrimitives.Max(y, 0f, y);
    }

    /// <summary>dx ← dx · act′(y), with y the activation's output, over a block the calling kernel has just written.</summary>
    public static unsafe void MaskGradient(ReadOnlySpan<float> y, Span<float> dx, Activation activation)
    {
        if (activation == Activation.None) return;
        int len = dx.Length;
        if (y.Length < len) throw new ArgumentException($"Activation output has {y.Length} elements, its gradient {len}.", nameof(y));
        fixed (float* py = y, pdx = dx)
        {
            int i = 0;
            if (Vector512.IsHardwareAccelerated)
                for (; i <= len - Vector512<float>.Count; i += Vector512<float>.Count)
                    (Vector512.Load(pdx + i) & Vector512.GreaterThan(Vector512.Load(py + i), Vector512<float>.Zero)).Store(pdx + i);
            for (; i <= len - Vector256<float>.Count; i += Vector256<float>.Count)
                (Vector256.Load(pdx + i) & Vector256.GreaterThan(Vector256.Load(py + i), Vector256<float>.Zero)).Store(pdx + i);
            for (; i < len; i++) if (!(py[i] > 0)) pdx[i] = 0f;
        }
    }
}
