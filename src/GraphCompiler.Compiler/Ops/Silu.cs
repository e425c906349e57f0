// SiLU: y = x·σ(x); its derivative σ(x)(1 + x(1 − σ(x))) needs x, so it is a kernel of its own, never an epilogue.
using System.Collections.Generic;

namespace GraphCompiler.Compiler.Ops
{
    public sealed class SiluOp : OpDef
    {
        public override string Name => "Silu";

        public override string Describe(Node node) => "SiLU";

        public override string? ElementwiseStage(Node node) => "Silu";

        public override Shape? Infer(Node node, List<CoreDiagnostic> errors) => node.Input!.Shape;

        public override void Forward(Lowering l, Node node) =>
            l.Emit("SiluKernels", "Forward", $"{node.Name}: {node.Shape.Comment}", l.Value(node.Input!), l.Value(node));

        public override void Backward(Lowering l, Node node) =>
            l.EmitInputGrad(node, "SiluKernels", "Backward", $"{node.Name}: dx = dy · silu′(x)", l.Value(node.Input!), l.Grad(node), l.Grad(node.Input!));
    }
}
