// The network, declared for the GraphCompiler generator: layers as attributes, the forward pass as a method chain.
// Change a size so the shapes no longer fit (say Linear(100, 64)) and the build fails at that line with GC1001.
using GraphCompiler;
using GraphCompiler.Nn;

namespace GraphCompilerApp;

/// <summary>Flatten → Linear(784, 128) → ReLU → Linear(128, 64) → ReLU → Linear(64, 10) → LogSoftmax.</summary>
[Model]
public partial class Model
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
