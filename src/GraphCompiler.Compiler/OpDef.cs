// The definition of a primitive op: its shape rule, its forward lowering and its backward (VJP) rule, side by side.
using System.Collections.Generic;

namespace GraphCompiler.Compiler
{
    public abstract class OpDef
    {
        /// <summary>The forward-body method that invokes the op, e.g. "Relu"; layers are invoked through "Apply".</summary>
        public abstract string Name { get; }

        /// <summary>How a node of this op reads in messages and summaries, e.g. <c>Conv2d 'Conv1'</c> or <c>MaxPool2d(2)</c>.</summary>
        public virtual string Describe(Node node) => Name;

        /// <summary>Buffer name stem when the op is not a layer (Relu → Relu1, Relu2 …).</summary>
        public virtual string NameStem => Name;

        /// <summary>
        /// How many values the op reads: 1 for unary ops and layers, 2 for Add and Mul, 0 for any number of at least one
        /// (Cat). Ops reading more than one value are written as operators or statics, not as <c>Tensor</c> methods.
        /// </summary>
        public virtual int Arity => 1;

        /// <summary>True for ops that only reinterpret their input's buffer (Flatten, Reshape): no kernel, no new buffer.</summary>
        public virtual bool IsAlias => false;

        /// <summary>The shape rule. Returns the output shape, or null after reporting through <paramref name="errors"/>.</summary>
        public abstract Shape? Infer(Node node, List<CoreDiagnostic> errors);

        /// <summary>Emits the forward kernel calls of <paramref name="node"/>.</summary>
        public abstract void Forward(Lowering l, Node node);

        /// <summary>Emits the vector-Jacobian product: the gradient of the input (if needed) and of the parameters.</summary>
        public abstract void Backward(Lowering l, Node node);

        /// <summary>
        /// For an op that <see cref="AcceptsEpilogue"/>: the forward kernel applying <paramref name="epilogue"/> to its output
        /// as it writes it (the node of a <see cref="Ops.FusedOp"/> that replaced the op and the activation after it).
        /// </summary>
        public virtual void Forward(Lowering l, Node node, Elementwise epilogue) =>
            throw new System.InvalidOperationException($"{Name} takes no epilogue");

        /// <summary>
        /// For an op that <see cref="AcceptsGradEpilogue"/>: the VJP whose input-gradient kernel applies
        /// <paramref name="mask"/>, the backward of the activation it reads (null: none).
        /// </summary>
        public virtual void Backward(Lowering l, Node node, GradMask? mask) =>
            throw new System.InvalidOperationException($"{Name} takes no activation backward");

        public virtual int ParameterCount(Node node) => 0;

        /// <summary>
        /// The arguments of the op's forward-body call, in the order of its <c>Tensor</c> method (whose C# parameter names
        /// must equal these; a test checks it). Calls bind to them by position or name; <see cref="Node.Int"/> and friends
        /// read them back.
        /// </summary>
        public virtual IReadOnlyList<OpParam> Params => OpParams.None;

        /// <summary>
        /// For a layer (applied with <c>Apply</c>): the arguments of its attribute, the constructor's parameters first and then
        /// the settable properties, matched ignoring case (the attribute's <c>Name</c> property, the state_dict prefix, is
        /// not one of them). Empty for a functional op.
        /// </summary>
        public virtual IReadOnlyList<OpParam> LayerParams => OpParams.None;

        /// <summary>The runtime layer class in <c>GraphCompiler.Nn</c> that holds a layer's parameters.</summary>
        public virtual string LayerType => Name;

        /// <summary>
        /// The C# arguments that construct the runtime layer after its state_dict name and before the Rng: by default every
        /// layer parameter as <c>name: value</c> (an absent optional one is left out), so the runtime constructor's parameter
        /// names must equal <see cref="LayerParams"/>.
        /// </summary>
        public virtual string LayerConstructorArgs(LayerDecl layer)
        {
            var parts = new List<string>();
            for (int i = 0; i < LayerParams.Count; i++)
                if (!double.IsNaN(layer.Args[i]))
                    parts.Add($"{LayerParams[i].Name}: {LayerParams[i].Literal(layer.Args[i])}");
            return string.Join(", ", parts);
        }

        /// <summary>
        /// Floating-point operations of the forward pass for one sample. A multiply-add counts as 2 (fvcore's and torchinfo's
        /// mult-adds × 2), so a GEMM of m·k·n costs 2·m·k·n. This default, for element-wise ops, pools and reductions,
        /// counts one per element read or written, whichever is more: one per output element for an element-wise op, one
        /// per input element for a pool (one per window element when windows do not overlap). Aliases cost nothing.
        /// </summary>
        public virtual long Flops(Node node) =>
            IsAlias ? 0 : System.Math.Max((long)node.Shape.PerSample, node.Input!.Shape.PerSample);

        /// <summary>
        /// Whether the runtime layer has a training mode and buffers (BatchNorm, Dropout): its class then has a settable
        /// <c>Training</c> flag, which the model's <c>Train</c>/<c>Eval</c> set, and a <c>Buffers()</c> method, which the
        /// model's <c>Buffers()</c> concatenates.
        /// </summary>
        public virtual bool HasState => false;

        /// <summary>
        /// For element-wise activations: the catalog entry this node computes. Fusion makes it a producer's epilogue when its
        /// derivative is a function of its output (<see cref="Compiler.Elementwise.DerivativeFromOutput"/>), and a stage of a
        /// fused chain in any case; null for every other op.
        /// </summary>
        public virtual Elementwise? Elementwise(Node node) => null;

