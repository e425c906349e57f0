// A checkpoint holding values no constructor would accept (lr = ±inf or -1, momentum 2, eps = inf, bad Adam moments) is rejected and changes nothing.
using GraphCompiler.IO;
using GraphCompiler.Nn;
using GraphCompiler.Optim;
using GraphCompiler.Optim.Schedulers;
using GraphCompiler.Tests.Models;
using Xunit;

namespace GraphCompiler.Tests.IO;

public sealed class CheckpointValidationTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "gc-ckpt-validation-" + Guid.NewGuid().ToString("N"));

    public CheckpointValidationTests() => Directory.CreateDirectory(_dir);

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private static void Step(BnSequential model, Optimizer optimizer)
    {
        foreach (Parameter p in model.Parameters())
            for (int i = 0; i < p.Count; i++) p.Grad[i] = 0.01f * ((i % 5) - 2);
        optimizer.Step();
    }

    /// <summary>Saves a stepped Adam (or SGD) checkpoint, rewrites one entry with <paramref name="edit"/>, and loads it into trained objects.</summary>
    private string LoadEdited(bool sgd, string entry, Func<SafeTensor, SafeTensor> edit)
    {
        var model = new BnSequential(seed: 1);
        Optimizer opt = sgd ? new Sgd(model.Parameters(), lr: 0.1, momentum: 0.9) : new Adam(model.Parameters(), lr: 1e-3);
        var schedule = new StepLR(opt, stepSize: 2);
        Step(model, opt);
        string path = Path.Combine(_dir, "ckpt.safetensors");
        TrainingCheckpoint.Save(path, model, opt, schedule, epoch: 1);
        SafeTensorFile file = SafeTensors.ReadWithMetadata(path);
        var tensors = file.Tensors.ToDictionary(kv => kv.Key, kv => kv.Key == entry ? edit(kv.Value) : kv.Value);
        Assert.Contains(entry, file.Tensors.Keys);
        SafeTensors.Write(path, tensors, file.Metadata);

        // Load into objects with state of their own, which a rejected load must leave alone.
        var target = new BnSequential(seed: 2);
        Optimizer targetOpt = sgd ? new Sgd(target.Parameters(), lr: 0.1, momentum: 0.9) : new Adam(target.Parameters(), lr: 1e-3);
        var targetSchedule = new StepLR(targetOpt, stepSize: 2);
        Step(target, targetOpt);
        string probe = Path.Combine(_dir, "before.safetensors");
        TrainingCheckpoint.Save(probe, target, targetOpt, targetSchedule, epoch: 0);
        byte[] before = File.ReadAllBytes(probe);
        var error = Assert.Throws<InvalidDataException>(() => TrainingCheckpoint.Load(path, target, targetOpt, targetSchedule));
        TrainingCheckpoint.Save(probe, target, targetOpt, targetSchedule, epoch: 0);
        Assert.Equal(before, File.ReadAllBytes(probe));
        Assert.StartsWith($"file {path}: ", error.Message);
        return error.Message;
    }

    private static SafeTensor Doubles(params double[] v) => SafeTensor.FromDouble(v, v.Length);

    [Theory]
    [InlineData(double.PositiveInfinity, "Infinity")]
    [InlineData(double.NegativeInfinity, "-Infinity")]
    [InlineData(-1.0, "-1")]
    [InlineData(double.NaN, "NaN")]
    public void A_learning_rate_that_is_not_finite_and_non_negative_is_rejected(double lr, string text) =>
        Assert.Contains($"entry 'optimizer.param_groups.0.lr' = [{text}]: Learning rate must be finite and non-negative.",
            LoadEdited(sgd: false, "optimizer.param_groups.0.lr", _ => Doubles(lr)));

    [Fact]
    public void Momentum_above_one_and_infinite_eps_are_rejected()
    {
        Assert.Contains("entry 'optimizer.param_groups.0.momentum' = [2]: momentum must be in [0, 1].",
            LoadEdited(sgd: true, "optimizer.param_groups.0.momentum", _ => Doubles(2)));
        Assert.Contains("entry 'optimizer.param_groups.0.eps' = [Infinity]: eps must be finite and non-negative.",
            LoadEdited(sgd: false, "optimizer.param_groups.0.eps", _ => Doubles(double.PositiveInfinity)));
    }

    [Theory]
    [InlineData(float.NaN, "NaN")]
    [InlineData(-0.5f, "-0.5")]
    public void A_second_moment_that_is_negative_or_nan_is_rejected(float value, string text) =>
        Assert.Contains($"entry 'optimizer.state.0.exp_avg_sq' element 3 is {text}; optimizer state must be finite and non-negative",
            LoadEdited(sgd: false, "optimizer.state.0.exp_avg_sq", s =>
            {
                float[] v = s.AsFloat();
                v[3] = value;
                return SafeTensor.FromFloat(v, [.. s.Shape]);
            }));

    [Fact]
    public void An_infinite_momentum_buffer_and_scheduler_rate_are_rejected()
    {
        Assert.Contains("entry 'optimizer.state.1.momentum_buffer' element 0 is -Infinity; optimizer state must be finite",
            LoadEdited(sgd: true, "optimizer.state.1.momentum_buffer", s =>
            {
                float[] v = s.AsFloat();
                v[0] = float.NegativeInfinity;
                return SafeTensor.FromFloat(v, [.. s.Shape]);
            }));
        Assert.Contains("StepLR state 'base_lrs' holds -Infinity, not a finite non-negative learning rate.",
            LoadEdited(sgd: false, "scheduler.base_lrs", _ => Doubles(double.NegativeInfinity)));
    }

    [Fact]
    public void Constructors_refuse_the_same_values()
    {
        var ps = new BnSequential().Parameters();
        Assert.Contains("finite", Assert.Throws<ArgumentOutOfRangeException>(() => new Sgd(ps, double.PositiveInfinity)).Message);
        Assert.Contains("momentum must be in [0, 1]", Assert.Throws<ArgumentOutOfRangeException>(() => new Sgd(ps, 0.1, momentum: 2)).Message);
        Assert.Contains("dampening must be in [0, 1]", Assert.Throws<ArgumentOutOfRangeException>(() => new Sgd(ps, 0.1, momentum: 0.5, dampening: -1)).Message);
        Assert.Contains("eps must be finite", Assert.Throws<ArgumentOutOfRangeException>(() => new Adam(ps, 1e-3, eps: double.PositiveInfinity)).Message);
        Assert.Contains("weight_decay must be finite", Assert.Throws<ArgumentOutOfRangeException>(() => new AdamW(ps, 1e-3, weightDecay: double.NaN)).Message);
    }
}
