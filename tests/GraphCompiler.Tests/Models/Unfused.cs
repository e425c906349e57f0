// The two reference models compiled without fusion: one kernel per op, the baseline fused schedules must match.
using GraphCompiler;
using GraphCompiler.Nn;

namespace GraphCompiler.Tests.Models;

[Model(Fuse = false)]
public partial class MlpUnfused
{
    [Linear(28 * 28, 128)] public partial Linear Fc1 { get; }
    [Linear(128, 64)]      public partial Linear Fc2 { get; }
    [Linear(64, 10)]       public partial Linear Fc3 { get; }

    [Forward(Input = "N,1,28,28")]
    public Tensor Forward(Tensor x) => x
        .Flatten()
        .Apply(Fc1).Relu()
        .Apply(Fc2).Relu()
        .Apply(Fc3)
        .LogSoftmax(dim: 1);
}

[Model(Fuse = false)]
public partial class CifarNetUnfused
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
