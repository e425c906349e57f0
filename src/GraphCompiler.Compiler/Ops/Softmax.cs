// Softmax over any dim: y = exp(x − max) / Σ exp(x − max); VJP dx = y · (dy − Σ dy·y). The tensor is seen as
// (outer, dim, inner) so one kernel covers every dim.
using System.Collections.Generic;

namespace GraphCompiler.Compiler.Ops
{
    public sealed class SoftmaxOp : OpDef
    {
        public override string Name => "Softmax";

        public override IReadOnlyList<OpParam> Params { get; } = new[] { OpParam.Int("dim") };

        public override string Describe(Node node) => $"Softmax(dim: {node.Int("dim")})";

        public override Shape? Infer(Node node, List<CoreDiagnostic> errors) => Reduction.Check(node, errors);

        public override void Forward(Lowering l, Node node) =>
            l.Emit($"{node.Name}: {node.Shape.Comment} over dim {Reduction.Dim(node)}", new SoftmaxForward(l.Value(node.Input!), l.Value(node), Reduction.Sizes(node)));

        public override void Backward(Lowering l, Node node) =>
            l.EmitInputGrad(node, $"{node.Name}: dx = y · (dy − Σ dy·y)", new SoftmaxBackward(l.Value(node), l.Grad(node), l.Grad(node.Input!), Reduction.Sizes(node)));
    }

    /// <summary>Softmax and LogSoftmax: the dim check and the (outer, dim, inner) view of the input.</summary>
    internal static class Reduction
    {
        /// <summary>The reduced dim, counted from the front (a negative dim counts from the back, as in PyTorch).</summary>
        public static int Dim(Node node)
        {
            int dim = node.Int("dim");
            return dim < 0 ? dim + node.Input!.Shape.Rank : dim;
        }

        public static Shape? Check(Node node, List<CoreDiagnostic> errors)
        {
            Shape x = node.Input!.Shape;
            int dim = node.Int("dim");
            if (dim < -x.Rank || dim >= x.Rank)
            {
                errors.Add(new CoreDiagnostic(DiagnosticIds.DimOutOfRange,
                    $"{node.Op!.Name} over dim {dim} is out of range for a {x.Rank}-D input {node.Input.Derivation}",
                    node.Site));
                return null;
            }
            return x;
        }

        /// <summary>(outer, dim, inner): over the batch dim, one slab of N rows; otherwise N·(dims before) slabs.</summary>
        public static ReduceDims Sizes(Node node)
        {
            Shape x = node.Input!.Shape;
            int d = Dim(node), before = 1, after = 1;
            for (int i = 1; i < d; i++) before *= x[i];
            for (int i = d + 1; i < x.Rank; i++) after *= x[i];
            return d == 0 ? new ReduceDims(1, 0, after, OverBatch: true) : new ReduceDims(before, x[d], after, OverBatch: false);
        }
    }
}
