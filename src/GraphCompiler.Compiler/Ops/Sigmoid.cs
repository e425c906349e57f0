// Sigmoid: y = 1 / (1 + e^−x); VJP dx = dy · y(1 − y), from the output, so it fuses like ReLU.
namespace GraphCompiler.Compiler.Ops
{
    public sealed class SigmoidOp : ActivationOp
    {
        public override string Name => "Sigmoid";

        protected override Elementwise Function(Node node) => Compiler.Elementwise.Sigmoid;
    }
}
