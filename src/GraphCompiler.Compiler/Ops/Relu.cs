// ReLU: y = max(x, 0); its VJP passes the gradient where the output is positive.
namespace GraphCompiler.Compiler.Ops
{
    public sealed class ReluOp : ActivationOp
    {
        public override string Name => "Relu";

        public override string Describe(Node node) => "ReLU";

        protected override Elementwise Function(Node node) => Compiler.Elementwise.Relu;

        protected override string GradFormula(Node node, string on) => "dx = dy · [y > 0]";
    }
}
