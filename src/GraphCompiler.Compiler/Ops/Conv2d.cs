// Conv2d: NCHW cross-correlation with a square kernel, stride, zero padding (or PyTorch's padding='same'), dilation and
// groups — shape rule, forward lowering and VJP.
using System.Collections.Generic;
using System.Linq;

namespace GraphCompiler.Compiler.Ops
{
    public sealed class Conv2dOp : OpDef
    {
        /// <summary>The padding value that means PyTorch's <c>padding='same'</c> (the runtime's <c>Padding.Same</c>).</summary>
        public const int SamePadding = -1;

        public override string Name => "Conv2d";

        public override IReadOnlyList<OpParam> LayerParams { get; } = new[]
        {
            OpParam.Int("inChannels"), OpParam.Int("outChannels"), OpParam.Int("kernel"),
            OpParam.Int("stride", 1), OpParam.Int("padding", 0), OpParam.Int("dilation", 1), OpParam.Int("groups", 1), OpParam.Bool("bias", true),
        };

        public override string Describe(Node node) => node.Layer!.Describe();

        public override Shape? Infer(Node node, List<CoreDiagnostic> errors)
        {
            LayerDecl layer = node.Layer!;
            int cIn = layer.Int("inChannels"), cOut = layer.Int("outChannels"), k = layer.Int("kernel"), s = layer.Int("stride");
            int p = layer.Int("padding"), d = layer.Int("dilation"), groups = layer.Int("groups");
            if (cIn <= 0 || cOut <= 0 || k <= 0 || s <= 0 || d <= 0 || groups <= 0 || (p < 0 && p != SamePadding))
            {
                errors.Add(new CoreDiagnostic(DiagnosticIds.NonPositiveArgument,
                    $"{layer.Describe()} needs positive channels, kernel, stride, dilation and groups and a non-negative padding (or Padding.Same) " +
                    $"but is declared {Declared(layer)}", layer.Site));
                return null;
            }
            if (cIn % groups != 0 || cOut % groups != 0)
            {
                errors.Add(new CoreDiagnostic(DiagnosticIds.ConvGroups,
                    $"{layer.Describe()} has groups = {groups}, which must divide both its {cIn} input and {cOut} output channels",
                    layer.ArgSite("groups"), layer.Site));
                return null;
            }
            if (p == SamePadding && s != 1)
            {
                errors.Add(new CoreDiagnostic(DiagnosticIds.SamePaddingStride,
                    $"{layer.Describe()} uses Padding.Same with stride {s}; as in PyTorch, 'same' padding needs stride 1",
                    layer.ArgSite("padding"), layer.ArgSite("stride")));
                return null;
            }
            Shape x = node.Input!.Shape;
            if (x.Rank != 4)
            {
                errors.Add(new CoreDiagnostic(DiagnosticIds.RankMismatch,
                    $"{layer.Describe()} expects a 4-D input [N,{cIn},H,W] but receives {node.Input.Derivation}", RankSite(node, 4), layer.Site));
                return null;
            }
            if (x[1] != cIn)
            {
                errors.Add(new CoreDiagnostic(DiagnosticIds.ConvChannels,
                    $"{layer.Describe()} expects {cIn} input channels but receives {x[1]} from {node.Input.Derivation}",
                    layer.ArgSite("inChannels"), node.Site));
                return null;
            }
            var (top, bottom) = Pads(layer);
            int oh = Windows.Out(x[2], k, s, top, bottom, d), ow = Windows.Out(x[3], k, s, top, bottom, d);
            if (oh <= 0 || ow <= 0)
            {
                int span = Windows.Span(k, d);
                string kernel = d == 1 ? $"a {k}x{k} kernel" : $"a {k}x{k} kernel with dilation {d} (spanning {span}x{span})";
                errors.Add(new CoreDiagnostic(DiagnosticIds.KernelTooLarge,
                    $"{layer.Describe()} has {kernel} but its input is only {x[2]}x{x[3]} ({x[2] + top + bottom}x{x[3] + top + bottom} with padding {top}{(bottom != top ? "/" + bottom : "")}); " +
                    $"it receives {node.Input.Derivation}",
                    layer.ArgSite("kernel"), node.Site));
                return null;
            }
            return new Shape(Shape.Batch, cOut, oh, ow);
        }

        /// <summary>Padding before and after each spatial axis; 'same' splits d·(k − 1) with the smaller half first, as PyTorch.</summary>
        private static (int Before, int After) Pads(LayerDecl layer)
        {
            int p = layer.Int("padding");
            if (p != SamePadding) return (p, p);
            int total = layer.Int("dilation") * (layer.Int("kernel") - 1);
            return (total / 2, total - total / 2);
        }

