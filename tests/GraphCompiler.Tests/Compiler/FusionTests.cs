// The fusion passes one by one on small graphs (each replaces the nodes it fuses with a node of a fused op), then the
// kernel counts of both reference models fused and unfused.
using GraphCompiler.Compiler;
using GraphCompiler.Compiler.Ops;
using Xunit;

namespace GraphCompiler.Tests.Compiler;

public class FusionTests
{
    private static LayerDecl Linear(string name, int inF, int outF) => ModelCompilerTests.Linear(name, inF, outF);

    private static readonly int[] None = [];

    private static FusedOp? Fused(Node node) => node.Op as FusedOp;

    private static string Ops(Graph g) => string.Join(" ", g.Nodes.Skip(1).Select(n => n.Op is FusedOp f ? $"{n.Name}[{Describe(f)}]" : n.Name));

    private static string Describe(FusedOp f) => string.Join(",", new[]
    {
        f.Epilogue is { } e ? "+" + e.Member : null, f.Mask is { } m ? "mask:" + m.Activation.Name : null, f.OutputGradInConsumer ? "grad-in-consumer" : null,
    }.Where(x => x is not null));

    /// <summary>Builds, shapes and names the graph of a chain, the state the fusion passes run on.</summary>
    private static Graph Build(Shape input, LayerDecl[] layers, params (string Op, string? Layer, int[] Args)[] calls)
    {
        var decl = new ModelDecl("Net", input, 0, EquatableArray.From(layers),
            EquatableArray.From(calls.Select((c, i) => ModelCompilerTests.Call(c.Op, c.Layer, c.Args, i))), calls.Length);
        var errors = new List<CoreDiagnostic>();
        Graph graph = ModelCompiler.BuildGraph(decl, errors)!;
        Assert.True(ModelCompiler.InferShapes(graph, errors));
        ModelCompiler.NameValues(graph);
        return graph;
    }

    [Fact]
    public void Fuse_epilogues_folds_a_relu_into_the_linear_before_it_but_not_into_a_pool_or_a_second_relu()
    {
        Graph g = Build(new Shape(Shape.Batch, 2, 4, 4), [Linear("Fc1", 8, 3)],
            ("MaxPool2d", null, [2]), ("Relu", null, None), ("Flatten", null, None), ("Apply", "Fc1", None), ("Relu", null, None), ("Relu", null, None));
        Assert.Equal(1, Fusion.FuseEpilogues(g));
        // Fc1 and the ReLU after it are one node (LinearAct); the second ReLU stays a node of its own (a kernel takes one
        // activation), and MaxPool2d has no epilogue.
        Assert.Equal("Pool1 Relu1 Flatten1 Fc1[+Relu] Relu3", Ops(g));
        Assert.Same(g.Nodes[4], g.Nodes[5].Input);
        Assert.Same(g.Nodes[5], g.Output);
    }

    [Fact]
    public void Only_activations_with_an_output_based_derivative_fuse()
    {
        // Fc1 → LeakyReLU(−0.2) → Fc2 → LeakyReLU(0.2) → Fc3 → Sigmoid → Fc4 → GELU → Fc5 → Tanh
        LayerDecl[] layers = [.. Enumerable.Range(1, 5).Select(i => Linear("Fc" + i, i == 1 ? 5 : 4, 4))];
        OpCall[] calls =
        [
            OpCall.Apply("Fc1", 0), OpCall.Of("LeakyRelu", 1, ("negativeSlope", -0.2)), OpCall.Apply("Fc2", 2), OpCall.Of("LeakyRelu", 3, ("negativeSlope", 0.2)),
            OpCall.Apply("Fc3", 4), OpCall.Of("Sigmoid", 5), OpCall.Apply("Fc4", 6), OpCall.Of("Gelu", 7), OpCall.Apply("Fc5", 8), OpCall.Of("Tanh", 9),
        ];
        var errors = new List<CoreDiagnostic>();
        Graph g = ModelCompiler.BuildGraph(new ModelDecl("Net", new Shape(Shape.Batch, 5), 0, EquatableArray.From(layers), EquatableArray.From(calls), 10), errors)!;
        Assert.True(ModelCompiler.InferShapes(g, errors));
        ModelCompiler.NameValues(g);

        Assert.Equal(3, Fusion.FuseEpilogues(g));
        // A negative slope loses the sign of x in y, and GELU needs its input: those two stay nodes of their own.
        Assert.Equal("Fc1 LeakyRelu1 Fc2[+LeakyRelu(0.2f)] Fc3[+Sigmoid] Fc4 Gelu1 Fc5[+Tanh]", Ops(g));

        Assert.Equal(2, Fusion.FuseActivationGradients(g));
        // Fc3's dx applies LeakyReLU(0.2)'s backward (Fc2's epilogue), Fc4's dx the sigmoid's (Fc3's); Fc2 reads the
        // LeakyReLU(−0.2), whose derivative needs x, and Fc5's tanh is the output.
        Assert.Equal("Fc1 LeakyRelu1 Fc2[+LeakyRelu(0.2f),grad-in-consumer] Fc3[+Sigmoid,mask:Fc2,grad-in-consumer] Fc4[mask:Fc3] Gelu1 Fc5[+Tanh]", Ops(g));
        Assert.Equal("(dy · W) · leakyrelu[0.2]′(x)", Fusion.Masked(Fused(g.Nodes[4])!.Mask, "dy · W"));
    }

