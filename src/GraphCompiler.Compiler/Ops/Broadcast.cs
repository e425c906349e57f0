// Add and Mul: element-wise with NumPy broadcasting over the per-sample dims (the batch N is shared) — shape rule, forward
// lowering and VJP. The VJP of a broadcast operand sums the gradient over the dims it was broadcast along.
using System.Collections.Generic;
using System.Linq;

namespace GraphCompiler.Compiler.Ops
{
    /// <summary>The shared shape rule and lowering of the element-wise binary ops.</summary>
    public abstract class BroadcastOp : OpDef
    {
        public override int Arity => 2;

        /// <summary>The operator as written in kernel comments, e.g. "+".</summary>
        protected abstract string Symbol { get; }

        /// <summary>The CPU kernel class, e.g. "AddKernels".</summary>
        protected abstract string Kernels { get; }

        /// <summary>
        /// The per-sample dims of <paramref name="shape"/> right-aligned to <paramref name="rank"/> with leading ones, as NumPy
        /// aligns operands of different rank.
        /// </summary>
        public static int[] Aligned(Shape shape, int rank)
        {
            int[] dims = shape.SampleDims;
            return Enumerable.Repeat(1, rank - dims.Length).Concat(dims).ToArray();
        }

        public override Shape? Infer(Node node, List<CoreDiagnostic> errors)
        {
            Shape a = node.Inputs[0].Shape, b = node.Inputs[1].Shape;
            int rank = System.Math.Max(a.Rank, b.Rank) - 1;
            int[] x = Aligned(a, rank), y = Aligned(b, rank), dims = new int[rank];
            for (int i = 0; i < rank; i++)
            {
                if (x[i] == y[i] || y[i] == 1) dims[i] = x[i];
                else if (x[i] == 1) dims[i] = y[i];
                else
                {
                    errors.Add(new CoreDiagnostic(DiagnosticIds.BroadcastMismatch,
                        $"{Name} of {node.Inputs[0].Derivation} and {node.Inputs[1].Derivation} cannot broadcast: dim {i + 1} is {x[i]} vs {y[i]}",
                        node.Site));
                    return null;
                }
            }
            return new Shape(new[] { Shape.Batch }.Concat(dims).ToArray());
        }

        /// <summary>The kernels' <c>BroadcastGeometry</c>: per-sample rank, then the output's, a's and b's aligned dims.</summary>
        protected static Arg Geometry(Lowering l, Node node, string symbol)
        {
            Shape a = node.Inputs[0].Shape, b = node.Inputs[1].Shape;
            int rank = node.Shape.Rank - 1;
            int[] values = new[] { rank }.Concat(node.Shape.SampleDims).Concat(Aligned(a, rank)).Concat(Aligned(b, rank)).ToArray();
            return l.Geometry(node, "BroadcastGeometry", $"{a.Comment} {symbol} {b.Comment} → {node.Shape.Comment}", values);
        }

        public override void Forward(Lowering l, Node node)
        {
            Node a = node.Inputs[0], b = node.Inputs[1];
            Arg g = Geometry(l, node, Symbol);
            l.Emit(Kernels, "Forward", $"{node.Name}: {a.Shape.Comment} {Symbol} {b.Shape.Comment} → {node.Shape.Comment}",
                l.Value(a), l.Value(b), l.Value(node), g, Arg.N);
        }

        /// <summary>How the gradient of operand <paramref name="side"/> reads in a kernel comment.</summary>
        protected string GradComment(Node node, int side, string formula)
        {
            Shape operand = node.Inputs[side].Shape;
            string which = side == 0 ? "da" : "db";
            return operand.Equals(node.Shape)
                ? $"{node.Name}: {which} {operand.Comment} = {formula}"
                : $"{node.Name}: {which} {operand.Comment} = Σ {formula} over the broadcast dims";
        }
    }

    public sealed class AddOp : BroadcastOp
    {
        public override string Name => "Add";

        protected override string Symbol => "+";

        protected override string Kernels => "AddKernels";

        public override void Backward(Lowering l, Node node)
        {
            Arg g = Arg.Geo(node.Name + "Geometry");
            l.EmitGradOf(node.Inputs[0], "AddKernels", "BackwardLeft", GradComment(node, 0, "dy"), l.Grad(node), l.InputGrad(node, 0), g, Arg.N);
            l.EmitGradOf(node.Inputs[1], "AddKernels", "BackwardRight", GradComment(node, 1, "dy"), l.Grad(node), l.InputGrad(node, 1), g, Arg.N);
        }
    }

    public sealed class MulOp : BroadcastOp
    {
        public override string Name => "Mul";

        protected override string Symbol => "·";

        protected override string Kernels => "MulKernels";

        public override void Backward(Lowering l, Node node)
        {
            Node a = node.Inputs[0], b = node.Inputs[1];
            Arg g = Arg.Geo(node.Name + "Geometry");
            l.EmitGradOf(a, "MulKernels", "BackwardLeft", GradComment(node, 0, "dy · b"), l.Grad(node), l.Value(b), l.InputGrad(node, 0), g, Arg.N);
            l.EmitGradOf(b, "MulKernels", "BackwardRight", GradComment(node, 1, "dy · a"), l.Grad(node), l.Value(a), l.InputGrad(node, 1), g, Arg.N);
        }
    }
}
