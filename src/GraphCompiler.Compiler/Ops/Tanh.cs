// Tanh: y = tanh(x); VJP dx = dy · (1 − y²), from the output, so it fuses like ReLU.
namespace GraphCompiler.Compiler.Ops
{
    public sealed class TanhOp : ActivationOp
    {
        public override string Name => "Tanh";

        protected override Elementwise Function(Node node) => Compiler.Elementwise.Tanh;
    }
}
