// The typed schedule: one record per kernel entry point, with named, typed operands, and the one interface every backend
// implements with a method per step kind (so a backend that lacks a step does not build).
using System.Collections.Generic;
using System.Linq;

namespace GraphCompiler.Compiler
{
    /// <summary>A workspace buffer, used for the live batch: <c>n · PerSample</c> elements (ints for an index buffer).</summary>
    public sealed record Buf(string Name, int PerSample, bool IsIndex = false);

    /// <summary>A layer's parameter (<c>Fc1.Weight</c>): its values, or with <see cref="Grad"/> its gradient.</summary>
    public sealed record ParamRef(string Layer, string Member, bool Grad = false)
    {
        public string Text => Layer + "." + Member;
    }

    /// <summary>
    /// The backward of an activation fused into an input-gradient kernel: as it writes dx, the kernel multiplies by
    /// <see cref="Act"/>′ evaluated on <see cref="On"/> (the activation's output).
    /// </summary>
    public sealed record GradEpilogue(Buf On, Elementwise Act);

    /// <summary>A static geometry, named as the generated code's field (<c>Conv1Geometry</c>), with its value.</summary>
    public sealed record Geo<T>(string Name, T Value);

    /// <summary>
    /// A softmax-like reduction seen as (outer, dim, inner): <see cref="OuterPerSample"/> slabs per sample of
    /// <see cref="Dim"/> × <see cref="Inner"/> values, or, <see cref="OverBatch"/>, one slab of N rows.
    /// </summary>
    public sealed record ReduceDims(int OuterPerSample, int Dim, int Inner, bool OverBatch)
    {
        /// <summary>Over the class dim of (N, C): the rows form the loss kernels read.</summary>
        public bool IsRows => !OverBatch && OuterPerSample == 1 && Inner == 1;
    }

    /// <summary>
    /// One kernel call. The guard fields say when a backward step runs: <see cref="InputGradOnly"/> work produces only the
    /// model input's gradient; <see cref="UnlessLossFused"/> is the LogSoftmax backward a fused NLL loss replaces;
    /// <see cref="ParamsOf"/> names the layer whose parameter gradients the step adds to; <see cref="GradUpTo"/> lists the
    /// layer applications nearest upstream of the value whose gradient the step produces (see <see cref="LayerUse"/>).
    /// </summary>
    public abstract record KernelStep
    {
        public string Comment { get; init; } = "";

        public bool InputGradOnly { get; init; }

        public bool UnlessLossFused { get; init; }

        public string? ParamsOf { get; init; }

        public EquatableArray<string> GradUpTo { get; init; } = EquatableArray<string>.Empty;

        /// <summary>The step kind's name, e.g. <c>LinearForward</c>.</summary>
        public string Kind => GetType().Name;

        public abstract T Accept<T>(IStepHandler<T> backend);

        /// <summary>Every workspace buffer the step reads or writes (for liveness and the memory plan).</summary>
        public IEnumerable<Buf> Buffers() => GetType().GetProperties().SelectMany(p => p.GetValue(this) switch
        {
            Buf b => new[] { b },
            GradEpilogue g => new[] { g.On },
            _ => new Buf[0],
        });

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

    // ---- Linear: y = x · Wᵀ + b ----
    public sealed record LinearForward(Buf X, ParamRef W, ParamRef? B, Buf Y, int InFeatures, int OutFeatures, Elementwise Epilogue) : KernelStep
    { public override T Accept<T>(IStepHandler<T> backend) => backend.LinearForward(this); }

    public sealed record LinearBackwardParams(Buf Dy, Buf X, ParamRef Dw, ParamRef? Db, int InFeatures, int OutFeatures) : KernelStep
    { public override T Accept<T>(IStepHandler<T> backend) => backend.LinearBackwardParams(this); }

    public sealed record LinearBackwardInput(Buf Dy, ParamRef W, Buf Dx, int InFeatures, int OutFeatures, GradEpilogue? Mask) : KernelStep
    { public override T Accept<T>(IStepHandler<T> backend) => backend.LinearBackwardInput(this); }

