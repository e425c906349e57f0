// Models for the ONNX export tests that reach the export paths the other test models do not: dilated conv and max pool,
// BatchNorm and LayerNorm without affine parameters, adaptive pools of each ONNX form, average pooling that counts the
// padding with ceil mode, a broadcast gate, Reshape, LayerNorm over the last dim of a 3-D value, softmax over the batch; and one that cannot be
// exported.
using GraphCompiler;
using GraphCompiler.Nn;

namespace GraphCompiler.Tests.Onnx;

// Shapes: [N,2,11,11] → Conv1 stride 2, pad 2, dilation 2 [N,6,6,6] → BatchNorm2d without affine → MaxPool2d(2, stride 1,
// dilation 2) [N,6,4,4] + AdaptiveAvgPool2d(4) (windows 2,2,2,2 at 0,1,3,4: a pooling matrix) → AvgPool2d(3, 2, pad 1, ceil,
// counting the padding) [N,6,3,3] → × its AdaptiveAvgPool2d(1) (GlobalAveragePool) → AdaptiveAvgPool2d(2) (windows 2 at 0,1:
// an AveragePool) [N,6,2,2] → Reshape(24) → Fc1 [N,30] → GELU → Reshape(6, 5) → LayerNorm without affine over the last dim
// → softmax over dim 1 → Flatten [N,30] → Fc2 [N,4] → SiLU → softmax over the batch.
[Model]
public partial class OnnxOpsNet
{
    [Conv2d(2, 6, kernel: 3, Stride = 2, Padding = 2, Dilation = 2)] public partial Conv2d Conv1 { get; }
    [BatchNorm2d(6, Affine = false)]                                  public partial BatchNorm2d Bn { get; }
    [Linear(24, 30)]                                                  public partial Linear Fc1 { get; }
    [LayerNorm(5, ElementwiseAffine = false)]                         public partial LayerNorm Ln { get; }
    [Linear(30, 4)]                                                   public partial Linear Fc2 { get; }

    [Forward(Input = "N,2,11,11")]
    public Tensor Forward(Tensor x)
    {
        var a = x.Apply(Conv1).Relu().Apply(Bn);
        var b = a.MaxPool2d(2, stride: 1, dilation: 2) + a.AdaptiveAvgPool2d(4);
        var c = b.AvgPool2d(3, stride: 2, padding: 1, ceilMode: true);
        var d = c * c.AdaptiveAvgPool2d(1);
        return d.AdaptiveAvgPool2d(2).Reshape(24)
            .Apply(Fc1).Gelu()
            .Reshape(6, 5)
            .Apply(Ln)
            .Softmax(dim: 1)
            .Flatten()
            .Apply(Fc2).Silu()
            .Softmax(dim: 0);
    }
}

/// <summary>BatchNorm without running statistics normalises with each batch's own even in eval mode: ONNX cannot say so.</summary>
[Model]
public partial class BatchStatsNet
{
    [Linear(4, 3)]                                 public partial Linear Fc { get; }
    [BatchNorm1d(3, TrackRunningStats = false)]    public partial BatchNorm1d Bn { get; }

    [Forward(Input = "N,4")]
    public Tensor Forward(Tensor x) => x.Apply(Fc).Apply(Bn);
}
