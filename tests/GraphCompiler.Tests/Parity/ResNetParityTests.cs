// Issue 3's end-to-end parity: PyTorch state_dicts of ResNetMini (BatchNorm, identity and projection shortcuts) and
// CifarNet load strictly into the generated models, and logits, loss, every parameter gradient and the updated BatchNorm
// buffers match PyTorch 1.13 in train and in eval mode (reference from tests/reference/make_resnet_reference.py).
// ResNetMini also trains on a small generated image task.
using Cifar;
using GraphCompiler.IO;
using GraphCompiler.Nn;
using GraphCompiler.Optim;
using GraphCompiler.Tests.Models;
using GraphCompiler.Training;
using Xunit;
using Xunit.Abstractions;

namespace GraphCompiler.Tests.Parity;

public class ResNetParityTests(ITestOutputHelper output)
{
    private static string ReferencePath(string file) => Path.Combine(AppContext.BaseDirectory, "Reference", file);

    public static TheoryData<string, string> Cases => new()
    {
        { "ResNetMini", "eval" }, { "ResNetMini", "train" },
        { "CifarNet", "eval" }, { "CifarNet", "train" },
    };

    /// <summary>A fresh generated model (its own random init) with PyTorch's state_dict loaded strictly from the file.</summary>
    private static ICompiledModel Load(string model)
    {
        ICompiledModel m = model == "ResNetMini" ? new ResNetMini(seed: 99) : new CifarNet(seed: 99);
        var result = StateDict.Load(ReferencePath(model + ".state_dict.safetensors"), m, strict: true);
        Assert.Empty(result.MissingKeys);
        Assert.Empty(result.UnexpectedKeys);
        return m;
    }

    private static SafeTensorFile Reference(string model) =>
        SafeTensors.ReadWithMetadata(ReferencePath(model == "ResNetMini" ? "ResNetMini.safetensors" : "CifarNetModes.safetensors"));

    [Theory]
    [MemberData(nameof(Cases))]
    public void Logits_loss_gradients_and_running_statistics_match_pytorch(string name, string mode)
    {
        var file = Reference(name);
        var r = file.Tensors;
        ICompiledModel model = Load(name);
        // The names, order and values PyTorch saved are what the model now holds.
        Assert.Equal(file.Metadata["parameters"].Split(','), model.Parameters().Select(p => p.Name));
        Assert.Equal(file.Metadata.TryGetValue("buffers", out string? buffers) && buffers.Length > 0 ? buffers.Split(',') : [],
            model.Buffers().Select(b => b.Name));
        foreach (Parameter p in model.Parameters()) Assert.Equal(r[p.Name].AsFloat(), p.Data);

        model.Train(mode == "train");
        float[] input = r["input"].AsFloat();
        int[] target = r["target"].AsInt32();
        int n = target.Length;
        var trainer = new Trainer(model, Loss.CrossEntropy, new Sgd(model.Parameters(), lr: 0.1f), batchSize: n);
        float loss = trainer.ForwardBackward(input, target, n);

        string p0 = $"{name} {mode}.";
        output.WriteLine($"{p0}: worst max|diff|/max|ref| over output, loss and gradients {Worst(model, r, mode, trainer.Workspace.Output, loss):E2}");
        PyTorchParityTests.AssertClose(p0 + "output", r[mode + ".output"].AsFloat(), trainer.Workspace.Output.AsSpan(0, n * 10));
        PyTorchParityTests.AssertClose(p0 + "loss", r[mode + ".loss"].AsFloat(), [loss]);
        Assert.Equal(r.Keys.Count(k => k.StartsWith(mode + ".grad.", StringComparison.Ordinal)), model.Parameters().Count);
        foreach (Parameter p in model.Parameters())
            PyTorchParityTests.AssertClose(p0 + "grad." + p.Name, r[mode + ".grad." + p.Name].AsFloat(), p.Grad);

        // Train mode updates the running statistics from the batch and counts it; eval mode leaves them as loaded.
        foreach (ModelBuffer b in model.Buffers())
        {
            SafeTensor expected = mode == "train" ? r["train.after." + b.Name] : r[b.Name];
            if (b.DType == BufferDType.Int64) Assert.Equal(expected.AsInt64(), b.Int64Data);
            else PyTorchParityTests.AssertClose(p0 + "after." + b.Name, expected.AsFloat(), b.Data);
        }
        if (name == "ResNetMini")
        {
            var rn = (ResNetMini)model;
            Assert.Equal(mode == "train" ? 4 : 3, rn.Layer2DownsampleBn.NumBatchesTracked!.Int64Data[0]);
        }
    }

    private static double Worst(ICompiledModel model, IReadOnlyDictionary<string, SafeTensor> r, string mode, float[] output, float loss)
    {
        static double Rel(float[] e, ReadOnlySpan<float> a)
        {
            double scale = 0, worst = 0;
            for (int i = 0; i < e.Length; i++) (scale, worst) = (Math.Max(scale, Math.Abs(e[i])), Math.Max(worst, Math.Abs((double)a[i] - e[i])));
            return worst / scale;
        }
        float[] o = r[mode + ".output"].AsFloat();
        double w = Math.Max(Rel(o, output.AsSpan(0, o.Length)), Rel(r[mode + ".loss"].AsFloat(), [loss]));
        foreach (Parameter p in model.Parameters()) w = Math.Max(w, Rel(r[mode + ".grad." + p.Name].AsFloat(), p.Grad));
        return w;
    }

