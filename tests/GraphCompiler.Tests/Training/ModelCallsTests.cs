// The tensor-level calls a PyTorch user reaches for: model(x) of any batch, zero_grad, loss.backward() without an optimizer, losses on tensors.
using Cifar;
using FashionMnist;
using GraphCompiler.Nn;
using GraphCompiler.Optim;
using GraphCompiler.Tests.Models;
using GraphCompiler.Training;
using Xunit;

namespace GraphCompiler.Tests.Training;

public sealed class ModelCallsTests
{
    private static Tensor Batch(int n, int[] sampleShape, ulong seed)
    {
        var (x, _) = TrainerTests.RandomBatch(n, sampleShape.Aggregate(1, (a, d) => a * d), seed);
        return new Tensor(x, [n, .. sampleShape]);
    }

    private static float[][] Grads(ICompiledModel model) => [.. model.Parameters().Select(p => (float[])p.Grad.Clone())];

    [Fact]
    public void Forward_of_a_batch_larger_than_a_chunk_equals_the_trainers_forward_and_the_eager_body()
    {
        var model = new Mlp(seed: 4);
        ICompiledModel compiled = model;
        Tensor x = Batch(300, [1, 28, 28], 7); // 256 + 44: two chunks
        Tensor y = compiled.Forward(x);
        Assert.Equal([300, 10], y.Shape);

        var trainer = new Trainer(model, Loss.Nll, new Sgd(model.Parameters(), lr: 0.1), batchSize: 300);
        trainer.ForwardBackward(x.Data, new int[300], 300); // no optimizer step: the parameters stay
        Assert.Equal(trainer.Workspace.Output.AsSpan(0, 3000).ToArray(), y.Data);

        Tensor eager = model.Forward(x); // the class's own Forward is the forward body run eagerly
        for (int i = 0; i < y.Count; i++) Assert.True(Math.Abs(eager.Data[i] - y.Data[i]) <= 1e-5f, $"element {i}: {eager.Data[i]} vs {y.Data[i]}");

        // One sample, and a batch of 1,000 (four chunks) whose every row equals the row computed alone.
        Tensor many = Batch(1000, [1, 28, 28], 8);
        Tensor all = compiled.Forward(many);
        Tensor last = compiled.Forward(new Tensor(many.Data.AsSpan(999 * 784, 784).ToArray(), [1, 1, 28, 28]));
        Assert.Equal(all.Data.AsSpan(9990, 10).ToArray(), last.Data);
    }

    [Fact]
    public void Forward_allocates_only_its_result_and_nothing_into_a_given_output()
    {
        ICompiledModel model = new Mlp(seed: 5);
        Tensor x = Batch(300, [1, 28, 28], 9);
        var output = new Tensor([300, 10]);
        model.Forward(x, output); // first call: the workspace
        Assert.Equal(0, Allocations.LeastPerRound(() => model.Forward(x, output)));
        long bytes = Allocations.LeastPerRound(() => model.Forward(x));
        Assert.InRange(bytes, 300 * 10 * 4, 300 * 10 * 4 + 200); // the float[3000], its shape and the Tensor object
    }

    [Fact]
    public void BatchNorm_in_training_mode_runs_the_batch_whole_and_eval_mode_in_chunks_with_the_same_numbers()
    {
        Tensor x = Batch(300, [3, 8, 8], 10);
        var whole = new NormNet(seed: 6);
        var chunked = new NormNet(seed: 6);
        var ws = whole.CreateWorkspace(300, training: false);
        ws.SetInput(x.Data, 300);
        whole.Forward(ws);
        Tensor y = ((ICompiledModel)chunked).Forward(x);
        Assert.Equal(ws.Output.AsSpan(0, 300 * 5).ToArray(), y.Data); // batch statistics over all 300
        Assert.Equal(whole.Bn1.RunningMean!.Data, chunked.Bn1.RunningMean!.Data);

        chunked.Eval();
        whole.Eval();
        ws.SetInput(x.Data, 300);
        whole.Forward(ws);
        Assert.Equal(ws.Output.AsSpan(0, 300 * 5).ToArray(), chunked.Predict(x).Data);
        Assert.Equal(ws.Output.AsSpan(0, 300 * 5).ToArray(), ((ICompiledModel)chunked).Forward(x).Data);
    }

