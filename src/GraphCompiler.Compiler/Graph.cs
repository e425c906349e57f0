// The graph IR: one node type; each node is an op applied to its input values, with its inferred shape and how it was derived.
// The graph is a DAG: a value may feed many nodes, a node may read many values (Add, Cat), a layer may be applied twice.
using System.Collections.Generic;
using System.Linq;

namespace GraphCompiler.Compiler
{
    public sealed class Node
    {
        public Node(int id, OpDef? op, IReadOnlyList<Node> inputs, LayerDecl? layer, double[] args, int site)
        {
            Id = id;
            Op = op;
            Inputs = inputs;
            Layer = layer;
            Args = args;
            Site = site;
        }

        public int Id { get; }

        /// <summary>Null for the graph's input.</summary>
        public OpDef? Op { get; }

        /// <summary>The values the op reads, in call order (the receiver first); empty for the graph's input.</summary>
        public IReadOnlyList<Node> Inputs { get; private set; }

        /// <summary>The first input: the only one of a unary op, the left operand of Add and Mul.</summary>
        public Node? Input => Inputs.Count > 0 ? Inputs[0] : null;

        public LayerDecl? Layer { get; }

        /// <summary>The call's arguments, one per <see cref="OpDef.Params"/> entry (NaN: an absent optional one).</summary>
        public double[] Args { get; }

        private int ArgIndex(string name)
        {
            int i = OpParams.IndexOf(Op!.Params, name);
            if (i < 0) throw new System.ArgumentException($"{Op.Name} has no parameter '{name}'", nameof(name));
            return i;
        }

        /// <summary>The integer argument <paramref name="name"/> of the call.</summary>
        public int Int(string name) => (int)Args[ArgIndex(name)];

        /// <summary>The integer argument <paramref name="name"/>, or <paramref name="fallback"/> when it was absent (e.g. stride = kernel).</summary>
        public int Int(string name, int fallback) => Has(name) ? Int(name) : fallback;

        public double Float(string name) => Args[ArgIndex(name)];

        public bool Bool(string name) => Args[ArgIndex(name)] != 0;

        /// <summary>Whether an optional argument without a default was given.</summary>
        public bool Has(string name) => !double.IsNaN(Args[ArgIndex(name)]);

        public int Site { get; }

        public Shape Shape { get; set; }

        /// <summary>A readable name for the node's buffers, e.g. <c>Conv1</c> or <c>Relu2</c>.</summary>
        public string Name { get; set; } = "";

        /// <summary>How the shape came about, for error messages: e.g. <c>Flatten of [N,64,4,4]</c>.</summary>
        public string Origin { get; set; } = "";

        /// <summary>Where the value is described in messages: the shape plus its origin.</summary>
        public string Derivation => $"{Shape} ({Origin})";

        internal void ReplaceInput(Node from, Node to)
        {
            if (!Inputs.Contains(from)) return;
            Inputs = Inputs.Select(i => i == from ? to : i).ToArray();
        }
    }

    public sealed class Graph
    {
        public Graph(ModelDecl model) => Model = model;

        public ModelDecl Model { get; }

        public List<Node> Nodes { get; } = new List<Node>();

        public Node Input => Nodes[0];

        public Node Output { get; set; } = null!;

        /// <summary>
        /// Every read of each value: (consumer, index in its inputs), in forward order. A node that reads a value twice
        /// (<c>x + x</c>) appears twice. The graph's output has no consumer (the loss reads it).
        /// </summary>
        public Dictionary<Node, List<Use>> Consumers { get; } = new Dictionary<Node, List<Use>>();

        /// <summary>The reads of <paramref name="node"/>'s value (empty for the output).</summary>
        public IReadOnlyList<Use> Uses(Node node) => Consumers.TryGetValue(node, out List<Use>? uses) ? uses : (IReadOnlyList<Use>)new Use[0];

        /// <summary>Whether <paramref name="node"/>'s value is read by exactly one op (or is the output, read by the loss).</summary>
        public bool SingleUse(Node node) => node == Output ? Uses(node).Count == 0 : Uses(node).Count == 1;

        /// <summary>
        /// Replaces <paramref name="run"/> (nodes in graph order, each read only by the next) with one node of
        /// <paramref name="op"/>, the fused kernel: it reads what the run's first node read, computes the value of its last
        /// node, and takes the place, id, layer, arguments and name of <paramref name="like"/>, one of the run. Every reader
        /// of the last node's value reads the fused node instead. A run of one node swaps that node's op.
        /// </summary>
        public Node Rewrite(IReadOnlyList<Node> run, OpDef op, Node like)
        {
            Node last = run[run.Count - 1];
            var fused = new Node(like.Id, op, run[0].Inputs, like.Layer, like.Args, like.Site)
            {
                Shape = last.Shape,
                Name = like.Name,
                Origin = like.Origin,
            };
            Nodes[Nodes.IndexOf(like)] = fused;
            foreach (Node n in run) if (n != like) Nodes.Remove(n);
            foreach (Node n in Nodes) n.ReplaceInput(last, fused);
            if (Output == last) Output = fused;
            LinkConsumers();
            return fused;
        }

        /// <summary>Fills <see cref="Consumers"/> from the nodes' inputs.</summary>
        public void LinkConsumers()
        {
            Consumers.Clear();
            foreach (Node n in Nodes.Skip(1))
                for (int i = 0; i < n.Inputs.Count; i++)
                {
                    if (!Consumers.TryGetValue(n.Inputs[i], out List<Use>? uses)) Consumers[n.Inputs[i]] = uses = new List<Use>();
                    uses.Add(new Use(n, i));
                }
        }
    }

    /// <summary>One read of a value: input <see cref="Index"/> of <see cref="Consumer"/>.</summary>
    public readonly struct Use : System.IEquatable<Use>
    {
        public Use(Node consumer, int index)
        {
            Consumer = consumer;
            Index = index;
        }

        public Node Consumer { get; }

        public int Index { get; }

        public bool Equals(Use other) => Consumer == other.Consumer && Index == other.Index;

        public override bool Equals(object? obj) => obj is Use other && Equals(other);

        public override int GetHashCode() => Consumer.Id * 31 + Index;
    }
}
