// Linear: y (N, out) = x (N, in) · Wᵀ + b — shape rule, forward lowering and VJP.
using System.Collections.Generic;
using System.Linq;

namespace GraphCompiler.Compiler.Ops
{
    public sealed class LinearOp : OpDef
    {
        public override string Name => "Linear";

        public override IReadOnlyList<OpParam> LayerParams { get; } =
            new[] { OpParam.Int("inFeatures"), OpParam.Int("outFeatures"), OpParam.Bool("bias", true) };

        public override string Describe(Node node) => node.Layer!.Describe();

        public override Shape? Infer(Node node, List<CoreDiagnostic> errors)
        {
            LayerDecl layer = node.Layer!;
            int inF = layer.Int("inFeatures"), outF = layer.Int("outFeatures");
            if (inF <= 0 || outF <= 0)
            {
                errors.Add(new CoreDiagnostic(DiagnosticIds.NonPositiveArgument,
                    $"{layer.Describe()} needs positive in and out features but is declared Linear({inF}, {outF})", layer.Site));
                return null;
            }
            Shape x = node.Input!.Shape;
            if (x.Rank != 2)
            {
                errors.Add(new CoreDiagnostic(DiagnosticIds.RankMismatch,
                    $"{layer.Describe()} expects a 2-D input [N,{inF}] but receives {node.Input.Derivation}; call .Flatten() before it",
                    RankSite(node, 2), layer.Site));
                return null;
            }
            if (x[1] != inF)
            {
                errors.Add(new CoreDiagnostic(DiagnosticIds.LinearFeatures,
                    $"{layer.Describe()} expects {inF} input features but receives {x[1]} ({node.Input.Origin})",
                    layer.ArgSite("inFeatures"), node.Site));
                return null;
            }
            return new Shape(Shape.Batch, outF);
        }

        public override bool AcceptsEpilogue => true;

        public override bool AcceptsGradEpilogue => true;

        public override void Forward(Lowering l, Node node) => Forward(l, node, Compiler.Elementwise.Identity);

        public override void Forward(Lowering l, Node node, Elementwise epilogue)
        {
            int inF = node.Layer!.Int("inFeatures"), outF = node.Layer.Int("outFeatures");
            l.Emit($"{node.Name}: {Fusion.Wrap(epilogue, $"{node.Input!.Shape.Comment} · Wᵀ ({outF}, {inF}){(node.Layer.Bias ? " + b" : "")}")} → {node.Shape.Comment}",
                new LinearForward(l.Value(node.Input), l.Param(node, "Weight"), l.Bias(node), l.Value(node), inF, outF, epilogue));
        }

        public override void Backward(Lowering l, Node node) => Backward(l, node, null);

        public override void Backward(Lowering l, Node node, GradMask? mask)
        {
            int inF = node.Layer!.Int("inFeatures"), outF = node.Layer.Int("outFeatures");
            l.EmitParamGrad(node, $"{node.Name}: dW ({outF}, {inF}) += dyᵀ · x{(node.Layer.Bias ? $", db ({outF}) += Σ dy" : "")}",
                new LinearBackwardParams(l.Grad(node), l.Value(node.Input!), l.ParamGrad(node, "Weight"), l.BiasGrad(node), inF, outF));
            l.EmitInputGrad(node, mask, $"{node.Name}: dx {node.Input!.Shape.Comment} = {Fusion.Masked(mask, "dy · W")}",
                new LinearBackwardInput(l.Grad(node), l.Param(node, "Weight"), l.GradOut(node, mask), inF, outF, l.Mask(mask)));
        }

        public override int ParameterCount(Node node) =>
            node.Layer!.Int("inFeatures") * node.Layer.Int("outFeatures") + (node.Layer.Bias ? node.Layer.Int("outFeatures") : 0);

        /// <summary>in·out multiply-adds (2 FLOPs each) plus one add per output for the bias.</summary>
        public override long Flops(Node node)
        {
            long inF = node.Layer!.Int("inFeatures"), outF = node.Layer.Int("outFeatures");
            return 2 * inF * outF + (node.Layer.Bias ? outF : 0);
        }
    }
}
