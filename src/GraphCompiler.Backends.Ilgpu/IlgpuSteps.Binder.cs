// One method per step kind of the typed schedule (IStepHandler), each returning the launch of its ILGPU kernel: the ILGPU
// backend's counterpart of the generator's CpuStepPrinter.
using GraphCompiler.Compiler;
using GraphCompiler.Nn;
using ILGPU;
using ILGPU.Runtime;

namespace GraphCompiler.Backends.Ilgpu;

public sealed partial class IlgpuSteps
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
    /// kind added to the core does not build here until it is bound. Activations reach their kernels through the core's
    /// one dispatch (<see cref="ElementwiseMath.Dispatch"/>): each definition is a generic struct argument, so each is its
    /// own specialised kernel.
    /// </summary>
    private sealed class StepBinder(IlgpuSteps m, KernelStep step) : IStepHandler<Action<int>>
    {
        private NotSupportedException Unsupported(string why) =>
            new($"The ILGPU backend ({m._device.Name}) cannot run {step.Kind} ({step.Comment}) of model '{m.Model}': {why}.");

        private View F(Buf b) => m._floats.TryGetValue(b.Name, out var v) ? new View(v, b.PerSample)
            : throw Unsupported($"'{b.Name}' is not a float buffer of this workspace");

        private IndexView Ix(Buf b) => m._ints.TryGetValue(b.Name, out var v) ? new IndexView(v, b.PerSample)
            : throw Unsupported($"'{b.Name}' is not an index buffer of this workspace");

        private View P(ParamRef? p)
        {
            if (p is null) return new View(m.Dummy, 0);
            if (!m._byText.TryGetValue(p.Text, out DeviceParameter? dp)) throw Unsupported($"'{p.Text}' is not a parameter of this model");
            return new View(p.Grad ? dp.Grad : dp.Data, 0);
        }

        private ArrayView<float> Data(Parameter? p) => p is null ? m.Dummy
            : m._byHost.TryGetValue(p, out DeviceParameter? dp) ? dp.Data : throw Unsupported($"'{p.Name}' is not a parameter of this model");

        private ArrayView<float> Grad(Parameter? p) => p is null ? m.Dummy
            : m._byHost.TryGetValue(p, out DeviceParameter? dp) && dp.Grad.Length > 0 ? dp.Grad : throw Unsupported($"'{p.Name}' has no gradient in this workspace");

        private TLayer Layer<TLayer>(string name) where TLayer : Module =>
            m._layers.TryGetValue(name, out Module? l) && l is TLayer t ? t : throw Unsupported($"layer '{name}' is not a registered {typeof(TLayer).Name}");

        private static Action<int> Dispatch(Elementwise act, IActivationVisitor<Action<int>> visitor) =>
            ElementwiseMath.Dispatch<Action<int>, IActivationVisitor<Action<int>>>(act, visitor);

        private Elementwise Fused(Elementwise act)
        {
            if (!act.DerivativeFromOutput && !act.IsIdentity) throw Unsupported($"activation '{act.Member}' cannot be fused: its derivative needs its input");
            return act;
        }

        // ---- Linear ----

        private sealed class LinearForwardLaunch(StepBinder b, LinearForward s) : IActivationVisitor<Action<int>>
        {
            public Action<int> Visit<TDef>(TDef def) where TDef : struct, IActivationDef
            {
                var k = b.Kernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, LinearDims, TDef>(IlgpuKernels.LinearForward);
                View x = b.F(s.X), w = b.P(s.W), bias = b.P(s.B), y = b.F(s.Y);
                int inF = s.InFeatures, outF = s.OutFeatures, hasBias = s.B is null ? 0 : 1;
                return n => k(n * outF, x.At(n), w.Full, bias.Full, y.At(n), new LinearDims(n, inF, outF, hasBias), def);
            }
        }

        public Action<int> LinearForward(LinearForward s) => Dispatch(Fused(s.Epilogue), new LinearForwardLaunch(this, s));

        private sealed class LinearBackwardInputLaunch(StepBinder b, LinearBackwardInput s) : IActivationVisitor<Action<int>>
        {
            public Action<int> Visit<TDef>(TDef def) where TDef : struct, IActivationDef
            {
                var k = b.Kernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, LinearDims, TDef>(IlgpuKernels.LinearBackwardInput);
                View dy = b.F(s.Dy), w = b.P(s.W), dx = b.F(s.Dx), yAct = s.Mask is null ? dx : b.F(s.Mask.On);
                int inF = s.InFeatures, outF = s.OutFeatures;
                return n => k(n * inF, dy.At(n), w.Full, yAct.At(n), dx.At(n), new LinearDims(n, inF, outF, 0), def);
            }
        }

        public Action<int> LinearBackwardInput(LinearBackwardInput s) => Dispatch(Fused(s.Mask?.Act ?? Elementwise.Identity), new LinearBackwardInputLaunch(this, s));

        public Action<int> LinearBackwardParams(LinearBackwardParams s)
        {
            var k = Kernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, LinearDims>(IlgpuKernels.LinearBackwardParams);
            View dy = F(s.Dy), x = F(s.X), dw = P(s.Dw), db = P(s.Db);
            int inF = s.InFeatures, outF = s.OutFeatures, bias = s.Db is null ? 0 : 1;
            return n => k(outF * inF + bias * outF, dy.At(n), x.At(n), dw.Full, db.Full, new LinearDims(n, inF, outF, bias));
        }

        // ---- Conv2d ----

        private Conv2dGeometry Valid(Conv2dGeometry g) => g.IsValid(out string problem) ? g : throw Unsupported($"invalid geometry: {problem}");

        private sealed class Conv2dForwardLaunch(StepBinder b, Conv2dForward s) : IActivationVisitor<Action<int>>
        {
            public Action<int> Visit<TDef>(TDef def) where TDef : struct, IActivationDef
            {
                var k = b.Kernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvParams, TDef>(IlgpuKernels.Conv2dForward);
                View x = b.F(s.X), w = b.P(s.W), bias = b.P(s.B), y = b.F(s.Y);
                var p = new ConvParams(b.Valid(s.G.Value), 0, s.B is null ? 0 : 1);
                int perSample = p.G.OutChannels * p.G.OutH * p.G.OutW;
                return n => k(n * perSample, x.At(n), w.Full, bias.Full, y.At(n), p with { N = n }, def);
            }
        }

        public Action<int> Conv2dForward(Conv2dForward s) => Dispatch(Fused(s.Epilogue), new Conv2dForwardLaunch(this, s));

        private sealed class Conv2dBackwardInputLaunch(StepBinder b, Conv2dBackwardInput s) : IActivationVisitor<Action<int>>
        {
            public Action<int> Visit<TDef>(TDef def) where TDef : struct, IActivationDef
            {
                var k = b.Kernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvParams, TDef>(IlgpuKernels.Conv2dBackwardInput);
                View dy = b.F(s.Dy), w = b.P(s.W), dx = b.F(s.Dx), xAct = s.Mask is null ? dx : b.F(s.Mask.On);
                var p = new ConvParams(b.Valid(s.G.Value), 0, 0);
                int perSample = p.G.InChannels * p.G.InH * p.G.InW;
                return n => k(n * perSample, dy.At(n), w.Full, xAct.At(n), dx.At(n), p with { N = n }, def);
            }
        }

        public Action<int> Conv2dBackwardInput(Conv2dBackwardInput s) => Dispatch(Fused(s.Mask?.Act ?? Elementwise.Identity), new Conv2dBackwardInputLaunch(this, s));

        public Action<int> Conv2dBackwardParams(Conv2dBackwardParams s)
        {
            var k = Kernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvParams>(IlgpuKernels.Conv2dBackwardParams);
            View dy = F(s.Dy), x = F(s.X), dw = P(s.Dw), db = P(s.Db);
            var p = new ConvParams(Valid(s.G.Value), 0, s.Db is null ? 0 : 1);
            int threads = p.G.OutChannels * p.G.PatchSize + p.HasBias * p.G.OutChannels;
            return n => k(threads, dy.At(n), x.At(n), dw.Full, db.Full, p with { N = n });
        }

        // ---- pooling ----

        public Action<int> MaxPool2dForward(MaxPool2dForward s)
        {
            var k = Kernel<ArrayView<float>, ArrayView<float>, ArrayView<int>, Pool2dGeometry>(IlgpuKernels.MaxPool2dForward);
            View x = F(s.X), y = F(s.Y);
            IndexView arg = Ix(s.Argmax);
            Pool2dGeometry g = s.G.Value;
            int perSample = g.Channels * g.OutH * g.OutW;
            return n => k(n * perSample, x.At(n), y.At(n), arg.At(n), g);
        }

        private sealed class MaxPool2dBackwardLaunch(StepBinder b, MaxPool2dBackward s) : IActivationVisitor<Action<int>>
        {
            public Action<int> Visit<TDef>(TDef def) where TDef : struct, IActivationDef
            {
                var k = b.Kernel<ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, Pool2dGeometry, TDef>(IlgpuKernels.MaxPool2dBackward);
                View dy = b.F(s.Dy), dx = b.F(s.Dx), yAct = s.Mask is null ? dy : b.F(s.Mask.On);
                IndexView arg = b.Ix(s.Argmax);
                Pool2dGeometry g = s.G.Value;
                int perSample = g.Channels * g.InH * g.InW;
                return n => k(n * perSample, dy.At(n), arg.At(n), yAct.At(n), dx.At(n), g, def);
            }
        }

        public Action<int> MaxPool2dBackward(MaxPool2dBackward s) => Dispatch(Fused(s.Mask?.Act ?? Elementwise.Identity), new MaxPool2dBackwardLaunch(this, s));

        public Action<int> AvgPool2dForward(AvgPool2dForward s)
        {
            var k = Kernel<ArrayView<float>, ArrayView<float>, Pool2dGeometry>(IlgpuKernels.AvgPool2dForward);
            View x = F(s.X), y = F(s.Y);
            Pool2dGeometry g = s.G.Value;
            if (g.DilationH != 1 || g.DilationW != 1) throw Unsupported("an average pool has no dilation (PyTorch's neither)");
            int perSample = g.Channels * g.OutH * g.OutW;
            return n => k(n * perSample, x.At(n), y.At(n), g);
        }

        public Action<int> AvgPool2dBackward(AvgPool2dBackward s)
        {
            var k = Kernel<ArrayView<float>, ArrayView<float>, Pool2dGeometry>(IlgpuKernels.AvgPool2dBackward);
            View dy = F(s.Dy), dx = F(s.Dx);
            Pool2dGeometry g = s.G.Value;
            if (g.DilationH != 1 || g.DilationW != 1) throw Unsupported("an average pool has no dilation (PyTorch's neither)");
            int perSample = g.Channels * g.InH * g.InW;
            return n => k(n * perSample, dy.At(n), dx.At(n), g);
        }

        public Action<int> AdaptiveAvgPool2dForward(AdaptiveAvgPool2dForward s)
        {
            var k = Kernel<ArrayView<float>, ArrayView<float>, AdaptivePool2dGeometry>(IlgpuKernels.AdaptiveAvgPool2dForward);
            View x = F(s.X), y = F(s.Y);
            AdaptivePool2dGeometry g = s.G.Value;
            int perSample = g.Channels * g.OutH * g.OutW;
            return n => k(n * perSample, x.At(n), y.At(n), g);
        }

        public Action<int> AdaptiveAvgPool2dBackward(AdaptiveAvgPool2dBackward s)
        {
            var k = Kernel<ArrayView<float>, ArrayView<float>, AdaptivePool2dGeometry>(IlgpuKernels.AdaptiveAvgPool2dBackward);
            View dy = F(s.Dy), dx = F(s.Dx);
            AdaptivePool2dGeometry g = s.G.Value;
            int perSample = g.Channels * g.InH * g.InW;
            return n => k(n * perSample, dy.At(n), dx.At(n), g);
        }

        // ---- element-wise ----

        private sealed class MapLaunch(StepBinder b, ElementwiseForward s) : IActivationVisitor<Action<int>>
        {
            public Action<int> Visit<TDef>(TDef def) where TDef : struct, IActivationDef
            {
                var k = b.Kernel<ArrayView<float>, ArrayView<float>, TDef>(IlgpuKernels.Map);
                View x = b.F(s.X), y = b.F(s.Y);
                return n => k(n * y.PerSample, x.At(n), y.At(n), def);
            }
        }

        public Action<int> ElementwiseForward(ElementwiseForward s) => Dispatch(s.F, new MapLaunch(this, s));

        private sealed class MapGradLaunch(StepBinder b, ElementwiseBackward s) : IActivationVisitor<Action<int>>
        {
            public Action<int> Visit<TDef>(TDef def) where TDef : struct, IActivationDef
            {
                var k = b.Kernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, TDef>(IlgpuKernels.MapGrad);
                View on = b.F(s.On), dy = b.F(s.Dy), dx = b.F(s.Dx);
                return n => k(n * dx.PerSample, on.At(n), dy.At(n), dx.At(n), def);
            }
        }

        public Action<int> ElementwiseBackward(ElementwiseBackward s) => Dispatch(s.F, new MapGradLaunch(this, s));

        private ChainStages Stages(EquatableArray<Elementwise> stages) =>
            stages.Count <= ChainStages.Capacity ? ChainStages.Of([.. stages]) : throw Unsupported($"a device chain holds at most {ChainStages.Capacity} stages, this one {stages.Count}");

        public Action<int> ElementwiseChainForward(ElementwiseChainForward s)
        {
            var k = Kernel<ArrayView<float>, ArrayView<float>, ChainStages>(IlgpuKernels.ChainForward);
            View x = F(s.X), y = F(s.Y);
            ChainStages stages = Stages(s.Stages.Value);
            return n => k(n * y.PerSample, x.At(n), y.At(n), stages);
        }

        public Action<int> ElementwiseChainBackward(ElementwiseChainBackward s)
        {
            var k = Kernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ChainStages>(IlgpuKernels.ChainBackward);
            View x = F(s.X), dy = F(s.Dy), dx = F(s.Dx);
            ChainStages stages = Stages(s.Stages.Value);
            return n => k(n * dx.PerSample, x.At(n), dy.At(n), dx.At(n), stages);
        }

        // ---- softmax over any dim: (outer, dim, inner) lines; over the batch, dim is the live n ----

        private Action<int> Softmax(Buf input, Buf output, ReduceDims r, bool log)
        {
            var k = Kernel<ArrayView<float>, ArrayView<float>, SoftmaxDims>(IlgpuKernels.SoftmaxForward);
            View x = F(input), y = F(output);
            return n => k(r.OverBatch ? r.Inner : n * r.OuterPerSample * r.Inner, x.At(n), y.At(n), new SoftmaxDims(r.OverBatch ? n : r.Dim, r.Inner, log ? 1 : 0));
        }

        private Action<int> SoftmaxGrad(Buf output, Buf gradOut, Buf gradIn, ReduceDims r, bool log)
        {
            var k = Kernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, SoftmaxDims>(IlgpuKernels.SoftmaxBackward);
            View y = F(output), dy = F(gradOut), dx = F(gradIn);
            return n => k(r.OverBatch ? r.Inner : n * r.OuterPerSample * r.Inner, y.At(n), dy.At(n), dx.At(n), new SoftmaxDims(r.OverBatch ? n : r.Dim, r.Inner, log ? 1 : 0));
        }

        public Action<int> SoftmaxForward(SoftmaxForward s) => Softmax(s.X, s.Y, s.R, log: false);

        public Action<int> SoftmaxBackward(SoftmaxBackward s) => SoftmaxGrad(s.Y, s.Dy, s.Dx, s.R, log: false);

        public Action<int> LogSoftmaxForward(LogSoftmaxForward s) => Softmax(s.X, s.Y, s.R, log: true);

        public Action<int> LogSoftmaxBackward(LogSoftmaxBackward s) => SoftmaxGrad(s.Y, s.Dy, s.Dx, s.R, log: true);

        // ---- broadcasting binary ops: the packed shape uploaded once per step ----

        private ArrayView<int> Shape(BroadcastDims g)
        {
            int[] packed = [.. g.Packed];
            int rank = packed.Length > 0 ? packed[0] : -1;
            if (rank < 0 || packed.Length != 1 + 3 * rank) throw Unsupported("a broadcast geometry is (rank, out dims, a dims, b dims)");
            ArrayView<int> view = m.Allocate<int>(packed.Length);
            CopyIn<int>(packed, view);
            return view;
        }

        private static int Product(BroadcastDims g, int operand)
        {
            int rank = g.Packed[0], p = 1;
            for (int d = 0; d < rank; d++) p *= g.Packed[1 + operand * rank + d];
            return p;
        }

        private Action<int> Binary(Buf a, Buf b, Buf y, BroadcastDims g, bool multiply)
        {
            var k = Kernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, int>(IlgpuKernels.BroadcastForward);
            View va = F(a), vb = F(b), vy = F(y);
            ArrayView<int> shape = Shape(g);
            int per = Product(g, 0);
            return n => k(n * per, va.At(n), vb.At(n), vy.At(n), shape, multiply ? 1 : 0);
        }

        private Action<int> BinaryGrad(Buf dy, Buf? other, Buf dx, BroadcastDims g, bool right)
        {
            var k = Kernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, int, int, int>(IlgpuKernels.BroadcastBackward);
            View vdy = F(dy), vdx = F(dx), vo = other is null ? new View(m.Dummy, 0) : F(other);
            ArrayView<int> shape = Shape(g);
            int rank = g.Packed[0], first = 1 + (right ? 2 : 1) * rank, otherFirst = 1 + (right ? 1 : 2) * rank;
            int per = Product(g, right ? 2 : 1);
            return n => k(n * per, vdy.At(n), vo.At(n), vdx.At(n), shape, first, otherFirst, other is null ? 0 : 1);
        }

        public Action<int> AddForward(AddForward s) => Binary(s.A, s.B, s.Y, s.G.Value, multiply: false);

        public Action<int> AddBackward(AddBackward s) => BinaryGrad(s.Dy, null, s.Dx, s.G.Value, s.Right);

        public Action<int> MulForward(MulForward s) => Binary(s.A, s.B, s.Y, s.G.Value, multiply: true);

        public Action<int> MulBackward(MulBackward s) => BinaryGrad(s.Dy, s.Other, s.Dx, s.G.Value, s.Right);

        public Action<int> AccumulateGrad(AccumulateGrad s)
        {
            var k = Kernel<ArrayView<float>, ArrayView<float>>(IlgpuKernels.Accumulate);
            View c = F(s.Contribution), g = F(s.Grad);
            return n => k(n * g.PerSample, c.At(n), g.At(n));
        }

        public Action<int> CatForward(CatForward s)
        {
            var k = Kernel<ArrayView<float>, ArrayView<float>, CatDims>(IlgpuKernels.CatForward);
            View x = F(s.X), y = F(s.Y);
            var d = new CatDims(s.Inner, s.OutInner, s.Offset);
            int per = s.Rows * s.Inner;
            return n => k(n * per, x.At(n), y.At(n), d);
        }

        public Action<int> CatBackward(CatBackward s)
        {
            var k = Kernel<ArrayView<float>, ArrayView<float>, CatDims>(IlgpuKernels.CatBackward);
            View dy = F(s.Dy), dx = F(s.Dx);
            var d = new CatDims(s.Inner, s.OutInner, s.Offset);
            int per = s.Rows * s.Inner;
            return n => k(n * per, dy.At(n), dx.At(n), d);
        }

        // ---- batch norm: the layer's mode, options and counter read at each launch; running statistics on the device ----

        private ArrayView<float> Running(ModelBuffer? b) => b is null ? m.Dummy : m._stateByHost[b];

        private static BatchNormDims Dims(BatchNorm bn, int n, int spatial, float factor) =>
            new(n, bn.NumFeatures, spatial, bn.Eps, factor, bn.Weight is null ? 0 : 1, bn.Bias is null ? 0 : 1);

        public Action<int> BatchNormForward(BatchNormForward s)
        {
            var bn = Layer<BatchNorm>(s.Layer);
            var stats = Kernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, BatchNormDims>(IlgpuKernels.BatchNormStatistics);
            var running = Kernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, float>(IlgpuKernels.BatchNormRunning);
            var normalize = Kernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, BatchNormDims>(IlgpuKernels.BatchNormNormalize);
            View x = F(s.X), y = F(s.Y), mean = F(s.Mean), invStd = F(s.InvStd);
            ArrayView<float> w = Data(bn.Weight), b = Data(bn.Bias), rm = Running(bn.RunningMean), rv = Running(bn.RunningVar);
            int c = bn.NumFeatures, spatial = s.Spatial;
            return n =>
            {
                ArrayView<float> mu = mean.Full.SubView(0, c), inv = invStd.Full.SubView(0, c);
                if (!bn.UsesBatchStatistics(bn.Training)) running(c, rm, rv, mu, inv, bn.Eps);
                else
                {
                    if (n * spatial < 2)
                        throw new ArgumentException($"BatchNorm '{bn.Name}' in training mode needs more than one value per channel, got {n} sample(s) × {spatial} position(s).");
                    float factor = 0f;
                    if (bn.Training && bn.TrackRunningStats)
                    {
                        // The batch counter stays on the host: an int64 PyTorch keeps for the cumulative average's factor.
                        long batches = ++bn.NumBatchesTracked!.Int64Data[0];
                        factor = bn.Momentum ?? (float)(1.0 / batches);
                    }
                    stats(c, x.At(n), mu, inv, rm, rv, Dims(bn, n, spatial, factor));
                }
                normalize(n * c * spatial, x.At(n), w, b, mu, inv, y.At(n), Dims(bn, n, spatial, 0f));
            };
        }

        private Action<int> BatchNormGrad(string layer, Buf dyBuf, Buf xBuf, Buf meanBuf, Buf invStdBuf, Buf? dxBuf, int spatial)
        {
            var bn = Layer<BatchNorm>(layer);
            var sumsKernel = Kernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, BatchNormDims, int>(IlgpuKernels.BatchNormGradSums);
            var input = Kernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, BatchNormDims, int>(IlgpuKernels.BatchNormBackwardInput);
            View dy = F(dyBuf), x = F(xBuf), mean = F(meanBuf), invStd = F(invStdBuf);
            View? dx = dxBuf is null ? null : F(dxBuf);
            int c = bn.NumFeatures;
            ArrayView<float> sums = m.Allocate<float>(2 * c), w = Data(bn.Weight);
            ArrayView<float> dw = dxBuf is null && bn.Weight is not null ? Grad(bn.Weight) : m.Dummy, db = dxBuf is null && bn.Bias is not null ? Grad(bn.Bias) : m.Dummy;
            return n =>
            {
                ArrayView<float> mu = mean.Full.SubView(0, c), inv = invStd.Full.SubView(0, c);
                if (dx is { } d)
                {
                    var dims = Dims(bn, n, spatial, 0f);
                    bool batch = bn.UsesBatchStatistics(bn.Training);
                    if (batch) sumsKernel(c, dy.At(n), x.At(n), mu, inv, sums, m.Dummy, m.Dummy, dims, 0);
                    input(n * c * spatial, dy.At(n), x.At(n), w, mu, inv, sums, d.At(n), dims, batch ? 1 : 0);
                }
                else
                {
                    // Only the parameters that learn take their gradient, as the CPU layer does.
                    var dims = Dims(bn, n, spatial, 0f) with { HasWeight = bn.Weight is { RequiresGrad: true } ? 1 : 0, HasBias = bn.Bias is { RequiresGrad: true } ? 1 : 0 };
                    sumsKernel(c, dy.At(n), x.At(n), mu, inv, sums, dw, db, dims, 1);
                }
            };
        }

        public Action<int> BatchNormBackwardParams(BatchNormBackwardParams s) => BatchNormGrad(s.Layer, s.Dy, s.X, s.Mean, s.InvStd, null, s.Spatial);

        public Action<int> BatchNormBackwardInput(BatchNormBackwardInput s) => BatchNormGrad(s.Layer, s.Dy, s.X, s.Mean, s.InvStd, s.Dx, s.Spatial);

        // ---- layer norm ----

        public Action<int> LayerNormForward(LayerNormForward s)
        {
            var ln = Layer<LayerNorm>(s.Layer);
            var k = Kernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, LayerNormDims>(IlgpuKernels.LayerNormForward);
            View x = F(s.X), y = F(s.Y), mean = F(s.Mean), invStd = F(s.InvStd);
            ArrayView<float> w = Data(ln.Weight), b = Data(ln.Bias);
            int rowsPer = s.RowsPerSample;
            return n => k(n * rowsPer, x.At(n), w, b, y.At(n), mean.Full.SubView(0, n * rowsPer), invStd.Full.SubView(0, n * rowsPer),
                new LayerNormDims(n * rowsPer, ln.Size, ln.Eps, ln.ElementwiseAffine ? 1 : 0));
        }

        public Action<int> LayerNormBackwardInput(LayerNormBackwardInput s)
        {
            var ln = Layer<LayerNorm>(s.Layer);
            var k = Kernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, LayerNormDims>(IlgpuKernels.LayerNormBackwardInput);
            View dy = F(s.Dy), x = F(s.X), mean = F(s.Mean), invStd = F(s.InvStd), dx = F(s.Dx);
            ArrayView<float> w = Data(ln.Weight);
            int rowsPer = s.RowsPerSample;
            return n => k(n * rowsPer, dy.At(n), x.At(n), w, mean.Full.SubView(0, n * rowsPer), invStd.Full.SubView(0, n * rowsPer), dx.At(n),
                new LayerNormDims(n * rowsPer, ln.Size, ln.Eps, ln.ElementwiseAffine ? 1 : 0));
        }

        public Action<int> LayerNormBackwardParams(LayerNormBackwardParams s)
        {
            var ln = Layer<LayerNorm>(s.Layer);
            var k = Kernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, LayerNormDims>(IlgpuKernels.LayerNormBackwardParams);
            View dy = F(s.Dy), x = F(s.X), mean = F(s.Mean), invStd = F(s.InvStd);
            if (ln.Weight is null) return _ => { };
            ArrayView<float> dw = Grad(ln.Weight), db = Grad(ln.Bias);
            int rowsPer = s.RowsPerSample;
            return n => k(ln.Size, dy.At(n), x.At(n), mean.Full.SubView(0, n * rowsPer), invStd.Full.SubView(0, n * rowsPer), dw, db,
                new LayerNormDims(n * rowsPer, ln.Size, ln.Eps, 1));
        }

        // ---- dropout: the CPU's counter-based draw, keyed by the layer's seed and step counter (kept on the host) ----

        public Action<int> DropoutForward(DropoutForward s)
        {
            var layer = Layer<Dropout>(s.Layer);
            var draw = Kernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, DropoutParams>(IlgpuKernels.DropoutForward);
            var copy = Kernel<ArrayView<float>, ArrayView<float>>(IlgpuKernels.Copy);
            View x = F(s.X), y = F(s.Y), mask = F(s.Mask);
            return n =>
            {
                int length = n * y.PerSample;
                if (!layer.Training)
                {
                    copy(length, x.At(n), y.At(n));
                    return;
                }
                draw(length, x.At(n), y.At(n), mask.At(n), DropoutParams.Of(layer.P, layer.Seed, layer.Step));
                layer.Step++;
            };
        }

        public Action<int> DropoutBackward(DropoutBackward s)
        {
            var layer = Layer<Dropout>(s.Layer);
            var multiply = Kernel<ArrayView<float>, ArrayView<float>, ArrayView<float>>(IlgpuKernels.Multiply);
            var copy = Kernel<ArrayView<float>, ArrayView<float>>(IlgpuKernels.Copy);
            View dy = F(s.Dy), mask = F(s.Mask), dx = F(s.Dx);
            return n =>
            {
                int length = n * dx.PerSample;
                if (layer.Training) multiply(length, dy.At(n), mask.At(n), dx.At(n));
                else copy(length, dy.At(n), dx.At(n));
            };
        }

        private Action<Index1D, T1, T2> Kernel<T1, T2>(Action<Index1D, T1, T2> k) where T1 : struct where T2 : struct => m.Kernel(k);

        private Action<Index1D, T1, T2, T3> Kernel<T1, T2, T3>(Action<Index1D, T1, T2, T3> k) where T1 : struct where T2 : struct where T3 : struct => m.Kernel(k);

        private Action<Index1D, T1, T2, T3, T4> Kernel<T1, T2, T3, T4>(Action<Index1D, T1, T2, T3, T4> k)
            where T1 : struct where T2 : struct where T3 : struct where T4 : struct => m.Kernel(k);

        private Action<Index1D, T1, T2, T3, T4, T5> Kernel<T1, T2, T3, T4, T5>(Action<Index1D, T1, T2, T3, T4, T5> k)
            where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct => m.Kernel(k);

        private Action<Index1D, T1, T2, T3, T4, T5, T6> Kernel<T1, T2, T3, T4, T5, T6>(Action<Index1D, T1, T2, T3, T4, T5, T6> k)
            where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct => m.Kernel(k);

        private Action<Index1D, T1, T2, T3, T4, T5, T6, T7> Kernel<T1, T2, T3, T4, T5, T6, T7>(Action<Index1D, T1, T2, T3, T4, T5, T6, T7> k)
            where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct where T7 : struct => m.Kernel(k);

        private Action<Index1D, T1, T2, T3, T4, T5, T6, T7, T8, T9> Kernel<T1, T2, T3, T4, T5, T6, T7, T8, T9>(Action<Index1D, T1, T2, T3, T4, T5, T6, T7, T8, T9> k)
            where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct where T7 : struct where T8 : struct where T9 : struct =>
            m.Kernel(k);
    }
}
