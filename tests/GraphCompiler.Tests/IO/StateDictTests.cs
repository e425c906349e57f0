// state_dict save and load with buffers: round trips, a PyTorch-written file, and every error path reported at once with nothing loaded.
using GraphCompiler.IO;
using GraphCompiler.Nn;
using GraphCompiler.Optim;
using GraphCompiler.Tests.Models;
using Xunit;
using KernelData = GraphCompiler.Tests.Kernels.Data;

namespace GraphCompiler.Tests.IO;

public sealed class StateDictTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "gc-statedict-" + Guid.NewGuid().ToString("N"));

    public StateDictTests() => Directory.CreateDirectory(_dir);

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private static string PyTorchFile => Path.Combine(AppContext.BaseDirectory, "Reference", "NormStateDict.safetensors");

    /// <summary>A model whose every parameter and buffer differs from a fresh one's.</summary>
    private static BnSequential Trained()
    {
        var m = new BnSequential(seed: 1);
        var rng = new Rng(9);
        foreach (Parameter p in m.Parameters()) KernelData.Uniform(rng, p.Count).CopyTo(p.Data, 0);
        KernelData.Uniform(rng, 8).CopyTo(m.Bn.RunningMean!.Data, 0);
        KernelData.Uniform(rng, 8).Select(v => v + 2).ToArray().CopyTo(m.Bn.RunningVar!.Data, 0);
        m.Bn.NumBatchesTracked!.Int64Data[0] = 5_000_000_000; // beyond int32: must stay an int64
        m.Drop.Step = 17;
        return m;
    }

    private static (float[][] Params, float[][] Floats, long[][] Longs) Snapshot(ICompiledModel m) =>
        (m.Parameters().Select(p => (float[])p.Data.Clone()).ToArray(),
         m.Buffers().Select(b => (float[])b.Data.Clone()).ToArray(),
         m.Buffers().Select(b => (long[])b.Int64Data.Clone()).ToArray());

    private static void AssertSame((float[][] Params, float[][] Floats, long[][] Longs) expected, ICompiledModel m)
    {
        var actual = Snapshot(m);
        Assert.Equal(expected.Params, actual.Params);
        Assert.Equal(expected.Floats, actual.Floats);
        Assert.Equal(expected.Longs, actual.Longs);
    }

    [Fact]
    public void Save_writes_parameters_and_persistent_buffers_with_PyTorch_names_and_dtypes()
    {
        var tensors = StateDict.Save(Trained());
        Assert.Equal(["0.weight", "0.bias", "1.weight", "1.bias", "3.weight", "3.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked"], tensors.Keys);
        Assert.Equal(SafeTensorDType.I64, tensors["1.num_batches_tracked"].DType);
        Assert.Empty(tensors["1.num_batches_tracked"].Shape); // 0-d, as torch stores it
        Assert.Equal(5_000_000_000, tensors["1.num_batches_tracked"].AsInt64()[0]);
        Assert.Equal(SafeTensorDType.F32, tensors["1.running_var"].DType);
        Assert.DoesNotContain("drop.step", tensors.Keys); // non-persistent, as PyTorch's Dropout has no state_dict entry
    }

    [Fact]
    public void A_file_round_trip_restores_every_parameter_and_buffer()
    {
        var a = Trained();
        string path = Path.Combine(_dir, "model.safetensors");
        StateDict.Save(path, a, new Dictionary<string, string> { ["note"] = "round trip" });
        var b = new BnSequential(seed: 2);
        var result = StateDict.Load(path, b);
        Assert.Empty(result.MissingKeys);
        Assert.Empty(result.UnexpectedKeys);
        Assert.Equal(Snapshot(a).Params, Snapshot(b).Params);
        Assert.Equal(a.Bn.RunningMean!.Data, b.Bn.RunningMean!.Data);
        Assert.Equal(a.Bn.RunningVar!.Data, b.Bn.RunningVar!.Data);
        Assert.Equal(5_000_000_000, b.Bn.NumBatchesTracked!.Int64Data[0]);
        Assert.Equal(0, b.Drop.Step); // not in the state_dict
        Assert.Equal("round trip", SafeTensors.ReadWithMetadata(path).Metadata["note"]);
        Assert.Equal([path], Directory.GetFiles(_dir));
    }

    [Fact]
    public void A_state_dict_saved_by_PyTorch_loads_and_reproduces_its_eval_output()
    {
        var model = new BnSequential();
        StateDict.Load(PyTorchFile, model);
        Assert.Equal(3, model.Bn.NumBatchesTracked!.Int64Data[0]); // three training steps in the script
        Assert.NotEqual(0f, model.Bn.RunningMean!.Data[0]);
        var reference = SafeTensors.Read(Path.Combine(AppContext.BaseDirectory, "Reference", "Norms.safetensors"));
        float[] x = reference["seq.input"].AsFloat();
        float[] y = model.EvalForward(x, x.Length / 6);
        KernelData.AssertClose(y, reference["seq.output_eval"].AsDouble(), 1e-4, "Sequential eval output after loading PyTorch's state_dict");
    }

    [Fact]
    public void Every_missing_unexpected_misshaped_and_mistyped_entry_is_reported_at_once_and_nothing_is_loaded()
    {
        var model = Trained();
        var before = Snapshot(model);
        var tensors = StateDict.Save(new BnSequential(seed: 3));
        tensors.Remove("1.running_mean");
        tensors.Remove("3.bias");
        tensors["extra.weight"] = SafeTensor.FromFloat(new float[1], 1);
        tensors["0.weight"] = SafeTensor.FromFloat(new float[12], 2, 6);
        tensors["1.num_batches_tracked"] = SafeTensor.FromFloat([3f]);
        tensors["1.running_var"] = SafeTensor.FromDouble(new double[8], 8);
        var ex = Assert.Throws<InvalidDataException>(() => StateDict.Load(model, tensors));
        Assert.Equal(string.Join(Environment.NewLine,
            "Error(s) in loading state_dict for BnSequential:",
            "  Missing key(s): 3.bias, 1.running_mean",
            "  Unexpected key(s): extra.weight",
            "  Size mismatch for 0.weight: expected [8, 6], got [2, 6]",
            "  Dtype mismatch for 1.running_var: expected F32, got F64",
            "  Dtype mismatch for 1.num_batches_tracked: expected I64, got F32"), ex.Message);
        AssertSame(before, model);
    }

    [Fact]
    public void Non_strict_load_returns_missing_and_unexpected_keys_and_loads_the_rest()
    {
        var model = Trained();
        var source = new BnSequential(seed: 4);
        source.Bn.NumBatchesTracked!.Int64Data[0] = 42;
        var tensors = StateDict.Save(source);
        tensors.Remove("1.running_var");
        tensors["head.bias"] = SafeTensor.FromFloat(new float[2], 2);
        float[] keptVar = (float[])model.Bn.RunningVar!.Data.Clone();
        var result = StateDict.Load(model, tensors, strict: false);
        Assert.Equal(["1.running_var"], result.MissingKeys);
        Assert.Equal(["head.bias"], result.UnexpectedKeys);
        Assert.Equal(source.L0.Weight.Data, model.L0.Weight.Data);
        Assert.Equal(42, model.Bn.NumBatchesTracked!.Int64Data[0]);
        Assert.Equal(keptVar, model.Bn.RunningVar.Data);
    }

    [Fact]
    public void Non_strict_load_still_rejects_a_misshaped_entry_and_loads_nothing()
    {
        var model = Trained();
        var before = Snapshot(model);
        var tensors = StateDict.Save(new BnSequential(seed: 5));
        tensors.Remove("0.bias");
        tensors["1.running_mean"] = SafeTensor.FromFloat(new float[16], 16);
        var ex = Assert.Throws<InvalidDataException>(() => StateDict.Load(model, tensors, strict: false));
        Assert.Equal(string.Join(Environment.NewLine,
            "Error(s) in loading state_dict for BnSequential:",
            "  Size mismatch for 1.running_mean: expected [8], got [16]"), ex.Message);
        AssertSame(before, model);
    }

    [Fact]
    public void A_bad_file_names_the_file_and_loads_nothing()
    {
        var model = Trained();
        var before = Snapshot(model);
        string path = Path.Combine(_dir, "wrong.safetensors");
        var tensors = StateDict.Save(model);
        tensors["3.weight"] = SafeTensor.FromFloat(new float[8], 1, 8);
        SafeTensors.Write(path, tensors);
        var ex = Assert.Throws<InvalidDataException>(() => StateDict.Load(path, model));
        Assert.StartsWith($"file {path}: Error(s) in loading state_dict for BnSequential:", ex.Message);
        Assert.Contains("Size mismatch for 3.weight: expected [3, 8], got [1, 8]", ex.Message);
        AssertSame(before, model);

        File.WriteAllBytes(path, [1, 2, 3]);
        Assert.StartsWith($"file {path}: 3 bytes is too short", Assert.Throws<InvalidDataException>(() => StateDict.Load(path, model)).Message);
        AssertSame(before, model);
    }

    [Fact]
    public void A_save_that_fails_half_way_leaves_the_previous_file_and_no_temporary_file()
    {
        string path = Path.Combine(_dir, "model.safetensors");
        StateDict.Save(path, new BnSequential(seed: 6));
        byte[] good = File.ReadAllBytes(path);
        SafeTensors.FaultAfterHeaderForTests.Value = () => throw new IOException("simulated: disk full");
        try
        {
            // The error names the file being saved, not the hidden temporary one.
            Assert.Equal($"cannot save {path}: simulated: disk full The previous file, if any, is unchanged.",
                Assert.Throws<IOException>(() => StateDict.Save(path, Trained())).Message);
        }
        finally
        {
            SafeTensors.FaultAfterHeaderForTests.Value = null;
        }
        Assert.Equal(good, File.ReadAllBytes(path));
        Assert.Equal([path], Directory.GetFiles(_dir));
    }

    [Fact]
    public void Training_checkpoints_carry_every_buffer_including_non_persistent_ones()
    {
        var a = Trained();
        string path = Path.Combine(_dir, "ckpt.safetensors");
        TrainingCheckpoint.Save(path, a, new Sgd(a.Parameters(), lr: 0.1), null, epoch: 3);
        var stored = SafeTensors.Read(path);
        Assert.Equal(SafeTensorDType.I64, stored["1.num_batches_tracked"].DType);
        Assert.Equal(17, stored["drop.step"].AsInt64()[0]);

        var b = new BnSequential(seed: 7);
        Assert.Equal(3, TrainingCheckpoint.Load(path, b, new Sgd(b.Parameters(), lr: 0.1), null).Epoch);
        AssertSame(Snapshot(a), b);
        Assert.Equal(17, b.Drop.Step);
    }

    [Fact]
    public void A_training_checkpoint_without_a_buffer_or_with_a_mistyped_one_is_rejected_and_nothing_is_loaded()
    {
        string path = Path.Combine(_dir, "ckpt.safetensors");
        var a = Trained();
        TrainingCheckpoint.Save(path, a, new Sgd(a.Parameters(), lr: 0.1), null, epoch: 1);
        var tensors = SafeTensors.ReadWithMetadata(path);
        var edited = tensors.Tensors.Where(kv => kv.Key != "1.running_var").ToList();
        SafeTensors.Write(path, edited, tensors.Metadata);
        var b = new BnSequential(seed: 8);
        var before = Snapshot(b);
        var ex = Assert.Throws<InvalidDataException>(() => TrainingCheckpoint.Load(path, b, new Sgd(b.Parameters(), lr: 0.1), null));
        Assert.Equal($"file {path}: missing model buffer(s) of BnSequential: 1.running_var", ex.Message);
        AssertSame(before, b);

        edited = tensors.Tensors.Select(kv => kv.Key == "1.num_batches_tracked" ? new KeyValuePair<string, SafeTensor>(kv.Key, SafeTensor.FromInt32([5])) : kv).ToList();
        SafeTensors.Write(path, edited, tensors.Metadata);
        ex = Assert.Throws<InvalidDataException>(() => TrainingCheckpoint.Load(path, b, new Sgd(b.Parameters(), lr: 0.1), null));
        Assert.Equal($"file {path}: entry '1.num_batches_tracked' is I32, expected I64", ex.Message);
        AssertSame(before, b);
    }
}
