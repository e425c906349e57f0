// One test per diagnostic id: the id, the whole message, and the exact span it is reported at ([| |] marks the span).
using Microsoft.CodeAnalysis;
using Xunit;

namespace GraphCompiler.Generators.Tests;

public partial class DiagnosticTests
{
    private const string Usings = "using GraphCompiler;\nusing GraphCompiler.Nn;\nnamespace Test;\n";

    /// <summary>Runs the generator on <paramref name="marked"/> and asserts exactly one diagnostic, at the marked span.</summary>
    private static void Expect(string marked, string id, string message)
    {
        string source = Usings + marked;
        int start = source.IndexOf("[|", StringComparison.Ordinal);
        int end = source.IndexOf("|]", StringComparison.Ordinal) - 2;
        Assert.True(start >= 0 && end >= start, "test source needs a [| |] marker");
        source = source.Replace("[|", "").Replace("|]", "");
        var result = GeneratorHarness.Run(source);
        Diagnostic d = Assert.Single(result.GeneratorDiagnostics);
        Assert.Equal(id, d.Id);
        Assert.Equal(DiagnosticSeverity.Error, d.Severity);
        Assert.Equal(message, d.GetMessage());
        Assert.Equal(source.Substring(start, end - start), source.Substring(d.Location.SourceSpan.Start, d.Location.SourceSpan.Length));
        // The generated part keeps the class whole, so the compiler adds no cascade of errors to ours.
        string cascade = string.Join("\n", result.CompileErrors.Select(e => e.ToString()));
        Assert.True(cascade.Length == 0, "errors besides the diagnostic:\n" + cascade);
    }

    private const string CifarLayers = """
        [Conv2d(3, 32, kernel: 5, Padding = 2)]  public partial Conv2d Conv1 { get; }
        [Conv2d(32, 32, kernel: 5, Padding = 2)] public partial Conv2d Conv2 { get; }
        [Conv2d(32, 64, kernel: 5, Padding = 2)] public partial Conv2d Conv3 { get; }
        """;

    private const string CifarForward = """
        [Forward(Input = "N,3,32,32")]
        Tensor Forward(Tensor x) => x
            .Apply(Conv1).Relu().MaxPool2d(2)
            .Apply(Conv2).Relu().MaxPool2d(2)
            .Apply(Conv3).Relu().MaxPool2d(2)
            .Flatten()
            .Apply(Fc1).Relu()
            .Apply(Fc2);
        """;

    [Fact]
    public void GC1001_linear_input_features() => Expect($$"""
        [Model] public partial class Net
        {
        {{CifarLayers}}
            [Linear([|1000|], 64)] public partial Linear Fc1 { get; }
            [Linear(64, 10)] public partial Linear Fc2 { get; }
        {{CifarForward}}
        }
        """, "GC1001", "Linear 'Fc1' expects 1000 input features but receives 1024 (Flatten of [N,64,4,4])");

    [Fact]
    public void GC1002_conv_input_channels() => Expect("""
        [Model] public partial class Net
        {
            [Conv2d(3, 32, kernel: 5, Padding = 2)] public partial Conv2d Conv1 { get; }
            [Conv2d([|16|], 32, kernel: 3)] public partial Conv2d Conv2 { get; }
            [Forward(Input = "N,3,32,32")]
            Tensor Forward(Tensor x) => x.Apply(Conv1).Relu().MaxPool2d(2).Apply(Conv2);
        }
        """, "GC1002", "Conv2d 'Conv2' expects 16 input channels but receives 32 from [N,32,16,16] (output of MaxPool2d(2) on [N,32,32,32])");

    [Fact]
    public void GC1003_conv_kernel_larger_than_padded_input() => Expect("""
        [Model] public partial class Net
        {
            [Conv2d(1, 4, kernel: [|7|], Padding = 1)] public partial Conv2d Conv1 { get; }
            [Forward(Input = "N,1,4,4")]
            Tensor Forward(Tensor x) => x.Apply(Conv1);
        }
        """, "GC1003", "Conv2d 'Conv1' has a 7x7 kernel but its input is only 4x4 (6x6 with padding 1); it receives [N,1,4,4] (the declared input)");

