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

        /// <summary>
        /// The buffer of <paramref name="node"/>'s whole gradient. An alias passes its gradient through untouched, so its
        /// gradient is the contribution it makes to its input; a fused activation's lives in its producer's buffer.
        /// </summary>
        public string GradName(Node node) =>
            node == _graph.Input ? InputGradBuffer
            : node.Op is { IsAlias: true } ? ContributionName(new Use(node, 0))
            : node.FusedInto is { } producer ? GradName(producer)
            : node.Name + "Grad";

        /// <summary>
        /// The buffer that <paramref name="use"/> writes its contribution to the gradient of the value it reads: the value's
        /// gradient buffer for its first read, a buffer of its own (<c>Relu1Grad2</c>, …) for every other one, summed in by
        /// <see cref="EmitGradientSum"/>.
        /// </summary>
        public string ContributionName(Use use)
        {
            Node value = use.Consumer.Inputs[use.Index];
            int k = IndexOf(_graph.Uses(value), use);
            if (k <= 0) return GradName(value);
            string name = $"{value.Name}Grad{k + 1}";
            if (!_buffers.Any(b => b.Name == name))
                _buffers.Add(new BufferDecl(name, value.Shape, IsIndex: false, IsGrad: true,
                    $"gradient of {value.Name} through {use.Consumer.Name}, added into {GradName(value)}"));
            return name;
        }

        private static int IndexOf(IReadOnlyList<Use> uses, Use use)
        {
            for (int i = 0; i < uses.Count; i++) if (uses[i].Equals(use)) return i;
            return -1;
        }

        /// <summary>
        /// The node whose VJP is being lowered. While it is set, <see cref="Grad"/> of one of its inputs (or of the input of
        /// the activation whose backward it fuses) is that read's contribution buffer, so a unary op's rule
        /// <c>l.Grad(node.Input)</c> is right whether or not the input is read elsewhere too.
        /// </summary>
        public Node? Differentiating { get; internal set; }

        /// <summary>The contribution buffer of input <paramref name="index"/> of <paramref name="node"/> (for ops that read a value twice, x + x).</summary>
        public Arg InputGrad(Node node, int index) =>
            new Arg(ArgKind.Buffer, ContributionName(new Use(node, index)), node.Inputs[index].Shape.PerSample);

        private string GradBufferOf(Node node)
        {
            Node? current = Differentiating;
            if (current is not null && node != current)
            {
                if (current.GradEpilogue is { } act && node == act.Input) return ContributionName(new Use(act, 0));
                for (int i = 0; i < current.Inputs.Count; i++)
                    if (current.Inputs[i] == node) return ContributionName(new Use(current, i));
            }
            return GradName(node);
        }

        /// <summary>The value of <paramref name="node"/> as a kernel argument.</summary>
        public Arg Value(Node node) => new Arg(ArgKind.Buffer, OutName(node), node.Shape.PerSample);

        /// <summary>
        /// The gradient of <paramref name="node"/>'s value as a kernel argument: its whole gradient, or, for an input of the
        /// node being differentiated, the contribution that node writes (see <see cref="Differentiating"/>).
        /// </summary>
        public Arg Grad(Node node) => new Arg(ArgKind.Buffer, GradBufferOf(node), node.Shape.PerSample);

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

        /// <summary>
        /// Declares a float side buffer of a node that its backward reads (saved statistics, a dropout mask), of
        /// <paramref name="shape"/> per batch; declared once, so the backward may ask for it again by the same suffix.
        /// </summary>
        public Arg SideBuffer(Node node, string suffix, Shape shape, string comment)
        {
            string name = node.Name + suffix;
            if (!_buffers.Any(b => b.Name == name))
                _buffers.Add(new BufferDecl(name, shape, IsIndex: false, IsGrad: false, comment));
            return new Arg(ArgKind.Buffer, name, shape.PerSample);
        }

        public Arg Geometry(Node node, string type, string comment, params int[] values)
        {
            string name = node.Name + "Geometry";
            _geometries.Add(new GeometryDecl(name, type, new EquatableArray<int>(values), comment));
            return Arg.Geo(name);
        }

        /// <summary>
        /// Declares the stages of the element-wise chain that ends at <paramref name="tail"/> as a static
        /// <c>ElementwiseChain</c> field of the model, <c>Tail.NameChain</c>.
        /// </summary>
        public Arg Chain(Node tail, string comment, IEnumerable<string> stages)
        {
            string name = tail.Name + "Chain";
            _geometries.Add(new GeometryDecl(name, "ElementwiseChain", EquatableArray<int>.Empty, comment)
            {
                Terms = EquatableArray.From(stages.Select(s => "ElementwiseStage." + s)),
            });
            return Arg.Geo(name);
        }

        public void Emit(string kernel, string method, string comment, params Arg[] args) =>
            _current.Add(new Step(kernel, method, new EquatableArray<Arg>(args), comment, InputGradOnly: false));

        /// <summary>Emits a backward step that a fused NLL loss makes unnecessary (it is skipped when the loss says so).</summary>
        public void EmitUnlessLossFused(Node node, string kernel, string method, string comment, params Arg[] args) =>
            _current.Add(new Step(kernel, method, new EquatableArray<Arg>(args), comment, IsGraphInput(node.Input!), UnlessLossFused: true,
                GradUpTo: NearestLayers(node.Input!)));

        /// <summary>Emits the weight (and bias) gradient of a layer; skipped at run time while the layer is frozen.</summary>
        public void EmitParamGrad(Node node, string kernel, string method, string comment, params Arg[] args) =>
            _current.Add(new Step(kernel, method, new EquatableArray<Arg>(args), comment, InputGradOnly: false, ParamsOf: node.Layer!.Property));

        /// <summary>
        /// Emits work that produces the gradient of <paramref name="node"/>'s input (or, with a fused activation backward, of
        /// that activation's input). It runs only if a trainable layer lies upstream of that value, or the caller asked for
        /// the input gradient.
        /// </summary>
        public void EmitInputGrad(Node node, string kernel, string method, string comment, params Arg[] args) =>
            EmitGradOf(GradTarget(node), kernel, method, comment, args);

        /// <summary>Emits work that produces (a contribution to) the gradient of <paramref name="value"/>, guarded as <see cref="EmitInputGrad"/>.</summary>
        public void EmitGradOf(Node value, string kernel, string method, string comment, params Arg[] args) =>
            _current.Add(new Step(kernel, method, new EquatableArray<Arg>(args), comment, IsGraphInput(value), GradUpTo: NearestLayers(value)));

        /// <summary>Adds the contributions of every read of <paramref name="value"/> but the first into its gradient buffer.</summary>
        internal void EmitGradientSum(Node value)
        {
            IReadOnlyList<Use> uses = _graph.Uses(value);
            for (int k = 1; k < uses.Count; k++)
            {
                string extra = ContributionName(uses[k]);
                EmitGradOf(value, "AddKernels", "Accumulate", $"{value.Name}: {GradName(value)} += the gradient through {uses[k].Consumer.Name}",
                    new Arg(ArgKind.Buffer, extra, value.Shape.PerSample), new Arg(ArgKind.Buffer, GradName(value), value.Shape.PerSample));
            }
        }

        /// <summary>
        /// The layer applications nearest upstream of <paramref name="node"/> (itself if it is one): walking back along every
        /// path, the first layer met, leaving out any that lies upstream of another one found. Some layer upstream of the
        /// value trains iff one of these or a layer upstream of it does, which is what the generated <c>trainsToX</c> flags
        /// chain. In a chain this is the one layer at or before the node.
        /// </summary>
        public EquatableArray<string> NearestLayers(Node node)
        {
            List<Node> found = Ancestors(node, stopAtLayers: true).Where(n => n.Layer is not null).ToList();
            var covered = new HashSet<Node>(found.SelectMany(f => f.Inputs.SelectMany(i => Ancestors(i, stopAtLayers: false))));
            return EquatableArray.From(found.Where(f => !covered.Contains(f)).OrderBy(f => f.Id).Select(f => f.Name));
        }

        /// <summary><paramref name="node"/> and every node upstream of it; with <paramref name="stopAtLayers"/>, not beyond a layer application.</summary>
        private static HashSet<Node> Ancestors(Node node, bool stopAtLayers)
        {
            var seen = new HashSet<Node>();
            var stack = new Stack<Node>();
            stack.Push(node);
            while (stack.Count > 0)
            {
                Node n = stack.Pop();
                if (!seen.Add(n) || (stopAtLayers && n.Layer is not null)) continue;
                foreach (Node i in n.Inputs) stack.Push(i);
            }
            return seen;
        }

        /// <summary>Every layer application in forward order, with the nearest layer applications upstream of its input.</summary>
        public EquatableArray<LayerUse> LayerUses() => EquatableArray.From(_graph.Nodes.Where(n => n.Layer is not null).Select(n =>
            new LayerUse(n.Name, n.Layer!.Property, n.Input is { } input ? NearestLayers(input) : EquatableArray<string>.Empty)));
    }
}
