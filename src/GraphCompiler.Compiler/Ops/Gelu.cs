// GELU: y = x·Φ(x) (or PyTorch's approximate='tanh' form); its derivative needs x, so it is a kernel of its own, never an epilogue.
using System.Collections.Generic;

namespace GraphCompiler.Compiler.Ops
{
    public sealed class GeluOp : OpDef
    {
        public override string Name => "Gelu";

        public override IReadOnlyList<OpParam> Params { get; } = new[] { OpParam.Bool("approximateTanh", false) };

        public override string Describe(Node node) => node.Bool("approximateTanh") ? "GELU(approximate='tanh')" : "GELU";

        public override string? ElementwiseStage(Node node) => node.Bool("approximateTanh") ? "Gelu(true)" : "Gelu(false)";

        public override Shape? Infer(Node node, List<CoreDiagnostic> errors) => node.Input!.Shape;

        public override void Forward(Lowering l, Node node) =>
            l.Emit("GeluKernels", "Forward", $"{node.Name}: {node.Shape.Comment}", l.Value(node.Input!), l.Value(node), Arg.Bool(node.Bool("approximateTanh")));

        public override void Backward(Lowering l, Node node) =>
            l.EmitInputGrad(node, "GeluKernels", "Backward", $"{node.Name}: dx = dy · gelu′(x)",
                l.Value(node.Input!), l.Grad(node), l.Grad(node.Input!), Arg.Bool(node.Bool("approximateTanh")));
    }
}
