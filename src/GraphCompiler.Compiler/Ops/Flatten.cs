// Flatten(startDim): [N, d1, …, dk] → [N, d1, …, d(s-1), ds·…·dk]; row-major storage makes it a pure alias, in both directions.
using System.Collections.Generic;
using System.Linq;

namespace GraphCompiler.Compiler.Ops
{
    public sealed class FlattenOp : OpDef
    {
        public override string Name => "Flatten";

        public override IReadOnlyList<OpParam> Params { get; } = new[] { OpParam.Int("startDim", 1) };

        public override string Describe(Node node) => node.Int("startDim") == 1 ? "Flatten" : $"Flatten(startDim: {node.Int("startDim")})";

        public override bool IsAlias => true;

        public override Shape? Infer(Node node, List<CoreDiagnostic> errors)
        {
            Shape x = node.Input!.Shape;
            int start = node.Int("startDim");
            int d = start < 0 ? start + x.Rank : start;
            if (d < 1 || d >= x.Rank)
            {
                errors.Add(new CoreDiagnostic(DiagnosticIds.DimOutOfRange,
                    $"Flatten(startDim: {start}) is out of range for {node.Input.Derivation}: startDim must be from 1 to {x.Rank - 1} " +
                    $"(or -{x.Rank - 1} to -1), since dim 0 is the batch", node.Site));
                return null;
            }
            int[] dims = x.ToArray();
            int tail = 1;
            for (int i = d; i < dims.Length; i++) tail = checked(tail * dims[i]);
            return new Shape(dims.Take(d).Append(tail).ToArray());
        }

        // No kernel either way: the output and its gradient share the input's buffers.
        public override void Forward(Lowering l, Node node)
        {
        }

        public override void Backward(Lowering l, Node node)
        {
        }
    }
}
