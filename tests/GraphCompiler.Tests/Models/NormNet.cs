// A small CNN with BatchNorm2d, BatchNorm1d and LayerNorm, matching NormNet in tests/reference/make_norm_reference.py.
using GraphCompiler;
using GraphCompiler.Nn;

namespace GraphCompiler.Tests.Models;

[Model]
public partial class NormNet
{
    [Conv2d(3, 8, kernel: 3, Padding = 1)]       public partial Conv2d Conv1 { get; }
    [BatchNorm2d(8)]                             public partial BatchNorm2d Bn1 { get; }
    [Linear(8 * 4 * 4, 16)]                      public partial Linear Fc1 { get; }
    [BatchNorm1d(16, Momentum = 0.2f)]           public partial BatchNorm1d Bn2 { get; }
    [LayerNorm(16, Eps = 1e-3f)]                 public partial LayerNorm Ln { get; }
    [Linear(16, 5)]                              public partial Linear Fc2 { get; }

    [Forward(Input = "N,3,8,8")]
    public Tensor Forward(Tensor x) => x
        .Apply(Conv1).Apply(Bn1).Relu().MaxPool2d(2)
        .Flatten()
        .Apply(Fc1).Apply(Bn2).Relu()
        .Apply(Ln)
        .Apply(Fc2);
}

/// <summary>Dropout between two Linear layers, for the training/eval mode and mask tests.</summary>
[Model]
public partial class DropNet
{
    [Linear(12, 40)]        public partial Linear Fc1 { get; }
    [Dropout(0.3f)]         public partial Dropout Drop { get; }
    [Linear(40, 4)]         public partial Linear Fc2 { get; }

    [Forward(Input = "N,12")]
    public Tensor Forward(Tensor x) => x.Apply(Fc1).Relu().Apply(Drop).Apply(Fc2);
}
