// Pass "fuse-elementwise-chains" end to end on the generated ChainNet: fewer kernels than the unfused build, the same outputs
// and gradients, and a training step that allocates nothing.
using GraphCompiler.Backends.Cpu;
using GraphCompiler.Compiler;
using GraphCompiler.Nn;
using GraphCompiler.Tests.Training;
using Xunit;

namespace GraphCompiler.Tests.Models;

public class ChainNetTests
{
    private const int Batch = 5, Features = 6, Classes = 3;

    [Fact]
    public void Chains_cut_the_forward_and_training_step_kernels()
    {
        Schedule fused = ChainNet.CompiledSchedule, plain = ChainNetUnfused.CompiledSchedule;
        // Unfused forward: 3 Linear + GELU, SiLU, LeakyReLU + ReLU, sigmoid, tanh = 9. Fused: Fc1, chain of 3, Fc2 with its
        // ReLU epilogue, chain of 2, Fc3 = 5.
        Assert.Equal((9, 5), (plain.ForwardKernels, fused.ForwardKernels));
        // Backward without the input gradient, unfused: 3 dW + 2 dx + 6 activation backwards = 11; fused: 3 dW + 2 dx + the
        // two chain backwards + the ReLU's (its consumer, the sigmoid, cannot take it) = 8. Plus one loss kernel.
        Assert.Equal((9 + 1 + 11, 5 + 1 + 8), (plain.TrainingStepKernels("cross_entropy"), fused.TrainingStepKernels("cross_entropy")));
        Assert.Equal(2, fused.Forward.Count(s => s is ElementwiseChainForward));
        Assert.Equal(2, fused.Backward.Count(s => s is ElementwiseChainBackward));
        // Only the chains' inputs and outputs are stored.
        Assert.DoesNotContain(fused.Buffers, b => b.Name.StartsWith("Gelu") || b.Name.StartsWith("Silu") || b.Name.StartsWith("Sigmoid"));
    }

    private static (float[] X, int[] Y) RandomBatch(ulong seed)
    {
        var (x, y) = TrainerTests.RandomBatch(Batch, Features, seed);
        for (int i = 0; i < x.Length; i++) x[i] *= 3; // reach both sides of every activation
        return (x, [.. y.Select(t => t % Classes)]);
    }

    private static (float[] Output, float[] InputGrad, float[][] Grads) Step(ICompiledModel model, ModelWorkspace ws, float[] x, int[] y)
    {
        ws.SetInput(x, Batch);
        model.Forward(ws);
        LossKernels.CrossEntropy(ws.Output.AsSpan(0, Batch * Classes), y, ws.OutputGrad.AsSpan(0, Batch * Classes), Batch, Classes);
        foreach (Parameter p in model.Parameters()) p.ZeroGrad();
        model.Backward(ws);
        return (ws.Output[..(Batch * Classes)], ws.InputGrad![..(Batch * Features)], [.. model.Parameters().Select(p => (float[])p.Grad.Clone())]);
    }

    [Fact]
    public void Fused_and_unfused_give_the_same_outputs_and_gradients()
    {
        var fused = new ChainNet(11);
        var plain = new ChainNetUnfused(12);
        for (int i = 0; i < fused.Parameters().Count; i++) fused.Parameters()[i].Data.CopyTo(plain.Parameters()[i].Data, 0);
        var (x, y) = RandomBatch(13);
        var a = Step(fused, fused.CreateWorkspace(Batch, training: true, inputGrad: true), x, y);
        var b = Step(plain, plain.CreateWorkspace(Batch, training: true, inputGrad: true), x, y);

        // The chain multiplies the derivatives first to last, the unfused backward last to first: a few float roundings
        // apart, so every element must agree to 1e-6 of its tensor's largest magnitude (element-wise relative error is
        // meaningless where a weight gradient's sum over the batch cancels).
        static void Close(string what, float[] got, float[] expected)
        {
            Assert.Equal(expected.Length, got.Length);
            double scale = expected.Max(v => Math.Abs((double)v));
            Assert.True(scale > 0, $"{what} is all zero");
            for (int i = 0; i < got.Length; i++)
                Assert.True(Math.Abs(got[i] - expected[i]) <= 1e-6 * scale, $"{what}[{i}]: fused {got[i]}, unfused {expected[i]} (scale {scale})");
        }
        Close("output", a.Output, b.Output);
        Close("input.grad", a.InputGrad, b.InputGrad);
        for (int i = 0; i < a.Grads.Length; i++) Close(fused.Parameters()[i].Name + ".grad", a.Grads[i], b.Grads[i]);
    }

    [Fact]
    public void A_training_step_allocates_nothing()
    {
        var model = new ChainNet(3);
        var (x, y) = RandomBatch(4);
        ChainNet.Workspace ws = model.CreateWorkspace(Batch, training: true);
        void Round()
        {
            ws.SetInput(x, Batch);
            model.Forward(ws);
            LossKernels.CrossEntropy(ws.Output.AsSpan(0, Batch * Classes), y, ws.OutputGrad.AsSpan(0, Batch * Classes), Batch, Classes);
            model.Backward(ws);
        }
        Round();
        Assert.Equal(0, Allocations.LeastPerRound(Round));
    }
}
