// ResNetMini of tests/reference/make_resnet_reference.py: a stem and two torchvision-style basic blocks (identity and
// 1x1 stride-2 projection shortcuts) with BatchNorm, under exactly PyTorch's state_dict names (layer1.0.conv1.weight, …).
using GraphCompiler;
using GraphCompiler.Nn;

namespace GraphCompiler.Tests.Models;

/// <summary>
/// conv1 → bn1 → relu → layer1.0 = BasicBlock(16, 16) → layer2.0 = BasicBlock(16, 32, stride 2, downsample.0/1)
/// → AdaptiveAvgPool2d(1) → Flatten → fc (logits). Each block is relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)).
/// </summary>
[Model]
public partial class ResNetMini
{
    [Conv2d(3, 16, kernel: 3, Padding = 1, Bias = false)]                                        public partial Conv2d Conv1 { get; }
    [BatchNorm2d(16)]                                                                            public partial BatchNorm2d Bn1 { get; }

    [Conv2d(16, 16, kernel: 3, Padding = 1, Bias = false, Name = "layer1.0.conv1")]              public partial Conv2d Layer1Conv1 { get; }
    [BatchNorm2d(16, Name = "layer1.0.bn1")]                                                     public partial BatchNorm2d Layer1Bn1 { get; }
    [Conv2d(16, 16, kernel: 3, Padding = 1, Bias = false, Name = "layer1.0.conv2")]              public partial Conv2d Layer1Conv2 { get; }
    [BatchNorm2d(16, Name = "layer1.0.bn2")]                                                     public partial BatchNorm2d Layer1Bn2 { get; }

    [Conv2d(16, 32, kernel: 3, Stride = 2, Padding = 1, Bias = false, Name = "layer2.0.conv1")]  public partial Conv2d Layer2Conv1 { get; }
    [BatchNorm2d(32, Name = "layer2.0.bn1")]                                                     public partial BatchNorm2d Layer2Bn1 { get; }
    [Conv2d(32, 32, kernel: 3, Padding = 1, Bias = false, Name = "layer2.0.conv2")]              public partial Conv2d Layer2Conv2 { get; }
    [BatchNorm2d(32, Name = "layer2.0.bn2")]                                                     public partial BatchNorm2d Layer2Bn2 { get; }
    [Conv2d(16, 32, kernel: 1, Stride = 2, Bias = false, Name = "layer2.0.downsample.0")]        public partial Conv2d Layer2Downsample { get; }
    [BatchNorm2d(32, Name = "layer2.0.downsample.1")]                                            public partial BatchNorm2d Layer2DownsampleBn { get; }

    [Linear(32, 10)]                                                                             public partial Linear Fc { get; }

    [Forward(Input = "N,3,16,16")]
    public Tensor Forward(Tensor x)
    {
        var stem = x.Apply(Conv1).Apply(Bn1).Relu();                                              // (N, 16, 16, 16)
        // layer1.0: identity shortcut.
        var out1 = stem.Apply(Layer1Conv1).Apply(Layer1Bn1).Relu().Apply(Layer1Conv2).Apply(Layer1Bn2);
        var block1 = (out1 + stem).Relu();
        // layer2.0: stride 2 and twice the channels, so the shortcut is a 1x1 stride-2 conv and a BatchNorm.
        var out2 = block1.Apply(Layer2Conv1).Apply(Layer2Bn1).Relu().Apply(Layer2Conv2).Apply(Layer2Bn2); // (N, 32, 8, 8)
        var block2 = (out2 + block1.Apply(Layer2Downsample).Apply(Layer2DownsampleBn)).Relu();
        return block2.AdaptiveAvgPool2d(1).Flatten().Apply(Fc);                                   // (N, 10)
    }
}
