// The broadcasting kernels' loop plan, the gradient accumulation a value read by several ops needs, argument checks,
// and the eager Tensor forms of +, *, Cat, Reshape and Flatten(startDim).
using GraphCompiler.Backends.Cpu;
using Xunit;

namespace GraphCompiler.Tests.Kernels;

public class BroadcastKernelTests
{
    [Theory]
    [InlineData(new[] { 64, 8, 8 }, new[] { 64, 1, 1 }, 64, 64, 1, 0)]    // a per-channel gate: 64 runs of 64, b repeats
    [InlineData(new[] { 64, 8, 8 }, new[] { 64, 8, 8 }, 1, 4096, 1, 1)]   // same shapes: one run
    [InlineData(new[] { 3, 1, 5 }, new[] { 1, 4, 1 }, 12, 5, 1, 0)]       // outer product: b repeats along each run
    [InlineData(new[] { 8, 300 }, new[] { 300 }, 8, 300, 1, 1)]           // a row added to every row
    public void Geometry_merges_dims_that_broadcast_alike(int[] a, int[] b, int rows, int inner, int aInner, int bInner)
    {
        BroadcastGeometry g = Broadcasting.Of(a, b)!;
        Assert.Equal((rows, inner, aInner, bInner), (g.Rows, g.Inner, g.AInner, g.BInner));
        Assert.Null(Broadcasting.Of([64, 8, 8], [32, 8, 8]));
    }

    [Fact]
    public void Accumulate_adds_a_contribution_into_the_gradient()
    {
        float[] grad = [1, 2, 3], contribution = [10, 20, 30];
        AddKernels.Accumulate(contribution, grad);
        Assert.Equal([11f, 22f, 33f], grad);
        AddKernels.Accumulate(contribution, grad);
        Assert.Equal([21f, 42f, 63f], grad);
        var e = Assert.Throws<ArgumentException>(() => AddKernels.Accumulate(new float[2], new float[3]));
        Assert.StartsWith("Gradient contribution has 2 elements but the gradient has 3.", e.Message);
    }

    [Fact]
    public void Kernels_reject_short_buffers_and_bad_geometries()
    {
        BroadcastGeometry g = Broadcasting.Of([4, 3], [4, 1])!;
        var e = Assert.Throws<ArgumentException>(() => MulKernels.Forward(new float[24], new float[7], new float[24], g, 2));
        Assert.StartsWith("Buffer 'b' has 7 elements but the shape needs 8.", e.Message);
        e = Assert.Throws<ArgumentException>(() => new BroadcastGeometry(2, 4, 3, 4, 2, 4, 1));
        Assert.StartsWith("Dim 2 does not broadcast: output 3, a 2, b 1.", e.Message);
        e = Assert.Throws<ArgumentException>(() => CatKernels.Forward(new float[8], new float[8], 1, 4, 4, 2, 2));
        Assert.StartsWith("Cat slice out of range: 1 rows of 4 floats at offset 2 in rows of 4, batch 2.", e.Message);
    }

    [Fact]
    public void Eager_tensor_ops_broadcast_concatenate_and_reshape()
    {
        var x = new Tensor([1, 2, 3, 4, 5, 6], [1, 2, 3]);
        var gate = new Tensor([10, 100], [1, 2, 1]);
        Assert.Equal([10f, 20, 30, 400, 500, 600], (x * gate).Data);
        Assert.Equal([11f, 12, 13, 104, 105, 106], (x + gate).Data);
        Assert.Equal([1, 2, 3], (x + gate).Shape);
        Tensor cat = Tensor.Cat([x, gate], dim: 2);
        Assert.Equal([1, 2, 4], cat.Shape);
        Assert.Equal([1f, 2, 3, 10, 4, 5, 6, 100], cat.Data);
        Assert.Equal([1, 3, 2], x.Reshape(-1, 2).Shape);
        Assert.Equal([1, 6], x.Flatten().Shape);
        Assert.Equal([1, 2, 3], x.Flatten(startDim: 2).Shape);
        var e = Assert.Throws<ArgumentException>(() => x + new Tensor([1, 2], [1, 2]));
        Assert.Equal("Add of [N,2,3] (input 1) and [N,2] (input 2) cannot broadcast: dim 2 is 3 vs 2 (tensors of [1, 2, 3] and [1, 2]).", e.Message);
        e = Assert.Throws<ArgumentException>(() => Tensor.Cat([x, new Tensor(new float[4], [2, 2, 1])], dim: 2));
        Assert.Equal("Cat needs tensors of the same batch size, but they are [1, 2, 3] and [2, 2, 1].", e.Message);
        e = Assert.Throws<ArgumentException>(() => Tensor.Cat([x, new Tensor(new float[2], [1, 1, 2])], dim: 2));
        Assert.Equal("Cat(dim: 2) of [N,2,3] (input 1) and [N,1,2] (input 2) needs equal sizes outside dim 2: dim 1 is 2 vs 1 (tensors of [1, 2, 3] and [1, 1, 2]).", e.Message);
        Assert.Throws<ArgumentException>(() => x.Reshape(4, -1));
    }
}
