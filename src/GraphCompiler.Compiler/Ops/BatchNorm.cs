// BatchNorm1d and BatchNorm2d: per-channel normalisation with batch or running statistics — shape rule, forward lowering
// and VJP. The mode (training or eval) is the runtime layer's, so one lowering serves both.
using System.Collections.Generic;
using System.Linq;
using System.Globalization;

namespace GraphCompiler.Compiler.Ops
{
    public abstract class BatchNormOp : OpDef
    {
        public override IReadOnlyList<OpParam> LayerParams { get; } = new[]
        {
            OpParam.Int("numFeatures"), OpParam.Float("eps", 1e-5f), OpParam.Float("momentum", 0.1f),
            OpParam.Bool("affine", true), OpParam.Bool("trackRunningStats", true),
        };

        /// <summary>The input ranks the layer accepts and how to write them, e.g. "[N,64,H,W]".</summary>
        protected abstract bool AcceptsRank(int rank);

        protected abstract string Layout(int channels);

        public override string Describe(Node node) => node.Layer!.Describe();

        public override Shape? Infer(Node node, List<CoreDiagnostic> errors)
        {
            LayerDecl layer = node.Layer!;
            int c = layer.Int("numFeatures");
            double eps = layer.Float("eps"), momentum = layer.Float("momentum");
            if (c <= 0 || !(eps > 0) || !(momentum >= 0 && momentum <= 1))
            {
                errors.Add(new CoreDiagnostic(DiagnosticIds.NonPositiveArgument,
                    $"{layer.Describe()} needs a positive number of features and eps and a momentum in [0, 1] but is declared " +
                    $"{Name}({c}, Eps = {Number(eps)}, Momentum = {Number(momentum)})", layer.Site));
                return null;
            }
            Shape x = node.Input!.Shape;
            if (!AcceptsRank(x.Rank))
            {
                errors.Add(new CoreDiagnostic(DiagnosticIds.RankMismatch,
                    $"{layer.Describe()} expects {Layout(c)} but receives {node.Input.Derivation}",
                    RankSite(node, Enumerable.Range(1, 4).First(AcceptsRank)), layer.Site));
                return null;
            }
            if (x[1] != c)
            {
                errors.Add(new CoreDiagnostic(DiagnosticIds.NormFeatures,
                    $"{layer.Describe()} expects {c} channels but receives {x[1]} from {node.Input.Derivation}",
                    layer.ArgSite("numFeatures"), node.Site));
                return null;
            }
            return x;
        }

        private static int Spatial(Node node) => node.Shape.PerSample / node.Shape[1];

        public override void Forward(Lowering l, Node node)
        {
            int c = node.Shape[1];
            var stats = new Shape(Shape.Batch, c);
            Buf mean = l.SideBuffer(node, "Mean", stats, $"per-channel mean {node.Name} normalised with (the first {c} values)");
            Buf invStd = l.SideBuffer(node, "InvStd", stats, $"per-channel 1/√(var + eps) {node.Name} normalised with (the first {c} values)");
            l.Emit($"{node.Name}: {node.Shape.Comment} normalised per channel (training: batch statistics, running ones updated; eval: running statistics)",
                new BatchNormForward(node.Layer!.Property, l.Value(node.Input!), l.Value(node), mean, invStd, Spatial(node)));
        }

        public override void Backward(Lowering l, Node node)
        {
            int c = node.Shape[1];
            var stats = new Shape(Shape.Batch, c);
            Buf mean = l.SideBuffer(node, "Mean", stats, ""), invStd = l.SideBuffer(node, "InvStd", stats, "");
            if (node.Layer!.Bool("affine"))
                l.EmitParamGrad(node, $"{node.Name}: dW ({c}) += Σ dy·x̂, db ({c}) += Σ dy",
                    new BatchNormBackwardParams(node.Layer.Property, l.Grad(node), l.Value(node.Input!), mean, invStd, Spatial(node)));
            l.EmitInputGrad(node, $"{node.Name}: dx {node.Input!.Shape.Comment} = w/σ·(dy − mean(dy) − x̂·mean(dy·x̂)) in training, w/σ·dy in eval",
                new BatchNormBackwardInput(node.Layer.Property, l.Grad(node), l.Value(node.Input!), mean, invStd, l.Grad(node.Input!), Spatial(node)));
        }

        public override int ParameterCount(Node node) => node.Layer!.Bool("affine") ? 2 * node.Layer.Int("numFeatures") : 0;

        public override bool HasState => true;

        // Arguments are floats in source; print them as the float the user wrote (1E-05, not 9.99999974737875E-06).
        private static string Number(double value) => ((float)value).ToString("R", CultureInfo.InvariantCulture);
    }

    public sealed class BatchNorm1dOp : BatchNormOp
    {
        public override string Name => "BatchNorm1d";

        protected override bool AcceptsRank(int rank) => rank == 2 || rank == 3;

        protected override string Layout(int channels) => $"a 2-D or 3-D input [N,{channels}] or [N,{channels},L]";
    }

    public sealed class BatchNorm2dOp : BatchNormOp
    {
        public override string Name => "BatchNorm2d";

        protected override bool AcceptsRank(int rank) => rank == 4;

        protected override string Layout(int channels) => $"a 4-D input [N,{channels},H,W]";
    }
}
