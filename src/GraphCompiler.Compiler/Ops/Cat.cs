// Cat(dim): concatenation along a per-sample dim (torch.cat) — shape rule, forward lowering (one strided copy per input)
// and VJP (each input's gradient is its slice of dy).
using System.Collections.Generic;
using System.Linq;

namespace GraphCompiler.Compiler.Ops
{
    public sealed class CatOp : OpDef
    {
        public override string Name => "Cat";

        public override int Arity => 0;

        public override IReadOnlyList<OpParam> Params { get; } = new[] { OpParam.Int("dim") };

        public override string Describe(Node node) => $"Cat(dim: {node.Int("dim")})";

        /// <summary>The dim as a non-negative axis.</summary>
        private static int Axis(Node node) => node.Int("dim") < 0 ? node.Int("dim") + node.Inputs[0].Shape.Rank : node.Int("dim");

        public override Shape? Infer(Node node, List<CoreDiagnostic> errors)
        {
            Node first = node.Inputs[0];
            int rank = first.Shape.Rank, dim = node.Int("dim"), axis = Axis(node);
            foreach (Node other in node.Inputs.Skip(1))
            {
                if (other.Shape.Rank == rank) continue;
                errors.Add(new CoreDiagnostic(DiagnosticIds.CatMismatch,
                    $"{Describe(node)} of {first.Derivation} and {other.Derivation} needs inputs of the same rank, not {rank} and {other.Shape.Rank}",
                    node.Site));
                return null;
            }
            if (axis < 1 || axis >= rank)
            {
                errors.Add(new CoreDiagnostic(DiagnosticIds.DimOutOfRange,
                    $"{Describe(node)} is out of range for {rank}-D inputs such as {first.Derivation}: dim must be from 1 to {rank - 1} " +
                    $"(or -{rank - 1} to -1), since dim 0 is the batch", node.Site));
                return null;
            }
            int[] dims = first.Shape.ToArray();
            foreach (Node other in node.Inputs.Skip(1))
            {
                for (int i = 1; i < rank; i++)
                {
                    if (i == axis || other.Shape[i] == dims[i]) continue;
                    errors.Add(new CoreDiagnostic(DiagnosticIds.CatMismatch,
                        $"{Describe(node)} of {first.Derivation} and {other.Derivation} needs equal sizes outside dim {axis}: dim {i} is {dims[i]} vs {other.Shape[i]}",
                        node.Site));
                    return null;
                }
                dims[axis] += other.Shape[axis];
            }
            return new Shape(dims);
        }

        /// <summary>
        /// The copy of input <paramref name="i"/> as (rows, inner, outInner, offset) per sample: it moves <c>rows</c> runs of
        /// <c>inner</c> floats into runs of <c>outInner</c> floats of the output, starting <c>offset</c> floats in.
        /// </summary>
        private static (int Rows, int Inner, int OutInner, int Offset) Slice(Node node, int i)
        {
            int axis = Axis(node);
            Shape y = node.Shape;
            int rows = 1, after = 1, before = 0;
            for (int d = 1; d < axis; d++) rows *= y[d];
            for (int d = axis + 1; d < y.Rank; d++) after *= y[d];
            for (int j = 0; j < i; j++) before += node.Inputs[j].Shape[axis];
            return (rows, node.Inputs[i].Shape[axis] * after, y[axis] * after, before * after);
        }

        private static string Range(Node node, int i)
        {
            int axis = Axis(node), before = node.Inputs.Take(i).Sum(n => n.Shape[axis]);
            return $"[{before}, {before + node.Inputs[i].Shape[axis]}) of dim {axis}";
        }

        public override void Forward(Lowering l, Node node)
        {
            for (int i = 0; i < node.Inputs.Count; i++)
            {
                var (rows, inner, outInner, offset) = Slice(node, i);
                l.Emit($"{node.Name}: {node.Inputs[i].Shape.Comment} → {Range(node, i)} of {node.Shape.Comment}",
                    new CatForward(l.Value(node.Inputs[i]), l.Value(node), rows, inner, outInner, offset));
            }
        }

        public override void Backward(Lowering l, Node node)
        {
            for (int i = 0; i < node.Inputs.Count; i++)
            {
                var (rows, inner, outInner, offset) = Slice(node, i);
                l.EmitGradOf(node.Inputs[i], $"{node.Name}: d{(char)('a' + System.Math.Min(i, 25))} {node.Inputs[i].Shape.Comment} = dy {Range(node, i)}",
                    new CatBackward(l.Grad(node), l.InputGrad(node, i), rows, inner, outInner, offset));
            }
        }
    }
}
