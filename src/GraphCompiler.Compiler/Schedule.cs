// The lowered program of a model as data: buffers with shapes, kernel geometries, and the forward and backward kernel calls.
using System.Linq;

namespace GraphCompiler.Compiler
{
    public enum ArgKind
    {
        /// <summary>A workspace buffer, sliced to the live batch: <c>ws.Name.AsSpan(0, n * PerSample)</c>.</summary>
        Buffer,
        /// <summary>A parameter's values, <c>Layer.Weight.Data</c>.</summary>
        ParamData,
        /// <summary>A parameter's gradient, <c>Layer.Weight.Grad</c>.</summary>
        ParamGrad,
        /// <summary>An integer literal.</summary>
        Int,
        /// <summary>The live batch size <c>n</c>, times <see cref="Arg.Value"/> when that is above 1.</summary>
        BatchSize,
        /// <summary>A static geometry field of the model.</summary>
        Geometry,
        /// <summary>An empty span (an absent bias).</summary>
        Empty,
        /// <summary>A member of the kernels' <c>Activation</c> type, e.g. <c>Activation.Relu</c>, <c>Activation.LeakyRelu(0.2f)</c>.</summary>
        Activation,
        /// <summary>A boolean literal (<see cref="Arg.Value"/> 0 or 1), e.g. GELU's <c>approximateTanh</c>.</summary>
        Bool,
    }

    /// <summary>One argument of a kernel call. For params, <see cref="Text"/> is "Layer.Weight"; for buffers the buffer name.</summary>
    public sealed record Arg(ArgKind Kind, string Text, int Value)
    {
        public static Arg Int(int v) => new Arg(ArgKind.Int, "", v);
        public static readonly Arg N = new Arg(ArgKind.BatchSize, "", 0);
        /// <summary><c>n · k</c>: e.g. the rows of a softmax over a non-leading dim, N times the dims between.</summary>
        public static Arg NTimes(int k) => k == 1 ? N : new Arg(ArgKind.BatchSize, "", k);
        public static readonly Arg None = new Arg(ArgKind.Empty, "", 0);
        public static Arg Geo(string name) => new Arg(ArgKind.Geometry, name, 0);
        public static Arg Act(string name) => new Arg(ArgKind.Activation, name, 0);
        public static Arg Bool(bool v) => new Arg(ArgKind.Bool, "", v ? 1 : 0);
    }

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
        /// chain's stages, <c>ElementwiseStage.Relu</c>); empty when <see cref="Values"/> are the arguments.
        /// </summary>
        public EquatableArray<string> Terms { get; init; } = EquatableArray<string>.Empty;
    }

    /// <summary>
    /// A call of <c>Kernel.Method(args)</c>. <see cref="InputGradOnly"/> marks work that produces the gradient of the
    /// model's input, done only when the caller asked for it. <see cref="UnlessLossFused"/> marks the LogSoftmax backward
    /// that a fused NLL loss replaces (it then writes the gradient at the logits itself). <see cref="ParamsOf"/> names the
    /// layer whose parameter gradients the step adds to; <see cref="GradUpTo"/> lists, for a step that produces the gradient
    /// of a value, the layer applications nearest upstream of that value (see <see cref="LayerUse"/>).
    /// </summary>
    public sealed record Step(string Kernel, string Method, EquatableArray<Arg> Args, string Comment, bool InputGradOnly, bool UnlessLossFused = false,
        string? ParamsOf = null, EquatableArray<string> GradUpTo = default)
    {
        /// <summary>
        /// Whether the backward step runs when only the layers in <paramref name="trains"/> have trainable parameters and
        /// the caller does or does not want the input gradient: a frozen layer skips its weight gradient, and the gradient of
        /// a value is computed only if a layer upstream of it trains. The generated Backward prints exactly these guards.
        /// </summary>
        public bool Runs(System.Func<string, bool> trains, EquatableArray<LayerUse> uses, bool inputGrad)
        {
            if (ParamsOf is not null) return trains(ParamsOf);
            if (InputGradOnly || inputGrad) return inputGrad;
            return GradUpTo.Any(u => LayerUse.TrainsTo(u, trains, uses));
        }
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
        EquatableArray<Step> Forward,
        EquatableArray<Step> Backward,
        EquatableArray<TraceRow> Trace)
    {
        /// <summary>Every application of a layer, in the order the forward pass makes them.</summary>
        public EquatableArray<LayerUse> LayerUses { get; init; } = EquatableArray<LayerUse>.Empty;

        /// <summary>The names of the layer applications in forward order (a chain: its layers in order).</summary>
        public EquatableArray<string> LayerOrder => EquatableArray.From(LayerUses.Select(u => u.Name));

        /// <summary>
        /// Where a fused NLL loss writes dLoss/dlogits when the model ends in LogSoftmax (the LogSoftmax input's gradient),
        /// or null when there is no such fusion.
        /// </summary>
        public string? LogitsGradBuffer { get; init; }

        /// <summary>The buffer placement for a training workspace (forward, loss and backward).</summary>
        public MemoryPlan TrainingPlan { get; init; } = MemoryPlan.Empty;

        /// <summary>The buffer placement for an inference workspace (forward only).</summary>
        public MemoryPlan InferencePlan { get; init; } = MemoryPlan.Empty;

        /// <summary>Kernel calls of one forward pass.</summary>
        public int ForwardKernels => Forward.Count;

        /// <summary>
        /// Kernel calls of one training step: forward, one loss kernel, and backward without the input gradient; with
        /// <paramref name="nllLoss"/> and a fused LogSoftmax the LogSoftmax backward is part of the loss kernel.
        /// </summary>
        public int TrainingStepKernels(bool nllLoss) =>
            Forward.Count + 1 + Backward.Count(b => !b.InputGradOnly && !(nllLoss && LogitsGradBuffer is not null && b.UnlessLossFused));
    }

    public sealed record CompileResult(Schedule? Schedule, EquatableArray<CoreDiagnostic> Diagnostics);
}
