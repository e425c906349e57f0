// Forward bodies written the way a PyTorch user writes them (reassigned locals, named intermediates, constant ifs, loops
// over layer arrays) compile to the same graph as the method-chain form: the generated files are identical.
using Xunit;

namespace GraphCompiler.Generators.Tests;

public class ForwardBodyTests
{
    private const string Usings = "using GraphCompiler;\nusing GraphCompiler.Nn;\nnamespace Test;\n";

    private const string ConvLayers = """
        [Conv2d(1, 8, kernel: 3, Padding = 1)]  public partial Conv2d C1 { get; }
        [Conv2d(8, 16, kernel: 3, Padding = 1)] public partial Conv2d C2 { get; }
        [Linear(16 * 7 * 7, 10)]                 public partial Linear Fc { get; }
        """;

    /// <summary>The generated file of a model called Net with <paramref name="members"/>; asserts no diagnostics and code that compiles.</summary>
    private static string Generate(string members)
    {
        var result = GeneratorHarness.Run(Usings + "[Model] public partial class Net\n{\n" + members + "\n}\n");
        Assert.Empty(result.GeneratorDiagnostics);
        string errors = string.Join("\n", result.CompileErrors.Select(d => d.ToString()));
        Assert.True(errors.Length == 0, "The generated code does not compile:\n" + errors);
        return result.Generated("Test.Net.g.cs");
    }

    private static readonly string Chain = Generate(ConvLayers + """
        [Forward(Input = "N,1,28,28")]
        public Tensor Forward(Tensor x) => x.Apply(C1).Relu().MaxPool2d(2).Apply(C2).Relu().MaxPool2d(2).Flatten().Apply(Fc).LogSoftmax(1);
        """);

    [Fact]
    public void A_block_body_that_reassigns_its_input_is_the_chain()
    {
        string code = Generate(ConvLayers + """
            [Forward(Input = "N,1,28,28")]
            public Tensor Forward(Tensor x)
            {
                x = x.Apply(C1).Relu();
                x = x.MaxPool2d(2);
                x = x.Apply(C2).Relu().MaxPool2d(2);
                x = x.Flatten();
                return x.Apply(Fc).LogSoftmax(1);
            }
            """);
        Assert.Equal(Chain, code);
        Assert.Contains("Conv2dKernels.Forward(", code);
    }

    [Fact]
    public void Var_locals_naming_intermediate_values_are_the_chain()
    {
        string code = Generate(ConvLayers + """
            [Forward(Input = "N,1,28,28")]
            public Tensor Forward(Tensor x)
            {
                var features = x.Apply(C1).Relu();
                Tensor pooled = features.MaxPool2d(2), deeper;
                deeper = pooled.Apply(C2).Relu().MaxPool2d(2);
                var logits = deeper.Flatten().Apply(Fc);
                return logits.LogSoftmax(dim: 1);
            }
            """);
        Assert.Equal(Chain, code);
    }

    [Fact]
    public void An_if_or_a_conditional_on_a_constant_takes_its_branch_at_build_time()
    {
        string code = Generate(ConvLayers + """
            private const bool UseSecondConv = true;
            private const int Pool = 2;
            [Forward(Input = "N,1,28,28")]
            public Tensor Forward(Tensor x)
            {
                x = x.Apply(C1).Relu().MaxPool2d(Pool);
                if (UseSecondConv && Pool == 2)
                {
                    x = x.Apply(C2).Relu();
                }
                else
                {
                    x = x.Sigmoid();
                }
                if (!UseSecondConv) x = x.Tanh();
                x = Pool == 2 ? x.MaxPool2d(Pool) : x.AvgPool2d(Pool);
                return x.Flatten().Apply(Fc).LogSoftmax(1);
            }
            """);
        Assert.Equal(Chain, code);
    }

    private const string BlockLayers = """
        [Linear(784, 64)]                 public partial Linear Stem { get; }
        [Linear(64, 64, Count = 3)]       public partial Linear[] Blocks { get; }
        [Linear(64, 10)]                  public partial Linear Head { get; }
        """;

