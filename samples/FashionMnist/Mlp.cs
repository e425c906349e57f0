// The tutorial MLP for 28x28 grey images, declared for the generator: layers as attributes, forward as a method chain.
using GraphCompiler;
using GraphCompiler.Nn;

namespace FashionMnist;

/// <summary>Flatten → Linear(784, 128) → ReLU → Linear(128, 64) → ReLU → Linear(64, 10) → LogSoftmax.</summary>
[Model]
public partial class Mlp
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
