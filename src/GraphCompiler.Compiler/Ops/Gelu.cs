// GELU: y = x·Φ(x) (or PyTorch's approximate='tanh' form); its derivative needs x, so it is a kernel of its own (or a
// chain stage), never an epilogue.
using System.Collections.Generic;

namespace GraphCompiler.Compiler.Ops
{
    public sealed class GeluOp : ActivationOp
    {
        public override string Name => "Gelu";

        public override IReadOnlyList<OpParam> Params { get; } = new[] { OpParam.Bool("approximateTanh", false) };

        public override string Describe(Node node) => node.Bool("approximateTanh") ? "GELU(approximate='tanh')" : "GELU";

        protected override Elementwise Function(Node node) => Compiler.Elementwise.Gelu(node.Bool("approximateTanh"));

        protected override string GradFormula(Node node, string on) => "dx = dy · gelu′(x)";
    }
}
