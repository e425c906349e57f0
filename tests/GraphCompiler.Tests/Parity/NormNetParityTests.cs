// The generated code of models with BatchNorm, LayerNorm and Dropout: train and eval mode against PyTorch (NormNet) and
// against the eager forward body, running statistics, masks, and the mode switching of the evaluation helpers.
using GraphCompiler.IO;
using GraphCompiler.Nn;
using GraphCompiler.Optim;
using GraphCompiler.Tests.Models;
using GraphCompiler.Training;
using Xunit;
using KernelData = GraphCompiler.Tests.Kernels.Data;

namespace GraphCompiler.Tests.Parity;

public class NormNetParityTests
{
    private const double Tolerance = 1e-4;

    private static readonly Lazy<IReadOnlyDictionary<string, SafeTensor>> Reference =
        new(() => SafeTensors.Read(Path.Combine(AppContext.BaseDirectory, "Reference", "NormNet.safetensors")));

    // Relative to each tensor's scale, plus an absolute 1e-6 floor: conv1's bias feeds a BatchNorm, which removes any
    // per-channel constant, so its true gradient is 0 and both sides hold only round-off (~1e-8).
    private static void Close(ReadOnlySpan<float> actual, SafeTensor expected, string what)
    {
        double[] e = expected.AsDouble();
        Assert.Equal(e.Length, actual.Length);
        double scale = e.Select(Math.Abs).DefaultIfEmpty(0).Max();
        for (int i = 0; i < e.Length; i++)
        {
            double err = Math.Abs(actual[i] - e[i]), tol = Tolerance * (Math.Abs(e[i]) + scale) + 1e-6;
            Assert.True(err <= tol, $"{what}: element {i} is {actual[i]:R}, expected {e[i]:R} (error {err:E2}, tolerance {tol:E2})");
        }
    }

    [Fact]
    public void Two_training_steps_and_an_eval_pass_match_PyTorch()
    {
        var r = Reference.Value;
        var model = new NormNet(seed: 1);
        StateDict.Load(model, r, strict: true, "step.", "eval.");
        var sgd = new Sgd(model.Parameters(), lr: 0.1);
        var trainer = new Trainer(model, Loss.CrossEntropy, sgd, batchSize: 6);
        for (int s = 0; s < 2; s++)
        {
            string p = $"step.{s}.";
            float[] x = r[p + "input"].AsFloat();
            float loss = trainer.ForwardBackward(x, r[p + "target"].AsInt32(), 6);
            Close(trainer.Workspace.Output.AsSpan(0, 30), r[p + "output"], p + "output");
            Close([loss], r[p + "loss"], p + "loss");
            foreach (Parameter q in model.Parameters()) Close(q.Grad, r[p + "grad." + q.Name], p + "grad." + q.Name);
            sgd.Step();
            var after = StateDict.Save(model);
            foreach (var (name, tensor) in after)
            {
                if (tensor.DType == SafeTensorDType.I64) Assert.Equal(r[p + "after." + name].AsInt64(), tensor.AsInt64());
                else Close(tensor.AsFloat(), r[p + "after." + name], p + "after." + name);
            }
        }
        Assert.Equal(2, model.Bn1.NumBatchesTracked!.Int64Data[0]);

        Assert.True(model.Training);
        Tensor output = model.Predict(r["eval.input"].ToTensor());
        Close(output.Data, r["eval.output"], "eval.output");
        Assert.True(model.Training); // Predict restores the mode it found
        Assert.Equal(2, model.Bn1.NumBatchesTracked!.Int64Data[0]); // eval mode counts nothing
    }

