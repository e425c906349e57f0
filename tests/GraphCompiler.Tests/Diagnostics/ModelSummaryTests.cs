// The torchinfo-style model summary: its exact text for the Mlp, FLOPs against hand counts, kernel lists against the schedule.
using Cifar;
using FashionMnist;
using GraphCompiler.Compiler;
using GraphCompiler.Diagnostics;
using GraphCompiler.Nn;
using GraphCompiler.Tests.Compiler;
using GraphCompiler.Tests.Models;
using Xunit;

namespace GraphCompiler.Tests.Diagnostics;

public class ModelSummaryTests
{
    // Checked by hand: Fc1 = 64 · (2·784·128 + 128) = 12,853,248 FLOPs; pools and ReLUs one per element; memory =
    // PeakBytes (64 · 3944 and 64 · 4536 bytes) + 109,386 parameters · 4 bytes (+ as many for gradients when training).
    private const string MlpAt64 = """
        =================================================================================================================
        Mlp, batch 64, input [64, 1, 28, 28]
        =================================================================================================================
        Layer        Type                Output shape  Param #       FLOPs
        -----------------------------------------------------------------------------------------------------------------
        Flatten1     Flatten             [64, 784]          --           0
        Fc1          Linear              [64, 128]     100,480  12,853,248
        Relu1        ReLU                [64, 128]          --       8,192
        Fc2          Linear              [64, 64]        8,256   1,052,672
        Relu2        ReLU                [64, 64]           --       4,096
        Fc3          Linear              [64, 10]          650      82,560
        LogSoftmax1  LogSoftmax(dim: 1)  [64, 10]           --         640
        =================================================================================================================
        Forward kernels: 4
           1  Fc1: relu((N, 784) · Wᵀ (128, 784) + b) → (N, 128)                                [LinearForward]
           2  Fc2: relu((N, 128) · Wᵀ (64, 128) + b) → (N, 64)                                  [LinearForward]
           3  Fc3: (N, 64) · Wᵀ (10, 64) + b → (N, 10)                                          [LinearForward]
           4  LogSoftmax1: (N, 10) over the last dim                                            [LogSoftmaxForward]
        -----------------------------------------------------------------------------------------------------------------
        Training step kernels (nll_loss, no input gradient): 10
           1  Fc1: relu((N, 784) · Wᵀ (128, 784) + b) → (N, 128)                                [LinearForward]
           2  Fc2: relu((N, 128) · Wᵀ (64, 128) + b) → (N, 64)                                  [LinearForward]
           3  Fc3: (N, 64) · Wᵀ (10, 64) + b → (N, 10)                                          [LinearForward]
           4  LogSoftmax1: (N, 10) over the last dim                                            [LogSoftmaxForward]
           5  loss: nll_loss and its gradient at the logits, the LogSoftmax backward folded in  [Loss.TryComputeAtLogits]
           6  Fc3: dW (10, 64) += dyᵀ · x, db (10) += Σ dy                                      [LinearBackwardParams]
           7  Fc3: dx (N, 64) = (dy · W) · relu′(x)                                             [LinearBackwardInput]
           8  Fc2: dW (64, 128) += dyᵀ · x, db (64) += Σ dy                                     [LinearBackwardParams]
           9  Fc2: dx (N, 128) = (dy · W) · relu′(x)                                            [LinearBackwardInput]
          10  Fc1: dW (128, 784) += dyᵀ · x, db (128) += Σ dy                                   [LinearBackwardParams]
        =================================================================================================================
        Total params: 109,386
        Trainable params: 109,386
        Non-trainable params: 0
        Forward FLOPs (batch 64): 14,001,408 (14.00 MFLOP)
        =================================================================================================================
        Peak memory, batch 64, in bytes (MB = 10^6 bytes):
          inference:     689,960 (0.69 MB) = workspace 252,416 + parameters 437,544
          training step: 1,165,392 (1.17 MB) = workspace 290,304 + parameters 437,544 + gradients 437,544
          (workspace = the generated PeakBytes; optimizer state and kernels' per-thread scratch are not counted)
        =================================================================================================================
        """;

    [Fact]
    public void Mlp_summary_at_batch_64_is_the_expected_table()
    {
        Assert.Equal(MlpAt64.ReplaceLineEndings("\n") + "\n", new Mlp().Summarize(64).ToString());
    }

