// A small model with stride-2 padding-1 and unpadded convolutions, matching StridedNet in tests/reference/make_reference.py.
using GraphCompiler;
using GraphCompiler.Nn;

namespace GraphCompiler.Tests.Models;

[Model]
public partial class StridedNet
{
    [Conv2d(1, 8, kernel: 3, Stride = 2, Padding = 1)] public partial Conv2d Conv1 { get; }
    [Conv2d(8, 16, kernel: 3)]                         public partial Conv2d Conv2 { get; }
    [Linear(16 * 3 * 3, 10)]                           public partial Linear Fc1 { get; }

    [Forward(Input = "N,1,16,16")]
    public Tensor Forward(Tensor x)
    {
        var features = x.Apply(Conv1).Relu().Apply(Conv2).Relu().MaxPool2d(2);
        return features.Flatten().Apply(Fc1);
    }
}
