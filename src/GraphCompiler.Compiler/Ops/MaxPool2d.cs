// MaxPool2d(kernel[, stride]): window maximum over H and W, remembering the argmax for the backward scatter.
using System.Collections.Generic;
using System.Linq;

namespace GraphCompiler.Compiler.Ops
{
    public sealed class MaxPool2dOp : OpDef
    {
        public override string Name => "MaxPool2d";

        public override string NameStem => "Pool";

        public override IReadOnlyList<OpParam> Params { get; } = new[] { OpParam.Int("kernel"), OpParam.Int("stride", null) };

        public override string Describe(Node node) =>
            node.Has("stride") ? $"MaxPool2d({Kernel(node)}, stride: {Stride(node)})" : $"MaxPool2d({Kernel(node)})";

        private static int Kernel(Node node) => node.Int("kernel");

        private static int Stride(Node node) => node.Int("stride", Kernel(node));

        public override Shape? Infer(Node node, List<CoreDiagnostic> errors)
        {
            if (Kernel(node) <= 0 || Stride(node) <= 0)
            {
                errors.Add(new CoreDiagnostic(DiagnosticIds.NonPositiveArgument,
                    "MaxPool2d takes a positive kernel size and an optional positive stride", node.Site));
                return null;
            }
            Shape x = node.Input!.Shape;
            if (x.Rank != 4)
            {
                errors.Add(Rank(node, Describe(node), 4, "[N,C,H,W]"));
                return null;
            }
            int k = Kernel(node), s = Stride(node);
            if (k > x[2] || k > x[3])
            {
                errors.Add(new CoreDiagnostic(DiagnosticIds.KernelTooLarge,
                    $"{Describe(node)} has a {k}x{k} window but its input is only {x[2]}x{x[3]}; it receives {node.Input.Derivation}",
                    node.Site));
                return null;
            }
            return new Shape(Shape.Batch, x[1], (x[2] - k) / s + 1, (x[3] - k) / s + 1);
        }

        public override void Forward(Lowering l, Node node)
        {
            Shape x = node.Input!.Shape;
            int k = Kernel(node), s = Stride(node);
            Arg g = l.Geometry(node, "Pool2dGeometry", $"{x.Comment} → {node.Shape.Comment}, window {k}, stride {s}",
                x[1], x[2], x[3], k, k, s, s, 0, 0);
            Arg argmax = l.IndexBuffer(node, "Argmax", $"where each max of {node.Name} came from");
            l.Emit("MaxPool2dKernels", "Forward", $"{node.Name}: {x.Comment} → {node.Shape.Comment}",
                l.Value(node.Input), l.Value(node), argmax, g, Arg.N);
        }

        public override bool AcceptsGradEpilogue => true;

        // A fused activation backward is evaluated on the pool's own output: y[o] is the activation's output at argmax[o].
        public override void Backward(Lowering l, Node node)
        {
            Arg argmax = new Arg(ArgKind.Buffer, node.Name + "Argmax", node.Shape.PerSample);
            l.EmitInputGrad(node, "MaxPool2dKernels", "Backward", $"{node.Name}: scatter {Fusion.Masked(node, "dy", "y")} {node.Shape.Comment} to the argmax positions",
                new[] { l.Grad(node), argmax, l.Grad(l.GradTarget(node)), Arg.Geo(node.Name + "Geometry"), Arg.N }
                    .Concat(l.GradEpilogueArgs(node, l.Value(node))).ToArray());
        }
    }
}
