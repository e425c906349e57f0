// The ILGPU backend's side of the step contract: each typed step bound once to a launch of its ILGPU kernel.
using GraphCompiler.Compiler;
using ILGPU;
using ILGPU.Runtime;

namespace GraphCompiler.Backends.Ilgpu;

public sealed partial class IlgpuModel
{
    /// <summary>A float buffer of a step: the full view and the elements per sample it is sliced to (0: not sliced).</summary>
    private readonly record struct View(ArrayView<float> Full, int PerSample)
    {
        public ArrayView<float> At(int n) => PerSample == 0 ? Full : Full.SubView(0, (long)n * PerSample);
    }

    private readonly record struct IndexView(ArrayView<int> Full, int PerSample)
    {
        public ArrayView<int> At(int n) => Full.SubView(0, (long)n * PerSample);
    }

    /// <summary>
    /// Binds each step kind to a launch taking the live batch size. It implements <see cref="IStepHandler{T}"/>, so a step
    /// kind added to the core does not build here until it is bound; a kind whose options have no device kernel yet fails
    /// when the model is bound, naming the step, never at launch.
    /// </summary>
    private sealed class StepBinder(IlgpuModel m) : IStepHandler<Action<int>>
    {
        private KernelStep _step = null!;

        private Action<int> Bind<TStep>(TStep step, Func<TStep, Action<int>> bind) where TStep : KernelStep
        {
            _step = step;
            return bind(step);
        }

        private NotSupportedException Unsupported(string why) =>
            new($"The ILGPU backend ({m._device.Name}) cannot run {_step.Kind} ({_step.Comment}) of model '{m._schedule.Model}': {why}.");

        private View F(Buf b) => m._floatViews.TryGetValue(b.Name, out var v) ? new View(v, b.PerSample)
            : throw Unsupported($"'{b.Name}' is not a float buffer of this workspace");

        private IndexView Ix(Buf b) => m._intViews.TryGetValue(b.Name, out var v) ? new IndexView(v, b.PerSample)
            : throw Unsupported($"'{b.Name}' is not an index buffer of this workspace");

        private View P(ParamRef? p)
        {
            if (p is null) return new View(m._dummy, 0);
            if (!m._byArg.TryGetValue(p.Text, out DeviceParameter? dp)) throw Unsupported($"'{p.Text}' is not a parameter of this model");
            return new View(p.Grad ? dp.Grad : dp.Data, 0);
        }

        /// <summary>Picks the kernel instance for a fused activation: identity and ReLU have device functors so far.</summary>
        private Action<int> ByActivation(Elementwise act, Func<Action<int>> identity, Func<Action<int>> relu) => act.Kind switch
        {
            ElementwiseKind.Identity => identity(),
            ElementwiseKind.Relu => relu(),
            _ => throw Unsupported($"activation '{act.Member}' has no ILGPU functor"),
        };

        private static void Plain(Conv2dGeometry g, Func<string, Exception> fail)
        {
            if (g.DilationH != 1 || g.DilationW != 1 || g.Groups != 1 || g.PadBottom != g.PadH || g.PadRight != g.PadW)
                throw fail("the ILGPU convolution kernels have no dilation, groups or asymmetric padding yet");
        }

        private static void Plain(Pool2dGeometry g, Func<string, Exception> fail)
        {
            if (g.DilationH != 1 || g.DilationW != 1 || g.CeilMode || g.PadBottom != g.PadH || g.PadRight != g.PadW || g.PadH != 0 || g.PadW != 0)
                throw fail("the ILGPU max-pool kernels have no padding, dilation or ceil mode yet");
        }

        public Action<int> LinearForward(LinearForward s) => Bind(s, s => ByActivation(s.Epilogue, () => LinearForward<IdentityActivation>(s), () => LinearForward<ReluActivation>(s)));

        private Action<int> LinearForward<TAct>(LinearForward s) where TAct : struct, IActivation
        {
            var k = m.Kernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, LinearDims>(IlgpuKernels.LinearForward<TAct>);
            View x = F(s.X), w = P(s.W), b = P(s.B), y = F(s.Y);
            int inF = s.InFeatures, outF = s.OutFeatures, bias = s.B is null ? 0 : 1;
            return n => k(n * outF, x.At(n), w.Full, b.Full, y.At(n), new LinearDims(n, inF, outF, bias));
        }

        public Action<int> LinearBackwardInput(LinearBackwardInput s) =>
            Bind(s, s => ByActivation(s.Mask?.Act ?? Elementwise.Identity, () => LinearBackwardInput<IdentityActivation>(s), () => LinearBackwardInput<ReluActivation>(s)));

