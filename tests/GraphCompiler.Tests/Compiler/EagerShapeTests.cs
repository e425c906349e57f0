// The eager Tensor path asks the compiler core for each op's output shape and geometry: the same rule, the same words.
using GraphCompiler.Nn;
using Xunit;

namespace GraphCompiler.Tests.Compiler;

public class EagerShapeTests
{
    [Fact]
    public void A_shape_an_op_refuses_throws_the_message_the_generator_reports()
    {
        var x = new Tensor(new float[24], [2, 3, 4]);
        var e = Assert.Throws<ArgumentException>(() => x.MaxPool2d(2));
        Assert.Equal("MaxPool2d(2) expects a 4-D input [N,C,H,W] but receives [N,3,4] (the declared input) (a tensor of [2, 3, 4]).", e.Message);
        var fc = new Linear("fc", inFeatures: 5, outFeatures: 2, bias: true, new Rng(1));
        e = Assert.Throws<ArgumentException>(() => new Tensor(new float[8], [2, 4]).Apply(fc));
        Assert.StartsWith("Linear 'fc' expects 5 input features but receives 4", e.Message);
    }

    [Fact]
    public void Normalisation_layers_and_the_combining_ops_use_the_cores_rules_too()
    {
        var bn = new BatchNorm2d("bn", numFeatures: 3);
        var e = Assert.Throws<ArgumentException>(() => new Tensor(new float[24], [2, 4, 3]).Apply(bn));
        Assert.StartsWith("BatchNorm2d 'bn' expects", e.Message);
        Assert.EndsWith("(a tensor of [2, 4, 3]).", e.Message);
        e = Assert.Throws<ArgumentException>(() => new Tensor(new float[2 * 4 * 9], [2, 4, 3, 3]).Apply(bn));
        Assert.StartsWith("BatchNorm2d 'bn' expects 3 channels but receives 4", e.Message);
        var ln = new LayerNorm("ln", normalizedShape: 5);
        e = Assert.Throws<ArgumentException>(() => new Tensor(new float[8], [2, 4]).Apply(ln));
        Assert.StartsWith("LayerNorm 'ln' normalises a last dimension of 5 but receives 4", e.Message);
        // The statistics' geometry comes from the step: per-channel over H·W, per row over the last dim.
        Tensor y = new Tensor(Enumerable.Range(0, 2 * 3 * 4).Select(i => (float)i).ToArray(), [2, 3, 4]).Apply(new LayerNorm("ln", normalizedShape: 4));
        Assert.Equal(0.0, y.Data.Take(4).Sum(), 4);
    }

    [Fact]
    public void Shapes_and_geometry_come_from_the_ops_rules()
    {
        var x = new Tensor(Enumerable.Range(0, 2 * 3 * 7 * 7).Select(i => (float)Math.Sin(i)).ToArray(), [2, 3, 7, 7]);
        Assert.Equal([2, 3, 4, 4], x.MaxPool2d(2, ceilMode: true).Shape);
        Assert.Equal([2, 3, 3, 3], x.AvgPool2d(3, stride: 2).Shape);
        Assert.Equal([2, 3, 2, 5], x.AdaptiveAvgPool2d(2, 5).Shape);
        Assert.Equal([2, 147], x.Flatten().Shape);
        Assert.Equal([2, 21, 7], x.Reshape(-1, 7).Shape);
        // 'same' padding of an even kernel splits d·(k − 1) = 3 as 1 before, 2 after, as the core's Conv2d rule does.
        var conv = new Conv2d("conv", inChannels: 3, outChannels: 4, kernel: 4, stride: 1, padding: Padding.Same, dilation: 1, groups: 1, bias: false, new Rng(2));
        Tensor y = x.Apply(conv);
        Assert.Equal([2, 4, 7, 7], y.Shape);
        // Softmax over the channel dim sums to one along it.
        Tensor s = x.Softmax(1);
        Assert.Equal(1.0, s.Data[0] + s.Data[49] + s.Data[98], 5);
    }
}
