// The tutorial CNN for 32x32 colour images, declared for the generator: three conv blocks, then two linear layers.
using GraphCompiler;
using GraphCompiler.Nn;

namespace Cifar;

/// <summary>3 × (Conv2d 5x5 pad 2 → ReLU → MaxPool2d(2)), Flatten, Linear(1024, 64) → ReLU → Linear(64, 10) (logits).</summary>
[Model]
public partial class CifarNet
{
    [Conv2d(3, 32, kernel: 5, Padding = 2)]  public partial Conv2d Conv1 { get; }
    [Conv2d(32, 32, kernel: 5, Padding = 2)] public partial Conv2d Conv2 { get; }
    [Conv2d(32, 64, kernel: 5, Padding = 2)] public partial Conv2d Conv3 { get; }
    [Linear(64 * 4 * 4, 64)]                 public partial Linear Fc1 { get; }
    [Linear(64, 10)]                         public partial Linear Fc2 { get; }

    [Forward(Input = "N,3,32,32")]
    public Tensor Forward(Tensor x) => x
        .Apply(Conv1).Relu().MaxPool2d(2)
        .Apply(Conv2).Relu().MaxPool2d(2)
        .Apply(Conv3).Relu().MaxPool2d(2)
        .Flatten()
        .Apply(Fc1).Relu()
        .Apply(Fc2);
}
