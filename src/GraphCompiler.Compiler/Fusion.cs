// The fusion passes: each rewrites the graph so that lowering emits fewer kernels, and each can be run and tested alone.
using System.Collections.Generic;
using System.Linq;

namespace GraphCompiler.Compiler
{
    public static class Fusion
    {
        /// <summary>
        /// Pass "fuse-epilogues": an element-wise activation becomes the epilogue of the kernel that produces its input when
        /// that op accepts one (the GEMM of a Linear or Conv2d applies it to the tile it has just written). The activation then
        /// shares its producer's buffer and emits no kernel. Ops are matched by capability, not by name, so a new activation
        /// (one whose <see cref="OpDef.Elementwise(Node)"/> has its derivative from its output) or a new producer (<see cref="OpDef.AcceptsEpilogue"/>) plugs in unchanged.
        /// A kernel applies one activation; a second one in a row stays a kernel of its own. The producer's value must be read
        /// by the activation alone: if anything else reads the pre-activation value (a residual <c>conv + conv.Relu()</c>),
        /// writing relu(x) over it would be wrong, so the activation stays a kernel of its own.
        /// </summary>
        public static int FuseEpilogues(Graph graph)
        {
            int fused = 0;
            foreach (Node node in graph.Nodes.Skip(1))
            {
                Elementwise? activation = node.Op!.Elementwise(node);
                if (activation is not { DerivativeFromOutput: true }) continue;
                Node producer = node.Input!;
                if (producer.Op is not { AcceptsEpilogue: true } || producer.Epilogue is not null || producer.FusedInto is not null
                    || !graph.SingleUse(producer)) continue;
                producer.Epilogue = activation;
                node.FusedInto = producer;
                fused++;
            }
            return fused;
        }

        /// <summary>
        /// Pass "fuse-elementwise-chains" (after "fuse-epilogues"): a maximal run of two or more element-wise activations
        /// (<see cref="OpDef.Elementwise(Node)"/>: ReLU, LeakyReLU, sigmoid, tanh, GELU, SiLU), each read only by the next,
        /// becomes one forward kernel y = f_k(…f_1(x)) and one backward kernel dx = dy · Π f_i′ that recomputes the chain from
        /// x, so only the chain's input and output are stored. A value read elsewhere ends the chain (it must be kept), and an
        /// activation already applied as an epilogue is not part of one. Returns the number of chains.
        /// </summary>
        public static int FuseElementwiseChains(Graph graph)
        {
            int chains = 0;
            foreach (Node first in graph.Nodes.Skip(1))
            {
                if (!Chainable(first) || first.ChainedInto is not null || first.Chain is not null) continue;
                var run = new List<Node> { first };
                Node last = first;
                while (last != graph.Output && graph.Uses(last).Count == 1 && Chainable(graph.Uses(last)[0].Consumer))
                {
                    last = graph.Uses(last)[0].Consumer;
                    run.Add(last);
                }
                if (run.Count < 2) continue;
                foreach (Node member in run.Take(run.Count - 1)) member.ChainedInto = last;
                last.Chain = run;
                chains++;
            }
            return chains;
        }

        private static bool Chainable(Node node) => node.Op!.Elementwise(node) is not null && node.Inputs.Count == 1 && node.FusedInto is null;

        /// <summary>The forward kernel of the chain ending at <paramref name="tail"/>: y = f_k(…f_1(x)).</summary>
        internal static void LowerChainForward(Lowering l, Node tail)
        {
            IReadOnlyList<Node> chain = tail.Chain!;
            var stages = l.Chain(tail, $"{string.Join(" → ", chain.Select(n => n.Name))}: {ChainFormula(chain, "x")}",
                chain.Select(n => n.Op!.Elementwise(n)!.Value));
            l.Emit($"{tail.Name}: {ChainFormula(chain, "x")}, {tail.Shape.Comment}", new ElementwiseChainForward(l.Value(chain[0].Input!), l.Value(tail), stages));
        }

