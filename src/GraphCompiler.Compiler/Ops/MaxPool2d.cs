// MaxPool2d(kernel, stride, padding, dilation, ceilMode): window maximum over H and W, remembering the argmax for the
// backward scatter.
using System.Collections.Generic;
using System.Linq;

namespace GraphCompiler.Compiler.Ops
{
    public sealed class MaxPool2dOp : OpDef
    {
        public override string Name => "MaxPool2d";

        public override string NameStem => "Pool";

        public override IReadOnlyList<OpParam> Params { get; } = new[]
        {
            OpParam.Int("kernel"), OpParam.Int("stride", null), OpParam.Int("padding", 0), OpParam.Int("dilation", 1), OpParam.Bool("ceilMode", false),
        };

        public override string Describe(Node node) => Pooling.Describe(node);

        public override Shape? Infer(Node node, List<CoreDiagnostic> errors) => Pooling.Infer(node, errors);

        public override void Forward(Lowering l, Node node)
        {
            Shape x = node.Input!.Shape;
            var g = Pooling.Geometry(l, node, countIncludePad: true);
            Buf argmax = l.IndexBuffer(node, "Argmax", $"where each max of {node.Name} came from");
            l.Emit($"{node.Name}: {x.Comment} → {node.Shape.Comment}", new MaxPool2dForward(l.Value(node.Input), l.Value(node), argmax, g));
        }

        public override bool AcceptsGradEpilogue => true;

        // A fused activation backward is evaluated on the pool's own output: y[o] is the activation's output at argmax[o].
        public override void Backward(Lowering l, Node node) => Backward(l, node, null);

        public override void Backward(Lowering l, Node node, GradMask? mask)
        {
            Buf argmax = l.IndexBuffer(node, "Argmax", "");
            l.EmitInputGrad(node, mask, $"{node.Name}: scatter {Fusion.Masked(mask, "dy", "y")} {node.Shape.Comment} to the argmax positions",
                new MaxPool2dBackward(l.Grad(node), argmax, l.GradOut(node, mask), l.GeometryOf<Pool2dGeometry>(node), l.Mask(mask, l.Value(node))));
        }
    }
}
