// Diagnostics of forward bodies and layer declarations that say one thing, once: loops and constant ifs, layer arrays,
// duplicate state_dict names, PyTorch-style keyword arguments, unknown ops, and input shapes blamed on the Input string.
using Microsoft.CodeAnalysis;
using Xunit;

namespace GraphCompiler.Generators.Tests;

public partial class DiagnosticTests
{
    /// <summary>
    /// Like <see cref="Expect"/> where C# itself reports the mistake (<paramref name="csharpId"/>, which no generator can
    /// remove): exactly that one C# error and exactly one GC diagnostic, the one carrying the fix, at the marked span.
    /// </summary>
    private static void ExpectBesides(string csharpId, string marked, string id, string message)
    {
        string source = Usings + marked;
        int start = source.IndexOf("[|", StringComparison.Ordinal);
        int end = source.IndexOf("|]", StringComparison.Ordinal) - 2;
        source = source.Replace("[|", "").Replace("|]", "");
        var result = GeneratorHarness.Run(source);
        Diagnostic d = Assert.Single(result.GeneratorDiagnostics);
        Assert.Equal(id, d.Id);
        Assert.Equal(message, d.GetMessage());
        Assert.Equal(source.Substring(start, end - start), source.Substring(d.Location.SourceSpan.Start, d.Location.SourceSpan.Length));
        Assert.Equal([csharpId], result.CompileErrors.Select(e => e.Id));
    }

    private const string BlocksLayers = """
        [Linear(784, 64)]            public partial Linear Stem { get; }
        [Linear(64, 64, Count = 3)]  public partial Linear[] Blocks { get; }
        """;

    [Fact]
    public void GC2001_if_on_a_value_known_only_at_run_time() => Expect("""
        [Model] public partial class Net
        {
            [Linear(784, 10)] public partial Linear Fc1 { get; }
            [Forward(Input = "N,784")]
            Tensor Forward(Tensor x)
            {
                if ([|x.Rank > 2|]) x = x.Flatten();
                return x.Apply(Fc1);
            }
        }
        """, "GC2001", "The forward body does not support an 'if' whose condition is not a compile-time constant (the graph is fixed at build time; use a const field or a loop index): 'x.Rank > 2'. " + ForwardBodyRules);

    [Fact]
    public void GC2001_for_loop_without_a_constant_bound() => Expect($$"""
        [Model] public partial class Net
        {
        {{BlocksLayers}}
            [Forward(Input = "N,784")]
            Tensor Forward(Tensor x)
            {
                x = x.Apply(Stem);
                for (int i = 0; [|i < x.Rank|]; i++) x = x.Apply(Blocks[i]);
                return x;
            }
        }
        """, "GC2001", "The forward body does not support a 'for' loop without a constant bound (write e.g. 'for (int i = 0; i < 3; i++)' or 'i < Blocks.Length'): 'i < x.Rank'. " + ForwardBodyRules);

    [Fact]
    public void GC2005_layer_array_index_out_of_range() => Expect($$"""
        [Model] public partial class Net
        {
        {{BlocksLayers}}
            [Forward(Input = "N,784")]
            Tensor Forward(Tensor x)
            {
                x = x.Apply(Stem);
                for (int i = 0; i <= 3; i++) x = x.Apply([|Blocks[i]|]);
                return x;
            }
        }
        """, "GC2005", "'Blocks[i]' is index 3 of layer array 'Blocks', which holds 3 layers (Count = 3): the index must be from 0 to 2");

    [Fact]
    public void GC2007_layer_array_without_count() => Expect("""
        [Model] public partial class Net
        {
            [Linear(64, 64)] public partial Linear[] [|Blocks|] { get; }
            [Forward(Input = "N,64")]
            Tensor Forward(Tensor x) => x.Apply(Blocks[0]);
        }
        """, "GC2007", "Layer array 'Blocks' needs Count = n on its attribute: the number of Linear layers it holds, as in [Linear(…, Count = 3)]");

    [Fact]
    public void GC2007_count_on_a_single_layer() => Expect("""
        [Model] public partial class Net
        {
            [Linear(64, 64, Count = 2)] public partial Linear [|Fc|] { get; }
            [Forward(Input = "N,64")]
            Tensor Forward(Tensor x) => x.Apply(Fc);
        }
        """, "GC2007", "Layer 'Fc' must be declared 'public partial Linear[] Fc { get; }' since its attribute has Count = 2 (found 'GraphCompiler.Nn.Linear')");

    [Fact]
    public void GC2010_two_layers_with_one_state_dict_name() => Expect("""
        [Model] public partial class Net
        {
            [Linear(784, 64, Name = "f1")] public partial Linear Fc1 { get; }
            [Linear(64, 10, Name = [|"f1"|])] public partial Linear Fc2 { get; }
            [Forward(Input = "N,784")]
            Tensor Forward(Tensor x) => x.Apply(Fc1).Relu().Apply(Fc2);
        }
        """, "GC2010", "Layers 'Fc1' and 'Fc2' have the same state_dict name 'f1'; give one of them another Name (state_dict keys must be unique)");

