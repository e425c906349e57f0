// The ops that the fusion passes put in the graph in place of the nodes they fuse. An op rule never asks whether it was
// fused: a fused op hands it what it fuses (an epilogue, a masked gradient) as an argument.
using System.Collections.Generic;
using System.Linq;

namespace GraphCompiler.Compiler
{
    /// <summary>
    /// What a consumer's input-gradient kernel applies as it writes dx: the backward of the activation whose output it
    /// reads (dx = (…) · act′(y)). <see cref="Activation"/> is that activation's node, standalone or a producer's epilogue.
    /// </summary>
    public sealed class GradMask
    {
        public GradMask(Node activation, Elementwise act)
        {
            Activation = activation;
            Act = act;
        }

        public Node Activation { get; }

        public Elementwise Act { get; }
    }
}

namespace GraphCompiler.Compiler.Ops
{
    /// <summary>
    /// An op whose kernels take over work of its neighbours: <see cref="Epilogue"/>, the activation that followed it,
    /// applied as its forward kernel writes (LinearAct, ConvAct); <see cref="Mask"/>, the backward of the activation it
    /// reads, applied as its input-gradient kernel writes; <see cref="OutputGradInConsumer"/>, its own output activation's
    /// backward done by its consumer's masked kernel instead of here.
    /// </summary>
    public sealed class FusedOp : OpDef
    {
        private FusedOp(OpDef baseOp, Elementwise? epilogue, string epilogueGrad, GradMask? mask, bool outputGradInConsumer)
        {
            Base = baseOp;
            Epilogue = epilogue;
            EpilogueGrad = epilogueGrad;
            Mask = mask;
            OutputGradInConsumer = outputGradInConsumer;
        }

        /// <summary>The op the node computes (a layer, a pool, an activation).</summary>
        public OpDef Base { get; }

        public Elementwise? Epilogue { get; }

        /// <summary>The comment of the epilogue's backward kernel, in the words of the activation it replaced (<c>Relu2: dx = …</c>).</summary>
        private string EpilogueGrad { get; }

        public GradMask? Mask { get; }

        public bool OutputGradInConsumer { get; }

        /// <summary><paramref name="op"/> as it is, ready to take a fusion.</summary>
        public static FusedOp Of(OpDef op) => op as FusedOp ?? new FusedOp(op, null, "", null, false);

        /// <summary>This op with <paramref name="activation"/> (a node of an <see cref="ActivationOp"/>) as its epilogue.</summary>
        public FusedOp WithEpilogue(Node activation)
        {
            var act = (ActivationOp)activation.Op!;
            return new FusedOp(Base, act.Elementwise(activation), act.BackwardComment(activation), Mask, OutputGradInConsumer);
        }

        public FusedOp WithMask(GradMask mask) => new FusedOp(Base, Epilogue, EpilogueGrad, mask, OutputGradInConsumer);

        public FusedOp WithOutputGradInConsumer() => new FusedOp(Base, Epilogue, EpilogueGrad, Mask, true);

        /// <summary>The activation this node's value is the output of: its epilogue, or its base when that is an activation.</summary>
        public Elementwise? OutputActivation(Node node) => Epilogue ?? Base.Elementwise(node);

        public override string Name => Base.Name;

        public override string NameStem => Base.NameStem;

        public override string Describe(Node node) => Epilogue is { } e ? $"{e.Readable}({Base.Describe(node)})" : Base.Describe(node);

        public override IReadOnlyList<OpParam> Params => Base.Params;

        public override IReadOnlyList<OpParam> LayerParams => Base.LayerParams;

        public override string LayerType => Base.LayerType;

        public override bool HasState => Base.HasState;

        public override int ParameterCount(Node node) => Base.ParameterCount(node);

        public override long Flops(Node node) => Base.Flops(node);

        public override bool AcceptsGradEpilogue => Base.AcceptsGradEpilogue && Mask is null;

        public override Shape? Infer(Node node, List<CoreDiagnostic> errors) => Base.Infer(node, errors);

        public override void Forward(Lowering l, Node node)
        {
            if (Epilogue is { } e) Base.Forward(l, node, e);
            else Base.Forward(l, node);
        }

        public override void Backward(Lowering l, Node node)
        {
            if (OutputGradInConsumer && Base.Elementwise(node) is not null) return; // an activation whose whole VJP its consumer applies
            // The epilogue's backward, dy · act′(y) in place, unless the consumer's input-gradient kernel already applied it.
            if (Epilogue is { } e && !OutputGradInConsumer)
                l.EmitGradOf(node, EpilogueGrad, new ElementwiseBackward(l.Value(node), l.Grad(node), l.Grad(node), e));
            if (Mask is null) Base.Backward(l, node);
            else Base.Backward(l, node, Mask);
        }
    }

    /// <summary>
    /// A run of element-wise activations, each read only by the next, as one kernel each way: y = f_k(…f_1(x)) forward,
    /// dx = dy · Π f_i′ backward, recomputed from x, so only the chain's input and output are stored.
    /// </summary>
    public sealed class ChainOp : OpDef
    {
        private readonly string[] _names;
        private readonly string _describe;

        /// <param name="run">The activation nodes, first to last.</param>
        public ChainOp(IReadOnlyList<Node> run)
        {
            Stages = run.Select(n => n.Op!.Elementwise(n)!.Value).ToArray();
            _names = run.Select(n => n.Name).ToArray();
            _describe = run[run.Count - 1].Op!.Describe(run[run.Count - 1]);
        }

        public IReadOnlyList<Elementwise> Stages { get; }

        public override string Name => "Chain";

        /// <summary>The value is its last activation's output, and reads as that.</summary>
        public override string Describe(Node node) => _describe;

        public override Shape? Infer(Node node, List<CoreDiagnostic> errors) => node.Input!.Shape;

        // tanh(sigmoid(relu(x))).
        private string Formula => Stages.Aggregate("x", (inner, s) => $"{s.Readable}({inner})");

        public override void Forward(Lowering l, Node node)
        {
            var stages = l.Chain(node, $"{string.Join(" → ", _names)}: {Formula}", Stages);
            l.Emit($"{node.Name}: {Formula}, {node.Shape.Comment}", new ElementwiseChainForward(l.Value(node.Input!), l.Value(node), stages));
        }

        public override void Backward(Lowering l, Node node) =>
            l.EmitGradOf(node.Input!, $"{node.Name}: dx = dy · ({Formula})′",
                new ElementwiseChainBackward(l.Value(node.Input!), l.Grad(node), l.InputGrad(node, 0), l.ChainOf(node)));
    }

    /// <summary>
    /// The model's final LogSoftmax over the classes when an NLL loss may follow: that loss writes dLoss/dlogits =
    /// (softmax − onehot) / N in one kernel, so this node's backward runs only with any other loss.
    /// </summary>
    public sealed class LogSoftmaxNllOp : OpDef
    {
        public override string Name => OpsTable.LogSoftmax.Name;

        public override IReadOnlyList<OpParam> Params => OpsTable.LogSoftmax.Params;

        public override string Describe(Node node) => OpsTable.LogSoftmax.Describe(node);

        public override Shape? Infer(Node node, List<CoreDiagnostic> errors) => OpsTable.LogSoftmax.Infer(node, errors);

        public override void Forward(Lowering l, Node node) => OpsTable.LogSoftmax.Forward(l, node);

        public override void Backward(Lowering l, Node node) =>
            l.EmitUnlessLossFused(node, $"{node.Name}: {LogSoftmaxOp.GradComment}", LogSoftmaxOp.BackwardStep(l, node));
    }
}