        private Action<int> LinearBackwardInput<TAct>(LinearBackwardInput s) where TAct : struct, IActivation
        {
            var k = m.Kernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, LinearDims>(IlgpuKernels.LinearBackwardInput<TAct>);
            View dy = F(s.Dy), w = P(s.W), dx = F(s.Dx), yAct = s.Mask is null ? dx : F(s.Mask.On);
            int inF = s.InFeatures, outF = s.OutFeatures;
            return n => k(n * inF, dy.At(n), w.Full, yAct.At(n), dx.At(n), new LinearDims(n, inF, outF, 0));
        }

        public Action<int> LinearBackwardParams(LinearBackwardParams s) => Bind(s, s =>
        {
            var k = m.Kernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, LinearDims>(IlgpuKernels.LinearBackwardParams);
            View dy = F(s.Dy), x = F(s.X), dw = P(s.Dw), db = P(s.Db);
            int inF = s.InFeatures, outF = s.OutFeatures, bias = s.Db is null ? 0 : 1;
            return n => k(outF * inF + bias * outF, dy.At(n), x.At(n), dw.Full, db.Full, new LinearDims(n, inF, outF, bias));
        });

        public Action<int> Conv2dForward(Conv2dForward s) => Bind(s, s =>
        {
            Plain(s.G.Value, Unsupported);
            return ByActivation(s.Epilogue, () => Conv2dForward<IdentityActivation>(s), () => Conv2dForward<ReluActivation>(s));
        });

        private Action<int> Conv2dForward<TAct>(Conv2dForward s) where TAct : struct, IActivation
        {
            var k = m.Kernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvParams>(IlgpuKernels.Conv2dForward<TAct>);
            View x = F(s.X), w = P(s.W), b = P(s.B), y = F(s.Y);
            var p = new ConvParams(s.G.Value, 0, s.B is null ? 0 : 1);
            int perSample = p.G.OutChannels * p.G.OutH * p.G.OutW;
            return n => k(n * perSample, x.At(n), w.Full, b.Full, y.At(n), p with { N = n });
        }

        public Action<int> Conv2dBackwardInput(Conv2dBackwardInput s) => Bind(s, s =>
        {
            Plain(s.G.Value, Unsupported);
            return ByActivation(s.Mask?.Act ?? Elementwise.Identity, () => Conv2dBackwardInput<IdentityActivation>(s), () => Conv2dBackwardInput<ReluActivation>(s));
        });

        private Action<int> Conv2dBackwardInput<TAct>(Conv2dBackwardInput s) where TAct : struct, IActivation
        {
            var k = m.Kernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvParams>(IlgpuKernels.Conv2dBackwardInput<TAct>);
            View dy = F(s.Dy), w = P(s.W), dx = F(s.Dx), xAct = s.Mask is null ? dx : F(s.Mask.On);
            var p = new ConvParams(s.G.Value, 0, 0);
            int perSample = p.G.InChannels * p.G.InH * p.G.InW;
            return n => k(n * perSample, dy.At(n), w.Full, xAct.At(n), dx.At(n), p with { N = n });
        }

        public Action<int> Conv2dBackwardParams(Conv2dBackwardParams s) => Bind(s, s =>
        {
            Plain(s.G.Value, Unsupported);
            var k = m.Kernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvParams>(IlgpuKernels.Conv2dBackwardParams);
            View dy = F(s.Dy), x = F(s.X), dw = P(s.Dw), db = P(s.Db);
            var p = new ConvParams(s.G.Value, 0, s.Db is null ? 0 : 1);
            int threads = p.G.OutChannels * p.G.PatchSize + p.HasBias * p.G.OutChannels;
            return n => k(threads, dy.At(n), x.At(n), dw.Full, db.Full, p with { N = n });
        });

        public Action<int> MaxPool2dForward(MaxPool2dForward s) => Bind(s, s =>
        {
            Plain(s.G.Value, Unsupported);
            var k = m.Kernel<ArrayView<float>, ArrayView<float>, ArrayView<int>, Pool2dGeometry>(IlgpuKernels.MaxPool2dForward);
            View x = F(s.X), y = F(s.Y);
            IndexView arg = Ix(s.Argmax);
            Pool2dGeometry g = s.G.Value;
            int perSample = g.Channels * g.OutH * g.OutW;
            return n => k(n * perSample, x.At(n), y.At(n), arg.At(n), g);
        });

        public Action<int> MaxPool2dBackward(MaxPool2dBackward s) => Bind(s, s =>
        {
            Plain(s.G.Value, Unsupported);
            return ByActivation(s.Mask?.Act ?? Elementwise.Identity, () => MaxPool2dBackward<IdentityActivation>(s), () => MaxPool2dBackward<ReluActivation>(s));
        });

