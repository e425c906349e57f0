// The DAG test model end to end: its compiled forward against the eager forward and a double-precision evaluation of the
// same graph, every parameter gradient (shared and accumulated ones included) against double finite differences of the
// whole model's loss, frozen layers in a DAG, and a few training steps that lower the loss.
using GraphCompiler.Backends.Cpu;
using GraphCompiler.Backends.Reference;
using GraphCompiler.Nn;
using GraphCompiler.Optim;
using GraphCompiler.Tests.Training;
using GraphCompiler.Training;
using Xunit;
using GraphCompiler.Compiler;

namespace GraphCompiler.Tests.Models;

public class ResidualNetTests
{
    private const int Batch = 3, PerSample = 3 * 8 * 8, Classes = 10;

    /// <summary>The model's graph in double precision from the reference kernels, as a function of its parameters and input.</summary>
    private sealed class DoubleModel
    {
        private readonly Dictionary<Parameter, double[]> _params = new();
        private readonly ResidualNet _model;

        public DoubleModel(ResidualNet model)
        {
            _model = model;
            foreach (Parameter p in model.Parameters()) _params[p] = Kernels.Data.ToDouble(p.Data);
        }

        public double[] this[Parameter p] => _params[p];

        private double[] Conv(double[] x, Conv2d layer, int h, int w)
        {
            var g = new Conv2dGeometry(layer.InChannels, layer.OutChannels, h, w, layer.KernelSize, layer.KernelSize, layer.Stride, layer.Stride, layer.Padding, layer.Padding);
            var y = new double[Batch * g.OutChannels * g.OutH * g.OutW];
            ReferenceKernels.Conv2dForward(x, _params[layer.Weight], _params[layer.Bias!], y, g, Batch);
            return y;
        }

        private double[] Fc(double[] x, Linear layer)
        {
            var y = new double[Batch * layer.OutFeatures];
            ReferenceKernels.LinearForward(x, _params[layer.Weight], _params[layer.Bias!], y, Batch, layer.InFeatures, layer.OutFeatures);
            return y;
        }

        private static double[] Relu(double[] x) => x.Select(v => Math.Max(v, 0)).ToArray();

        private static double[] Add(double[] a, double[] b) => a.Zip(b, (u, v) => u + v).ToArray();

        private static double[] Pool(double[] x, int c, int hw, int k)
        {
            var g = new Pool2dGeometry(c, hw, hw, k, k, k, k, 0, 0);
            var y = new double[Batch * c * g.OutH * g.OutW];
            ReferenceKernels.MaxPool2dForward(x, y, new int[y.Length], g, Batch);
            return y;
        }

        public double[] Logits(double[] x)
        {
            ResidualNet m = _model;
            double[] stem = Relu(Conv(x, m.Stem, 8, 8));
            double[] block1 = Relu(Add(Conv(Relu(Conv(stem, m.Block1Conv1, 8, 8)), m.Block1Conv2, 8, 8), stem));
            double[] residual = Conv(Relu(Conv(block1, m.Block2Conv1, 8, 8)), m.Block2Conv2, 4, 4);
            double[] block2 = Relu(Add(residual, Conv(block1, m.Block2Shortcut, 8, 8)));
            double[] gated = new double[block2.Length];
            ReferenceKernels.BroadcastForward(block2, [16, 4, 4], Pool(block2, 16, 4, 4), [16, 1, 1], gated, Batch, multiply: true);
            double[] joined = new double[Batch * 16 * 16];
            ReferenceKernels.CatForward([Conv(gated, m.BranchA, 4, 4), Relu(Conv(gated, m.BranchB, 4, 4))], [[8, 4, 4], [8, 4, 4]], 1, joined, Batch);
            double[] features = Relu(Fc(Pool(joined, 16, 4, 2), m.Fc));
            return Fc(Relu(Fc(Relu(Fc(features, m.Hidden)), m.Hidden)), m.Head);
        }

        public double Loss(double[] x, int[] targets) => ReferenceKernels.CrossEntropy(Logits(x), targets, [], Batch, Classes);
    }

    private static (ResidualNet Model, ResidualNet.Workspace Ws, float[] X, int[] Y) RunOnce(ulong seed = 3, Action<ResidualNet>? freeze = null)
    {
        var model = new ResidualNet(seed);
        freeze?.Invoke(model);
        var (x, y) = TrainerTests.RandomBatch(Batch, PerSample, seed + 1);
        ResidualNet.Workspace ws = model.CreateWorkspace(Batch, training: true, inputGrad: freeze is null);
        ws.SetInput(x, Batch);
        model.Forward(ws);
        LossKernels.CrossEntropy(ws.Output.AsSpan(0, Batch * Classes), y, ws.OutputGrad.AsSpan(0, Batch * Classes), Batch, Classes);
        foreach (Parameter p in model.Parameters()) p.ZeroGrad();
        model.Backward(ws);
        return (model, ws, x, y);
    }

    [Fact]
    public void Compiled_forward_matches_the_eager_forward_and_the_double_graph()
    {
        var (model, ws, x, _) = RunOnce();
        float[] eager = model.Forward(new Tensor(x, [Batch, 3, 8, 8])).Data;
        double[] reference = new DoubleModel(model).Logits(Kernels.Data.ToDouble(x));
        for (int i = 0; i < Batch * Classes; i++)
        {
            Assert.Equal(eager[i], ws.Output[i], 1e-5f);
            Assert.True(Math.Abs(reference[i] - ws.Output[i]) < 1e-4 * (1 + Math.Abs(reference[i])), $"logit {i}: {ws.Output[i]} vs {reference[i]}");
        }
    }

