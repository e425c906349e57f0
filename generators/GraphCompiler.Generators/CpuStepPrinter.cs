// The CPU backend's side of the step contract: each typed step printed as the generated C# call of its SIMD kernel.
using System.Collections.Generic;
using System.Globalization;
using GraphCompiler.Compiler;

namespace GraphCompiler.Generators
{
    /// <summary>
    /// Prints one step as a statement of the generated <c>Forward</c>/<c>Backward</c>. Buffers are sliced to the live batch
    /// <c>n</c>; parameters are the layer properties' <c>Data</c>/<c>Grad</c>; geometries are the model's static fields. It
    /// implements <see cref="IStepHandler{T}"/>, so a step kind it does not print does not build.
    /// </summary>
    internal sealed class CpuStepPrinter : IStepHandler<string>
    {
        // Buffers the workspace holds as whole arrays (input, output, loss gradients) rather than arena spans.
        private readonly HashSet<string> _arrays;

        public CpuStepPrinter(Schedule schedule) =>
            _arrays = new HashSet<string>(MemoryPlanner.Dedicated(schedule)) { Lowering.InputBuffer, Lowering.InputGradBuffer };

        public string Print(KernelStep step) => step.Accept(this);

        /// <summary>
        /// The C# type of a geometry field: the core's geometry, or the CPU kernels' own form of a broadcast (reduced to the
        /// fewest loops) and of a chain (its stages).
        /// </summary>
        public static string GeometryType(string type) => type switch
        {
            nameof(BroadcastDims) => "BroadcastGeometry",
            "ElementwiseChain" => "ElementwiseChain",
            _ => type,
        };

        // ---- operands ----

        private string B(Buf b) =>
            _arrays.Contains(b.Name)
                ? $"ws.{b.Name}.AsSpan(0, n * {b.PerSample})"
                : $"ws.{b.Name}[..(n * {b.PerSample})]";

        private static string P(ParamRef? p) =>
            p is null ? "default" : $"{p.Layer}.{p.Member}{(p.Member == "Bias" ? "!" : "")}.{(p.Grad ? "Grad" : "Data")}";

        private static string I(int value) => value.ToString(CultureInfo.InvariantCulture);

        private static string N(int perSample) => perSample > 1 ? $"n * {I(perSample)}" : "n";

        private static string Act(Elementwise e) => "Elementwise." + e.Member;

        /// <summary>The trailing arguments of a kernel with an optional epilogue: none for the identity.</summary>
        private static string Epilogue(Elementwise e) => e.IsIdentity ? "" : ", " + Act(e);

        private string Mask(GradEpilogue? m) => m is null ? "" : $", {B(m.On)}, {Act(m.Act)}";

        private static string Call(string kernel, params string[] args) => $"{kernel}({string.Join(", ", args)});";

        private static string Sizes(ReduceDims r) => r.OverBatch ? $"1, n, {I(r.Inner)}" : $"{N(r.OuterPerSample)}, {I(r.Dim)}, {I(r.Inner)}";

        // ---- steps ----

        public string LinearForward(LinearForward s) =>
            Call("LinearKernels.Forward", B(s.X), P(s.W), P(s.B), B(s.Y), "n", I(s.InFeatures), I(s.OutFeatures) + Epilogue(s.Epilogue));

        public string LinearBackwardParams(LinearBackwardParams s) =>
            Call("LinearKernels.BackwardParams", B(s.Dy), B(s.X), P(s.Dw), P(s.Db), "n", I(s.InFeatures), I(s.OutFeatures));

        public string LinearBackwardInput(LinearBackwardInput s) =>
            Call("LinearKernels.BackwardInput", B(s.Dy), P(s.W), B(s.Dx), "n", I(s.InFeatures), I(s.OutFeatures) + Mask(s.Mask));

        public string Conv2dForward(Conv2dForward s) =>
            Call("Conv2dKernels.Forward", B(s.X), P(s.W), P(s.B), B(s.Y), s.G.Name, "n" + Epilogue(s.Epilogue));

        public string Conv2dBackwardParams(Conv2dBackwardParams s) =>
            Call("Conv2dKernels.BackwardParams", B(s.Dy), B(s.X), P(s.Dw), P(s.Db), s.G.Name, "n");

        public string Conv2dBackwardInput(Conv2dBackwardInput s) =>
            Call("Conv2dKernels.BackwardInput", B(s.Dy), P(s.W), B(s.Dx), s.G.Name, "n" + Mask(s.Mask));

        public string MaxPool2dForward(MaxPool2dForward s) => Call("MaxPool2dKernels.Forward", B(s.X), B(s.Y), B(s.Argmax), s.G.Name, "n");

        public string MaxPool2dBackward(MaxPool2dBackward s) =>
            Call("MaxPool2dKernels.Backward", B(s.Dy), B(s.Argmax), B(s.Dx), s.G.Name, "n" + Mask(s.Mask));

        public string AvgPool2dForward(AvgPool2dForward s) => Call("AvgPool2dKernels.Forward", B(s.X), B(s.Y), s.G.Name, "n");

        public string AvgPool2dBackward(AvgPool2dBackward s) => Call("AvgPool2dKernels.Backward", B(s.Dy), B(s.Dx), s.G.Name, "n");