    [Fact]
    public void GC1003_pool_window_larger_than_input() => Expect("""
        [Model] public partial class Net
        {
            [Conv2d(1, 4, kernel: 3)] public partial Conv2d Conv1 { get; }
            [Forward(Input = "N,1,5,5")]
            Tensor Forward(Tensor x) => x.Apply(Conv1).[|MaxPool2d(4)|];
        }
        """, "GC1003", "MaxPool2d(4) has a 4x4 window but its input is only 3x3; it receives [N,4,3,3] (output of Conv2d 'Conv1' on [N,1,5,5])");

    [Fact]
    public void GC1004_linear_on_unflattened_input() => Expect("""
        [Model] public partial class Net
        {
            [Linear(784, 10)] public partial Linear Fc1 { get; }
            [Forward(Input = "N,1,28,28")]
            Tensor Forward(Tensor x) => x.[|Apply(Fc1)|];
        }
        """, "GC1004", "Linear 'Fc1' expects a 2-D input [N,784] but receives [N,1,28,28] (the declared input); call .Flatten() before it");

    [Fact]
    public void GC1005_log_softmax_dim_out_of_range() => Expect("""
        [Model] public partial class Net
        {
            [Linear(784, 10)] public partial Linear Fc1 { get; }
            [Forward(Input = "N,784")]
            Tensor Forward(Tensor x) => x.Apply(Fc1).[|LogSoftmax(dim: 2)|];
        }
        """, "GC1005", "LogSoftmax over dim 2 is out of range for a 2-D input [N,10] (output of Linear 'Fc1' on [N,784])");

    [Fact]
    public void GC1006_non_positive_layer_argument() => Expect("""
        [Model] public partial class Net
        {
            [|[Linear(784, 0)]|] public partial Linear Fc1 { get; }
            [Forward(Input = "N,784")]
            Tensor Forward(Tensor x) => x.Apply(Fc1);
        }
        """.Replace("[|[Linear(784, 0)]|]", "[[|Linear(784, 0)|]]"), "GC1006", "Linear 'Fc1' needs positive in and out features but is declared Linear(784, 0)");

    [Fact]
    public void GC1003_dilated_conv_kernel_larger_than_padded_input() => Expect("""
        [Model] public partial class Net
        {
            [Conv2d(1, 4, kernel: [|3|], Dilation = 3)] public partial Conv2d Conv1 { get; }
            [Forward(Input = "N,1,6,6")]
            Tensor Forward(Tensor x) => x.Apply(Conv1);
        }
        """, "GC1003", "Conv2d 'Conv1' has a 3x3 kernel with dilation 3 (spanning 7x7) but its input is only 6x6 (6x6 with padding 0); it receives [N,1,6,6] (the declared input)");

    [Fact]
    public void GC1003_ceil_mode_avg_pool_window_larger_than_input() => Expect("""
        [Model] public partial class Net
        {
            [Forward(Input = "N,2,3,3")]
            Tensor Forward(Tensor x) => x.[|AvgPool2d(4, stride: 2, ceilMode: true)|];
        }
        """, "GC1003", "AvgPool2d(4, stride: 2, ceilMode: true) has a 4x4 window but its input is only 3x3; it receives [N,2,3,3] (the declared input)");

    [Fact]
    public void GC1005_softmax_dim_out_of_range() => Expect("""
        [Model] public partial class Net
        {
            [Forward(Input = "N,3,8,8")]
            Tensor Forward(Tensor x) => x.AdaptiveAvgPool2d(2).[|Softmax(dim: -5)|];
        }
        """, "GC1005", "Softmax over dim -5 is out of range for a 4-D input [N,3,2,2] (output of AdaptiveAvgPool2d(2) on [N,3,8,8])");

    [Fact]
    public void GC1006_non_positive_pool_argument() => Expect("""
        [Model] public partial class Net
        {
            [Forward(Input = "N,3,8,8")]
            Tensor Forward(Tensor x) => x.[|MaxPool2d(2, dilation: 0)|];
        }
        """, "GC1006", "MaxPool2d(2, dilation: 0) needs a positive kernel, stride and dilation and a non-negative padding");

    [Fact]
    public void GC1010_conv_groups_do_not_divide_channels() => Expect("""
        [Model] public partial class Net
        {
            [Conv2d(6, 8, kernel: 3, Groups = [|3|])] public partial Conv2d Conv1 { get; }
            [Forward(Input = "N,6,8,8")]
            Tensor Forward(Tensor x) => x.Apply(Conv1);
        }
        """, "GC1010", "Conv2d 'Conv1' has groups = 3, which must divide both its 6 input and 8 output channels");

