// A test model with element-wise chains: GELU(tanh) → SiLU → LeakyReLU(−0.1) after Fc1 (a chain of 3) and ReLU → sigmoid →
// tanh after Fc2 (the ReLU is Fc2's epilogue, sigmoid → tanh a chain of 2); compiled with and without fusion.
using GraphCompiler;
using GraphCompiler.Nn;

namespace GraphCompiler.Tests.Models;

[Model]
public partial class ChainNet
{
    [Linear(6, 8)] public partial Linear Fc1 { get; }
    [Linear(8, 8)] public partial Linear Fc2 { get; }
    [Linear(8, 3)] public partial Linear Fc3 { get; }

    [Forward(Input = "N,6")]
    public Tensor Forward(Tensor x) => x
        .Apply(Fc1).Gelu(approximateTanh: true).Silu().LeakyRelu(-0.1f)
        .Apply(Fc2).Relu().Sigmoid().Tanh()
        .Apply(Fc3);
}

[Model(Fuse = false)]
public partial class ChainNetUnfused
{
    [Linear(6, 8)] public partial Linear Fc1 { get; }
    [Linear(8, 8)] public partial Linear Fc2 { get; }
    [Linear(8, 3)] public partial Linear Fc3 { get; }

    [Forward(Input = "N,6")]
    public Tensor Forward(Tensor x) => x
        .Apply(Fc1).Gelu(approximateTanh: true).Silu().LeakyRelu(-0.1f)
        .Apply(Fc2).Relu().Sigmoid().Tanh()
        .Apply(Fc3);
}
