// Conv2d: NCHW cross-correlation with square kernel, stride and zero padding — shape rule, forward lowering and VJP.
using System.Collections.Generic;
using System.Linq;

namespace GraphCompiler.Compiler.Ops
{
    public sealed class Conv2dOp : OpDef
    {
        public override string Name => "Conv2d";

        public override IReadOnlyList<OpParam> LayerParams { get; } = new[]
        {
            OpParam.Int("inChannels"), OpParam.Int("outChannels"), OpParam.Int("kernel"),
            OpParam.Int("stride", 1), OpParam.Int("padding", 0), OpParam.Bool("bias", true),
        };

        public override string Describe(Node node) => node.Layer!.Describe();

        public override Shape? Infer(Node node, List<CoreDiagnostic> errors)
        {
            LayerDecl layer = node.Layer!;
            int cIn = layer.Int("inChannels"), cOut = layer.Int("outChannels"), k = layer.Int("kernel"), s = layer.Int("stride"), p = layer.Int("padding");
            if (cIn <= 0 || cOut <= 0 || k <= 0 || s <= 0 || p < 0)
            {
                errors.Add(new CoreDiagnostic(DiagnosticIds.NonPositiveArgument,
                    $"{layer.Describe()} needs positive channels, kernel and stride and a non-negative padding but is declared " +
                    $"Conv2d({cIn}, {cOut}, kernel: {k}, Stride = {s}, Padding = {p})", layer.Site));
                return null;
            }
            Shape x = node.Input!.Shape;
            if (x.Rank != 4)
            {
                errors.Add(new CoreDiagnostic(DiagnosticIds.RankMismatch,
                    $"{layer.Describe()} expects a 4-D input [N,{cIn},H,W] but receives {node.Input.Derivation}", node.Site, layer.Site));
                return null;
            }
            if (x[1] != cIn)
            {
                errors.Add(new CoreDiagnostic(DiagnosticIds.ConvChannels,
                    $"{layer.Describe()} expects {cIn} input channels but receives {x[1]} from {node.Input.Derivation}",
                    layer.ArgSite("inChannels"), node.Site));
                return null;
            }
            int h = x[2] + 2 * p, w = x[3] + 2 * p;
            if (k > h || k > w)
            {
                errors.Add(new CoreDiagnostic(DiagnosticIds.KernelTooLarge,
                    $"{layer.Describe()} has a {k}x{k} kernel but its input is only {x[2]}x{x[3]} ({h}x{w} with padding {p}); " +
                    $"it receives {node.Input.Derivation}",
                    layer.ArgSite("kernel"), node.Site));
                return null;
            }
            return new Shape(Shape.Batch, cOut, (h - k) / s + 1, (w - k) / s + 1);
        }

        private static Arg Geometry(Lowering l, Node node)
        {
            LayerDecl layer = node.Layer!;
            Shape x = node.Input!.Shape;
            int k = layer.Int("kernel"), s = layer.Int("stride"), p = layer.Int("padding");
            return l.Geometry(node, "Conv2dGeometry", $"{x.Comment} → {node.Shape.Comment}, kernel {k}, stride {s}, padding {p}",
                layer.Int("inChannels"), layer.Int("outChannels"), x[2], x[3], k, k, s, s, p, p);
        }

        public override bool AcceptsEpilogue => true;

        public override bool AcceptsGradEpilogue => true;

        public override void Forward(Lowering l, Node node)
        {
            Arg g = Geometry(l, node);
            l.Emit("Conv2dKernels", "Forward", $"{node.Name}: {Fusion.Wrap(node, $"{node.Input!.Shape.Comment} ⋆ W {WeightComment(node)} + b")} → {node.Shape.Comment}",
                new[] { l.Value(node.Input), l.Param(node, "Weight"), l.Bias(node), l.Value(node), g, Arg.N }.Concat(l.EpilogueArgs(node)).ToArray());
        }

        public override void Backward(Lowering l, Node node)
        {
            Arg g = Arg.Geo(node.Name + "Geometry");
            l.EmitParamGrad(node, "Conv2dKernels", "BackwardParams", $"{node.Name}: dW {WeightComment(node)} += dy ⋆ x, db += Σ dy",
                l.Grad(node), l.Value(node.Input!), l.ParamGrad(node, "Weight"), l.BiasGrad(node), g, Arg.N);
            l.EmitInputGrad(node, "Conv2dKernels", "BackwardInput", $"{node.Name}: dx {node.Input!.Shape.Comment} = {Fusion.Masked(node, "dy ⋆ᵀ W")}",
                new[] { l.Grad(node), l.Param(node, "Weight"), l.Grad(l.GradTarget(node)), g, Arg.N }.Concat(l.GradEpilogueArgs(node)).ToArray());
        }

        private static string WeightComment(Node node) =>
            $"({node.Layer!.Int("outChannels")}, {node.Layer.Int("inChannels")}, {node.Layer.Int("kernel")}, {node.Layer.Int("kernel")})";

        public override int ParameterCount(Node node)
        {
            LayerDecl layer = node.Layer!;
            return layer.Int("outChannels") * layer.Int("inChannels") * layer.Int("kernel") * layer.Int("kernel") + (layer.Bias ? layer.Int("outChannels") : 0);
        }
    }
}