        private Action<int> MaxPool2dBackward<TAct>(MaxPool2dBackward s) where TAct : struct, IActivation
        {
            var k = m.Kernel<ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, Pool2dGeometry>(IlgpuKernels.MaxPool2dBackward<TAct>);
            View dy = F(s.Dy), dx = F(s.Dx), yAct = s.Mask is null ? dy : F(s.Mask.On);
            IndexView arg = Ix(s.Argmax);
            Pool2dGeometry g = s.G.Value;
            int perSample = g.Channels * g.InH * g.InW;
            return n => k(n * perSample, dy.At(n), arg.At(n), yAct.At(n), dx.At(n), g);
        }

        public Action<int> LogSoftmaxForward(LogSoftmaxForward s) => Bind(s, s =>
        {
            if (!s.R.IsRows) throw Unsupported("the ILGPU log-softmax kernel reduces over the last dim of (N, C) only");
            var k = m.Kernel<ArrayView<float>, ArrayView<float>, int>(IlgpuKernels.LogSoftmaxForward);
            View x = F(s.X), y = F(s.Y);
            int c = s.R.Dim;
            return n => k(n, x.At(n), y.At(n), c);
        });

        public Action<int> LogSoftmaxBackward(LogSoftmaxBackward s) => Bind(s, s =>
        {
            if (!s.R.IsRows) throw Unsupported("the ILGPU log-softmax kernel reduces over the last dim of (N, C) only");
            var k = m.Kernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(IlgpuKernels.LogSoftmaxBackward);
            View y = F(s.Y), dy = F(s.Dy), dx = F(s.Dx);
            int c = s.R.Dim;
            return n => k(n, y.At(n), dy.At(n), dx.At(n), c);
        });

        public Action<int> ElementwiseForward(ElementwiseForward s) => Bind(s, s =>
        {
            if (s.F.Kind != ElementwiseKind.Relu) throw Unsupported($"activation '{s.F.Member}' has no ILGPU functor");
            var k = m.Kernel<ArrayView<float>, ArrayView<float>>(IlgpuKernels.Map<ReluActivation>);
            View x = F(s.X), y = F(s.Y);
            return n => k(n * y.PerSample, x.At(n), y.At(n));
        });

        public Action<int> ElementwiseBackward(ElementwiseBackward s) => Bind(s, s =>
        {
            if (s.F.Kind != ElementwiseKind.Relu) throw Unsupported($"activation '{s.F.Member}' has no ILGPU functor");
            var k = m.Kernel<ArrayView<float>, ArrayView<float>, ArrayView<float>>(IlgpuKernels.MaskGrad<ReluActivation>);
            View y = F(s.On), dy = F(s.Dy), dx = F(s.Dx);
            return n => k(n * dx.PerSample, y.At(n), dy.At(n), dx.At(n));
        });

        // Step kinds with no device kernel yet: binding them fails with the step named.
        private Action<int> NoKernel(KernelStep s)
        {
            _step = s;
            throw Unsupported("no kernel for this step");
        }

        public Action<int> AvgPool2dForward(AvgPool2dForward s) => NoKernel(s);
        public Action<int> AvgPool2dBackward(AvgPool2dBackward s) => NoKernel(s);
        public Action<int> AdaptiveAvgPool2dForward(AdaptiveAvgPool2dForward s) => NoKernel(s);
        public Action<int> AdaptiveAvgPool2dBackward(AdaptiveAvgPool2dBackward s) => NoKernel(s);
        public Action<int> ElementwiseChainForward(ElementwiseChainForward s) => NoKernel(s);
        public Action<int> ElementwiseChainBackward(ElementwiseChainBackward s) => NoKernel(s);
        public Action<int> SoftmaxForward(SoftmaxForward s) => NoKernel(s);
        public Action<int> SoftmaxBackward(SoftmaxBackward s) => NoKernel(s);
        public Action<int> AddForward(AddForward s) => NoKernel(s);
        public Action<int> AddBackward(AddBackward s) => NoKernel(s);
        public Action<int> MulForward(MulForward s) => NoKernel(s);
        public Action<int> MulBackward(MulBackward s) => NoKernel(s);
        public Action<int> AccumulateGrad(AccumulateGrad s) => NoKernel(s);
        public Action<int> CatForward(CatForward s) => NoKernel(s);
        public Action<int> CatBackward(CatBackward s) => NoKernel(s);
        public Action<int> BatchNormForward(BatchNormForward s) => NoKernel(s);
        public Action<int> BatchNormBackwardParams(BatchNormBackwardParams s) => NoKernel(s);
        public Action<int> BatchNormBackwardInput(BatchNormBackwardInput s) => NoKernel(s);
        public Action<int> LayerNormForward(LayerNormForward s) => NoKernel(s);
        public Action<int> LayerNormBackwardParams(LayerNormBackwardParams s) => NoKernel(s);
        public Action<int> LayerNormBackwardInput(LayerNormBackwardInput s) => NoKernel(s);
        public Action<int> DropoutForward(DropoutForward s) => NoKernel(s);
        public Action<int> DropoutBackward(DropoutBackward s) => NoKernel(s);
    }
}
