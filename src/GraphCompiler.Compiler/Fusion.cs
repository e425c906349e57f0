// The fusion passes: each rewrites the graph, replacing the nodes it fuses with one node of a fused op (Ops/Fused.cs), so
// that lowering emits fewer kernels; each can be run and tested alone.
using System.Collections.Generic;
using System.Linq;
using GraphCompiler.Compiler.Ops;

namespace GraphCompiler.Compiler
{
    public static class Fusion
    {
        /// <summary>The passes in order; returns the loss fusion, if any (<see cref="FuseLossGradient"/>).</summary>
        public static LossFusion? Run(Graph graph, Lowering l)
        {
            FuseEpilogues(graph);
            FuseElementwiseChains(graph);
            FuseActivationGradients(graph);
            return FuseLossGradient(graph, l);
        }

        /// <summary>
        /// Pass "fuse-epilogues": a producer whose kernel accepts an epilogue (the GEMM of a Linear or Conv2d applies it to the
        /// tile it has just written) and the element-wise activation after it become one node, a <see cref="FusedOp"/> with
        /// that <see cref="FusedOp.Epilogue"/> (LinearAct, ConvAct): one kernel and one buffer. Ops are matched by capability,
        /// not by name, so a new activation (one whose <see cref="OpDef.Elementwise(Node)"/> has its derivative from its
        /// output) or a new producer (<see cref="OpDef.AcceptsEpilogue"/>) plugs in unchanged. A kernel applies one
        /// activation; a second one in a row stays a node of its own. The producer's value must be read by the activation
        /// alone: if anything else reads the pre-activation value (a residual <c>conv + conv.Relu()</c>), writing relu(x) over
        /// it would be wrong.
        /// </summary>
        public static int FuseEpilogues(Graph graph)
        {
            int fused = 0;
            foreach (Node node in graph.Nodes.Skip(1).ToList())
            {
                if (node.Op!.Elementwise(node) is not { DerivativeFromOutput: true }) continue;
                Node producer = node.Input!;
                if (producer.Op is not { AcceptsEpilogue: true } || !graph.SingleUse(producer)) continue;
                graph.Rewrite(new[] { producer, node }, FusedOp.Of(producer.Op).WithEpilogue(node), producer);
                fused++;
            }
            return fused;
        }

        /// <summary>
        /// Pass "fuse-elementwise-chains" (after "fuse-epilogues"): a maximal run of two or more element-wise activations
        /// (<see cref="OpDef.Elementwise(Node)"/>: ReLU, LeakyReLU, sigmoid, tanh, GELU, SiLU), each read only by the next,
        /// becomes one <see cref="ChainOp"/> node: one forward kernel y = f_k(…f_1(x)) and one backward kernel dx = dy · Π f_i′
        /// that recomputes the chain from x, so only the chain's input and output are stored. A value read elsewhere ends the
        /// chain (it must be kept); an activation that became an epilogue is no longer a node of its own. Returns the number
        /// of chains.
        /// </summary>
        public static int FuseElementwiseChains(Graph graph)
        {
            int chains = 0;
            for (int i = 1; i < graph.Nodes.Count; i++)
            {
                Node first = graph.Nodes[i];
                if (!Chainable(first)) continue;
                var run = new List<Node> { first };
                Node last = first;
                while (last != graph.Output && graph.Uses(last).Count == 1 && Chainable(graph.Uses(last)[0].Consumer))
                {
                    last = graph.Uses(last)[0].Consumer;
                    run.Add(last);
                }
                if (run.Count < 2) continue;
                graph.Rewrite(run, new ChainOp(run), last);
                chains++;
            }
            return chains;
        }

        private static bool Chainable(Node node) => node.Op!.Elementwise(node) is not null && node.Inputs.Count == 1;

        /// <summary>
        /// Pass "fuse-activation-grads": the backward of an activation (dx = dy · act′(y)), standalone or a producer's
        /// epilogue, is applied by the input-gradient kernel of the op that consumes its value (through aliases such as
        /// Flatten) as it writes dx, so no separate sweep over the gradient runs. The consumer becomes a <see cref="FusedOp"/>
        /// with that <see cref="FusedOp.Mask"/>, and the activation's node one whose output gradient is left to it. Needs a
        /// consumer that <see cref="OpDef.AcceptsGradEpilogue"/>, and that consumer must be the activation's only reader
        /// (through single-read aliases): with several readers the activation's gradient is a sum of contributions, complete
        /// only after all of them, so its backward runs as a kernel of its own. A chain's backward is a kernel of its own too.
        /// </summary>
        public static int FuseActivationGradients(Graph graph)
        {
            int fused = 0;
            for (int i = 1; i < graph.Nodes.Count; i++)
            {
                Node node = graph.Nodes[i];
                Elementwise? act = node.Op is FusedOp f ? f.OutputActivation(node) : node.Op!.Elementwise(node);
                if (act is not { DerivativeFromOutput: true }) continue; // a chain has none: its backward is a kernel of its own
                Node? consumer = Consumer(graph, node);
                if (consumer is null || !consumer.Op!.AcceptsGradEpilogue || consumer.Inputs.Count != 1) continue;
                Node activation = graph.Rewrite(new[] { node }, FusedOp.Of(node.Op!).WithOutputGradInConsumer(), node);
                consumer = Consumer(graph, activation)!;
                graph.Rewrite(new[] { consumer }, FusedOp.Of(consumer.Op!).WithMask(new GradMask(activation, act.Value)), consumer);
                fused++;
            }
            return fused;
        }

        /// <summary>
        /// Pass "fuse-loss": when the model ends in LogSoftmax over the classes of (N, C), the output node becomes a
        /// <see cref="LogSoftmaxNllOp"/>: an NLL loss then computes dLoss/dlogits = (softmax − onehot) / N in one kernel and the
        /// LogSoftmax backward is skipped with that loss. Returns the fusion (the loss and the buffer its kernel writes, the
        /// LogSoftmax input's gradient), or null.
        /// </summary>
        public static LossFusion? FuseLossGradient(Graph graph, Lowering l)
        {
            Node output = graph.Output;
            if (output.Op != OpsTable.LogSoftmax || !LogSoftmaxOp.OverClasses(output) || l.IsGraphInput(output.Input!)) return null;
            graph.Rewrite(new[] { output }, new LogSoftmaxNllOp(), output);
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
        public static string Wrap(Elementwise epilogue, string formula) => epilogue.IsIdentity ? formula : $"{epilogue.Readable}({formula})";

        /// <summary>A gradient formula with a fused activation backward: <c>(dy · W) · relu′(x)</c>.</summary>
        public static string Masked(GradMask? mask, string formula, string on = "x") =>
            mask is null ? formula : $"({formula}) · {mask.Act.Readable}′({on})";
    }
}
