// Turns nodes into buffers and kernel calls; ops call into it from their Forward and Backward rules.
using System.Collections.Generic;
using System.Linq;

namespace GraphCompiler.Compiler
{
    public sealed class Lowering
    {
        public const string InputBuffer = "Input";
        public const string InputGradBuffer = "InputGrad";

        private readonly Graph _graph;
        private readonly List<BufferDecl> _buffers = new List<BufferDecl>();
        private readonly List<GeometryDecl> _geometries = new List<GeometryDecl>();
        private List<Step> _current;

        public Lowering(Graph graph)
        {
            _graph = graph;
            _current = ForwardSteps;
        }

        public List<Step> ForwardSteps { get; } = new List<Step>();

        public List<Step> BackwardSteps { get; } = new List<Step>();

        public IReadOnlyList<BufferDecl> Buffers => _buffers;

        public IReadOnlyList<GeometryDecl> Geometries => _geometries;

        internal void BeginBackward() => _current = BackwardSteps;

        /// <summary>The node whose buffer holds <paramref name="node"/>'s value (aliases such as Flatten share their input's).</summary>
        public Node Storage(Node node) =>
            node.Op is { IsAlias: true } ? Storage(node.Input!) : node.FusedInto is { } producer ? Storage(producer) : node;

        public bool IsGraphInput(Node node) => Storage(node) == _graph.Input;

        public string OutName(Node node) => IsGraphInput(node) ? InputBuffer : Storage(node).Name + "Out";

        public string GradName(Node node) => IsGraphInput(node) ? InputGradBuffer : Storage(node).Name + "Grad";

        /// <summary>The value of <paramref name="node"/> as a kernel argument.</summary>
        public Arg Value(Node node) => new Arg(ArgKind.Buffer, OutName(node), node.Shape.PerSample);

        /// <summary>The gradient of <paramref name="node"/>'s value as a kernel argument.</summary>
        public Arg Grad(Node node) => new Arg(ArgKind.Buffer, GradName(node), node.Shape.PerSample);

        public Arg Param(Node node, string which) => new Arg(ArgKind.ParamData, node.Layer!.Property + "." + which, 0);

        public Arg ParamGrad(Node node, string which) => new Arg(ArgKind.ParamGrad, node.Layer!.Property + "." + which, 0);

        public Arg Bias(Node node) => node.Layer!.Bias ? Param(node, "Bias") : Arg.None;

        public Arg BiasGrad(Node node) => node.Layer!.Bias ? ParamGrad(node, "Bias") : Arg.None;

        /// <summary>
        /// The value whose gradient <paramref name="node"/>'s input-gradient kernel writes: its input, or, when the backward of
        /// the activation before it is fused in, that activation's input.
        /// </summary>
        public Node GradTarget(Node node) => node.GradEpilogue?.Input ?? node.Input!;

        /// <summary>The activation the forward kernel of <paramref name="node"/> applies as its epilogue, as trailing arguments.</summary>
        public Arg[] EpilogueArgs(Node node) => node.Epilogue is null ? new Arg[0] : new[] { Arg.Act(node.Epilogue) };

        /// <summary>
        /// The trailing arguments of a fused activation backward: the value act′ is evaluated on (by default the activation's
        /// output) and the activation. Empty when nothing is fused.
        /// </summary>
        public Arg[] GradEpilogueArgs(Node node, Arg? maskSource = null) => node.GradEpilogue is null
            ? new Arg[0]
            : new[] { maskSource ?? Value(node.GradEpilogue), Arg.Act(node.GradEpilogue.Op!.Activation(node.GradEpilogue)!) };

        /// <summary>Declares the activation and gradient buffers of a node that owns storage.</summary>
        internal void DeclareValue(Node node, string comment)
        {
            _buffers.Add(new BufferDecl(OutName(node), node.Shape, IsIndex: false, IsGrad: false, comment));
            _buffers.Add(new BufferDecl(GradName(node), node.Shape, IsIndex: false, IsGrad: true, "gradient of " + OutName(node)));
        }

        /// <summary>Declares an integer side buffer of a node (e.g. max-pool argmax), shaped like its output.</summary>
        public Arg IndexBuffer(Node node, string suffix, string comment)
        {
            string name = node.Name + suffix;
            if (!_buffers.Any(b => b.Name == name))
                _buffers.Add(new BufferDecl(name, node.Shape, IsIndex: true, IsGrad: false, comment));
            return new Arg(ArgKind.Buffer, name, node.Shape.PerSample);
        }

        public Arg Geometry(Node node, string type, string comment, params int[] values)
        {
            string name = node.Name + "Geometry";
            _geometries.Add(new GeometryDecl(name, type, new EquatableArray<int>(values), comment));
            return Arg.Geo(name);
        }

        public void Emit(string kernel, string method, string comment, params Arg[] args) =>
            _current.Add(new Step(kernel, method, new EquatableArray<Arg>(args), comment, InputGradOnly: false));

        /// <summary>Emits a backward step that a fused NLL loss makes unnecessary (it is skipped when the loss says so).</summary>
        public void EmitUnlessLossFused(Node node, string kernel, string method, string comment, params Arg[] args) =>
            _current.Add(new Step(kernel, method, new EquatableArray<Arg>(args), comment, IsGraphInput(node.Input!), UnlessLossFused: true,
                GradUpTo: LastLayerAtOrBefore(node.Input!)));

        /// <summary>Emits the weight (and bias) gradient of a layer; skipped at run time while the layer is frozen.</summary>
        public void EmitParamGrad(Node node, string kernel, string method, string comment, params Arg[] args) =>
            _current.Add(new Step(kernel, method, new EquatableArray<Arg>(args), comment, InputGradOnly: false, ParamsOf: node.Layer!.Property));

        /// <summary>The layer that produced <paramref name="node"/> or the nearest one before it; null if none.</summary>
        private static string? LastLayerAtOrBefore(Node? node)
        {
            for (; node is not null; node = node.Input)
                if (node.Layer is not null) return node.Layer.Property;
            return null;
        }

        /// <summary>
        /// Emits work that produces the gradient of <paramref name="node"/>'s input. When that input is the model's input,
        /// the step runs only if the caller asked for the input gradient.
        /// </summary>
        public void EmitInputGrad(Node node, string kernel, string method, string comment, params Arg[] args) =>
            _current.Add(new Step(kernel, method, new EquatableArray<Arg>(args), comment, IsGraphInput(GradTarget(node)),
                GradUpTo: LastLayerAtOrBefore(GradTarget(node))));
    }
}
