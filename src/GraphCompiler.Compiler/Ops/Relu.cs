// ReLU: y = max(x, 0); its VJP passes the gradient where the output is positive.
using System.Collections.Generic;

namespace GraphCompiler.Compiler.Ops
{
    public sealed class ReluOp : OpDef
    {
        public override string Name => "Relu";

        public override string Describe(Node node) => "ReLU";

        public override Shape? Infer(Node node, List<CoreDiagnostic> errors) => node.Input!.Shape;

        public override string? Activation(Node node) => "Relu";

        public override string? ElementwiseStage(Node node) => "Relu";

        // Nothing to emit when fusion made this the epilogue of its producer (forward) or of its consumer's dx (backward).
        public override void Forward(Lowering l, Node node)
        {
            if (node.FusedInto is null)
                l.Emit("ReluKernels", "Forward", $"{node.Name}: {node.Shape.Comment}", l.Value(node.Input!), l.Value(node));
        }

        public override void Backward(Lowering l, Node node)
        {
            if (!node.GradFused)
                l.EmitInputGrad(node, "ReluKernels", "Backward", $"{node.Name}: dx = dy · [y > 0]",
                    l.Value(node), l.Grad(node), l.Grad(node.Input!));
        }
    }
}
