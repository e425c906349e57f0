// The graph IR: one node type; each node is an op applied to an input value, with its inferred shape and how it was derived.
using System.Collections.Generic;

namespace GraphCompiler.Compiler
{
    public sealed class Node
    {
        public Node(int id, OpDef? op, Node? input, LayerDecl? layer, double[] args, int site)
        {
            Id = id;
            Op = op;
            Input = input;
            Layer = layer;
            Args = args;
            Site = site;
        }

        public int Id { get; }

        /// <summary>Null for the graph's input.</summary>
        public OpDef? Op { get; }

        public Node? Input { get; }

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

        /// <summary>Set by fusion on an element-wise node whose work became the epilogue of this producer's kernel.</summary>
        public Node? FusedInto { get; set; }

        /// <summary>Set by fusion on a producer: the activation its kernel applies to its output (e.g. "Relu").</summary>
        public string? Epilogue { get; set; }

        /// <summary>Set by fusion: the activation node whose backward this node's input-gradient kernel applies as it writes dx.</summary>
        public Node? GradEpilogue { get; set; }

        /// <summary>Set by fusion on an activation whose backward was folded into its consumer's input-gradient kernel.</summary>
        public bool GradFused { get; set; }

        /// <summary>Set by fusion on a LogSoftmax output whose backward the NLL loss folds into its gradient kernel.</summary>
        public bool LossFused { get; set; }

        /// <summary>Where the value is described in messages: the shape plus its origin.</summary>
        public string Derivation => $"{Shape} ({Origin})";
    }

    public sealed class Graph
    {
        public Graph(ModelDecl model) => Model = model;

        public ModelDecl Model { get; }

        public List<Node> Nodes { get; } = new List<Node>();

        public Node Input => Nodes[0];

        public Node Output { get; set; } = null!;

        public Dictionary<Node, Node> Consumers { get; } = new Dictionary<Node, Node>();
    }
}