    [Fact]
    public void Backward_without_an_optimizer_gives_the_gradients_of_a_trainer_step_and_accumulates_like_pytorch()
    {
        Tensor x = Batch(4, [3, 32, 32], 11);
        int[] y = [3, 0, 9, 5];
        var viaTrainer = new CifarNet(seed: 2);
        float expectedLoss = new Trainer(viaTrainer, Loss.CrossEntropy, new Sgd(viaTrainer.Parameters(), lr: 0.1), batchSize: 4)
            .ForwardBackward(x.Data, y, 4);
        float[][] expected = Grads(viaTrainer);

        var model = new CifarNet(seed: 2);
        foreach (Parameter p in model.Parameters()) p.Grad.AsSpan().Fill(7f);
        model.ZeroGrad();
        Assert.All(model.Parameters(), p => Assert.All(p.Grad, g => Assert.Equal(0f, g)));
        Assert.Equal(expectedLoss, model.Backward(x, y, Loss.CrossEntropy));
        float[][] once = Grads(model);
        for (int i = 0; i < once.Length; i++) Assert.Equal(expected[i], once[i]);
        Assert.Contains(once, g => g.Any(v => v != 0));

        // loss.backward() twice without zero_grad: the gradients add up.
        model.Backward(x, y, Loss.CrossEntropy);
        float[][] twice = Grads(model);
        for (int i = 0; i < twice.Length; i++)
        {
            // (0 + a) + b then (g + a) + b: equal to 2g up to the last bits of the kernels' partial sums.
            float scale = expected[i].Max(Math.Abs);
            for (int j = 0; j < twice[i].Length; j++)
                Assert.True(Math.Abs(twice[i][j] - 2 * expected[i][j]) <= 1e-6f * scale, $"{model.Parameters()[i].Name}[{j}]: {twice[i][j]} vs 2 × {expected[i][j]}");
        }
    }

    [Fact]
    public void Backward_takes_the_fused_nll_path_and_float_targets_and_allocates_nothing_once_warm()
    {
        Tensor x = Batch(16, [1, 28, 28], 12);
        var (_, y) = TrainerTests.RandomBatch(16, 1, 13);
        var viaTrainer = new Mlp(seed: 3);
        new Trainer(viaTrainer, Loss.Nll, new Sgd(viaTrainer.Parameters(), lr: 0.1), batchSize: 64).ForwardBackward(x.Data, y, 16);
        var model = new Mlp(seed: 3);
        model.Backward(x, y, Loss.Nll);
        float[][] expected = Grads(viaTrainer), actual = Grads(model);
        for (int i = 0; i < actual.Length; i++) Assert.Equal(expected[i], actual[i]);
        Assert.Equal(0, Allocations.LeastPerRound(() => { model.ZeroGrad(); model.Backward(x, y, Loss.Nll); }));

        var regression = new Regressor(seed: 1);
        var reference = new Regressor(seed: 1);
        Tensor rx = Batch(5, [6], 14), targets = Batch(5, [3], 15);
        float want = new Trainer(reference, new MseLoss(), new Sgd(reference.Parameters(), lr: 0.1), batchSize: 5).ForwardBackward(rx.Data, targets.Data, 5);
        Assert.Equal(want, regression.Backward(rx, targets, new MseLoss()));
        Assert.Equal(reference.Fc1.Weight.Grad, regression.Fc1.Weight.Grad);
    }