    [Fact]
    public void CifarNet_has_no_mode_dependent_layers_so_train_and_eval_agree_as_in_pytorch()
    {
        var r = Reference("CifarNet").Tensors;
        Assert.Equal(r["eval.output"].AsFloat(), r["train.output"].AsFloat());
        ICompiledModel model = Load("CifarNet");
        Tensor x = r["input"].ToTensor();
        float[] eval = model.Predict(x).Data;
        model.Train();
        var ws = model.CreateWorkspace(x.Shape[0], training: false);
        ws.SetInput(x.Data, x.Shape[0]);
        model.Forward(ws);
        Assert.Equal(eval, ws.Output.AsSpan(0, eval.Length).ToArray());
    }

    [Fact]
    public void A_strict_load_into_a_model_with_a_renamed_layer_lists_the_missing_and_unexpected_entries()
    {
        var tensors = SafeTensors.Read(ReferencePath("ResNetMini.state_dict.safetensors")).ToDictionary();
        // A checkpoint whose projection shortcut is called "shortcut" instead of "downsample".
        foreach (string key in tensors.Keys.Where(k => k.StartsWith("layer2.0.downsample.", StringComparison.Ordinal)).ToList())
        {
            tensors["layer2.0.shortcut." + key["layer2.0.downsample.".Length..]] = tensors[key];
            tensors.Remove(key);
        }
        var model = new ResNetMini(seed: 1);
        float[] before = (float[])model.Conv1.Weight.Data.Clone();
        var ex = Assert.Throws<InvalidDataException>(() => StateDict.Load(model, tensors, strict: true));
        Assert.Contains("Error(s) in loading state_dict for ResNetMini:", ex.Message);
        Assert.Contains("Missing key(s): layer2.0.downsample.0.weight, layer2.0.downsample.1.weight, layer2.0.downsample.1.bias, " +
            "layer2.0.downsample.1.running_mean, layer2.0.downsample.1.running_var, layer2.0.downsample.1.num_batches_tracked", ex.Message);
        Assert.Contains("Unexpected key(s): layer2.0.shortcut.0.weight, layer2.0.shortcut.1.bias, layer2.0.shortcut.1.num_batches_tracked, " +
            "layer2.0.shortcut.1.running_mean, layer2.0.shortcut.1.running_var, layer2.0.shortcut.1.weight", ex.Message);
        Assert.Equal(before, model.Conv1.Weight.Data); // nothing copied
    }

    /// <summary>10 classes of 3x16x16 stripes: class c at angle c·18° in its own colour, random phase and brightness, noise.</summary>
    private static (float[] X, int[] Y) Stripes(int count, ulong seed)
    {
        const int size = 16, perSample = 3 * size * size;
        var x = new float[count * perSample];
        var y = new int[count];
        var rng = new Rng(seed);
        for (int i = 0; i < count; i++)
        {
            int label = y[i] = rng.NextInt(10);
            float angle = label * MathF.PI / 10f, fx = MathF.Cos(angle) * 1.2f, fy = MathF.Sin(angle) * 1.2f;
            float phase = rng.Uniform(0, 2 * MathF.PI), brightness = rng.Uniform(0.6f, 1.2f);
            for (int c = 0; c < 3; c++)
            {
                float colour = 0.3f + 0.7f * ((label * (37 + 16 * c) + 3 * c) % 10) / 9f;
                for (int v = 0; v < size; v++)
                    for (int u = 0; u < size; u++)
                        x[i * perSample + (c * size + v) * size + u] = brightness * colour * MathF.Sin(fx * u + fy * v + phase) + 0.5f * rng.Normal();
            }
        }
        return (x, y);
    }

    [Fact]
    public void ResNetMini_trains_and_generalises_in_eval_mode()
    {
        const int batch = 32, steps = 60;
        var model = new ResNetMini(seed: 7);
        var (x, y) = Stripes(batch * 8, 1);
        var (testX, testY) = Stripes(200, 2);
        var testInput = new Tensor(testX, [200, 3, 16, 16]);
        float before = model.Loss(Loss.CrossEntropy, testInput, testY);

        var trainer = new Trainer(model, Loss.CrossEntropy, new Adam(model.Parameters(), lr: 0.01f), batchSize: batch);
        int perBatch = batch * 3 * 16 * 16;
        var losses = new List<float>();
        for (int s = 0; s < steps; s++)
        {
            int b = s % 8;
            losses.Add(trainer.Step(x.AsSpan(b * perBatch, perBatch), y.AsSpan(b * batch, batch), batch));
        }
        float first = losses.Take(8).Average(), last = losses.TakeLast(8).Average();
        output.WriteLine($"training loss {first} → {last}");
        Assert.True(last < 0.5f * first, $"training loss {first} → {last}");

        // Eval mode normalises with the running statistics the training passes accumulated.
        Assert.Equal(steps, model.Bn1.NumBatchesTracked!.Int64Data[0]);
        Tensor logits = model.Predict(testInput);
        var predicted = new int[200];
        Evaluation.ArgMax(logits.Data, 200, 10, predicted);
        double accuracy = predicted.Zip(testY).Count(t => t.First == t.Second) / 200.0;
        float after = model.Loss(Loss.CrossEntropy, testInput, testY);
        output.WriteLine($"held-out loss {before} → {after}, accuracy {accuracy:P0}");
        Assert.True(after < 0.5f * before && accuracy > 0.6, $"held-out loss {before} → {after}, accuracy {accuracy:P0}");
    }
}