    [Fact]
    public void Compiled_passes_match_the_eager_forward_body_in_both_modes()
    {
        var compiled = new NormNet(seed: 3);
        var eager = new NormNet(seed: 3);
        var rng = new Rng(4);
        var input = new Tensor(KernelData.Uniform(rng, 5 * 3 * 8 * 8, 2f), [5, 3, 8, 8]);
        var ws = compiled.CreateWorkspace(5, training: false);
        foreach (bool training in new[] { true, true, false })
        {
            compiled.Train(training);
            eager.Train(training);
            ws.SetInput(input.Data, 5);
            compiled.Forward(ws);
            Tensor expected = eager.Forward(input);
            KernelData.AssertClose(ws.Output.AsSpan(0, 25), KernelData.ToDouble(expected.Data), 1e-5, $"output (training: {training})");
            KernelData.AssertClose(compiled.Bn2.RunningVar!.Data, KernelData.ToDouble(eager.Bn2.RunningVar!.Data), 1e-6, "bn2.running_var");
        }
        Assert.Equal(2, compiled.Bn1.NumBatchesTracked!.Int64Data[0]);
    }

    [Fact]
    public void Train_and_Eval_set_every_stateful_layer_and_Buffers_lists_the_state_dict_buffers()
    {
        var model = new NormNet();
        Assert.True(model.Training && model.Bn1.Training && model.Bn2.Training);
        model.Eval();
        Assert.False(model.Training || model.Bn1.Training || model.Bn2.Training);
        model.Train();
        Assert.True(model.Training && model.Bn1.Training && model.Bn2.Training);
        Assert.Equal(["bn1.running_mean", "bn1.running_var", "bn1.num_batches_tracked", "bn2.running_mean", "bn2.running_var", "bn2.num_batches_tracked"],
            ((ICompiledModel)model).Buffers().Select(b => b.Name));
        Assert.Equal(["conv1.weight", "conv1.bias", "bn1.weight", "bn1.bias", "fc1.weight", "fc1.bias", "bn2.weight", "bn2.bias", "ln.weight", "ln.bias", "fc2.weight", "fc2.bias"],
            model.Parameters().Select(p => p.Name));
        Assert.Equal(0.2f, model.Bn2.Momentum);
        Assert.Equal(1e-3f, model.Ln.Eps);
    }

    [Fact]
    public void Dropout_draws_a_fresh_mask_each_training_pass_and_is_the_identity_in_eval_mode()
    {
        var model = new DropNet(seed: 5);
        var ws = model.CreateWorkspace(8, training: true);
        float[] x = KernelData.Uniform(new Rng(6), 8 * 12);
        float[] Run()
        {
            ws.SetInput(x, 8);
            model.Forward(ws);
            return ws.Output.AsSpan(0, 32).ToArray();
        }
        model.Eval();
        float[] eval = Run();
        var eagerEval = new DropNet(seed: 5);
        eagerEval.Eval();
        Assert.Equal(eagerEval.Forward(new Tensor(x, [8, 12])).Data, eval);
        Assert.Equal(0, model.Drop.Step);

        model.Train();
        float[] first = Run(), second = Run();
        Assert.Equal(2, model.Drop.Step);
        Assert.NotEqual(first, second);
        Assert.NotEqual(eval, first);

        // The same step of a model built from the same seed draws the same mask: a resumed run repeats it.
        var resumed = new DropNet(seed: 5);
        resumed.Drop.Step = 1;
        var ws2 = resumed.CreateWorkspace(8, training: false);
        ws2.SetInput(x, 8);
        resumed.Forward(ws2);
        Assert.Equal(second, ws2.Output.AsSpan(0, 32).ToArray());
    }