    [Fact]
    public void Bad_calls_are_refused_in_the_users_terms_before_any_kernel_runs()
    {
        var model = new Mlp(seed: 1);
        ICompiledModel compiled = model;
        Assert.Equal("Forward: the input has shape [8, 784] (rank 2), but Mlp is declared with Input = \"N,1,28,28\": a batch of shape [N, 1, 28, 28] (rank 4). (Parameter 'inputs')",
            Assert.Throws<ArgumentException>(() => compiled.Forward(new Tensor([8, 784]))).Message);
        Assert.Equal("Forward: the output tensor has shape [8, 10], but a batch of 2 gives [2, 10]. (Parameter 'output')",
            Assert.Throws<ArgumentException>(() => compiled.Forward(new Tensor([2, 1, 28, 28]), new Tensor([8, 10]))).Message);
        Assert.Equal("Backward: 2 samples need 2 class targets (one per sample), but 3 were given. (Parameter 'targets')",
            Assert.Throws<ArgumentException>(() => model.Backward(new Tensor([2, 1, 28, 28]), [1, 2, 3], Loss.Nll)).Message);
        Assert.Equal("nll_loss: target 10 at sample 1 is outside the class range [0, 10) and is not ignore_index (-100). (Parameter 'targets')",
            Assert.Throws<ArgumentException>(() => model.Backward(new Tensor([2, 1, 28, 28]), [1, 10], Loss.Nll)).Message);
        Assert.Equal("Backward: mse_loss takes float targets shaped like the output; pass them as a Tensor. (Parameter 'targets')",
            Assert.Throws<ArgumentException>(() => model.Backward(new Tensor([2, 1, 28, 28]), [1, 2], new MseLoss())).Message);
        Assert.All(model.Parameters(), p => Assert.All(p.Grad, g => Assert.Equal(0f, g)));

        var regressor = new Regressor(seed: 2);
        var trainer = new Trainer(regressor, new MseLoss(), new Sgd(regressor.Parameters(), lr: 0.1), batchSize: 4);
        Assert.Equal("Trainer.Step: the targets have shape [4, 2], but a batch of 4 gives outputs of shape [4, 3] and needs targets of that shape. (Parameter 'targets')",
            Assert.Throws<ArgumentException>(() => trainer.Step(new Tensor([4, 6]), new Tensor([4, 2]))).Message);
        Assert.StartsWith("Trainer: a batch of 5 samples, but the trainer was created with batchSize 4: a step takes 1 to 4 samples.",
            Assert.Throws<ArgumentOutOfRangeException>(() => trainer.Step(new Tensor([5, 6]), new Tensor([5, 3]))).Message);
        var ws = regressor.CreateWorkspace(4);
        Assert.StartsWith("SetInput: a batch of 5 samples, but this workspace was created with capacity 4 (CreateWorkspace(capacity: 4)): it runs 1 to 4 samples at a time.",
            Assert.Throws<ArgumentOutOfRangeException>(() => ws.SetInput(new float[30], 5)).Message);
    }

    [Fact]
    public void Predict_of_a_dataset_gives_every_samples_output_in_order_in_eval_mode()
    {
        var model = new DropNet(seed: 3); // Dropout: eval mode is the identity, so batches do not matter
        var data = new GraphCompiler.Tests.Data.IndexDataset(37, 12);
        Tensor all = model.Predict(data, batchSize: 10);
        Assert.Equal([37, 4], all.Shape);
        Assert.True(model.Training); // restored
        var x = new float[37 * 12];
        for (int i = 0; i < 37; i++) data.Get(i, x.AsSpan(i * 12, 12), out _);
        Assert.Equal(model.Predict(new Tensor(x, [37, 12])).Data, all.Data);
    }