    [Fact]
    public void GC1011_pool_padding_more_than_half_the_window() => Expect("""
        [Model] public partial class Net
        {
            [Conv2d(1, 4, kernel: 3)] public partial Conv2d Conv1 { get; }
            [Forward(Input = "N,1,12,12")]
            Tensor Forward(Tensor x) => x.Apply(Conv1).[|AvgPool2d(3, padding: 2)|];
        }
        """, "GC1011", "AvgPool2d(3, padding: 2) pads 2 on each side but its window spans only 3; as in PyTorch, padding may be at most half the window (1)");

    [Fact]
    public void GC1012_same_padding_with_stride() => Expect("""
        [Model] public partial class Net
        {
            [Conv2d(3, 8, kernel: 3, Stride = 2, Padding = [|Padding.Same|])] public partial Conv2d Conv1 { get; }
            [Forward(Input = "N,3,16,16")]
            Tensor Forward(Tensor x) => x.Apply(Conv1);
        }
        """, "GC1012", "Conv2d 'Conv1' uses Padding.Same with stride 2; as in PyTorch, 'same' padding needs stride 1");

    [Fact]
    public void GC2001_unsupported_statement() => Expect("""
        [Model] public partial class Net
        {
            [Linear(784, 10)] public partial Linear Fc1 { get; }
            [Forward(Input = "N,784")]
            Tensor Forward(Tensor x)
            {
                [|while (x.Rank > 2) x = x.Flatten();|]
                return x.Apply(Fc1);
            }
        }
        """, "GC2001", "The forward body does not support this statement: 'while (x.Rank > 2) x = x.Flatten();'. " + ForwardBodyRules);

    internal const string ForwardBodyRules = "It may use the input, locals (reassigned freely), 'return', 'if' and '?:' on a constant, " +
        "'for'/'foreach' with constant bounds, Apply(layer) with a layer or Layers[i], calls of Relu(), MaxPool2d(), Flatten(), " +
        "LogSoftmax(), Reshape(), Softmax(), AvgPool2d(), AdaptiveAvgPool2d(), LeakyRelu(), Sigmoid(), Tanh(), Gelu(), Silu() " +
        "with constant arguments, a + b, a * b and Tensor.Cat([a, b], dim)";

    [Fact]
    public void GC2002_model_not_partial() => Expect("""
        [Model] public class [|Net|]
        {
            [Forward(Input = "N,784")]
            Tensor Forward(Tensor x) => x.Relu();
        }
        """, "GC2002", "Model class 'Net' must be declared partial so the generator can add its layers, Forward and Backward");

    [Fact]
    public void GC2003_missing_forward() => Expect("""
        [Model] public partial class [|Net|]
        {
            [Linear(784, 10)] public partial Linear Fc1 { get; }
        }
        """, "GC2003", "Model 'Net' has no forward method; mark one method with [Forward(Input = \"N,...\")]");

    [Fact]
    public void GC2004_second_forward() => Expect("""
        [Model] public partial class Net
        {
            [Forward(Input = "N,784")]
            Tensor Forward(Tensor x) => x.Relu();
            [Forward(Input = "N,784")]
            Tensor [|Again|](Tensor x) => x.Relu();
        }
        """, "GC2004", "Model 'Net' already has a forward method 'Forward'; 'Again' is a second one");

    [Fact]
    public void GC2005_apply_of_something_not_a_layer() => Expect("""
        [Model] public partial class Net
        {
            [Linear(784, 10)] public partial Linear Fc1 { get; }
            public Linear Other => Fc1;
            [Forward(Input = "N,784")]
            Tensor Forward(Tensor x) => x.Apply([|Other|]);
        }
        """, "GC2005", "Apply takes a layer property of this model declared with [Linear] or [Conv2d]; 'Other' is not one");

    [Fact]
    public void GC2006_bad_input_shape() => Expect("""
        [Model] public partial class Net
        {
            [Forward([|Input = "3,32,32"|])]
            Tensor Forward(Tensor x) => x.Relu();
        }
        """, "GC2006", "Forward input shape \"3,32,32\" is invalid: the first dimension must be the batch symbol N, got '3'");

    [Fact]
    public void GC2007_layer_property_not_partial() => Expect("""
        [Model] public partial class Net
        {
            [Linear(784, 10)] public Linear [|Fc1|] { get; } = null!;
            [Forward(Input = "N,784")]
            Tensor Forward(Tensor x) => x.Apply(Fc1);
        }
        """, "GC2007", "Layer 'Fc1' must be declared 'public partial Linear Fc1 { get; }' (found 'GraphCompiler.Nn.Linear', not partial)");

