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
        private readonly Dictionary<string, object> _geometryValues = new Dictionary<string, object>();
        private List<KernelStep> _current;

        public Lowering(Graph graph)
        {
            _graph = graph;
            _current = ForwardSteps;
        }

        public List<KernelStep> ForwardSteps { get; } = new List<KernelStep>();

        public List<KernelStep> BackwardSteps { get; } = new List<KernelStep>();

        public IReadOnlyList<BufferDecl> Buffers => _buffers;

        public IReadOnlyList<GeometryDecl> Geometries => _geometries;

        internal void BeginBackward() => _current = BackwardSteps;

        /// <summary>The node whose buffer holds <paramref name="node"/>'s value (aliases such as Flatten share their input's).</summary>
        public Node Storage(Node node) => node.Op is { IsAlias: true } ? Storage(node.Input!) : node;

        public bool IsGraphInput(Node node) => Storage(node) == _graph.Input;

        public string OutName(Node node) => IsGraphInput(node) ? InputBuffer : Storage(node).Name + "Out";

        /// <summary>
        /// The buffer of <paramref name="node"/>'s whole gradient. An alias passes its gradient through untouched, so its
        /// gradient is the contribution it makes to its input.
        /// </summary>
        public string GradName(Node node) =>
            node == _graph.Input ? InputGradBuffer
            : node.Op is { IsAlias: true } ? ContributionName(new Use(node, 0))
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
        /// The node whose VJP is being lowered. While it is set, <see cref="Grad"/> of one of its inputs is that read's
        /// contribution buffer, so a unary op's rule
        /// <c>l.Grad(node.Input)</c> is right whether or not the input is read elsewhere too.
        /// </summary>
        public Node? Differentiating { get; internal set; }

        /// <summary>The contribution buffer of input <paramref name="index"/> of <paramref name="node"/> (for ops that read a value twice, x + x).</summary>
        public Buf InputGrad(Node node, int index) => new Buf(ContributionName(new Use(node, index)), node.Inputs[index].Shape.PerSample);

        private string GradBufferOf(Node node)
        {
            Node? current = Differentiating;
            if (current is not null && node != current)
            {
                for (int i = 0; i < current.Inputs.Count; i++)
                    if (current.Inputs[i] == node) return ContributionName(new Use(current, i));
            }
            return GradName(node);
        }

        /// <summary>The value of <paramref name="node"/> as a kernel operand.</summary>
        public Buf Value(Node node) => new Buf(OutName(node), node.Shape.PerSample);

        /// <summary>
        /// The gradient of <paramref name="node"/>'s value as a kernel operand: its whole gradient, or, for an input of the
        /// node being differentiated, the contribution that node writes (see <see cref="Differentiating"/>).
        /// </summary>
        public Buf Grad(Node node) => new Buf(GradBufferOf(node), node.Shape.PerSample);

        public ParamRef Param(Node node, string which) => new ParamRef(node.Layer!.Property, which);

        public ParamRef ParamGrad(Node node, string which) => new ParamRef(node.Layer!.Property, which, Grad: true);

        public ParamRef? Bias(Node node) => node.Layer!.Bias ? Param(node, "Bias") : null;

        public ParamRef? BiasGrad(Node node) => node.Layer!.Bias ? ParamGrad(node, "Bias") : null;

        /// <summary>
        /// The value whose gradient <paramref name="node"/>'s input-gradient kernel writes: its input, or, with a fused
        /// activation backward, the activation's input (for an epilogue, the pre-activation value its producer's node keeps).
        /// </summary>
        public static Node GradTarget(Node node, GradMask? mask) =>
            mask is null ? node.Input! : IsEpilogue(mask.Activation) ? mask.Activation : mask.Activation.Input!;

        /// <summary>The buffer <paramref name="node"/>'s input-gradient kernel writes (see <see cref="GradTarget"/>).</summary>
        public Buf GradOut(Node node, GradMask? mask) =>
            mask is null ? Grad(node.Input!) : IsEpilogue(mask.Activation) ? Grad(mask.Activation) : InputGrad(mask.Activation, 0);

        private static bool IsEpilogue(Node activation) => activation.Op is Ops.FusedOp { Epilogue: not null };

        /// <summary>
        /// The fused activation backward of an input-gradient kernel: act′ evaluated on <paramref name="on"/> (by default the
        /// activation's output); null when nothing is fused.
        /// </summary>
        public GradEpilogue? Mask(GradMask? mask, Buf? on = null) => mask is null ? null : new GradEpilogue(on ?? Value(mask.Activation), mask.Act);

        /// <summary>Declares the activation and gradient buffers of a node that owns storage.</summary>
        internal void DeclareValue(Node node, string comment)
        {
            _buffers.Add(new BufferDecl(OutName(node), node.Shape, IsIndex: false, IsGrad: false, comment));
            _buffers.Add(new BufferDecl(GradName(node), node.Shape, IsIndex: false, IsGrad: true, "gradient of " + OutName(node)));
        }

        /// <summary>Declares an integer side buffer of a node (e.g. max-pool argmax), shaped like its output.</summary>
        public Buf IndexBuffer(Node node, string suffix, string comment)
        {
            string name = node.Name + suffix;
            if (!_buffers.Any(b => b.Name == name))
                _buffers.Add(new BufferDecl(name, node.Shape, IsIndex: true, IsGrad: false, comment));
            return new Buf(name, node.Shape.PerSample, IsIndex: true);
        }

        /// <summary>
        /// Declares a float side buffer of a node that its backward reads (saved statistics, a dropout mask), of
        /// <paramref name="shape"/> per batch; declared once, so the backward may ask for it again by the same suffix.
        /// </summary>
        public Buf SideBuffer(Node node, string suffix, Shape shape, string comment)
        {
            string name = node.Name + suffix;
            if (!_buffers.Any(b => b.Name == name))
                _buffers.Add(new BufferDecl(name, shape, IsIndex: false, IsGrad: false, comment));
            return new Buf(name, shape.PerSample);
        }

        /// <summary>
        /// Declares <paramref name="node"/>'s geometry once, as a static field <c>NodeGeometry</c> of the generated model built
        /// from <paramref name="arguments"/> (the constructor's), and returns it with its value for the steps.
        /// </summary>
        public Geo<T> Geometry<T>(Node node, T value, string comment, params int[] arguments)
        {
            string name = node.Name + "Geometry";
            if (!_geometries.Any(g => g.Name == name))
                _geometries.Add(new GeometryDecl(name, typeof(T).Name, new EquatableArray<int>(arguments), comment));
            var geo = new Geo<T>(name, value);
            _geometryValues[name] = geo;
            return geo;
        }

        /// <summary>The geometry <paramref name="node"/>'s forward declared, for its backward steps.</summary>
        public Geo<T> GeometryOf<T>(Node node) => (Geo<T>)_geometryValues[node.Name + "Geometry"];

        /// <summary>The stages the forward of <paramref name="chain"/> declared, for its backward.</summary>
        public Geo<EquatableArray<Elementwise>> ChainOf(Node chain) => (Geo<EquatableArray<Elementwise>>)_geometryValues[chain.Name + "Chain"];

        /// <summary>
        /// Declares the stages of the element-wise chain <paramref name="chain"/> (named after its last activation) as a
        /// static <c>ElementwiseChain</c> field of the model, <c>Tanh1Chain</c>.
        /// </summary>
        public Geo<EquatableArray<Elementwise>> Chain(Node chain, string comment, IEnumerable<Elementwise> stages)
        {
            string name = chain.Name + "Chain";
            var list = EquatableArray.From(stages);
            _geometries.Add(new GeometryDecl(name, "ElementwiseChain", EquatableArray<int>.Empty, comment)
            {
                Terms = EquatableArray.From(list.Select(s => "Elementwise." + s.Member)),
            });
            var geo = new Geo<EquatableArray<Elementwise>>(name, list);
            _geometryValues[name] = geo;
            return geo;
        }

        public void Emit(string comment, KernelStep step) => _current.Add(step with { Comment = comment });

        /// <summary>Emits a backward step that a fused NLL loss makes unnecessary (it is skipped when the loss says so).</summary>
        public void EmitUnlessLossFused(Node node, string comment, KernelStep step) =>
            _current.Add(step with { Comment = comment, InputGradOnly = IsGraphInput(node.Input!), UnlessLossFused = true, GradUpTo = NearestLayers(node.Input!) });

        /// <summary>Emits the weight (and bias) gradient of a layer; skipped at run time while the layer is frozen.</summary>
        public void EmitParamGrad(Node node, string comment, KernelStep step) =>
            _current.Add(step with { Comment = comment, ParamsOf = node.Layer!.Property });

        /// <summary>
        /// Emits work that produces the gradient of <paramref name="node"/>'s input (or, with a fused activation backward, of
        /// that activation's input). It runs only if a trainable layer lies upstream of that value, or the caller asked for
        /// the input gradient.
        /// </summary>
        public void EmitInputGrad(Node node, string comment, KernelStep step) => EmitGradOf(node.Input!, comment, step);

        /// <summary>As <see cref="EmitInputGrad(Node, string, KernelStep)"/>, for a kernel that may apply a fused activation backward.</summary>
        public void EmitInputGrad(Node node, GradMask? mask, string comment, KernelStep step) => EmitGradOf(GradTarget(node, mask), comment, step);

        /// <summary>Emits work that produces (a contribution to) the gradient of <paramref name="value"/>, guarded as <see cref="EmitInputGrad"/>.</summary>
        public void EmitGradOf(Node value, string comment, KernelStep step) =>
            _current.Add(step with { Comment = comment, InputGradOnly = IsGraphInput(value), GradUpTo = NearestLayers(value) });

        /// <summary>Adds the contributions of every read of <paramref name="value"/> but the first into its gradient buffer.</summary>
        internal void EmitGradientSum(Node value)
        {
            IReadOnlyList<Use> uses = _graph.Uses(value);
            for (int k = 1; k < uses.Count; k++)
            {
                string extra = ContributionName(uses[k]);
                EmitGradOf(value, $"{value.Name}: {GradName(value)} += the gradient through {uses[k].Consumer.Name}",
                    new AccumulateGrad(new Buf(extra, value.Shape.PerSample), new Buf(GradName(value), value.Shape.PerSample)));
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
