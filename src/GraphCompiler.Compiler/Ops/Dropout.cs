// Dropout: zero each element with probability p and scale the rest by 1/(1 − p) in training mode, the identity in eval
// mode — shape rule, forward lowering and VJP. The mask is saved for the backward.
using System.Collections.Generic;
using System.Globalization;

namespace GraphCompiler.Compiler.Ops
{
    public sealed class DropoutOp : OpDef
    {
        public override string Name => "Dropout";

        public override IReadOnlyList<OpParam> LayerParams { get; } = new[] { OpParam.Float("p", 0.5f) };

        public override string Describe(Node node) => node.Layer!.Describe();

        public override Shape? Infer(Node node, List<CoreDiagnostic> errors)
        {
            LayerDecl layer = node.Layer!;
            double p = layer.Float("p");
            if (!(p >= 0 && p <= 1))
            {
                errors.Add(new CoreDiagnostic(DiagnosticIds.NonPositiveArgument,
                    $"{layer.Describe()} needs a probability in [0, 1] but is declared Dropout({Number(p)})", layer.ArgSite("p")));
                return null;
            }
            return node.Input!.Shape;
        }

        public override void Forward(Lowering l, Node node)
        {
            Buf mask = l.SideBuffer(node, "Mask", node.Shape, $"{node.Name}'s mask: 0 or 1/(1 − p) per element");
            l.Emit($"{node.Name}: {node.Shape.Comment} · mask (training), a copy (eval)", new DropoutForward(node.Layer!.Property, l.Value(node.Input!), l.Value(node), mask));
        }

        public override void Backward(Lowering l, Node node)
        {
            Buf mask = l.SideBuffer(node, "Mask", node.Shape, "");
            l.EmitInputGrad(node, $"{node.Name}: dx {node.Shape.Comment} = dy · mask (training), dy (eval)",
                new DropoutBackward(node.Layer!.Property, l.Grad(node), mask, l.Grad(node.Input!)));
        }

        public override bool HasState => true;

        // Arguments are floats in source; print them as the float the user wrote (1E-05, not 9.99999974737875E-06).
        private static string Number(double value) => ((float)value).ToString("R", CultureInfo.InvariantCulture);
    }
}
