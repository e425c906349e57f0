// The ILGPU trainer checks a batch as the CPU trainer does, before anything reaches the device.
using FashionMnist;
using GraphCompiler.Backends.Ilgpu;
using GraphCompiler.Nn;
using GraphCompiler.Optim;
using Xunit;

namespace GraphCompiler.Tests.Ilgpu;

[Collection(IlgpuCollection.Name)]
public class IlgpuBatchCheckTests
{
    [Fact]
    public void A_bad_batch_is_refused_in_the_callers_terms_and_changes_nothing()
    {
        var model = new Mlp(seed: 3);
        float[] before = [.. model.Fc1.Weight.Data];
        using var trainer = new IlgpuTrainer(model, Loss.Nll, new Sgd(model.Parameters(), lr: 0.1), 4, Device.IlgpuCpu);
        var e = Assert.Throws<ArgumentException>(() => trainer.Step(new float[3 * 784], [1, 2, 3], 4));
        Assert.Equal("IlgpuTrainer: 4 samples of shape [1, 28, 28] need 3136 input values, but 2352 were given. (Parameter 'inputs')", e.Message);
        var big = Assert.Throws<ArgumentOutOfRangeException>(() => trainer.Step(new float[5 * 784], [1, 2, 3, 4, 5], 5));
        Assert.StartsWith("IlgpuTrainer: a batch of 5 samples, but the trainer was created with batchSize 4", big.Message);
        var label = Assert.Throws<ArgumentException>(() => trainer.Step(new float[2 * 784], [1, 10], 2));
        Assert.StartsWith("nll_loss: target 10 at sample 1 is outside the class range [0, 10)", label.Message);
        // A tensor of the wrong shape is refused against the declared input before anything reaches the device.
        var shape = Assert.Throws<ArgumentException>(() => trainer.Step(new Tensor(new float[8 * 784], [8, 784]), [1, 2, 3, 4, 5, 6, 7, 8]));
        Assert.Contains("Mlp is declared with Input = \"N,1,28,28\"", shape.Message);
        trainer.Synchronize();
        trainer.Model.CopyParametersToHost();
        Assert.Equal(before, model.Fc1.Weight.Data);
    }
}
