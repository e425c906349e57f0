// AvgPool2d(kernel, stride, padding, ceilMode, countIncludePad): window mean over H and W with PyTorch's divisor; its VJP
// spreads dy / divisor back over each window.
using System.Collections.Generic;

namespace GraphCompiler.Compiler.Ops
{
    public sealed class AvgPool2dOp : OpDef
    {
        public override string Name => "AvgPool2d";

        public override string NameStem => "AvgPool";

        public override IReadOnlyList<OpParam> Params { get; } = new[]
        {
            OpParam.Int("kernel"), OpParam.Int("stride", null), OpParam.Int("padding", 0), OpParam.Bool("ceilMode", false), OpParam.Bool("countIncludePad", true),
        };

        public override string Describe(Node node) => Pooling.Describe(node);

        public override Shape? Infer(Node node, List<CoreDiagnostic> errors) => Pooling.Infer(node, errors);

        public override void Forward(Lowering l, Node node)
        {
            var g = Pooling.Geometry(l, node, node.Bool("countIncludePad"));
            l.Emit($"{node.Name}: {node.Input!.Shape.Comment} → {node.Shape.Comment}", new AvgPool2dForward(l.Value(node.Input), l.Value(node), g));
        }

        public override void Backward(Lowering l, Node node) =>
            l.EmitInputGrad(node, $"{node.Name}: dx {node.Input!.Shape.Comment} = dy / divisor over each window",
                new AvgPool2dBackward(l.Grad(node), l.Grad(node.Input), l.GeometryOf<Pool2dGeometry>(node)));
    }
}
