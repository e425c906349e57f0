// A small regression model for training with float targets (MSE, BCE with logits): Linear(6, 16) → ReLU → Linear(16, 3).
using GraphCompiler;
using GraphCompiler.Nn;

namespace GraphCompiler.Tests.Models;

[Model]
public partial class Regressor
{
    [Linear(6, 16)] public partial Linear Fc1 { get; }
    [Linear(16, 3)] public partial Linear Fc2 { get; }

    [Forward(Input = "N,6")]
    public Tensor Forward(Tensor x) => x.Apply(Fc1).Relu().Apply(Fc2);
}
