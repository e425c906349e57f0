// The element-wise activations whose derivative is a function of their output (LeakyReLU, sigmoid, tanh): a producer
// can apply them as an epilogue and a consumer's input-gradient kernel can apply their backward.
using System.Collections.Generic;

namespace GraphCompiler.Compiler.Ops
{
    /// <summary>
    /// Shape-preserving; forward and backward through <c>ActivationKernels</c> with the kernels' <c>Activation</c> member
    /// <see cref="Kernel"/>, each skipped when fusion folded it into a neighbour's kernel.
    /// </summary>
    public abstract class ActivationOp : OpDef
    {
        /// <summary>The kernels' <c>Activation</c> member computing this node, as C# after "Activation.".</summary>
        protected abstract string Kernel(Node node);

        /// <summary>Whether act′ can be evaluated on the output (fusable); otherwise the backward reads the input.</summary>
        protected virtual bool DerivativeFromOutput(Node node) => true;

        public override Shape? Infer(Node node, List<CoreDiagnostic> errors) => node.Input!.Shape;

        public override string? Activation(Node node) => DerivativeFromOutput(node) ? Kernel(node) : null;

        // The chain kernel's stages are named like the Activation members (LeakyRelu of any slope: it reads x).
        public override string? ElementwiseStage(Node node) => Kernel(node);

        public override void Forward(Lowering l, Node node)
        {
            if (node.FusedInto is null)
                l.Emit("ActivationKernels", "Forward", $"{node.Name}: {node.Shape.Comment}", l.Value(node.Input!), l.Value(node), Arg.Act(Kernel(node)));
        }

        public override void Backward(Lowering l, Node node)
        {
            if (node.GradFused) return;
            bool fromOutput = DerivativeFromOutput(node);
            l.EmitInputGrad(node, "ActivationKernels", "Backward", $"{node.Name}: dx = dy · {Describe(node)}′({(fromOutput ? "y" : "x")})",
                fromOutput ? l.Value(node) : l.Value(node.Input!), l.Grad(node), l.Grad(node.Input!), Arg.Act(Kernel(node)));
        }
    }
}
