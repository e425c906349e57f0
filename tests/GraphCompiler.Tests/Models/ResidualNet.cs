// A small ResNet-style graph beyond a chain: two basic blocks (identity and 1x1 stride-2 projection shortcuts), a
// broadcast channel gate, two branches joined by Cat, and a layer applied twice. ResidualNetTests checks it against a
// double-precision evaluation of the same graph.
using GraphCompiler;
using GraphCompiler.Nn;

namespace GraphCompiler.Tests.Models;

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
        var stem = x.Apply(Stem).Relu();                                      // (N, 8, 8, 8)
        // Basic block, identity shortcut: conv-relu-conv + x, then relu. BatchNorm2d goes after each conv once it exists.
        var block1 = (stem.Apply(Block1Conv1).Relu().Apply(Block1Conv2) + stem).Relu();
        // Basic block, projection shortcut: a 1x1 stride-2 conv matches the halved size and doubled channels.
        var residual = block1.Apply(Block2Conv1).Relu().Apply(Block2Conv2);  // (N, 16, 4, 4)
        var block2 = (residual + block1.Apply(Block2Shortcut)).Relu();
        // A per-channel gate broadcast over H and W: (N, 16, 4, 4) · (N, 16, 1, 1).
        var gated = block2 * block2.MaxPool2d(4);
        // Two branches joined along the channels: 8 + 8 = 16.
        var joined = Tensor.Cat([gated.Apply(BranchA), gated.Apply(BranchB).Relu()], dim: 1);
        var features = joined.MaxPool2d(2).Flatten().Apply(Fc).Relu();       // (N, 16)
        // The same layer twice: its weights are shared and their gradients add up.
        return features.Apply(Hidden).Relu().Apply(Hidden).Relu().Apply(Head);
    }
}