    [Fact]
    public void Fuse_activation_grads_hands_the_relu_backward_to_the_consumer_through_flatten()
    {
        Graph g = Build(new Shape(Shape.Batch, 2, 4, 4), [Linear("Fc1", 8, 3)],
            ("MaxPool2d", null, [2]), ("Relu", null, None), ("Flatten", null, None), ("Apply", "Fc1", None), ("Relu", null, None));
        Assert.Equal(1, Fusion.FuseActivationGradients(g));
        // Fc1's dx applies Relu1's backward; the output's ReLU has no consumer to fuse into.
        Assert.Equal("Pool1 Relu1[grad-in-consumer] Flatten1 Fc1[mask:Relu1] Relu2", Ops(g));
        Assert.Same(g.Nodes[2], Fused(g.Nodes[4])!.Mask!.Activation);
    }

    [Fact]
    public void Fuse_loss_marks_a_final_log_softmax_and_names_the_logits_gradient()
    {
        Graph g = Build(new Shape(Shape.Batch, 5), [Linear("Fc1", 5, 3)], ("Apply", "Fc1", None), ("LogSoftmax", null, [1]));
        Assert.Equal(new LossFusion("nll_loss", "Fc1Grad"), Fusion.FuseLossGradient(g, new Lowering(g)));
        Assert.IsType<LogSoftmaxNllOp>(g.Output.Op);
        Graph plain = Build(new Shape(Shape.Batch, 5), [Linear("Fc1", 5, 3)], ("Apply", "Fc1", None));
        Assert.Null(Fusion.FuseLossGradient(plain, new Lowering(plain)));
    }

    private static Graph Graph(Shape input, LayerDecl[] layers, OpCall[] calls)
    {
        var errors = new List<CoreDiagnostic>();
        Graph g = ModelCompiler.BuildGraph(new ModelDecl("Net", input, 0, EquatableArray.From(layers), EquatableArray.From(calls), calls.Length), errors)!;
        Assert.True(ModelCompiler.InferShapes(g, errors));
        ModelCompiler.NameValues(g);
        return g;
    }

