// The broadcast geometry of two per-sample shapes as the compiler core's Add rule gives it (the rule is written once, in
// Ops/Broadcast.cs), for kernel tests that start from shapes.
using GraphCompiler.Backends.Cpu;
using GraphCompiler.Compiler;

namespace GraphCompiler.Tests.Kernels;

public static class Broadcasting
{
    /// <summary>The CPU kernels' geometry for a + b over per-sample dims <paramref name="a"/> and <paramref name="b"/>; null when they do not broadcast.</summary>
    public static BroadcastGeometry? Of(int[] a, int[] b)
    {
        OpLowering lowered = ModelCompiler.LowerOp(OpCall.Of("Add", [0, 1]), [new Shape([Shape.Batch, .. a]), new Shape([Shape.Batch, .. b])], null);
        return lowered.Output is null ? null : new BroadcastGeometry([.. ((AddForward)lowered.Forward.Single()).G.Value.Packed]);
    }
}