    // ---- Conv2d ----
    public sealed record Conv2dForward(Buf X, ParamRef W, ParamRef? B, Buf Y, Geo<Conv2dGeometry> G, Elementwise Epilogue) : KernelStep
    { public override T Accept<T>(IStepHandler<T> backend) => backend.Conv2dForward(this); }

    public sealed record Conv2dBackwardParams(Buf Dy, Buf X, ParamRef Dw, ParamRef? Db, Geo<Conv2dGeometry> G) : KernelStep
    { public override T Accept<T>(IStepHandler<T> backend) => backend.Conv2dBackwardParams(this); }

    public sealed record Conv2dBackwardInput(Buf Dy, ParamRef W, Buf Dx, Geo<Conv2dGeometry> G, GradEpilogue? Mask) : KernelStep
    { public override T Accept<T>(IStepHandler<T> backend) => backend.Conv2dBackwardInput(this); }

    // ---- pooling ----
    public sealed record MaxPool2dForward(Buf X, Buf Y, Buf Argmax, Geo<Pool2dGeometry> G) : KernelStep
    { public override T Accept<T>(IStepHandler<T> backend) => backend.MaxPool2dForward(this); }

    /// <summary>Scatters dy to the argmax positions; a fused activation backward is evaluated on the pool's own output.</summary>
    public sealed record MaxPool2dBackward(Buf Dy, Buf Argmax, Buf Dx, Geo<Pool2dGeometry> G, GradEpilogue? Mask) : KernelStep
    { public override T Accept<T>(IStepHandler<T> backend) => backend.MaxPool2dBackward(this); }

    public sealed record AvgPool2dForward(Buf X, Buf Y, Geo<Pool2dGeometry> G) : KernelStep
    { public override T Accept<T>(IStepHandler<T> backend) => backend.AvgPool2dForward(this); }

    public sealed record AvgPool2dBackward(Buf Dy, Buf Dx, Geo<Pool2dGeometry> G) : KernelStep
    { public override T Accept<T>(IStepHandler<T> backend) => backend.AvgPool2dBackward(this); }

    public sealed record AdaptiveAvgPool2dForward(Buf X, Buf Y, Geo<AdaptivePool2dGeometry> G) : KernelStep
    { public override T Accept<T>(IStepHandler<T> backend) => backend.AdaptiveAvgPool2dForward(this); }

    public sealed record AdaptiveAvgPool2dBackward(Buf Dy, Buf Dx, Geo<AdaptivePool2dGeometry> G) : KernelStep
    { public override T Accept<T>(IStepHandler<T> backend) => backend.AdaptiveAvgPool2dBackward(this); }

    // ---- element-wise activations ----
    /// <summary>y = f(x) for one activation of the catalog.</summary>
    public sealed record ElementwiseForward(Buf X, Buf Y, Elementwise F) : KernelStep
    { public override T Accept<T>(IStepHandler<T> backend) => backend.ElementwiseForward(this); }

    /// <summary>dx = dy · f′, evaluated on <see cref="On"/>: the output y when f′ is a function of it, else the input x.</summary>
    public sealed record ElementwiseBackward(Buf On, Buf Dy, Buf Dx, Elementwise F) : KernelStep
    { public override T Accept<T>(IStepHandler<T> backend) => backend.ElementwiseBackward(this); }

    /// <summary>y = f_k(…f_1(x)) in one kernel.</summary>
    public sealed record ElementwiseChainForward(Buf X, Buf Y, Geo<EquatableArray<Elementwise>> Stages) : KernelStep
    { public override T Accept<T>(IStepHandler<T> backend) => backend.ElementwiseChainForward(this); }

    /// <summary>dx = dy · Π f_i′, the chain recomputed from x.</summary>
    public sealed record ElementwiseChainBackward(Buf X, Buf Dy, Buf Dx, Geo<EquatableArray<Elementwise>> Stages) : KernelStep
    { public override T Accept<T>(IStepHandler<T> backend) => backend.ElementwiseChainBackward(this); }