    [Fact]
    public void Every_gradient_matches_double_finite_differences_of_the_whole_loss()
    {
        var (model, ws, x, y) = RunOnce();
        var reference = new DoubleModel(model);
        double[] input = Kernels.Data.ToDouble(x);
        var rng = new Rng(21);
        const double h = 1e-6;

        void Check(string what, double[] values, float[] grad, int samples)
        {
            for (int s = 0; s < samples; s++)
            {
                int i = rng.NextInt(values.Length);
                double saved = values[i];
                values[i] = saved + h;
                double plus = reference.Loss(input, y);
                values[i] = saved - h;
                double minus = reference.Loss(input, y);
                values[i] = saved;
                double fd = (plus - minus) / (2 * h);
                Assert.True(Math.Abs(fd - grad[i]) < 2e-4 + 2e-3 * Math.Abs(fd), $"{what}[{i}]: backward {grad[i]}, finite differences {fd}");
            }
        }

        // Hidden is applied twice: its gradient is the sum of both applications', which finite differences see as one.
        foreach (Parameter p in model.Parameters()) Check(p.Name + ".grad", reference[p], p.Grad, 6);
        Check("input.grad", input, ws.InputGrad!, 12);
        Assert.Contains(model.Hidden.Weight.Grad, g => g != 0);
    }

    [Fact]
    public void Frozen_upstream_layers_keep_zero_gradients_and_the_rest_are_unchanged()
    {
        var (full, _, _, _) = RunOnce();
        Conv2d[] Frozen(ResidualNet m) => [m.Stem, m.Block1Conv1, m.Block1Conv2, m.BranchA];
        var (frozen, _, _, _) = RunOnce(freeze: m => { foreach (Conv2d c in Frozen(m)) c.RequiresGrad(false); });
        var frozenNames = Frozen(frozen).SelectMany(c => c.Parameters()).Select(p => p.Name).ToHashSet();
        for (int i = 0; i < full.Parameters().Count; i++)
        {
            Parameter a = full.Parameters()[i], b = frozen.Parameters()[i];
            if (frozenNames.Contains(b.Name)) Assert.All(b.Grad, g => Assert.Equal(0f, g));
            else Assert.Equal(a.Grad, b.Grad);
        }
    }

    [Fact]
    public void It_trains_the_loss_falls()
    {
        var model = new ResidualNet(seed: 5);
        var trainer = new Trainer(model, Loss.CrossEntropy, new Adam(model.Parameters(), lr: 0.01f), batchSize: 16);
        var (x, y) = TrainerTests.RandomBatch(16, PerSample, 9);
        float first = trainer.Step(x, y, 16), last = first;
        for (int step = 0; step < 100; step++) last = trainer.Step(x, y, 16);
        Assert.True(last < 0.5f * first, $"loss {first} → {last}");
    }

    [Fact]
    public void A_training_step_allocates_nothing_after_warm_up()
    {
        // Gradient sums write into planned buffers (no per-step arrays) and the broadcast geometries are static.
        var model = new ResidualNet(seed: 1);
        var trainer = new Trainer(model, Loss.CrossEntropy, new Sgd(model.Parameters(), lr: 0.01f, momentum: 0.9f), batchSize: 32);
        var (x, y) = TrainerTests.RandomBatch(32, PerSample, 2);
        for (int i = 0; i < 3; i++) trainer.Step(x, y, 32);
        Assert.Equal(0, Allocations.LeastPerRound(() =>
        {
            for (int i = 0; i < 5; i++) trainer.Step(x, y, 32);
        }));
    }

    [Fact]
    public void Fused_and_unfused_schedules_give_the_same_output_and_gradients()
    {
        // Fusion must respect the fan-out (no epilogue over a value read elsewhere, no relu′ in a dx of a multi-read value).
        ICompiledModel fused = new ResidualNet(seed: 7), plain = new ResidualNetUnfused(seed: 7);
        var (x, y) = TrainerTests.RandomBatch(Batch, PerSample, 8);
        foreach (ICompiledModel m in new[] { fused, plain })
        {
            ModelWorkspace ws = m.CreateWorkspace(Batch, training: true);
            ws.SetInput(x, Batch);
            m.Forward(ws);
            LossKernels.CrossEntropy(ws.Output.AsSpan(0, Batch * Classes), y, ws.OutputGrad.AsSpan(0, Batch * Classes), Batch, Classes);
            m.Backward(ws);
        }
        Assert.Equal(fused.Parameters().Select(p => p.Name), plain.Parameters().Select(p => p.Name));
        for (int i = 0; i < fused.Parameters().Count; i++)
        {
            float[] a = fused.Parameters()[i].Grad, b = plain.Parameters()[i].Grad;
            for (int j = 0; j < a.Length; j++)
                Assert.True(Math.Abs(a[j] - b[j]) <= 1e-5f * (1 + Math.Abs(b[j])), $"{fused.Parameters()[i].Name}.grad[{j}]: fused {a[j]}, unfused {b[j]}");
        }
    }
}