    [Fact]
    public void Dropout_backward_passes_the_gradient_through_the_mask_of_its_forward()
    {
        var model = new DropNet(seed: 7);
        var ws = model.CreateWorkspace(4, training: true, inputGrad: true);
        float[] x = KernelData.Uniform(new Rng(8), 4 * 12);
        ws.SetInput(x, 4);
        model.Forward(ws);
        KernelData.Uniform(new Rng(9), 16).CopyTo(ws.OutputGrad, 0);
        foreach (Parameter p in model.Parameters()) p.ZeroGrad();
        model.Backward(ws);

        // Recompute fc2's weight gradient from the mask: dW2 = dyᵀ · (relu(fc1(x)) · mask).
        var h = new float[4 * 40];
        GraphCompiler.Backends.Cpu.LinearKernels.Forward(x, model.Fc1.Weight.Data, model.Fc1.Bias!.Data, h, 4, 12, 40);
        var mask = new float[4 * 40];
        GraphCompiler.Backends.Cpu.DropoutKernels.Forward(h, new float[160], mask, 160, 0.3f, model.Drop.Seed, 0);
        int dropped = mask.Count(m => m == 0);
        Assert.InRange(dropped, 20, 80); // p = 0.3 of 160
        for (int i = 0; i < h.Length; i++) h[i] = Math.Max(h[i], 0) * mask[i];
        var dw = new double[4 * 40];
        for (int o = 0; o < 4; o++)
            for (int k = 0; k < 40; k++)
                for (int i = 0; i < 4; i++) dw[o * 40 + k] += (double)ws.OutputGrad[i * 4 + o] * h[i * 40 + k];
        KernelData.AssertClose(model.Fc2.Weight.Grad, dw, 1e-5, "fc2.weight grad through the dropout mask");
    }
}

public sealed class NormCheckpointResumeTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "gc-norm-resume-" + Guid.NewGuid().ToString("N"));

    public NormCheckpointResumeTests() => Directory.CreateDirectory(_dir);

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private static void Steps(ICompiledModel model, Trainer trainer, int first, int count, int perSample, int classes)
    {
        for (int s = first; s < first + count; s++)
        {
            float[] x = KernelData.Uniform(new Rng(1000 + (ulong)s), 8 * perSample, 2f);
            int[] t = KernelData.Targets(new Rng(2000 + (ulong)s), 8, classes);
            trainer.Step(x, t, 8);
        }
    }

    private static (float[][], float[][], long[][]) State(ICompiledModel m) =>
        (m.Parameters().Select(p => (float[])p.Data.Clone()).ToArray(),
         m.Buffers().Select(b => (float[])b.Data.Clone()).ToArray(),
         m.Buffers().Select(b => (long[])b.Int64Data.Clone()).ToArray());

    [Fact]
    public void Resuming_from_a_checkpoint_repeats_running_statistics_and_dropout_masks_bit_for_bit()
    {
        foreach (Func<ICompiledModel> make in new Func<ICompiledModel>[] { () => new NormNet(seed: 8), () => new DropNet(seed: 8) })
        {
            ICompiledModel a = make();
            int perSample = a.InputShape.Aggregate(1, (p, d) => p * d), classes = a.OutputShape[0];
            var adamA = new Adam(a.Parameters(), lr: 1e-2);
            var trainerA = new Trainer(a, Loss.CrossEntropy, adamA, batchSize: 8);
            Steps(a, trainerA, 0, 3, perSample, classes);
            string path = Path.Combine(_dir, a.GetType().Name + ".safetensors");
            TrainingCheckpoint.Save(path, a, adamA, null, epoch: 1);
            Steps(a, trainerA, 3, 3, perSample, classes);

            ICompiledModel b = make();
            var adamB = new Adam(b.Parameters(), lr: 1e-2);
            var trainerB = new Trainer(b, Loss.CrossEntropy, adamB, batchSize: 8);
            TrainingCheckpoint.Load(path, b, adamB, null);
            Steps(b, trainerB, 3, 3, perSample, classes);

            var (pa, fa, la) = State(a);
            var (pb, fb, lb) = State(b);
            Assert.Equal(pa, pb);
            Assert.Equal(fa, fb);
            Assert.Equal(la, lb);
            Assert.Contains(la, l => l.Length == 1 && l[0] == 6); // num_batches_tracked or the dropout step: six training passes
        }
    }
}
