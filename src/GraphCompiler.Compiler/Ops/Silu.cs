// SiLU: y = x·σ(x); its derivative σ(x)(1 + x(1 − σ(x))) needs x, so it is a kernel of its own (or a chain stage),
// never an epilogue.
namespace GraphCompiler.Compiler.Ops
{
    public sealed class SiluOp : ActivationOp
    {
        public override string Name => "Silu";

        public override string Describe(Node node) => "SiLU";

        protected override Elementwise Function(Node node) => Compiler.Elementwise.Silu;

        protected override string GradFormula(Node node, string on) => "dx = dy · silu′(x)";
    }
}