    [Fact]
    public void GC2008_value_never_used() => Expect("""
        [Model] public partial class Net
        {
            [Linear(784, 10)] public partial Linear Fc1 { get; }
            [Forward(Input = "N,784")]
            Tensor Forward(Tensor x)
            {
                var h = x.Relu();
                var unused = h.[|Relu()|];
                return h.Apply(Fc1) + h.Apply(Fc1);
            }
        }
        """, "GC2008", "the result of 'Relu' is never used; every value in the forward body must flow into the result");

    [Fact]
    public void GC1007_add_of_shapes_that_cannot_broadcast() => Expect("""
        [Model] public partial class Net
        {
            [Conv2d(32, 64, kernel: 3, Stride = 2, Padding = 1)] public partial Conv2d Conv1 { get; }
            [Conv2d(64, 64, kernel: 3, Padding = 1)] public partial Conv2d Conv2 { get; }
            [Forward(Input = "N,32,16,16")]
            Tensor Forward(Tensor x)
            {
                var pooled = x.MaxPool2d(2);
                return [|x.Apply(Conv1).Apply(Conv2) + pooled|];
            }
        }
        """, "GC1007", "Add of [N,64,8,8] (output of Conv2d 'Conv2' on [N,64,8,8]) and [N,32,8,8] (output of MaxPool2d(2) on [N,32,16,16]) cannot broadcast: dim 1 is 64 vs 32");

    [Fact]
    public void GC1007_mul_method_of_shapes_that_cannot_broadcast() => Expect("""
        [Model] public partial class Net
        {
            [Linear(40, 3)] public partial Linear Gate { get; }
            [Forward(Input = "N,4,10")]
            Tensor Forward(Tensor x) => x.[|Mul(x.Flatten().Apply(Gate).Reshape(1, 3))|];
        }
        """, "GC1007", "Mul of [N,4,10] (the declared input) and [N,1,3] (Reshape(1, 3) of [N,3]) cannot broadcast: dim 2 is 10 vs 3");

    [Fact]
    public void GC1008_cat_of_mismatched_non_cat_dims() => Expect("""
        [Model] public partial class Net
        {
            [Forward(Input = "N,8,16,16")]
            Tensor Forward(Tensor x) => Tensor.[|Cat([x, x.MaxPool2d(2)], dim: 1)|];
        }
        """, "GC1008", "Cat(dim: 1) of [N,8,16,16] (the declared input) and [N,8,8,8] (output of MaxPool2d(2) on [N,8,16,16]) needs equal sizes outside dim 1: dim 2 is 16 vs 8");

    [Fact]
    public void GC1009_reshape_changes_the_element_count() => Expect("""
        [Model] public partial class Net
        {
            [Forward(Input = "N,64,4,4")]
            Tensor Forward(Tensor x) => x.Flatten().[|Reshape(64, 4, 5)|];
        }
        """, "GC1009", "Reshape(64, 4, 5) needs 1280 elements per sample but receives 1024 from [N,1024] (Flatten of [N,64,4,4])");

    [Fact]
    public void GC1005_cat_dim_out_of_range() => Expect("""
        [Model] public partial class Net
        {
            [Forward(Input = "N,8,16,16")]
            Tensor Forward(Tensor x) => Tensor.[|Cat([x, x.Relu()], dim: 4)|];
        }
        """, "GC1005", "Cat(dim: 4) is out of range for 4-D inputs such as [N,8,16,16] (the declared input): dim must be from 1 to 3 (or -3 to -1), since dim 0 is the batch");

    [Fact]
    public void GC1005_flatten_start_dim_on_the_batch() => Expect("""
        [Model] public partial class Net
        {
            [Forward(Input = "N,8,4,4")]
            Tensor Forward(Tensor x) => x.[|Flatten(startDim: 0)|];
        }
        """, "GC1005", "Flatten(startDim: 0) is out of range for [N,8,4,4] (the declared input): startDim must be from 1 to 3 (or -3 to -1), since dim 0 is the batch");

    [Fact]
    public void GC2009_nested_model() => Expect("""
        public partial class Outer
        {
            [Model] public partial class [|Net|]
            {
                [Forward(Input = "N,784")]
                Tensor Forward(Tensor x) => x.Relu();
            }
        }
        """, "GC2009", "Model class 'Net' must be a top-level class, not nested in 'Outer'");
}
