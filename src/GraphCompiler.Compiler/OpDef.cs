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

        /// <summary>True for ops that only reinterpret their input's buffer (Flatten): no kernel, no new buffer.</summary>
        public virtual bool IsAlias => false;

        /// <summary>The shape rule. Returns the output shape, or null after reporting through <paramref name="errors"/>.</summary>
        public abstract Shape? Infer(Node node, List<CoreDiagnostic> errors);

        /// <summary>Emits the forward kernel calls of <paramref name="node"/>.</summary>
        public abstract void Forward(Lowering l, Node node);

        /// <summary>Emits the vector-Jacobian product: the gradient of the input (if needed) and of the parameters.</summary>
        public abstract void Backward(Lowering l, Node node);

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
        /// For element-wise activations: the kernels' <c>Activation</c> member that computes the op, so another kernel can
        /// apply it as an epilogue. Its derivative must be a function of its output (ReLU: [y &gt; 0]).
        /// </summary>
        public virtual string? Activation => null;

        /// <summary>Whether the op's forward kernel can apply an activation to its output as it writes it.</summary>
        public virtual bool AcceptsEpilogue => false;

        /// <summary>Whether the op's input-gradient kernel can apply the backward of the activation that produced its input.</summary>
        public virtual bool AcceptsGradEpilogue => false;

        protected static CoreDiagnostic Rank(Node node, string what, int rank, string expected) =>
            new CoreDiagnostic(DiagnosticIds.RankMismatch,
                $"{what} expects a {rank}-D input {expected} but receives {node.Input!.Derivation}", node.Site);
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

        /// <summary>Layers by the name of their attribute without "Attribute" (<c>[Conv2d(...)]</c> → "Conv2d").</summary>
        public static readonly IReadOnlyDictionary<string, OpDef> Layers = new Dictionary<string, OpDef>
        {
            ["Linear"] = Linear,
            ["Conv2d"] = Conv2d,
        };

        /// <summary>Ops callable by name in a forward body (layers are reached through <c>Apply</c>).</summary>
        public static readonly IReadOnlyDictionary<string, OpDef> Functional = new Dictionary<string, OpDef>
        {
            ["Relu"] = Relu,
            ["MaxPool2d"] = MaxPool2d,
            ["Flatten"] = Flatten,
            ["LogSoftmax"] = LogSoftmax,
        };

        public static readonly IReadOnlyList<OpDef> All = new[] { Linear, Conv2d, MaxPool2d, Relu, Flatten, LogSoftmax };
    }
}
