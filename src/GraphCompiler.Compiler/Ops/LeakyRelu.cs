// LeakyReLU(negativeSlope): y = x for x > 0, slope · x otherwise. Fusable for a slope ≥ 0, where y keeps the sign of x.
using System.Collections.Generic;
using System.Globalization;

namespace GraphCompiler.Compiler.Ops
{
    public sealed class LeakyReluOp : ActivationOp
    {
        public override string Name => "LeakyRelu";

        public override IReadOnlyList<OpParam> Params { get; } = new[] { OpParam.Float("negativeSlope", (double)0.01f) };

        private static string Slope(Node node) => ((float)node.Float("negativeSlope")).ToString("R", CultureInfo.InvariantCulture);

        public override string Describe(Node node) => $"LeakyReLU({Slope(node)})";

        // A negative slope flips the sign of y, so y no longer tells which branch x took: then the backward reads x.
        protected override Elementwise Function(Node node) => Compiler.Elementwise.LeakyRelu((float)node.Float("negativeSlope"));
    }
}
