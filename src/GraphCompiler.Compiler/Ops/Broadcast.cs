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

        /// <summary>The broadcast: per-sample rank, then the output's, a's and b's aligned dims.</summary>
        protected static Geo<BroadcastDims> Geometry(Lowering l, Node node, string symbol)
        {
            Shape a = node.Inputs[0].Shape, b = node.Inputs[1].Shape;
            int rank = node.Shape.Rank - 1;
            int[] values = new[] { rank }.Concat(node.Shape.SampleDims).Concat(Aligned(a, rank)).Concat(Aligned(b, rank)).ToArray();
            return l.Geometry(node, new BroadcastDims(new EquatableArray<int>(values)), $"{a.Comment} {symbol} {b.Comment} → {node.Shape.Comment}", values);
        }

        public override void Forward(Lowering l, Node node)
        {
            Node a = node.Inputs[0], b = node.Inputs[1];
            l.Emit($"{node.Name}: {a.Shape.Comment} {Symbol} {b.Shape.Comment} → {node.Shape.Comment}", Step(l.Value(a), l.Value(b), l.Value(node), Geometry(l, node, Symbol)));
        }

        /// <summary>The forward step of the op: <see cref="AddForward"/> or <see cref="MulForward"/>.</summary>
        protected abstract KernelStep Step(Buf a, Buf b, Buf y, Geo<BroadcastDims> g);

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

        protected override KernelStep Step(Buf a, Buf b, Buf y, Geo<BroadcastDims> g) => new AddForward(a, b, y, g);

        public override void Backward(Lowering l, Node node)
        {
            var g = l.GeometryOf<BroadcastDims>(node);
            l.EmitGradOf(node.Inputs[0], GradComment(node, 0, "dy"), new AddBackward(l.Grad(node), l.InputGrad(node, 0), g, Right: false));
            l.EmitGradOf(node.Inputs[1], GradComment(node, 1, "dy"), new AddBackward(l.Grad(node), l.InputGrad(node, 1), g, Right: true));
        }
    }

    public sealed class MulOp : BroadcastOp
    {
        public override string Name => "Mul";

        protected override string Symbol => "·";

        protected override KernelStep Step(Buf a, Buf b, Buf y, Geo<BroadcastDims> g) => new MulForward(a, b, y, g);

        public override void Backward(Lowering l, Node node)
        {
            Node a = node.Inputs[0], b = node.Inputs[1];
            var g = l.GeometryOf<BroadcastDims>(node);
            l.EmitGradOf(a, GradComment(node, 0, "dy · b"), new MulBackward(l.Grad(node), l.Value(b), l.InputGrad(node, 0), g, Right: false));
            l.EmitGradOf(b, GradComment(node, 1, "dy · a"), new MulBackward(l.Grad(node), l.Value(a), l.InputGrad(node, 1), g, Right: true));
        }
    }
}
