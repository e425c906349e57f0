// The lowered program of a model as data: buffers with shapes, kernel geometries, and the forward and backward kernel calls.
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
        /// <summary>The live batch size <c>n</c>.</summary>
        BatchSize,
        /// <summary>A static geometry field of the model.</summary>
        Geometry,
        /// <summary>An empty span (an absent bias).</summary>
        Empty,
    }

    /// <summary>One argument of a kernel call. For params, <see cref="Text"/> is "Layer.Weight"; for buffers the buffer name.</summary>
    public sealed record Arg(ArgKind Kind, string Text, int Value)
    {
        public static Arg Int(int v) => new Arg(ArgKind.Int, "", v);
        public static readonly Arg N = new Arg(ArgKind.BatchSize, "", 0);
        public static readonly Arg None = new Arg(ArgKind.Empty, "", 0);
        public static Arg Geo(string name) => new Arg(ArgKind.Geometry, name, 0);
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
    /// model's input, done only when the caller asked for it.
    /// </summary>
    public sealed record Step(string Kernel, string Method, EquatableArray<Arg> Args, string Comment, bool InputGradOnly);

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
        EquatableArray<TraceRow> Trace);

    public sealed record CompileResult(Schedule? Schedule, EquatableArray<CoreDiagnostic> Diagnostics);
}