    [Fact]
    public void Fuse_elementwise_chains_joins_runs_of_two_or_more_but_not_an_epilogue_or_a_single_activation()
    {
        // Fc1 → ReLU → Sigmoid → Tanh → Fc2 → GELU(tanh) → SiLU → LeakyReLU(−0.2) → Fc3 → Sigmoid
        Graph g = Graph(new Shape(Shape.Batch, 5), [Linear("Fc1", 5, 4), Linear("Fc2", 4, 4), Linear("Fc3", 4, 4)],
        [
            OpCall.Apply("Fc1", 0), OpCall.Of("Relu", 1), OpCall.Of("Sigmoid", 2), OpCall.Of("Tanh", 3),
            OpCall.Apply("Fc2", 4), OpCall.Of("Gelu", 5, ("approximateTanh", 1)), OpCall.Of("Silu", 6), OpCall.Of("LeakyRelu", 7, ("negativeSlope", -0.2)),
            OpCall.Apply("Fc3", 8), OpCall.Of("Sigmoid", 9),
        ]);
        Node[] n = [.. g.Nodes];
        Assert.Equal(Elementwise.Gelu(approximateTanh: true), OpsTable.Gelu.Elementwise(n[6]));
        Assert.Equal(Elementwise.LeakyRelu(-0.2f), OpsTable.LeakyRelu.Elementwise(n[8]));
        Assert.Null(OpsTable.Linear.Elementwise(n[1]));
        Assert.Equal(2, Fusion.FuseEpilogues(g));       // ReLU into Fc1, the last sigmoid into Fc3
        Assert.Equal(2, Fusion.FuseElementwiseChains(g));
        // The ReLU is Fc1's epilogue, so the first chain starts after it; GELU and SiLU read x, a negative slope too: all
        // chain; a single activation (here an epilogue) is no chain. A chain is named after its last activation.
        Assert.Equal("Fc1[+Relu] Tanh1 Fc2 LeakyRelu1 Fc3[+Sigmoid]", Ops(g));
        Assert.Equal([Elementwise.Sigmoid, Elementwise.Tanh], ((ChainOp)g.Nodes[2].Op!).Stages);
        Assert.Equal([Elementwise.Gelu(true), Elementwise.Silu, Elementwise.LeakyRelu(-0.2f)], ((ChainOp)g.Nodes[4].Op!).Stages);
        Assert.Equal([g.Nodes[1]], g.Nodes[2].Inputs);  // the chain reads what its first activation read

        // Fc2 would take the tanh's backward, but a chain's backward is a kernel of its own.
        Assert.Equal(0, Fusion.FuseActivationGradients(g));
    }

    [Fact]
    public void Fuse_elementwise_chains_ends_a_chain_at_a_value_read_twice()
    {
        // h = GELU(Fc1(x)); s = SiLU(h); return tanh(s) + s: s is kept, so the chain is GELU → SiLU and tanh stays alone.
        Graph g = Graph(new Shape(Shape.Batch, 5), [Linear("Fc1", 5, 4)],
            [OpCall.Apply("Fc1", 0), OpCall.Of("Gelu", 1), OpCall.Of("Silu", 2), OpCall.Of("Tanh", 3), OpCall.Of("Add", [4, 3])]);
        Assert.Equal(1, Fusion.FuseElementwiseChains(g));
        Assert.Equal("Fc1 Silu1 Tanh1 Add1", Ops(g));
        Assert.IsType<ChainOp>(g.Nodes[2].Op);
        Assert.Equal([g.Nodes[3], g.Nodes[2]], g.Nodes[4].Inputs); // tanh(s) + s reads the chain's value twice

        // Read twice earlier: GELU's value feeds both SiLU and the sum, so nothing chains.
        Graph h = Graph(new Shape(Shape.Batch, 5), [Linear("Fc1", 5, 4)],
            [OpCall.Apply("Fc1", 0), OpCall.Of("Gelu", 1), OpCall.Of("Silu", 2), OpCall.Of("Add", [3, 2])]);
        Assert.Equal(0, Fusion.FuseElementwiseChains(h));
    }

