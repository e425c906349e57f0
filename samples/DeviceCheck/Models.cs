// The models the device check trains on every device besides the tutorial CifarNet (timed; compiled in from
// samples/Cifar): small graphs that between them hold every step kind of the schedule (dilated, grouped and depthwise
// convolutions, every pool, softmax over dims, every activation, fused chains, norms, dropout, residual adds, a
// broadcast gate and a concatenation).
using GraphCompiler;
using GraphCompiler.Nn;

namespace DeviceCheck;

/// <summary>Every convolution and pooling option, softmax and log-softmax over inner dims, and every activation.</summary>
[Model]
public partial class LayersNet
{
    [Conv2d(3, 8, kernel: 3, Padding = Padding.Same, Dilation = 2)]      public partial Conv2d Conv1 { get; }
    [Conv2d(8, 8, kernel: 3, Padding = 1, Groups = 8, Bias = false)]     public partial Conv2d Depthwise { get; }
    [Conv2d(8, 12, kernel: 4, Padding = Padding.Same, Groups = 2)]       public partial Conv2d Conv2 { get; }
    [Linear(12 * 2 * 2, 10)]                                             public partial Linear Fc1 { get; }
    [Linear(10, 6, Bias = false)]                                        public partial Linear Fc2 { get; }

    [Forward(Input = "N,3,16,16")]
    public Tensor Forward(Tensor x) => x
        .Apply(Conv1).LeakyRelu(0.1f)
        .Apply(Depthwise).Sigmoid()
        .MaxPool2d(3, stride: 2, padding: 1, ceilMode: true)
        .Apply(Conv2).Tanh()
        .AvgPool2d(3, stride: 2, padding: 1, ceilMode: true, countIncludePad: false)
        .Softmax(dim: 1)
        .Gelu()
        .LogSoftmax(dim: -1)
        .AdaptiveAvgPool2d(2)
        .Flatten()
        .Apply(Fc1).Silu()
        .Apply(Fc2).LeakyRelu(-0.2f)
        .LogSoftmax(dim: 1);
}

/// <summary>BatchNorm2d, BatchNorm1d (with its own momentum), LayerNorm and Dropout.</summary>
[Model]
public partial class NormNet
{
    [Conv2d(3, 8, kernel: 3, Padding = 1)]       public partial Conv2d Conv1 { get; }
    [BatchNorm2d(8)]                             public partial BatchNorm2d Bn1 { get; }
    [Linear(8 * 4 * 4, 16)]                      public partial Linear Fc1 { get; }
    [BatchNorm1d(16, Momentum = 0.2f)]           public partial BatchNorm1d Bn2 { get; }
    [LayerNorm(16, Eps = 1e-3f)]                 public partial LayerNorm Ln { get; }
    [Dropout(0.3f)]                              public partial Dropout Drop { get; }
    [Linear(16, 5)]                              public partial Linear Fc2 { get; }

    [Forward(Input = "N,3,8,8")]
    public Tensor Forward(Tensor x) => x
        .Apply(Conv1).Apply(Bn1).Relu().MaxPool2d(2)
        .Flatten()
        .Apply(Fc1).Apply(Bn2).Relu()
        .Apply(Ln)
        .Apply(Drop)
        .Apply(Fc2);
}

/// <summary>Residual adds, a broadcast channel gate, two branches joined by Cat, a shared layer and fused activation chains.</summary>
[Model]
public partial class ResidualNet
{
    [Conv2d(3, 8, kernel: 3, Padding = 1)]              public partial Conv2d Stem { get; }
    [Conv2d(8, 8, kernel: 3, Padding = 1)]              public partial Conv2d Block1Conv1 { get; }
    [Conv2d(8, 8, kernel: 3, Padding = 1)]              public partial Conv2d Block1Conv2 { get; }
    [Conv2d(8, 16, kernel: 3, Stride = 2, Padding = 1)] public partial Conv2d Block2Conv1 { get; }
    [Conv2d(16, 16, kernel: 3, Padding = 1)]            public partial Conv2d Block2Conv2 { get; }
    [Conv2d(8, 16, kernel: 1, Stride = 2)]              public partial Conv2d Block2Shortcut { get; }
    [Conv2d(16, 8, kernel: 1)]                          public partial Conv2d BranchA { get; }
    [Conv2d(16, 8, kernel: 3, Padding = 1)]             public partial Conv2d BranchB { get; }
    [Linear(16 * 2 * 2, 16)]                            public partial Linear Fc { get; }
    [Linear(16, 16)]                                    public partial Linear Hidden { get; }
    [Linear(16, 10)]                                    public partial Linear Head { get; }

    [Forward(Input = "N,3,8,8")]
    public Tensor Forward(Tensor x)
    {
        var stem = x.Apply(Stem).Relu();
        var block1 = (stem.Apply(Block1Conv1).Relu().Apply(Block1Conv2) + stem).Relu();
        var residual = block1.Apply(Block2Conv1).Relu().Apply(Block2Conv2);
        var block2 = (residual + block1.Apply(Block2Shortcut)).Relu();
        var gated = block2 * block2.MaxPool2d(4);
        var joined = Tensor.Cat([gated.Apply(BranchA), gated.Apply(BranchB).Relu()], dim: 1);
        var features = joined.MaxPool2d(2).Flatten().Apply(Fc).Gelu(approximateTanh: true).Silu().LeakyRelu(-0.1f);
        return features.Apply(Hidden).Relu().Sigmoid().Tanh().Apply(Head);
    }
}