    // ---- softmax ----
    public sealed record SoftmaxForward(Buf X, Buf Y, ReduceDims R) : KernelStep
    { public override T Accept<T>(IStepHandler<T> backend) => backend.SoftmaxForward(this); }

    public sealed record SoftmaxBackward(Buf Y, Buf Dy, Buf Dx, ReduceDims R) : KernelStep
    { public override T Accept<T>(IStepHandler<T> backend) => backend.SoftmaxBackward(this); }

    public sealed record LogSoftmaxForward(Buf X, Buf Y, ReduceDims R) : KernelStep
    { public override T Accept<T>(IStepHandler<T> backend) => backend.LogSoftmaxForward(this); }

    public sealed record LogSoftmaxBackward(Buf Y, Buf Dy, Buf Dx, ReduceDims R) : KernelStep
    { public override T Accept<T>(IStepHandler<T> backend) => backend.LogSoftmaxBackward(this); }

    // ---- broadcasting binary ops, gradient sums, concatenation ----
    public sealed record AddForward(Buf A, Buf B, Buf Y, Geo<BroadcastDims> G) : KernelStep
    { public override T Accept<T>(IStepHandler<T> backend) => backend.AddForward(this); }

    /// <summary>The gradient of operand a (<see cref="Right"/>: of b), summed over the dims it was broadcast along.</summary>
    public sealed record AddBackward(Buf Dy, Buf Dx, Geo<BroadcastDims> G, bool Right) : KernelStep
    { public override T Accept<T>(IStepHandler<T> backend) => backend.AddBackward(this); }

    public sealed record MulForward(Buf A, Buf B, Buf Y, Geo<BroadcastDims> G) : KernelStep
    { public override T Accept<T>(IStepHandler<T> backend) => backend.MulForward(this); }

    /// <summary>d(a) = Σ dy · <see cref="Other"/> (b) over a's broadcast dims; <see cref="Right"/>: d(b) = Σ dy · a.</summary>
    public sealed record MulBackward(Buf Dy, Buf Other, Buf Dx, Geo<BroadcastDims> G, bool Right) : KernelStep
    { public override T Accept<T>(IStepHandler<T> backend) => backend.MulBackward(this); }

    /// <summary>grad += contribution: the gradients of a value read several times add up.</summary>
    public sealed record AccumulateGrad(Buf Contribution, Buf Grad) : KernelStep
    { public override T Accept<T>(IStepHandler<T> backend) => backend.AccumulateGrad(this); }

    /// <summary>
    /// One input of a concatenation: per sample, <see cref="Rows"/> runs of <see cref="Inner"/> values copied to offset
    /// <see cref="Offset"/> within runs of <see cref="OutInner"/>.
    /// </summary>
    public sealed record CatForward(Buf X, Buf Y, int Rows, int Inner, int OutInner, int Offset) : KernelStep
    { public override T Accept<T>(IStepHandler<T> backend) => backend.CatForward(this); }

    public sealed record CatBackward(Buf Dy, Buf Dx, int Rows, int Inner, int OutInner, int Offset) : KernelStep
    { public override T Accept<T>(IStepHandler<T> backend) => backend.CatBackward(this); }

    // ---- layers with state (training mode, running statistics, a seed) ----
    /// <summary>Per-channel batch norm over (N, C, Spatial); the layer holds weight, bias, running stats and the mode.</summary>
    public sealed record BatchNormForward(string Layer, Buf X, Buf Y, Buf Mean, Buf InvStd, int Spatial) : KernelStep
    { public override T Accept<T>(IStepHandler<T> backend) => backend.BatchNormForward(this); }

    public sealed record BatchNormBackwardParams(string Layer, Buf Dy, Buf X, Buf Mean, Buf InvStd, int Spatial) : KernelStep
    { public override T Accept<T>(IStepHandler<T> backend) => backend.BatchNormBackwardParams(this); }

