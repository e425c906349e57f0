// A small CifarNet-style network for 28x28 grey images: two conv blocks and a hidden layer of features, then a 5-way head.
using GraphCompiler;
using GraphCompiler.Nn;

namespace TransferLearning;

[Model]
public partial class SmallCnn
{
    [Conv2d(1, 16, kernel: 3, Padding = 1)]  public partial Conv2d Conv1 { get; }
    [Conv2d(16, 32, kernel: 3, Padding = 1)] public partial Conv2d Conv2 { get; }
    [Linear(32 * 7 * 7, 64)]                 public partial Linear Fc1 { get; }
    [Linear(64, 5)]                          public partial Linear Head { get; }

    [Forward(Input = "N,1,28,28")]
    public Tensor Forward(Tensor x) => x
        .Apply(Conv1).Relu().MaxPool2d(2)
        .Apply(Conv2).Relu().MaxPool2d(2)
        .Flatten()
        .Apply(Fc1).Relu()
        .Apply(Head);
}