    private static readonly string UnrolledBlocks = Generate(BlockLayers + """
        [Forward(Input = "N,1,28,28")]
        public Tensor Forward(Tensor x) => x.Flatten().Apply(Stem).Relu()
            .Apply(Blocks[0]).Relu().Apply(Blocks[1]).Relu().Apply(Blocks[2]).Relu()
            .Apply(Head);
        """);

    [Fact]
    public void A_for_loop_over_a_layer_array_is_the_unrolled_chain()
    {
        string code = Generate(BlockLayers + """
            [Forward(Input = "N,1,28,28")]
            public Tensor Forward(Tensor x)
            {
                x = x.Flatten().Apply(Stem).Relu();
                for (int i = 0; i < Blocks.Length; i++)
                    x = x.Apply(Blocks[i]).Relu();
                return x.Apply(Head);
            }
            """);
        Assert.Equal(UnrolledBlocks, code);
    }

    [Fact]
    public void A_foreach_over_a_layer_array_is_the_unrolled_chain()
    {
        string code = Generate(BlockLayers + """
            [Forward(Input = "N,1,28,28")]
            public Tensor Forward(Tensor x)
            {
                x = x.Flatten().Apply(Stem).Relu();
                foreach (Linear block in Blocks) x = x.Apply(block).Relu();
                return x.Apply(Head);
            }
            """);
        Assert.Equal(UnrolledBlocks, code);
    }

    [Fact]
    public void A_layer_array_is_a_module_list_field_with_indexed_state_dict_names()
    {
        Assert.Contains("private readonly Linear[] _blocks;", UnrolledBlocks);
        Assert.Contains("""
                    _blocks =
                    [
                        new Linear("blocks.0", inFeatures: 64, outFeatures: 64, bias: true, rng),
                        new Linear("blocks.1", inFeatures: 64, outFeatures: 64, bias: true, rng),
                        new Linear("blocks.2", inFeatures: 64, outFeatures: 64, bias: true, rng),
                    ];
            """, UnrolledBlocks);
        Assert.Contains("public partial Linear[] Blocks => _blocks;", UnrolledBlocks);
        Assert.Contains("_parameters = [.. _stem.Parameters(), .. _blocks[0].Parameters(), .. _blocks[1].Parameters(), .. _blocks[2].Parameters(), .. _head.Parameters()];", UnrolledBlocks);
        // Kernels read the element by index; its values and flags take the identifier Blocks_1.
        Assert.Contains("Blocks[1].Weight.Data", UnrolledBlocks);
        Assert.Contains("bool trainsToBlocks_1 = trainsToBlocks_0 || Blocks[1].Trainable;", UnrolledBlocks);
    }

    [Fact]
    public void A_name_with_an_index_placeholder_places_the_index_as_torchvision_names_a_stage()
    {
        string code = Generate("""
            [Conv2d(8, 8, kernel: 3, Padding = 1, Bias = false, Count = 2, Name = "layer1.{i}.conv1")] public partial Conv2d[] Conv1s { get; }
            [BatchNorm2d(8, Count = 2, Name = "layer1.{i}.bn1")] public partial BatchNorm2d[] Bn1s { get; }
            [Forward(Input = "N,8,8,8")]
            public Tensor Forward(Tensor x)
            {
                for (int i = 0; i < 2; i++)
                {
                    var shortcut = x;
                    x = x.Apply(Conv1s[i]).Apply(Bn1s[i]).Relu();
                    x += shortcut;
                }
                return x;
            }
            """);
        Assert.Contains("new Conv2d(\"layer1.1.conv1\",", code);
        Assert.Contains("new BatchNorm2d(\"layer1.0.bn1\",", code);
        Assert.Contains("_buffers = [.. _bn1s[0].Buffers(), .. _bn1s[1].Buffers()];", code);
        Assert.Equal(2, code.Split("AddKernels.Forward(").Length - 1);
    }
}
