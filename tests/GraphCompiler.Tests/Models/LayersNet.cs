// A model using every layer option and activation of the layer set, matching LayersNet in tests/reference/make_ops_reference.py;
// compiled with and without fusion.
using GraphCompiler;
using GraphCompiler.Nn;

namespace GraphCompiler.Tests.Models;

// Shapes: [N,3,16,16] → Conv1 'same' dilated [N,8,16,16] → depthwise [N,8,16,16] → MaxPool2d(3, 2, pad 1, ceil) [N,8,9,9]
// → Conv2 'same' even kernel, 2 groups [N,12,9,9] → AvgPool2d(3, 2, pad 1, ceil, no pad count) [N,12,5,5] → softmax over
// channels → GELU → log-softmax over W → AdaptiveAvgPool2d(2) [N,12,2,2] → Flatten [N,48] → Fc1 [N,10] → SiLU → Fc2 [N,6]
// → LeakyReLU(−0.2) → log-softmax over classes.
[Model]
public partial class LayersNet
{
    [Conv2d(3, 8, kernel: 3, Padding = Padding.Same, Dilation = 2)]      public partial Conv2d Conv1 { get; }
    [Conv2d(8, 8, kernel: 3, Padding = 1, Groups = 8, Bias = false)]     public partial Conv2d Depthwise { get; }
    [Conv2d(8, 12, kernel: 4, Padding = Padding.Same, Groups = 2)]       public partial Conv2d Conv2 { get; }
    [Linear(12 * 2 * 2, 10)]                                             public partial Linear Fc1 { get; }
    [Linear(10, 6, Bias = false)]                                        public partial Linear Fc2 { get; }

    [Forward(Input = "N,3,16,16")]
    public Tensor Forward(Tensor x) => x
        .Apply(Conv1).LeakyRelu(0.1f)
        .Apply(Depthwise).Sigmoid()
        .MaxPool2d(3, stride: 2, padding: 1, ceilMode: true)
        .Apply(Conv2).Tanh()
        .AvgPool2d(3, stride: 2, padding: 1, ceilMode: true, countIncludePad: false)
        .Softmax(dim: 1)
        .Gelu()
        .LogSoftmax(dim: -1)
        .AdaptiveAvgPool2d(2)
        .Flatten()
        .Apply(Fc1).Silu()
        .Apply(Fc2).LeakyRelu(-0.2f)
        .LogSoftmax(dim: 1);
}

[Model(Fuse = false)]
public partial class LayersNetUnfused
{
    [Conv2d(3, 8, kernel: 3, Padding = Padding.Same, Dilation = 2)]      public partial Conv2d Conv1 { get; }
    [Conv2d(8, 8, kernel: 3, Padding = 1, Groups = 8, Bias = false)]     public partial Conv2d Depthwise { get; }
    [Conv2d(8, 12, kernel: 4, Padding = Padding.Same, Groups = 2)]       public partial Conv2d Conv2 { get; }
    [Linear(12 * 2 * 2, 10)]                                             public partial Linear Fc1 { get; }
    [Linear(10, 6, Bias = false)]                                        public partial Linear Fc2 { get; }

    [Forward(Input = "N,3,16,16")]
    public Tensor Forward(Tensor x) => x
        .Apply(Conv1).LeakyRelu(0.1f)
        .Apply(Depthwise).Sigmoid()
        .MaxPool2d(3, stride: 2, padding: 1, ceilMode: true)
        .Apply(Conv2).Tanh()
        .AvgPool2d(3, stride: 2, padding: 1, ceilMode: true, countIncludePad: false)
        .Softmax(dim: 1)
        .Gelu()
        .LogSoftmax(dim: -1)
        .AdaptiveAvgPool2d(2)
        .Flatten()
        .Apply(Fc1).Silu()
        .Apply(Fc2).LeakyRelu(-0.2f)
        .LogSoftmax(dim: 1);
}
