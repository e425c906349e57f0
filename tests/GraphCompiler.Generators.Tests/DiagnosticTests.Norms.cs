// Diagnostics of the normalisation and dropout layers: one test per id they add, and their argument and rank checks.
using Xunit;

namespace GraphCompiler.Generators.Tests;

public partial class DiagnosticTests
{
    [Fact]
    public void GC1020_batch_norm_num_features() => Expect("""
        [Model] public partial class Net
        {
            [Conv2d(3, 32, kernel: 3)] public partial Conv2d Conv1 { get; }
            [BatchNorm2d([|64|])] public partial BatchNorm2d Bn1 { get; }
            [Forward(Input = "N,3,10,10")]
            Tensor Forward(Tensor x) => x.Apply(Conv1).Apply(Bn1).Relu();
        }
        """, "GC1020", "BatchNorm2d 'Bn1' expects 64 channels but receives 32 from [N,32,8,8] (output of Conv2d 'Conv1' on [N,3,10,10])");

    [Fact]
    public void GC1020_batch_norm_1d_num_features_after_linear() => Expect("""
        [Model] public partial class Net
        {
            [Linear(8, 16)] public partial Linear Fc1 { get; }
            [BatchNorm1d(numFeatures: [|10|], Momentum = 0.2f)] public partial BatchNorm1d Bn1 { get; }
            [Forward(Input = "N,8")]
            Tensor Forward(Tensor x) => x.Apply(Fc1).Apply(Bn1);
        }
        """, "GC1020", "BatchNorm1d 'Bn1' expects 10 channels but receives 16 from [N,16] (output of Linear 'Fc1' on [N,8])");

    [Fact]
    public void GC1021_layer_norm_normalized_shape() => Expect("""
        [Model] public partial class Net
        {
            [Linear(8, 16)] public partial Linear Fc1 { get; }
            [LayerNorm([|32|], Eps = 1e-6f)] public partial LayerNorm Ln { get; }
            [Forward(Input = "N,8")]
            Tensor Forward(Tensor x) => x.Apply(Fc1).Apply(Ln);
        }
        """, "GC1021", "LayerNorm 'Ln' normalises a last dimension of 32 but receives 16 from [N,16] (output of Linear 'Fc1' on [N,8])");

    [Fact]
    public void GC1004_batch_norm_2d_on_a_flat_input() => Expect("""
        [Model] public partial class Net
        {
            [Linear(8, 16)] public partial Linear Fc1 { get; }
            [BatchNorm2d(16)] public partial BatchNorm2d Bn1 { get; }
            [Forward(Input = "N,8")]
            Tensor Forward(Tensor x) => x.Apply(Fc1).[|Apply(Bn1)|];
        }
        """, "GC1004", "BatchNorm2d 'Bn1' expects a 4-D input [N,16,H,W] but receives [N,16] (output of Linear 'Fc1' on [N,8])");

    [Fact]
    public void GC1006_dropout_probability_out_of_range() => Expect("""
        [Model] public partial class Net
        {
            [Linear(8, 16)] public partial Linear Fc1 { get; }
            [Dropout([|1.5f|])] public partial Dropout Drop { get; }
            [Forward(Input = "N,8")]
            Tensor Forward(Tensor x) => x.Apply(Fc1).Apply(Drop);
        }
        """, "GC1006", "Dropout 'Drop' needs a probability in [0, 1] but is declared Dropout(1.5)");

    [Fact]
    public void GC1006_batch_norm_momentum_out_of_range() => Expect("""
        [Model] public partial class Net
        {
            [Linear(8, 16)] public partial Linear Fc1 { get; }
            [[|BatchNorm1d(16, Momentum = 1.5f)|]] public partial BatchNorm1d Bn1 { get; }
            [Forward(Input = "N,8")]
            Tensor Forward(Tensor x) => x.Apply(Fc1).Apply(Bn1);
        }
        """, "GC1006", "BatchNorm1d 'Bn1' needs a positive number of features and eps and a momentum in [0, 1] but is declared BatchNorm1d(16, Eps = 1E-05, Momentum = 1.5)");
}