        /// <summary>The backward kernel of the chain ending at <paramref name="tail"/>: dx = dy · Π f_i′, recomputed from x.</summary>
        internal static void LowerChainBackward(Lowering l, Node tail)
        {
            Node first = tail.Chain![0];
            Node x = first.Input!;
            var stages = l.ChainOf(tail);
            l.EmitGradOf(x, $"{tail.Name}: dx = dy · ({ChainFormula(tail.Chain, "x")})′",
                new ElementwiseChainBackward(l.Value(x), l.Grad(tail), new Buf(l.ContributionName(new Use(first, 0)), x.Shape.PerSample), stages));
        }

        // tanh(sigmoid(relu(x))).
        private static string ChainFormula(IReadOnlyList<Node> chain, string x) =>
            chain.Aggregate(x, (inner, n) => $"{n.Op!.Elementwise(n)!.Value.Readable}({inner})");

        /// <summary>
        /// Pass "fuse-activation-grads": the backward of an activation (dx = dy · act′(y)) is applied by the input-gradient
        /// kernel of the op that consumes the activation (through aliases such as Flatten) as it writes dx, so no separate
        /// sweep over the gradient runs. Needs a consumer that <see cref="OpDef.AcceptsGradEpilogue"/>, and that consumer must
        /// be the activation's only reader (through single-read aliases): with several readers the activation's gradient is a
        /// sum of contributions, complete only after all of them, so its backward runs as a kernel of its own.
        /// </summary>
        public static int FuseActivationGradients(Graph graph)
        {
            int fused = 0;
            foreach (Node node in graph.Nodes.Skip(1))
            {
                // A chain's backward is a kernel of its own: its last activation's is not folded into the consumer.
                if (node.Op!.Elementwise(node) is not { DerivativeFromOutput: true } || node.Chain is not null || node.ChainedInto is not null) continue;
                Node? consumer = Consumer(graph, node);
                if (consumer is null || !consumer.Op!.AcceptsGradEpilogue || consumer.Inputs.Count != 1 || consumer.GradEpilogue is not null) continue;
                consumer.GradEpilogue = node;
                node.GradFused = true;
                fused++;
            }
            return fused;
        }

        /// <summary>
        /// Pass "fuse-loss": when the model ends in LogSoftmax over the classes of (N, C), an NLL loss computes
        /// dLoss/dlogits = (softmax − onehot) / N in one kernel, so the LogSoftmax backward is marked to be skipped with that
        /// loss. Returns the fusion (the loss and the buffer its kernel writes, the LogSoftmax input's gradient), or null.
        /// </summary>
        public static LossFusion? FuseLossGradient(Graph graph, Lowering l)
        {
            Node output = graph.Output;
            if (output.Op != OpsTable.LogSoftmax || !Ops.LogSoftmaxOp.OverClasses(output) || l.IsGraphInput(output.Input!)) return null;
            output.LossFused = true;
            return new LossFusion(LossFusion.Nll, l.GradName(output.Input!));
        }

        /// <summary>
        /// The one op that reads <paramref name="node"/>'s value, looking through aliases; null for the model's output or when
        /// the value (or an alias of it on the way) is read more than once.
        /// </summary>
        private static Node? Consumer(Graph graph, Node node)
        {
            while (graph.Uses(node).Count == 1)
            {
                Node next = graph.Uses(node)[0].Consumer;
                if (!next.Op!.IsAlias) return next;
                node = next;
            }
            return null;
        }

        /// <summary>A kernel comment's formula with its epilogue: <c>relu(x · Wᵀ + b)</c>.</summary>
        public static string Wrap(Node node, string formula) =>
            node.Epilogue is not { } act ? formula : $"{act.Readable}({formula})";

        /// <summary>A gradient formula with a fused activation backward: <c>(dy · W) · relu′(x)</c>.</summary>
        public static string Masked(Node node, string formula, string on = "x") =>
            node.GradEpilogue is null ? formula : $"({formula}) · {node.GradEpilogue.Op!.Elementwise(node.GradEpilogue)!.Value.Readable}′({on})";
    }
}