    public sealed record BatchNormBackwardInput(string Layer, Buf Dy, Buf X, Buf Mean, Buf InvStd, Buf Dx, int Spatial) : KernelStep
    { public override T Accept<T>(IStepHandler<T> backend) => backend.BatchNormBackwardInput(this); }

    /// <summary>Layer norm over the last dim: <see cref="RowsPerSample"/> rows per sample.</summary>
    public sealed record LayerNormForward(string Layer, Buf X, Buf Y, Buf Mean, Buf InvStd, int RowsPerSample) : KernelStep
    { public override T Accept<T>(IStepHandler<T> backend) => backend.LayerNormForward(this); }

    public sealed record LayerNormBackwardParams(string Layer, Buf Dy, Buf X, Buf Mean, Buf InvStd, int RowsPerSample) : KernelStep
    { public override T Accept<T>(IStepHandler<T> backend) => backend.LayerNormBackwardParams(this); }

    public sealed record LayerNormBackwardInput(string Layer, Buf Dy, Buf X, Buf Mean, Buf InvStd, Buf Dx, int RowsPerSample) : KernelStep
    { public override T Accept<T>(IStepHandler<T> backend) => backend.LayerNormBackwardInput(this); }

    /// <summary>Training: y = x · mask (0 or 1/(1 − p), drawn from the layer's seed and counter); eval: a copy.</summary>
    public sealed record DropoutForward(string Layer, Buf X, Buf Y, Buf Mask) : KernelStep
    { public override T Accept<T>(IStepHandler<T> backend) => backend.DropoutForward(this); }

    public sealed record DropoutBackward(string Layer, Buf Dy, Buf Mask, Buf Dx) : KernelStep
    { public override T Accept<T>(IStepHandler<T> backend) => backend.DropoutBackward(this); }

    /// <summary>
    /// A backend: one method per step kind. The CPU backend's implementation prints the generated C# call; the ILGPU
    /// backend's binds an ILGPU kernel. Adding a step kind here breaks the build of every backend until it has the step.
    /// </summary>
    public interface IStepHandler<out T>
    {
        T LinearForward(LinearForward s);
        T LinearBackwardParams(LinearBackwardParams s);
        T LinearBackwardInput(LinearBackwardInput s);
        T Conv2dForward(Conv2dForward s);
        T Conv2dBackwardParams(Conv2dBackwardParams s);
        T Conv2dBackwardInput(Conv2dBackwardInput s);
        T MaxPool2dForward(MaxPool2dForward s);
        T MaxPool2dBackward(MaxPool2dBackward s);
        T AvgPool2dForward(AvgPool2dForward s);
        T AvgPool2dBackward(AvgPool2dBackward s);
        T AdaptiveAvgPool2dForward(AdaptiveAvgPool2dForward s);
        T AdaptiveAvgPool2dBackward(AdaptiveAvgPool2dBackward s);
        T ElementwiseForward(ElementwiseForward s);
        T ElementwiseBackward(ElementwiseBackward s);
        T ElementwiseChainForward(ElementwiseChainForward s);
        T ElementwiseChainBackward(ElementwiseChainBackward s);
        T SoftmaxForward(SoftmaxForward s);
        T SoftmaxBackward(SoftmaxBackward s);
        T LogSoftmaxForward(LogSoftmaxForward s);
        T LogSoftmaxBackward(LogSoftmaxBackward s);
        T AddForward(AddForward s);
        T AddBackward(AddBackward s);
        T MulForward(MulForward s);
        T MulBackward(MulBackward s);
        T AccumulateGrad(AccumulateGrad s);
        T CatForward(CatForward s);
        T CatBackward(CatBackward s);
        T BatchNormForward(BatchNormForward s);
        T BatchNormBackwardParams(BatchNormBackwardParams s);
        T BatchNormBackwardInput(BatchNormBackwardInput s);
        T LayerNormForward(LayerNormForward s);
        T LayerNormBackwardParams(LayerNormBackwardParams s);
        T LayerNormBackwardInput(LayerNormBackwardInput s);
        T DropoutForward(DropoutForward s);
        T DropoutBackward(DropoutBackward s);
    }
}