        public string AdaptiveAvgPool2dForward(AdaptiveAvgPool2dForward s) => Call("AdaptiveAvgPool2dKernels.Forward", B(s.X), B(s.Y), s.G.Name, "n");

        public string AdaptiveAvgPool2dBackward(AdaptiveAvgPool2dBackward s) => Call("AdaptiveAvgPool2dKernels.Backward", B(s.Dy), B(s.Dx), s.G.Name, "n");

        public string ElementwiseForward(ElementwiseForward s) => Call("ElementwiseKernels.Forward", B(s.X), B(s.Y), Act(s.F));

        public string ElementwiseBackward(ElementwiseBackward s) => Call("ElementwiseKernels.Backward", B(s.On), B(s.Dy), B(s.Dx), Act(s.F));

        public string ElementwiseChainForward(ElementwiseChainForward s) => Call("ElementwiseChainKernels.Forward", B(s.X), B(s.Y), s.Stages.Name);

        public string ElementwiseChainBackward(ElementwiseChainBackward s) =>
            Call("ElementwiseChainKernels.Backward", B(s.X), B(s.Dy), B(s.Dx), s.Stages.Name);

        public string SoftmaxForward(SoftmaxForward s) => Call("SoftmaxKernels.Forward", B(s.X), B(s.Y), Sizes(s.R));

        public string SoftmaxBackward(SoftmaxBackward s) => Call("SoftmaxKernels.Backward", B(s.Y), B(s.Dy), B(s.Dx), Sizes(s.R));

        // Over the class dim of (N, C) the row kernel, the one the loss kernels share; elsewhere the (outer, dim, inner) one.
        public string LogSoftmaxForward(LogSoftmaxForward s) =>
            Call("LogSoftmaxKernels.Forward", B(s.X), B(s.Y), s.R.IsRows ? $"n, {I(s.R.Dim)}" : Sizes(s.R));

        public string LogSoftmaxBackward(LogSoftmaxBackward s) =>
            Call("LogSoftmaxKernels.Backward", B(s.Y), B(s.Dy), B(s.Dx), s.R.IsRows ? $"n, {I(s.R.Dim)}" : Sizes(s.R));

        public string AddForward(AddForward s) => Call("AddKernels.Forward", B(s.A), B(s.B), B(s.Y), s.G.Name, "n");

        public string AddBackward(AddBackward s) => Call(s.Right ? "AddKernels.BackwardRight" : "AddKernels.BackwardLeft", B(s.Dy), B(s.Dx), s.G.Name, "n");

        public string MulForward(MulForward s) => Call("MulKernels.Forward", B(s.A), B(s.B), B(s.Y), s.G.Name, "n");

        public string MulBackward(MulBackward s) =>
            Call(s.Right ? "MulKernels.BackwardRight" : "MulKernels.BackwardLeft", B(s.Dy), B(s.Other), B(s.Dx), s.G.Name, "n");

        public string AccumulateGrad(AccumulateGrad s) => Call("AddKernels.Accumulate", B(s.Contribution), B(s.Grad));

        public string CatForward(CatForward s) => Call("CatKernels.Forward", B(s.X), B(s.Y), I(s.Rows), I(s.Inner), I(s.OutInner), I(s.Offset), "n");

        public string CatBackward(CatBackward s) => Call("CatKernels.Backward", B(s.Dy), B(s.Dx), I(s.Rows), I(s.Inner), I(s.OutInner), I(s.Offset), "n");

        // Layers with state run their own kernels: they hold the running statistics, the mode and the seed.
        public string BatchNormForward(BatchNormForward s) =>
            Call(s.Layer + ".Forward", B(s.X), B(s.Y), B(s.Mean), B(s.InvStd), "n", I(s.Spatial));

        public string BatchNormBackwardParams(BatchNormBackwardParams s) =>
            Call(s.Layer + ".BackwardParams", B(s.Dy), B(s.X), B(s.Mean), B(s.InvStd), "n", I(s.Spatial));

        public string BatchNormBackwardInput(BatchNormBackwardInput s) =>
            Call(s.Layer + ".BackwardInput", B(s.Dy), B(s.X), B(s.Mean), B(s.InvStd), B(s.Dx), "n", I(s.Spatial));

        public string LayerNormForward(LayerNormForward s) =>
            Call(s.Layer + ".Forward", B(s.X), B(s.Y), B(s.Mean), B(s.InvStd), N(s.RowsPerSample));

        public string LayerNormBackwardParams(LayerNormBackwardParams s) =>
            Call(s.Layer + ".BackwardParams", B(s.Dy), B(s.X), B(s.Mean), B(s.InvStd), N(s.RowsPerSample));

        public string LayerNormBackwardInput(LayerNormBackwardInput s) =>
            Call(s.Layer + ".BackwardInput", B(s.Dy), B(s.X), B(s.Mean), B(s.InvStd), B(s.Dx), N(s.RowsPerSample));

        public string DropoutForward(DropoutForward s) => Call(s.Layer + ".Forward", B(s.X), B(s.Y), B(s.Mask));

        public string DropoutBackward(DropoutBackward s) => Call(s.Layer + ".Backward", B(s.Dy), B(s.Mask), B(s.Dx));
    }
}
