// A per-pixel classifier whose output keeps its spatial dims, (3, 6, 6) per sample: the shape of PyTorch's (N, C, d1, d2) losses.
using GraphCompiler;
using GraphCompiler.Nn;

namespace GraphCompiler.Tests.Models;

[Model]
public partial class PixelClassifier
{
    [Conv2d(2, 8, kernel: 3, Padding = 1)] public partial Conv2d Conv1 { get; }
    [Conv2d(8, 3, kernel: 3, Padding = 1)] public partial Conv2d Conv2 { get; }

    [Forward(Input = "N,2,6,6")]
    public Tensor Forward(Tensor x) => x.Apply(Conv1).Relu().Apply(Conv2);
}