    [Fact]
    public void A_chain_lowers_to_one_kernel_each_way_with_its_stages_as_compile_time_data()
    {
        var decl = new ModelDecl("Net", new Shape(Shape.Batch, 5), 0, EquatableArray.From([Linear("Fc1", 5, 4), Linear("Fc2", 4, 3)]), EquatableArray.From(
            [OpCall.Apply("Fc1", 0), OpCall.Of("Gelu", 1), OpCall.Of("LeakyRelu", 2, ("negativeSlope", -0.2)), OpCall.Of("Tanh", 3), OpCall.Apply("Fc2", 4)]), 5);
        Schedule s = ModelCompiler.Compile(decl).Schedule!;
        var forward = (ElementwiseChainForward)s.Forward.Single(x => x is ElementwiseChainForward);
        Assert.Equal(("Fc1Out", "Tanh1Out", "Tanh1Chain"), (forward.X.Name, forward.Y.Name, forward.Stages.Name));
        Assert.Equal([Elementwise.Gelu(false), Elementwise.LeakyRelu(-0.2f), Elementwise.Tanh], forward.Stages.Value);
        var backward = (ElementwiseChainBackward)s.Backward.Single(x => x is ElementwiseChainBackward);
        Assert.Equal(("Fc1Out", "Tanh1Grad", "Fc1Grad", "Tanh1Chain"), (backward.X.Name, backward.Dy.Name, backward.Dx.Name, backward.Stages.Name));
        Assert.Equal("Tanh1: dx = dy · (tanh(leakyrelu[-0.2](gelu[false](x))))′", backward.Comment);
        GeometryDecl chain = s.Geometries.Single();
        Assert.Equal("ElementwiseChain", chain.Type);
        Assert.Equal(["Elementwise.Gelu(false)", "Elementwise.LeakyRelu(-0.2f)", "Elementwise.Tanh"], chain.Terms);
        // Only the chain's input and output are stored: no buffer for the GELU or LeakyReLU values.
        Assert.DoesNotContain(s.Buffers, b => b.Name.StartsWith("Gelu") || b.Name.StartsWith("LeakyRelu"));
        Assert.Equal(3, s.ForwardKernels);              // Fc1, the chain, Fc2
        Assert.Null(((LinearBackwardInput)s.Backward.Single(x => x.Comment.StartsWith("Fc2") && x is LinearBackwardInput)).Mask);
    }

    [Fact]
    public void Mlp_kernel_counts_fused_and_unfused()
    {
        Schedule fused = ModelCompilerTests.CompileMlp().Schedule!, plain = ModelCompilerTests.CompileMlp(fuse: false).Schedule!;
        // Unfused forward: 3 Linear + 2 ReLU + LogSoftmax. Fused: the ReLUs are GEMM epilogues.
        Assert.Equal((6, 4), (plain.ForwardKernels, fused.ForwardKernels));
        // Training step, unfused: 6 forward + NLL + LogSoftmax backward + 3 dW + 2 dx + 2 ReLU backward = 15.
        // Fused: 4 forward + NLL∘LogSoftmax + 3 dW + 2 masked dx = 10.
        Assert.Equal((15, 10), (plain.TrainingStepKernels("nll_loss"), fused.TrainingStepKernels("nll_loss")));
        Assert.Equal(11, fused.TrainingStepKernels("cross_entropy")); // any other loss keeps the LogSoftmax backward
        Assert.DoesNotContain(fused.Forward.Concat(fused.Backward), s => s is ElementwiseForward or ElementwiseBackward);
        Assert.Equal("Fc3Grad", fused.LogitsGradBuffer);
        Assert.Null(plain.LogitsGradBuffer);
    }

    [Fact]
    public void CifarNet_kernel_counts_fused_and_unfused()
    {
        Schedule fused = ModelCompilerTests.CompileCifar().Schedule!, plain = ModelCompilerTests.CompileCifar(fuse: false).Schedule!;
        // Unfused forward: 3 conv + 4 ReLU + 3 pool + 2 linear = 12; fused: the 4 ReLUs ride on the conv/linear GEMMs.
        Assert.Equal((12, 8), (plain.ForwardKernels, fused.ForwardKernels));
        // Backward without Conv1's dx: 5 dW + 4 dx + 3 pool + 4 ReLU = 16 unfused; fused the ReLUs go into 3 pools and Fc2's dx.
        Assert.Equal((12 + 1 + 16, 8 + 1 + 12), (plain.TrainingStepKernels("cross_entropy"), fused.TrainingStepKernels("cross_entropy")));
        var pool1 = (MaxPool2dBackward)fused.Backward.Single(s => s.Comment.StartsWith("Pool1"));
        Assert.Equal(("Pool1Grad", "Pool1Argmax", "Conv1Grad", "Pool1Geometry"), (pool1.Dy.Name, pool1.Argmax.Name, pool1.Dx.Name, pool1.G.Name));
        Assert.Equal(new GradEpilogue(new Buf("Pool1Out", 8192), Elementwise.Relu), pool1.Mask);
    }
}
