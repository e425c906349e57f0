// AdaptiveAvgPool2d(outputSize[, outputWidth]): a fixed output size, each output the mean of input rows and columns
// [⌊i·in/out⌋, ⌈(i+1)·in/out⌉); its VJP spreads dy over the same windows.
using System.Collections.Generic;

namespace GraphCompiler.Compiler.Ops
{
    public sealed class AdaptiveAvgPool2dOp : OpDef
    {
        public override string Name => "AdaptiveAvgPool2d";

        public override string NameStem => "AdaptivePool";

        public override IReadOnlyList<OpParam> Params { get; } = new[] { OpParam.Int("outputSize"), OpParam.Int("outputWidth", null) };

        private static int OutH(Node node) => node.Int("outputSize");

        private static int OutW(Node node) => node.Int("outputWidth", OutH(node));

        public override string Describe(Node node) =>
            node.Has("outputWidth") ? $"AdaptiveAvgPool2d({OutH(node)}, {OutW(node)})" : $"AdaptiveAvgPool2d({OutH(node)})";

        public override Shape? Infer(Node node, List<CoreDiagnostic> errors)
        {
            if (OutH(node) <= 0 || OutW(node) <= 0)
            {
                errors.Add(new CoreDiagnostic(DiagnosticIds.NonPositiveArgument, $"{Describe(node)} needs a positive output size", node.Site));
                return null;
            }
            Shape x = node.Input!.Shape;
            if (x.Rank != 4)
            {
                errors.Add(Rank(node, Describe(node), 4, "[N,C,H,W]"));
                return null;
            }
            return new Shape(Shape.Batch, x[1], OutH(node), OutW(node));
        }

        public override void Forward(Lowering l, Node node)
        {
            Shape x = node.Input!.Shape;
            var g = l.Geometry(node, new AdaptivePool2dGeometry(x[1], x[2], x[3], OutH(node), OutW(node)), $"{x.Comment} → {node.Shape.Comment}",
                x[1], x[2], x[3], OutH(node), OutW(node));
            l.Emit($"{node.Name}: {x.Comment} → {node.Shape.Comment}", new AdaptiveAvgPool2dForward(l.Value(node.Input), l.Value(node), g));
        }

        public override void Backward(Lowering l, Node node) =>
            l.EmitInputGrad(node, $"{node.Name}: dx {node.Input!.Shape.Comment} = dy / window size over each window",
                new AdaptiveAvgPool2dBackward(l.Grad(node), l.Grad(node.Input), l.GeometryOf<AdaptivePool2dGeometry>(node)));
    }
}
