// Wrong inputs and targets given to the trainer or the evaluation helpers are refused before any kernel runs or any state moves.
using FashionMnist;
using GraphCompiler.Nn;
using GraphCompiler.Optim;
using GraphCompiler.Tests.Fuzz;
using GraphCompiler.Tests.Models;
using GraphCompiler.Training;
using Xunit;

namespace GraphCompiler.Tests.Training;

public sealed class InputCheckTests
{
    private static float[] Values(int n) => Enumerable.Range(0, n).Select(i => (i % 17) / 17f).ToArray();

    /// <summary>Runs <paramref name="call"/>, which must throw; the model's parameters and every buffer (BatchNorm statistics, counters, dropout steps) must be as before.</summary>
    private static string RejectedWithoutChange(ICompiledModel model, Action call)
    {
        string before = StateDictTarget.ModelDigest(model);
        var e = Assert.ThrowsAny<ArgumentException>(call);
        Assert.Equal(before, StateDictTarget.ModelDigest(model));
        return e.Message;
    }

    [Fact]
    public void A_flat_batch_for_an_image_model_and_a_scalar_are_refused_in_shape_terms()
    {
        var model = new Mlp(seed: 1);
        var trainer = new Trainer(model, Loss.Nll, new Sgd(model.Parameters(), 0.1), batchSize: 8);
        Assert.Equal("Trainer.Step: the input has shape [8, 784] (rank 2), but Mlp is declared with Input = \"N,1,28,28\": a batch of shape [N, 1, 28, 28] (rank 4). (Parameter 'inputs')",
            RejectedWithoutChange(model, () => trainer.Step(new Tensor(Values(8 * 784), [8, 784]), new int[8])));
        Assert.Equal("Trainer.Step: the input is a scalar (rank 0), but Mlp is declared with Input = \"N,1,28,28\": a batch of shape [N, 1, 28, 28]. (Parameter 'inputs')",
            RejectedWithoutChange(model, () => trainer.Step(new Tensor([1f], []), new int[1])));
        Assert.Equal("Predict: the input is a scalar (rank 0), but Mlp is declared with Input = \"N,1,28,28\": a batch of shape [N, 1, 28, 28]. (Parameter 'inputs')",
            Assert.Throws<ArgumentException>(() => model.Predict(new Tensor([1f], []))).Message);
    }

    [Fact]
    public void An_out_of_range_label_is_refused_before_batchnorm_statistics_or_counters_move()
    {
        var model = new NormNet();
        var trainer = new Trainer(model, Loss.CrossEntropy, new Adam(model.Parameters(), 1e-3), batchSize: 4);
        Assert.Equal("cross_entropy: target 5 at sample 2 is outside the class range [0, 5) and is not ignore_index (-100). (Parameter 'targets')",
            RejectedWithoutChange(model, () => trainer.Step(Values(4 * 3 * 8 * 8), [0, 1, 5, 2], 4)));
        Assert.Equal("cross_entropy: target -1 at sample 0 is outside the class range [0, 5) and is not ignore_index (-100). (Parameter 'targets')",
            Assert.Throws<ArgumentException>(() => model.Loss(Loss.CrossEntropy, new Tensor(Values(2 * 3 * 8 * 8), [2, 3, 8, 8]), [-1, 0])).Message);
        // ignore_index itself is a valid target.
        trainer.Step(Values(4 * 3 * 8 * 8), [0, -100, 4, 2], 4);
    }

    [Fact]
    public void The_dropout_step_does_not_advance_on_a_rejected_batch()
    {
        var model = new DropNet();
        var trainer = new Trainer(model, Loss.CrossEntropy, new Sgd(model.Parameters(), 0.1), batchSize: 3);
        Assert.Equal("Trainer: 3 samples need 3 class targets (one per sample), but 2 were given. (Parameter 'targets')",
            RejectedWithoutChange(model, () => trainer.Step(Values(3 * 12), [0, 1], 3)));
    }

    [Fact]
    public void Float_targets_must_match_the_outputs_exactly_and_the_batch_must_fit_the_workspace()
    {
        var model = new Regressor();
        var trainer = new Trainer(model, new MseLoss(), new Sgd(model.Parameters(), 0.1), batchSize: 13);
        // 13 samples x 3 outputs = 39 values; 40 targets were silently cut to 39 before.
        Assert.Equal("Trainer: 13 samples with outputs of shape [3] need 39 float targets, but 40 were given. (Parameter 'targets')",
            RejectedWithoutChange(model, () => trainer.Step(Values(13 * 6), Values(40), 13)));
        Assert.StartsWith("Trainer: a batch of 14 samples, but the trainer was created with batchSize 13: a step takes 1 to 13 samples.",
            RejectedWithoutChange(model, () => trainer.Step(Values(14 * 6), Values(14 * 3), 14)));
        Assert.Equal("Trainer: 2 samples of shape [6] need 12 input values, but 11 were given. (Parameter 'inputs')",
            RejectedWithoutChange(model, () => trainer.Step(Values(11), Values(6), 2)));
        Assert.Equal("Evaluation.Loss: 2 samples with outputs of shape [3] need 6 float targets, but 7 were given. (Parameter 'targets')",
            Assert.Throws<ArgumentException>(() => model.Loss(new MseLoss(), new Tensor(Values(12), [2, 6]), Values(7))).Message);
    }
}
