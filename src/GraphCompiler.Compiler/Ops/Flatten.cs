// Flatten (start_dim 1): [N, d1, d2, …] → [N, d1·d2·…]; row-major storage makes it a pure alias, in both directions.
using System.Collections.Generic;

namespace GraphCompiler.Compiler.Ops
{
    public sealed class FlattenOp : OpDef
    {
        public override string Name => "Flatten";

        public override bool IsAlias => true;

        public override Shape? Infer(Node node, List<CoreDiagnostic> errors) =>
            new Shape(Shape.Batch, node.Input!.Shape.PerSample);

        // No kernel either way: the output and its gradient share the input's buffers.
        public override void Forward(Lowering l, Node node)
        {
        }

        public override void Backward(Lowering l, Node node)
        {
        }
    }
}
