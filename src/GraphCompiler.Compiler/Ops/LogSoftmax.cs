// LogSoftmax over the class dimension of [N, C]: y = x - logΣexp(x); VJP dx = dy - exp(y)·Σdy.
using System.Collections.Generic;

namespace GraphCompiler.Compiler.Ops
{
    public sealed class LogSoftmaxOp : OpDef
    {
        public override string Name => "LogSoftmax";

        public override IReadOnlyList<OpParam> Params { get; } = new[] { OpParam.Int("dim") };

        public override string Describe(Node node) => $"LogSoftmax(dim: {node.Int("dim")})";

        public override Shape? Infer(Node node, List<CoreDiagnostic> errors)
        {
            Shape x = node.Input!.Shape;
            int dim = node.Int("dim");
            if (dim < -x.Rank || dim >= x.Rank)
            {
                errors.Add(new CoreDiagnostic(DiagnosticIds.DimOutOfRange,
                    $"LogSoftmax over dim {dim} is out of range for a {x.Rank}-D input {node.Input.Derivation}", node.Site));
                return null;
            }
            if (x.Rank != 2 || (dim != 1 && dim != -1))
            {
                errors.Add(new CoreDiagnostic(DiagnosticIds.RankMismatch,
                    $"LogSoftmax(dim: {dim}) supports the class dimension of a 2-D input [N,C] but receives {node.Input.Derivation}",
                    node.Site));
                return null;
            }
            return x;
        }

        public override void Forward(Lowering l, Node node) =>
            l.Emit("LogSoftmaxKernels", "Forward", $"{node.Name}: {node.Shape.Comment} over the last dim",
                l.Value(node.Input!), l.Value(node), Arg.N, Arg.Int(node.Shape[1]));

        // With a fused NLL loss the caller writes the gradient at the logits directly, and this step is skipped.
        public override void Backward(Lowering l, Node node)
        {
            Arg[] args = { l.Value(node), l.Grad(node), l.Grad(node.Input!), Arg.N, Arg.Int(node.Shape[1]) };
            const string comment = "dx = dy - exp(y) · Σ dy";
            if (node.LossFused) l.EmitUnlessLossFused(node, "LogSoftmaxKernels", "Backward", $"{node.Name}: {comment}", args);
            else l.EmitInputGrad(node, "LogSoftmaxKernels", "Backward", $"{node.Name}: {comment}", args);
        }
    }
}
