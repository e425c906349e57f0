// LayerNorm over the last dimension: each row normalised by its own statistics, the same in training and eval mode —
// shape rule, forward lowering and VJP.
using System.Collections.Generic;
using System.Globalization;

namespace GraphCompiler.Compiler.Ops
{
    public sealed class LayerNormOp : OpDef
    {
        public override string Name => "LayerNorm";

        public override IReadOnlyList<OpParam> LayerParams { get; } = new[]
        {
            OpParam.Int("normalizedShape"), OpParam.Float("eps", 1e-5f), OpParam.Bool("elementwiseAffine", true),
        };

        public override string Describe(Node node) => node.Layer!.Describe();

        public override Shape? Infer(Node node, List<CoreDiagnostic> errors)
        {
            LayerDecl layer = node.Layer!;
            int d = layer.Int("normalizedShape");
            double eps = layer.Float("eps");
            if (d <= 0 || !(eps > 0))
            {
                errors.Add(new CoreDiagnostic(DiagnosticIds.NonPositiveArgument,
                    $"{layer.Describe()} needs a positive normalized size and eps but is declared LayerNorm({d}, Eps = {Number(eps)})", layer.Site));
                return null;
            }
            Shape x = node.Input!.Shape;
            if (x.Rank < 2)
            {
                errors.Add(new CoreDiagnostic(DiagnosticIds.RankMismatch,
                    $"{layer.Describe()} expects an input [N,…,{d}] but receives {node.Input.Derivation}", node.Site, layer.Site));
                return null;
            }
            if (x[x.Rank - 1] != d)
            {
                errors.Add(new CoreDiagnostic(DiagnosticIds.LayerNormShape,
                    $"{layer.Describe()} normalises a last dimension of {d} but receives {x[x.Rank - 1]} from {node.Input.Derivation}",
                    layer.ArgSite("normalizedShape"), node.Site));
                return null;
            }
            return x;
        }

        /// <summary>Rows normalised per sample: every position before the last dimension.</summary>
        private static int RowsPerSample(Node node) => node.Shape.PerSample / node.Shape[node.Shape.Rank - 1];

        private static Shape Stats(Node node) => new Shape(Shape.Batch, RowsPerSample(node));

        public override void Forward(Lowering l, Node node)
        {
            Buf mean = l.SideBuffer(node, "Mean", Stats(node), $"mean of each row {node.Name} normalised");
            Buf invStd = l.SideBuffer(node, "InvStd", Stats(node), $"1/√(var + eps) of each row {node.Name} normalised");
            l.Emit($"{node.Name}: {node.Shape.Comment} normalised over the last dimension",
                new LayerNormForward(node.Layer!.Property, l.Value(node.Input!), l.Value(node), mean, invStd, RowsPerSample(node)));
        }

        public override void Backward(Lowering l, Node node)
        {
            Buf mean = l.SideBuffer(node, "Mean", Stats(node), ""), invStd = l.SideBuffer(node, "InvStd", Stats(node), "");
            int d = node.Layer!.Int("normalizedShape");
            if (node.Layer.Bool("elementwiseAffine"))
                l.EmitParamGrad(node, $"{node.Name}: dW ({d}) += Σ dy·x̂, db ({d}) += Σ dy",
                    new LayerNormBackwardParams(node.Layer.Property, l.Grad(node), l.Value(node.Input!), mean, invStd, RowsPerSample(node)));
            l.EmitInputGrad(node, $"{node.Name}: dx {node.Input!.Shape.Comment} = (g − mean(g) − x̂·mean(g·x̂))/σ with g = w·dy",
                new LayerNormBackwardInput(node.Layer.Property, l.Grad(node), l.Value(node.Input!), mean, invStd, l.Grad(node.Input!), RowsPerSample(node)));
        }

        public override int ParameterCount(Node node) => node.Layer!.Bool("elementwiseAffine") ? 2 * node.Layer.Int("normalizedShape") : 0;

        // Arguments are floats in source; print them as the float the user wrote (1E-05, not 9.99999974737875E-06).
        private static string Number(double value) => ((float)value).ToString("R", CultureInfo.InvariantCulture);
    }
}