        /// <summary>Whether the op's forward kernel can apply an activation to its output as it writes it (<see cref="Forward(Lowering, Node, Elementwise)"/>).</summary>
        public virtual bool AcceptsEpilogue => false;

        /// <summary>Whether the op's input-gradient kernel can apply the backward of the activation that produced its input (<see cref="Backward(Lowering, Node, GradMask)"/>).</summary>
        public virtual bool AcceptsGradEpilogue => false;

        protected static CoreDiagnostic Rank(Node node, string what, int rank, string expected) =>
            new CoreDiagnostic(DiagnosticIds.RankMismatch,
                $"{what} expects a {rank}-D input {expected} but receives {node.Input!.Derivation}", RankSite(node, rank));

        /// <summary>
        /// Where a rank error belongs: on the forward's <c>Input</c> string when the op reads the declared input and that has
        /// fewer dimensions than the op needs (<c>"N,28,28"</c> for a Conv2d: the declaration is what to fix), else on the call.
        /// </summary>
        internal static int RankSite(Node node, int needed) =>
            node.Input is { Id: 0 } input && input.Shape.Rank < needed ? input.Site : node.Site;
    }

    /// <summary>Every primitive op, by the name the forward body uses. Tests iterate this table.</summary>
    public static class OpsTable
    {
        public static readonly OpDef Linear = new Ops.LinearOp();
        public static readonly OpDef Conv2d = new Ops.Conv2dOp();
        public static readonly OpDef MaxPool2d = new Ops.MaxPool2dOp();
        public static readonly OpDef Relu = new Ops.ReluOp();
        public static readonly OpDef Flatten = new Ops.FlattenOp();
        public static readonly OpDef LogSoftmax = new Ops.LogSoftmaxOp();
        public static readonly OpDef BatchNorm1d = new Ops.BatchNorm1dOp();
        public static readonly OpDef BatchNorm2d = new Ops.BatchNorm2dOp();
        public static readonly OpDef LayerNorm = new Ops.LayerNormOp();
        public static readonly OpDef Dropout = new Ops.DropoutOp();
        public static readonly OpDef Reshape = new Ops.ReshapeOp();
        public static readonly OpDef Add = new Ops.AddOp();
        public static readonly OpDef Mul = new Ops.MulOp();
        public static readonly OpDef Cat = new Ops.CatOp();
        public static readonly OpDef Softmax = new Ops.SoftmaxOp();
        public static readonly OpDef AvgPool2d = new Ops.AvgPool2dOp();
        public static readonly OpDef AdaptiveAvgPool2d = new Ops.AdaptiveAvgPool2dOp();
        public static readonly OpDef LeakyRelu = new Ops.LeakyReluOp();
        public static readonly OpDef Sigmoid = new Ops.SigmoidOp();
        public static readonly OpDef Tanh = new Ops.TanhOp();
        public static readonly OpDef Gelu = new Ops.GeluOp();
        public static readonly OpDef Silu = new Ops.SiluOp();

        /// <summary>Layers by the name of their attribute without "Attribute" (<c>[Conv2d(...)]</c> → "Conv2d").</summary>
        public static readonly IReadOnlyDictionary<string, OpDef> Layers = new Dictionary<string, OpDef>
        {
            ["Linear"] = Linear,
            ["Conv2d"] = Conv2d,
            ["BatchNorm1d"] = BatchNorm1d,
            ["BatchNorm2d"] = BatchNorm2d,
            ["LayerNorm"] = LayerNorm,
            ["Dropout"] = Dropout,
        };

        /// <summary>Ops callable by name in a forward body (layers are reached through <c>Apply</c>).</summary>
        public static readonly IReadOnlyDictionary<string, OpDef> Functional = new Dictionary<string, OpDef>
        {
            ["Relu"] = Relu,
            ["MaxPool2d"] = MaxPool2d,
            ["Flatten"] = Flatten,
            ["LogSoftmax"] = LogSoftmax,
            ["Reshape"] = Reshape,
            ["Softmax"] = Softmax,
            ["AvgPool2d"] = AvgPool2d,
            ["AdaptiveAvgPool2d"] = AdaptiveAvgPool2d,
            ["LeakyRelu"] = LeakyRelu,
            ["Sigmoid"] = Sigmoid,
            ["Tanh"] = Tanh,
            ["Gelu"] = Gelu,
            ["Silu"] = Silu,
        };

        /// <summary>
        /// Ops that read several values, by the name the forward body uses: <c>a + b</c> (or <c>a.Add(b)</c>), <c>a * b</c>
        /// (or <c>a.Mul(b)</c>) and <c>Tensor.Cat([a, b, …], dim)</c>. Their <see cref="OpDef.Params"/> are the constant
        /// arguments after the tensors.
        /// </summary>
        public static readonly IReadOnlyDictionary<string, OpDef> Combining = new Dictionary<string, OpDef>
        {
            ["Add"] = Add,
            ["Mul"] = Mul,
            ["Cat"] = Cat,
        };

        public static readonly IReadOnlyList<OpDef> All = new[]
        {
            Linear, Conv2d, MaxPool2d, Relu, Flatten, LogSoftmax, Softmax, AvgPool2d, AdaptiveAvgPool2d, LeakyRelu, Sigmoid, Tanh, Gelu, Silu,
            Reshape, Add, Mul, Cat, BatchNorm1d, BatchNorm2d, LayerNorm, Dropout,
        };
    }
}