    [Fact]
    public void Datasets_and_data_parallel_steps_are_checked_against_the_declared_input()
    {
        var model = new Mlp(seed: 1);
        var flat = new GraphCompiler.Tests.Data.IndexDataset(16, 784);
        var images = new GraphCompiler.Tests.Data.IndexDataset(16, 1, 28, 28);
        var trainer = new Trainer(model, Loss.Nll, new Sgd(model.Parameters(), lr: 0.1), batchSize: 8);
        Assert.Equal("Fit.Run: the training samples have shape [784], but Mlp is declared with Input = \"N,1,28,28\": samples of shape [1, 28, 28]. (Parameter 'data')",
            Assert.Throws<ArgumentException>(() => Fit.Run(model, trainer, new GraphCompiler.Data.DataLoader(flat, 8), images, 1, TextWriter.Null)).Message);
        Assert.Equal("Fit.Run: the test samples have shape [784], but Mlp is declared with Input = \"N,1,28,28\": samples of shape [1, 28, 28]. (Parameter 'test')",
            Assert.Throws<ArgumentException>(() => Fit.Run(model, trainer, new GraphCompiler.Data.DataLoader(images, 8), flat, 1, TextWriter.Null)).Message);
        Assert.Equal("Accuracy: the evaluation samples have shape [784], but Mlp is declared with Input = \"N,1,28,28\": samples of shape [1, 28, 28]. (Parameter 'data')",
            Assert.Throws<ArgumentException>(() => Evaluation.Accuracy(model, flat)).Message);

        using var ddp = new GraphCompiler.Distributed.DistributedDataParallel(model, Loss.Nll, new Sgd(model.Parameters(), lr: 0.1), 8,
            new GraphCompiler.Tests.Distributed.LoopbackGroup());
        Assert.StartsWith("DistributedDataParallel.Step: the input has shape [8, 784] (rank 2), but Mlp is declared with Input = \"N,1,28,28\"",
            Assert.Throws<ArgumentException>(() => ddp.Step(new Tensor([8, 784]), new int[8])).Message);
    }

    [Fact]
    public void Losses_read_the_batch_and_classes_from_the_tensor_shapes()
    {
        Tensor logits = Batch(2, [3, 4], 16); // (N, C, d1): 2 samples, 3 classes, 4 positions
        int[] targets = [0, 2, 1, 1, 2, 0, -100, 1];
        var grad = new Tensor([2, 3, 4]);
        var expectedGrad = new float[24];
        float expected = Loss.CrossEntropy.Compute(logits.Data, targets, expectedGrad, [], 2, 3, 4);
        Assert.Equal(expected, Loss.CrossEntropy.Compute(logits, targets, grad));
        Assert.Equal(expectedGrad, grad.Data);
        Tensor perElement = new CrossEntropyLoss(reduction: Reduction.None).Unreduced(logits, targets);
        Assert.Equal([2, 4], perElement.Shape);
        Assert.Equal(0f, perElement[1, 2]); // ignore_index
        Assert.Equal(expected, perElement.Data.Sum() / 7, 5);

        Tensor a = Batch(3, [2], 17), b = Batch(3, [2], 18);
        Assert.Equal(new MseLoss().Compute(a.Data, b.Data, []), new MseLoss().Compute(a, b));
        Assert.Equal("mse_loss: the target has shape [2, 3] but the output [3, 2]; they must be equal. (Parameter 'target')",
            Assert.Throws<ArgumentException>(() => new MseLoss().Compute(a, new Tensor([2, 3]))).Message);
        Assert.Equal("cross_entropy: an output of shape [2, 3, 4] needs 8 class targets (one per sample and position), but 2 were given. (Parameter 'targets')",
            Assert.Throws<ArgumentException>(() => Loss.CrossEntropy.Compute(logits, [0, 1])).Message);
        Assert.Equal("nll_loss: the output has shape [10]; a class-index loss takes (N, C) or (N, C, d1, …). (Parameter 'output')",
            Assert.Throws<ArgumentException>(() => Loss.Nll.Compute(new Tensor([10]), [1])).Message);
    }
}
