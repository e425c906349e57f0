// The compiler core on its own (no Roslyn): shape inference, lowering to kernel calls, and the derived backward pass.
using GraphCompiler.Compiler;
using Xunit;

namespace GraphCompiler.Tests.Compiler;

public class ModelCompilerTests
{
    internal static LayerDecl Linear(string name, int inF, int outF) =>
        LayerDecl.Of(name, "Linear", ("inFeatures", inF), ("outFeatures", outF));

    private static LayerDecl Conv(string name, int cIn, int cOut, int k, int s, int p) =>
        LayerDecl.Of(name, "Conv2d", ("inChannels", cIn), ("outChannels", cOut), ("kernel", k), ("stride", s), ("padding", p));

    /// <summary>Call <paramref name="i"/> of a chain (it reads value i), with positional arguments bound to the op's parameters.</summary>
    internal static OpCall Call(string op, string? layer, int[] args, int i)
    {
        if (op == "Apply") return OpCall.Apply(layer!, i) with { Site = i + 1 };
        double[] bound = OpParams.Bind(op, OpsTable.Functional[op].Params, args.Select(a => new ArgValue(null, a, -1)).ToArray(),
            out _, out string error, out _) ?? throw new ArgumentException(error);
        return new OpCall(op, i, null, new EquatableArray<double>(bound), i + 1);
    }

    /// <summary>A chain of calls: each consumes the previous value.</summary>
    private static ModelDecl Chain(Shape input, LayerDecl[] layers, params (string Op, string? Layer, int[] Args)[] calls) =>
        new("Net", input, 0, EquatableArray.From(layers),
            EquatableArray.From(calls.Select((c, i) => Call(c.Op, c.Layer, c.Args, i))), calls.Length);

    private static readonly int[] None = [];

    internal static CompileResult CompileCifar(int fc1In = 1024, bool fuse = true) => ModelCompiler.Compile(Chain(
        new Shape(Shape.Batch, 3, 32, 32),
        [Conv("Conv1", 3, 32, 5, 1, 2), Conv("Conv2", 32, 32, 5, 1, 2), Conv("Conv3", 32, 64, 5, 1, 2), Linear("Fc1", fc1In, 64), Linear("Fc2", 64, 10)],
        ("Apply", "Conv1", None), ("Relu", null, None), ("MaxPool2d", null, [2]),
        ("Apply", "Conv2", None), ("Relu", null, None), ("MaxPool2d", null, [2]),
        ("Apply", "Conv3", None), ("Relu", null, None), ("MaxPool2d", null, [2]),
        ("Flatten", null, None), ("Apply", "Fc1", None), ("Relu", null, None), ("Apply", "Fc2", None)) with { Fuse = fuse });

    internal static CompileResult CompileMlp(bool fuse = true) => ModelCompiler.Compile(Chain(
        new Shape(Shape.Batch, 1, 28, 28),
        [Linear("Fc1", 784, 128), Linear("Fc2", 128, 64), Linear("Fc3", 64, 10)],
        ("Flatten", null, None), ("Apply", "Fc1", None), ("Relu", null, None), ("Apply", "Fc2", None), ("Relu", null, None),
        ("Apply", "Fc3", None), ("LogSoftmax", null, [1])) with { Fuse = fuse });

    [Fact]
    public void Cifar_shapes_kernels_and_backward()
    {
        CompileResult result = CompileCifar(fuse: false);
        Assert.Empty(result.Diagnostics);
        Schedule s = result.Schedule!;
        Assert.Equal("[N,10]", s.Output.ToString());
        Assert.Equal(["[N,32,32,32]", "[N,32,32,32]", "[N,32,16,16]", "[N,32,16,16]", "[N,32,16,16]", "[N,32,8,8]",
            "[N,64,8,8]", "[N,64,8,8]", "[N,64,4,4]", "[N,1024]", "[N,64]", "[N,64]", "[N,10]"], s.Trace.Select(t => t.Output.ToString()));
        // 12 forward kernels: Flatten is an alias and costs nothing.
        Assert.Equal(12, s.Forward.Count);
        // Backward: params of 5 layers, input grads of 4 of them (Conv1's only on request), 4 ReLUs, 3 pools.
        Assert.Equal(5 + 5 + 4 + 3, s.Backward.Count);
        KernelStep conv1Dx = Assert.Single(s.Backward, b => b.InputGradOnly);
        Assert.Equal(("Conv2dBackwardInput", "Conv1"), (conv1Dx.Kind, conv1Dx.Comment.Split(':')[0]));
        Assert.Equal(2432 + 25632 + 51264 + 65600 + 650, s.Trace.Sum(t => t.Parameters));
        // Flatten shares Pool3's buffers in both directions.
        var fc1 = (LinearForward)s.Forward.Single(f => f.Comment.StartsWith("Fc1"));
        Assert.Equal("Pool3Out", fc1.X.Name);
        var fc1Dx = (LinearBackwardInput)s.Backward.Single(b => b.Comment.StartsWith("Fc1: dx"));
        Assert.Equal("Pool3Grad", fc1Dx.Dx.Name);
    }

