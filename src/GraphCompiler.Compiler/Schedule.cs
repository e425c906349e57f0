// The lowered program of a model as data: buffers with shapes, kernel geometries, and the forward and backward typed steps.
using System.Linq;

namespace GraphCompiler.Compiler
{
    /// <summary>A workspace buffer: one per value (activations), gradient and index map; sized per sample times the batch.</summary>
    public sealed record BufferDecl(string Name, Shape Shape, bool IsIndex, bool IsGrad, string Comment)
    {
        public int PerSample => Shape.PerSample;
    }

    /// <summary>A kernel's compile-time geometry, e.g. a <c>Conv2dGeometry</c> with every size filled in.</summary>
    public sealed record GeometryDecl(string Name, string Type, EquatableArray<int> Values, string Comment)
    {
        /// <summary>
        /// The constructor's arguments as C# expressions, for a descriptor that is not a list of integers (an element-wise
        /// chain's stages, <c>Elementwise.Relu</c>); empty when <see cref="Values"/> are the arguments.
        /// </summary>
        public EquatableArray<string> Terms { get; init; } = EquatableArray<string>.Empty;
    }

    /// <summary>
    /// One application of a layer in the forward pass (<see cref="Name"/> is <c>Fc1</c>, or <c>Fc1_2</c> for its second
    /// application) and the applications nearest upstream of its input (<see cref="After"/>); the generated Backward has a
    /// flag <c>trainsToName</c> per application: the input gradient is wanted, or its layer or one upstream trains.
    /// </summary>
    public sealed record LayerUse(string Name, string Layer, EquatableArray<string> After)
    {
        /// <summary>Whether the layer of application <paramref name="name"/> or a layer upstream of it trains.</summary>
        public static bool TrainsTo(string name, System.Func<string, bool> trains, EquatableArray<LayerUse> uses)
        {
            var seen = new System.Collections.Generic.HashSet<string>();
            var pending = new System.Collections.Generic.Stack<string>();
            pending.Push(name);
            while (pending.Count > 0)
            {
                string next = pending.Pop();
                if (!seen.Add(next)) continue;
                LayerUse use = uses.First(u => u.Name == next);
                if (trains(use.Layer)) return true;
                foreach (string a in use.After) pending.Push(a);
            }
            return false;
        }
    }

    /// <summary>
    /// One row of the model summary: what a forward call computes, its output shape, parameter count, forward FLOPs per
    /// sample (<see cref="OpDef.Flops"/>) and, for a layer, the <c>state_dict</c> prefix of its parameters.
    /// </summary>
    public sealed record TraceRow(string Name, string Description, Shape Output, int Parameters, long Flops, string? StateName);

    public sealed record Schedule(
        string Model,
        Shape Input,
        Shape Output,
        string InputBuffer,
        string OutputBuffer,
        string OutputGradBuffer,
        EquatableArray<LayerDecl> Layers,
        EquatableArray<BufferDecl> Buffers,
        EquatableArray<GeometryDecl> Geometries,
        EquatableArray<KernelStep> Forward,
        EquatableArray<KernelStep> Backward,
        EquatableArray<TraceRow> Trace)
    {
        /// <summary>Every application of a layer, in the order the forward pass makes them.</summary>
        public EquatableArray<LayerUse> LayerUses { get; init; } = EquatableArray<LayerUse>.Empty;

        /// <summary>The names of the layer applications in forward order (a chain: its layers in order).</summary>
        public EquatableArray<string> LayerOrder => EquatableArray.From(LayerUses.Select(u => u.Name));

        /// <summary>
        /// The loss fusion pass "fuse-loss" recorded: which loss computes its gradient at the logits in one kernel, and where
        /// it writes it; null when the model does not end in a LogSoftmax over classes. Trainers, backends and summaries
        /// read it through <see cref="LossAtLogits"/>, so the decision is made here once.
        /// </summary>
        public LossFusion? FusedLoss { get; init; }

        /// <summary>Where the fused loss writes dLoss/dlogits (the LogSoftmax input's gradient), or null.</summary>
        public string? LogitsGradBuffer => FusedLoss?.LogitsGradBuffer;

        /// <summary>
        /// Whether the loss named <paramref name="loss"/> (PyTorch's functional name, e.g. <c>nll_loss</c>) computes its
        /// gradient at the logits in one kernel, so the LogSoftmax backward (<see cref="KernelStep.UnlessLossFused"/>) is skipped.
        /// </summary>
        public bool LossAtLogits(string loss) => FusedLoss is { } f && f.Loss == loss;

        /// <summary>The buffer placement for a training workspace (forward, loss and backward).</summary>
        public MemoryPlan TrainingPlan { get; init; } = MemoryPlan.Empty;

        /// <summary>The buffer placement for an inference workspace (forward only).</summary>
        public MemoryPlan InferencePlan { get; init; } = MemoryPlan.Empty;

        /// <summary>Kernel calls of one forward pass.</summary>
        public int ForwardKernels => Forward.Count;

        /// <summary>
        /// Kernel calls of one training step with <paramref name="loss"/>: forward, one loss kernel, and backward without the
        /// input gradient; when that loss is fused at the logits the LogSoftmax backward is part of the loss kernel.
        /// </summary>
        public int TrainingStepKernels(string loss) =>
            Forward.Count + 1 + Backward.Count(b => !b.InputGradOnly && !(LossAtLogits(loss) && b.UnlessLossFused));
    }

    /// <summary>A loss computed with its gradient at the logits of a final LogSoftmax: <see cref="Nll"/> writes (softmax − onehot) / N.</summary>
    public sealed record LossFusion(string Loss, string LogitsGradBuffer)
    {
        /// <summary>PyTorch's name of the NLL loss, the one that reads a LogSoftmax's output.</summary>
        public const string Nll = "nll_loss";
    }

    public sealed record CompileResult(Schedule? Schedule, EquatableArray<CoreDiagnostic> Diagnostics);

    /// <summary>One op lowered alone (<see cref="ModelCompiler.LowerOp"/>): its output shape and forward steps, or why not.</summary>
    public sealed record OpLowering(Shape? Output, EquatableArray<KernelStep> Forward, EquatableArray<CoreDiagnostic> Diagnostics);
}
