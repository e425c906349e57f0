// LogSoftmax over any dim: y = x − logΣexp(x); VJP dx = dy − exp(y)·Σdy. Over the class dim of [N, C] its backward
// can be folded into an NLL loss (Fusion's "fuse-loss" pass).
using System.Collections.Generic;

namespace GraphCompiler.Compiler.Ops
{
    public sealed class LogSoftmaxOp : OpDef
    {
        public override string Name => "LogSoftmax";

        public override IReadOnlyList<OpParam> Params { get; } = new[] { OpParam.Int("dim") };

        public override string Describe(Node node) => $"LogSoftmax(dim: {node.Int("dim")})";

        public override Shape? Infer(Node node, List<CoreDiagnostic> errors) => Reduction.Check(node, errors);

        /// <summary>Whether the node is over the class dim of [N, C], the layout the NLL loss kernels read.</summary>
        public static bool OverClasses(Node node) => node.Input!.Shape.Rank == 2 && Reduction.Dim(node) == 1;

        public override void Forward(Lowering l, Node node) =>
            l.Emit($"{node.Name}: {node.Shape.Comment} over {(OverClasses(node) ? "the last dim" : $"dim {Reduction.Dim(node)}")}",
                new LogSoftmaxForward(l.Value(node.Input!), l.Value(node), Reduction.Sizes(node)));

        public const string GradComment = "dx = dy - exp(y) · Σ dy";

        public static LogSoftmaxBackward BackwardStep(Lowering l, Node node) =>
            new LogSoftmaxBackward(l.Value(node), l.Grad(node), l.Grad(node.Input!), Reduction.Sizes(node));

        public override void Backward(Lowering l, Node node) => l.EmitInputGrad(node, $"{node.Name}: {GradComment}", BackwardStep(l, node));
    }
}