        private static string Declared(LayerDecl layer) =>
            $"Conv2d({layer.Int("inChannels")}, {layer.Int("outChannels")}, kernel: {layer.Int("kernel")}, Stride = {layer.Int("stride")}, " +
            $"Padding = {(layer.Int("padding") == SamePadding ? "Padding.Same" : layer.Int("padding").ToString(System.Globalization.CultureInfo.InvariantCulture))}, " +
            $"Dilation = {layer.Int("dilation")}, Groups = {layer.Int("groups")})";

        private static Geo<Conv2dGeometry> Geometry(Lowering l, Node node)
        {
            LayerDecl layer = node.Layer!;
            Shape x = node.Input!.Shape;
            int k = layer.Int("kernel"), s = layer.Int("stride"), d = layer.Int("dilation"), groups = layer.Int("groups");
            var (before, after) = Pads(layer);
            string padding = before == after ? $"padding {before}" : $"padding {before} before, {after} after ('same')";
            string extra = (d != 1 ? $", dilation {d}" : "") + (groups != 1 ? $", {groups} groups" : "");
            string comment = $"{x.Comment} → {node.Shape.Comment}, kernel {k}, stride {s}, {padding}{extra}";
            int cIn = layer.Int("inChannels"), cOut = layer.Int("outChannels");
            // The short constructor when nothing beyond kernel, stride and symmetric padding is set: the common case reads plainly.
            var g = new Conv2dGeometry(cIn, cOut, x[2], x[3], k, k, s, s, before, before, after, after, d, d, groups);
            return before == after && d == 1 && groups == 1
                ? l.Geometry(node, g, comment, cIn, cOut, x[2], x[3], k, k, s, s, before, before)
                : l.Geometry(node, g, comment, cIn, cOut, x[2], x[3], k, k, s, s, before, before, after, after, d, d, groups);
        }

        public override bool AcceptsEpilogue => true;

        public override bool AcceptsGradEpilogue => true;

        public override void Forward(Lowering l, Node node) => Forward(l, node, Compiler.Elementwise.Identity);

        public override void Forward(Lowering l, Node node, Elementwise epilogue)
        {
            var g = Geometry(l, node);
            l.Emit($"{node.Name}: {Fusion.Wrap(epilogue, $"{node.Input!.Shape.Comment} ⋆ W {WeightComment(node)}{(node.Layer!.Bias ? " + b" : "")}")} → {node.Shape.Comment}",
                new Conv2dForward(l.Value(node.Input), l.Param(node, "Weight"), l.Bias(node), l.Value(node), g, epilogue));
        }

        public override void Backward(Lowering l, Node node) => Backward(l, node, null);

        public override void Backward(Lowering l, Node node, GradMask? mask)
        {
            var g = l.GeometryOf<Conv2dGeometry>(node);
            l.EmitParamGrad(node, $"{node.Name}: dW {WeightComment(node)} += dy ⋆ x{(node.Layer!.Bias ? ", db += Σ dy" : "")}",
                new Conv2dBackwardParams(l.Grad(node), l.Value(node.Input!), l.ParamGrad(node, "Weight"), l.BiasGrad(node), g));
            l.EmitInputGrad(node, mask, $"{node.Name}: dx {node.Input!.Shape.Comment} = {Fusion.Masked(mask, "dy ⋆ᵀ W")}",
                new Conv2dBackwardInput(l.Grad(node), l.Param(node, "Weight"), l.GradOut(node, mask), g, l.Mask(mask)));
        }

        // (out, in / groups, k, k): each output channel sees only its group's inputs.
        private static string WeightComment(Node node) =>
            $"({node.Layer!.Int("outChannels")}, {node.Layer.Int("inChannels") / node.Layer.Int("groups")}, {node.Layer.Int("kernel")}, {node.Layer.Int("kernel")})";

        public override int ParameterCount(Node node)
        {
            LayerDecl layer = node.Layer!;
            int k = layer.Int("kernel");
            return layer.Int("outChannels") * (layer.Int("inChannels") / layer.Int("groups")) * k * k + (layer.Bias ? layer.Int("outChannels") : 0);
        }

        /// <summary>
        /// Per output element, Cin·k·k multiply-adds (2 FLOPs each) plus one bias add. Taps that fall on the zero padding are
        /// counted, as PyTorch's kernels, fvcore and torchinfo do.
        /// </summary>
        public override long Flops(Node node)
        {
            LayerDecl layer = node.Layer!;
            long outputs = node.Shape.PerSample, k = layer.Int("kernel");
            return outputs * (2 * layer.Int("inChannels") * k * k + (layer.Bias ? 1 : 0));
        }
    }
}