    [Fact]
    public void Linear_and_conv2d_flops_match_hand_counts()
    {
        Schedule cifar = ModelCompilerTests.CompileCifar().Schedule!;
        long Flops(Schedule s, string name) => s.Trace.Single(t => t.Name == name).Flops;
        // Conv1: 3→32 channels, 5x5, padding 2, 32x32 out: per output element 3·5·5 multiply-adds (×2) and one bias add.
        Assert.Equal(32L * 32 * 32 * (2 * 3 * 5 * 5 + 1), Flops(cifar, "Conv1"));
        Assert.Equal(4_947_968, Flops(cifar, "Conv1"));
        // Conv3: 32→64 channels on 8x8, padded taps counted: 64·8·8 · (2·32·25 + 1).
        Assert.Equal(4096L * 1601, Flops(cifar, "Conv3"));
        // Fc1: 1024→64, 2·1024·64 + 64.
        Assert.Equal(131_136, Flops(cifar, "Fc1"));
        // Element-wise: one per element; a 2x2 pool one per input element (four per window); Flatten none.
        Assert.Equal(32L * 32 * 32, Flops(cifar, "Relu1"));
        Assert.Equal(32L * 32 * 32, Flops(cifar, "Pool1"));
        Assert.Equal(0, Flops(cifar, "Flatten1"));

        // A strided convolution (StridedNet's Conv1: 1→8, 3x3, stride 2, padding 1, 16x16 → 8x8) and a Linear without bias.
        var strided = new Shape(Shape.Batch, 1, 16, 16);
        var conv = LayerDecl.Of("Conv1", "Conv2d", ("inChannels", 1), ("outChannels", 8), ("kernel", 3), ("stride", 2), ("padding", 1));
        var fc = LayerDecl.Of("Fc", "Linear", ("inFeatures", 512), ("outFeatures", 7), ("bias", 0));
        var model = new ModelDecl("Net", strided, 0, EquatableArray.Of(conv, fc),
            EquatableArray.Of(OpCall.Apply("Conv1", 0), OpCall.Of("Flatten", 1), OpCall.Apply("Fc", 2)), 3);
        Schedule s = ModelCompiler.Compile(model).Schedule!;
        Assert.Equal(8L * 8 * 8 * (2 * 9 + 1), Flops(s, "Conv1"));
        Assert.Equal(2L * 512 * 7, Flops(s, "Fc"));

        // The generated Summary carries the same figures, and the summary multiplies them by the batch.
        Assert.Equal(4_947_968, CifarNet.Summary.Single(r => r.Name == "Conv1").Flops);
        Assert.Equal(3 * 4_947_968L, new CifarNet().Summarize(3).Layers.Single(r => r.Name == "Conv1").Flops);
        Assert.Equal(3 * 131_136L, new CifarNet().Summarize(3).Layers.Single(r => r.Name == "Fc1").Flops);
        Assert.Equal(cifar.Trace.Sum(t => t.Flops) * 5, new CifarNet().Summarize(5).ForwardFlops);
    }

    [Fact]
    public void Kernel_lists_have_the_schedule_counts_fused_and_unfused()
    {
        Schedule mlp = ModelCompilerTests.CompileMlp().Schedule!, mlpPlain = ModelCompilerTests.CompileMlp(fuse: false).Schedule!;
        Schedule cifar = ModelCompilerTests.CompileCifar().Schedule!, cifarPlain = ModelCompilerTests.CompileCifar(fuse: false).Schedule!;
        void Same(ICompiledModel model, Schedule s, Loss loss, bool nll)
        {
            ModelSummary summary = model.Summarize(16, loss);
            Assert.Equal(s.ForwardKernels, summary.ForwardKernels.Count);
            Assert.Equal(s.TrainingStepKernels(loss.Name), summary.TrainingStepKernels.Count);
            Assert.Equal(nll && s.FusedLoss is not null, s.LossAtLogits(loss.Name));
        }
        Same(new Mlp(), mlp, Loss.Nll, nll: true);
        Same(new Mlp(), mlp, Loss.CrossEntropy, nll: false);
        Same(new MlpUnfused(), mlpPlain, Loss.Nll, nll: true);
        Same(new CifarNet(), cifar, Loss.CrossEntropy, nll: false);
        Same(new CifarNetUnfused(), cifarPlain, Loss.CrossEntropy, nll: false);
        Assert.Equal((4, 10), (new Mlp().Summarize(64).ForwardKernels.Count, new Mlp().Summarize(64).TrainingStepKernels.Count));
        Assert.Equal((8, 21), (new CifarNet().Summarize(64).ForwardKernels.Count, new CifarNet().Summarize(64).TrainingStepKernels.Count));
        Assert.Equal(29, new CifarNetUnfused().Summarize(64).TrainingStepKernels.Count);

    }

    [Fact]
    public void Frozen_layers_are_marked_counted_apart_and_drop_their_kernels_from_the_training_step()
    {
        var model = new CifarNet();
        model.Conv1.RequiresGrad(false);
        model.Conv2.RequiresGrad(false);
        model.Conv3.RequiresGrad(false);
        model.Fc1.Bias!.RequiresGrad = false;
        ModelSummary summary = model.Summarize(8);
        Assert.Equal(2432 + 25632 + 51264 + 64, summary.FrozenParameters);
        Assert.Equal(65536 + 650, summary.TrainableParameters);
        LayerRow fc1 = summary.Layers.Single(l => l.Name == "Fc1");
        Assert.Equal((65536L, 64L), (fc1.TrainableParameters, fc1.FrozenParameters));
        string text = summary.ToString();
        Assert.Matches(@"\nConv1 +Conv2d +\[8, 32, 32, 32\] +\(2,432\) +", text);
        Assert.Contains("65,536 + (64)", text);
        Assert.Contains("\n(n): frozen parameters\n", text);
        // Only the head trains: 8 forward + loss + Fc2 dW + Fc2 dx + Fc1 dW (as Step.Runs decides for the generated Backward).
        Assert.Equal(8 + 1 + 3, summary.TrainingStepKernels.Count);
        Assert.Equal(["LinearBackwardParams", "LinearBackwardInput", "LinearBackwardParams"],
            summary.TrainingStepKernels.Skip(9).Select(k => k.Call));
    }

    [Fact]
    public void Peak_memory_is_the_generated_workspace_plus_parameters_and_gradients()
    {
        ModelSummary s = new CifarNet().Summarize(64);
        long parameters = 145_578L * sizeof(float);
        Assert.Equal(CifarNet.PeakBytes(64, training: false) + parameters, s.InferenceBytes);
        Assert.Equal(CifarNet.PeakBytes(64, training: true) + 2 * parameters, s.TrainingBytes);
        Assert.Equal(16_258_048 + 2 * parameters, s.TrainingBytes);
        Assert.Equal([64, 3, 32, 32], s.InputShape);
        Assert.Equal([64, 64, 4, 4], s.Layers.Single(l => l.Name == "Pool3").OutputShape);
    }

    [Fact]
    public void A_batch_below_one_is_refused()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new Mlp().Summarize(0));
        Assert.Contains("at least one sample", e.Message);
    }
}