    [Fact]
    public void GC2010_names_the_first_layer_as_the_additional_location_and_covers_layer_arrays()
    {
        string source = Usings + $$"""
            [Model] public partial class Net
            {
            {{BlocksLayers}}
                [Linear(64, 10, Name = "blocks.1")] public partial Linear Head { get; }
                [Forward(Input = "N,784")]
                Tensor Forward(Tensor x) => x.Apply(Stem).Apply(Blocks[0]).Apply(Blocks[1]).Apply(Blocks[2]).Apply(Head);
            }
            """;
        Diagnostic d = Assert.Single(GeneratorHarness.Run(source).GeneratorDiagnostics);
        Assert.Equal("GC2010", d.Id);
        Assert.Equal("Layers 'Blocks[1]' and 'Head' have the same state_dict name 'blocks.1'; give one of them another Name (state_dict keys must be unique)", d.GetMessage());
        Assert.Equal("\"blocks.1\"", source.Substring(d.Location.SourceSpan.Start, d.Location.SourceSpan.Length));
        Location first = Assert.Single(d.AdditionalLocations);
        Assert.Equal("Linear(64, 64, Count = 3)", source.Substring(first.SourceSpan.Start, first.SourceSpan.Length));
    }

    [Fact]
    public void GC2011_pytorch_keyword_argument_suggests_the_property() => ExpectBesides("CS1739", """
        [Model] public partial class Net
        {
            [Conv2d(1, 6, 5, [|padding: 2|])] public partial Conv2d C1 { get; }
            [Forward(Input = "N,1,28,28")]
            Tensor Forward(Tensor x) => x.Apply(C1).Relu();
        }
        """, "GC2011", "[Conv2d] on 'C1' has no constructor parameter 'padding'; write 'Padding = 2' (Padding is a property of the attribute: PyTorch's keyword arguments after the constructor's (inChannels, outChannels, kernel) are set as properties)");

    [Fact]
    public void GC2011_lower_case_property_suggests_the_property_and_stops_the_shape_check() => ExpectBesides("CS0246", """
        [Model] public partial class Net
        {
            [Conv2d(1, 6, 5, [|padding = 2|])] public partial Conv2d C1 { get; }
            [Linear(6 * 14 * 14, 10)] public partial Linear Fc { get; }
            [Forward(Input = "N,1,28,28")]
            Tensor Forward(Tensor x) => x.Apply(C1).Relu().MaxPool2d(2).Flatten().Apply(Fc);
        }
        """, "GC2011", "[Conv2d] on 'C1' has no property 'padding'; write 'Padding = 2'");

    [Fact]
    public void GC2011_pytorch_keyword_in_an_op_call_gives_the_csharp_name() => ExpectBesides("CS1739", """
        [Model] public partial class Net
        {
            [Forward(Input = "N,3,9,9")]
            Tensor Forward(Tensor x) => x.Relu().MaxPool2d(2, [|ceil_mode: true|]);
        }
        """, "GC2011", "MaxPool2d has no parameter 'ceil_mode'; write 'ceilMode: true'");

    [Fact]
    public void GC2012_unknown_op_lists_the_nearest_ops() => ExpectBesides("CS1061", """
        [Model] public partial class Net
        {
            [Linear(784, 10)] public partial Linear Fc1 { get; }
            [Forward(Input = "N,784")]
            Tensor Forward(Tensor x) => x.Apply(Fc1).[|Clamp|](0, 6);
        }
        """, "GC2012", "'Clamp' is not an op of the forward body; the nearest are Relu(), Tanh(), Sigmoid(). All ops: Apply(layer), " +
        "Relu(), MaxPool2d(), Flatten(), LogSoftmax(), Reshape(), Softmax(), AvgPool2d(), AdaptiveAvgPool2d(), LeakyRelu(), " +
        "Sigmoid(), Tanh(), Gelu(), Silu(), a + b, a * b, Tensor.Cat([a, b], dim)");

    [Fact]
    public void GC2012_a_misspelt_op_lists_the_ops_nearest_in_spelling() => ExpectBesides("CS1061", """
        [Model] public partial class Net
        {
            [Forward(Input = "N,10")]
            Tensor Forward(Tensor x) => x.Relu().[|Sofmax|](1);
        }
        """, "GC2012", "'Sofmax' is not an op of the forward body; the nearest are Softmax(), LogSoftmax(), Sigmoid(). All ops: Apply(layer), " +
        "Relu(), MaxPool2d(), Flatten(), LogSoftmax(), Reshape(), Softmax(), AvgPool2d(), AdaptiveAvgPool2d(), LeakyRelu(), " +
        "Sigmoid(), Tanh(), Gelu(), Silu(), a + b, a * b, Tensor.Cat([a, b], dim)");

    [Fact]
    public void GC1004_input_string_with_too_few_dimensions_for_batch_norm_2d() => Expect("""
        [Model] public partial class Net
        {
            [BatchNorm2d(3)] public partial BatchNorm2d Bn { get; }
            [Forward([|Input = "N,3,32"|])]
            Tensor Forward(Tensor x) => x.Apply(Bn);
        }
        """, "GC1004", "BatchNorm2d 'Bn' expects a 4-D input [N,3,H,W] but receives [N,3,32] (the declared input)");

    [Fact]
    public void GC1004_input_string_with_too_few_dimensions_for_a_conv_net() => Expect("""
        [Model] public partial class Net
        {
            [Conv2d(1, 6, kernel: 5, Padding = 2)] public partial Conv2d C1 { get; }
            [Forward([|Input = "N,28,28"|])]
            Tensor Forward(Tensor x) => x.Apply(C1).Relu().MaxPool2d(2);
        }
        """, "GC1004", "Conv2d 'C1' expects a 4-D input [N,1,H,W] but receives [N,28,28] (the declared input)");
}
