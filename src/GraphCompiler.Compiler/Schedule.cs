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
    public sealed record GeometryDecl(string Name, string Type, EquatableArray<int> Values, string Comment);

    /// <summary>
    /// A call of <c>Kernel.Method(args)</c>. <see cref="InputGradOnly"/> marks work that produces the gradient of the
    /// model's input, done only when the caller asked for it. <see cref="UnlessLossFused"/> marks the LogSoftmax backward
    /// that a fused NLL loss replaces (it then writes the gradient at the logits itself).
    /// </summary>
    public sealed record Step(string Kernel, string Method, EquatableArray<Arg> Args, string Comment, bool InputGradOnly, bool UnlessLossFused = false,
        string? ParamsOf = null, string? GradUpTo = null)
    {
        /// <summary>
        /// Whether the backward step runs when only the layers in <paramref name="trains"/> have trainable parameters and
        /// the caller does or does not want the input gradient: a frozen layer skips its weight gradient, and no gradient
        /// flows below the last layer that trains. The generated Backward prints exactly these guards.
        /// </summary>
        public bool Runs(System.Func<string, bool> trains, EquatableArray<string> layerOrder, bool inputGrad)
        {
            if (ParamsOf is not null) return trains(ParamsOf);
            if (InputGradOnly) return inputGrad;
            if (inputGrad) return true;
            if (GradUpTo is null) return false;
            foreach (string layer in layerOrder)
            {
                if (trains(layer)) return true;
                if (layer == GradUpTo) break;
            }
            return false;
        }
    }

    /// <summary>One row of the model summary: what a forward call computes and its output shape.</summary>
    public sealed record TraceRow(string Name, string Description, Shape Output, int Parameters);

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
        /// <summary>The layers in the order the forward pass applies them.</summary>
        public EquatableArray<string> LayerOrder =>
            EquatableArray.From(Trace.Select(t => t.Name).Where(name => Layers.Any(l => l.Property == name)));

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
