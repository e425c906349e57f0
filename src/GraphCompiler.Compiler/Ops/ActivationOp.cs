// The element-wise activations (ReLU, LeakyReLU, sigmoid, tanh, GELU, SiLU): each names its catalog entry, and this base
// lowers them all: a producer may apply one as an epilogue, a consumer's input-gradient kernel its backward, or a run of
// them becomes one chain kernel.
using System.Collections.Generic;

namespace GraphCompiler.Compiler.Ops
{
    /// <summary>Shape-preserving; forward and backward are one <see cref="ElementwiseForward"/>/<see cref="ElementwiseBackward"/> each (fusion replaces the node when a neighbour's kernel takes them over).</summary>
    public abstract class ActivationOp : OpDef
    {
        /// <summary>The catalog entry this node computes.</summary>
        protected abstract Elementwise Function(Node node);

        public override Shape? Infer(Node node, List<CoreDiagnostic> errors) => node.Input!.Shape;

        public override Elementwise? Elementwise(Node node) => Function(node);

        /// <summary>The backward's formula in kernel comments, with act′ evaluated on <paramref name="on"/> (y or x).</summary>
        protected virtual string GradFormula(Node node, string on) => $"dx = dy · {Describe(node)}′({on})";

        public override void Forward(Lowering l, Node node) =>
            l.Emit($"{node.Name}: {node.Shape.Comment}", new ElementwiseForward(l.Value(node.Input!), l.Value(node), Function(node)));

        /// <summary>The backward kernel's comment: <c>Relu2: dx = dy · [y > 0]</c>.</summary>
        public string BackwardComment(Node node) => $"{node.Name}: {GradFormula(node, Function(node).DerivativeFromOutput ? "y" : "x")}";

        // act′ from the output where it is a function of it (ReLU, sigmoid, tanh, LeakyReLU with slope ≥ 0), else from the input.
        public override void Backward(Lowering l, Node node)
        {
            Elementwise f = Function(node);
            l.EmitGradOf(node.Input!, BackwardComment(node),
                new ElementwiseBackward(f.DerivativeFromOutput ? l.Value(node) : l.Value(node.Input!), l.Grad(node), l.Grad(node.Input!), f));
        }
    }
}
