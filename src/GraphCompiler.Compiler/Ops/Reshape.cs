// Reshape(d1, …): a new per-sample shape with the same elements (one -1 is inferred); the batch stays N. A pure alias.
using System.Collections.Generic;
using System.Linq;

namespace GraphCompiler.Compiler.Ops
{
    public sealed class ReshapeOp : OpDef
    {
        public override string Name => "Reshape";

        /// <summary>The per-sample dimensions: <c>x.Reshape(64, 4, 4)</c> gives [N,64,4,4]; up to five, one of them may be -1.</summary>
        public override IReadOnlyList<OpParam> Params { get; } = new[]
        {
            OpParam.Int("d1"), OpParam.Int("d2", null), OpParam.Int("d3", null), OpParam.Int("d4", null), OpParam.Int("d5", null),
        };

        private static int[] Dims(Node node) => node.Args.Where(a => !double.IsNaN(a)).Select(a => (int)a).ToArray();

        public override string Describe(Node node) => $"Reshape({string.Join(", ", Dims(node))})";

        public override bool IsAlias => true;

        public override Shape? Infer(Node node, List<CoreDiagnostic> errors)
        {
            int[] dims = Dims(node);
            int elements = node.Input!.Shape.PerSample;
            if (dims.Any(d => d == 0 || d < -1) || dims.Count(d => d == -1) > 1)
            {
                errors.Add(new CoreDiagnostic(DiagnosticIds.NonPositiveArgument,
                    $"{Describe(node)} needs positive dimensions, or -1 once to infer one from the {elements} elements per sample of {node.Input.Derivation}",
                    node.Site));
                return null;
            }
            long known = 1;
            foreach (int d in dims) if (d > 0) known *= d;
            int hole = System.Array.IndexOf(dims, -1);
            if (hole >= 0)
            {
                if (elements % known != 0)
                {
                    errors.Add(new CoreDiagnostic(DiagnosticIds.ReshapeCount,
                        $"{Describe(node)} cannot infer -1 for {node.Input.Derivation}: its {elements} elements per sample are not a multiple of {known}",
                        node.Site));
                    return null;
                }
                dims[hole] = (int)(elements / known);
            }
            else if (known != elements)
            {
                errors.Add(new CoreDiagnostic(DiagnosticIds.ReshapeCount,
                    $"{Describe(node)} needs {known} elements per sample but receives {elements} from {node.Input.Derivation}", node.Site));
                return null;
            }
            return new Shape(new[] { Shape.Batch }.Concat(dims).ToArray());
        }

        // No kernel either way: row-major storage already holds the reshaped value, and its gradient shares the input's too.
        public override void Forward(Lowering l, Node node)
        {
        }

        public override void Backward(Lowering l, Node node)
        {
        }
    }
}