    [Fact]
    public void Frozen_layers_skip_their_weight_gradients_and_everything_below_the_last_layer_that_trains()
    {
        Schedule s = CompileCifar().Schedule!;
        Assert.Equal(["Conv1", "Conv2", "Conv3", "Fc1", "Fc2"], s.LayerOrder);
        int Runs(Func<string, bool> trains, bool inputGrad) => s.Backward.Count(step => step.Runs(trains, s.LayerUses, inputGrad));
        int all = s.Backward.Count(step => !step.InputGradOnly);
        Assert.Equal(all, Runs(_ => true, inputGrad: false));
        Assert.Equal(s.Backward.Count, Runs(_ => true, inputGrad: true));
        // Transfer learning: the convolutions frozen, only the head trains. Fc2's dW, Fc2's dx (through Fc1's ReLU) and
        // Fc1's dW run; Fc1's dx and everything below it would only feed frozen layers.
        var head = new HashSet<string> { "Fc1", "Fc2" };
        Assert.Equal(3, Runs(head.Contains, inputGrad: false));
        Assert.Equal(["LinearBackwardParams", "LinearBackwardInput", "LinearBackwardParams"],
            s.Backward.Where(step => step.Runs(head.Contains, s.LayerUses, false)).Select(step => step.Kind));
        // Freezing only Conv1 saves its weight gradient and the two steps that carry the gradient down to it
        // (Conv2's dx and Pool1's scatter).
        Assert.Equal(all - 3, Runs(layer => layer != "Conv1", inputGrad: false));
        Assert.Equal(0, Runs(_ => false, inputGrad: false));
    }

    [Fact]
    public void A_wrong_linear_input_reports_how_the_shape_was_derived()
    {
        CompileResult result = CompileCifar(fc1In: 1000);
        Assert.Null(result.Schedule);
        CoreDiagnostic d = Assert.Single(result.Diagnostics);
        Assert.Equal(DiagnosticIds.LinearFeatures, d.Id);
        Assert.Equal("Linear 'Fc1' expects 1000 input features but receives 1024 (Flatten of [N,64,4,4])", d.Message);
    }

    [Fact]
    public void Strided_conv_and_pool_shapes_follow_pytorch_floor_rules()
    {
        CompileResult result = ModelCompiler.Compile(Chain(new Shape(Shape.Batch, 1, 17, 16),
            [Conv("Conv1", 1, 4, 3, 2, 1)],
            ("Apply", "Conv1", None), ("MaxPool2d", null, [3, 2])));
        // conv: floor((17 + 2 - 3) / 2) + 1 = 9, floor((16 + 2 - 3) / 2) + 1 = 8; pool 3 stride 2: 4 and 3.
        Assert.Equal("[N,4,4,3]", result.Schedule!.Output.ToString());
    }

    [Fact]
    public void Every_core_op_has_a_kernel_entry_in_the_ops_table()
    {
        var kernelOps = Kernels.OpsTable.All.Select(o => o.Name).ToHashSet();
        foreach (OpDef op in GraphCompiler.Compiler.OpsTable.All.Where(o => !o.IsAlias))
            Assert.Contains(op.Name, kernelOps);
    }

    [Theory]
    [InlineData("N,1,28,28", true, "")]
    [InlineData("N, 3, 32, 32", true, "")]
    [InlineData("3,32,32", false, "the first dimension must be the batch symbol N, got '3'")]
    [InlineData("N", false, "expected 'N' followed by at least one positive dimension, e.g. \"N,1,28,28\"")]
    [InlineData("N,0,4", false, "dimension 1 must be a positive integer, got '0'")]
    [InlineData("N,x", false, "dimension 1 must be a positive integer, got 'x'")]
    public void Input_shapes_parse_or_say_why_not(string text, bool ok, string error)
    {
        Assert.Equal(ok, Shape.TryParse(text, out _, out string message));
        Assert.Equal(error, message);
    }
}
