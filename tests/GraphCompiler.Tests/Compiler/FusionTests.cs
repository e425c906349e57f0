// The fusion passes one by one on small graphs, then the kernel counts of both reference models fused and unfused.
using GraphCompiler.Compiler;
using Xunit;

namespace GraphCompiler.Tests.Compiler;

public class FusionTests
{
    private static LayerDecl Linear(string name, int inF, int outF) => ModelCompilerTests.Linear(name, inF, outF);

    private static readonly int[] None = [];

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
        Node fc1 = g.Nodes[4], relu2 = g.Nodes[5], relu3 = g.Nodes[6];
        Assert.Equal("Relu", fc1.Epilogue);
        Assert.Same(fc1, relu2.FusedInto);
        Assert.Null(relu3.FusedInto);   // a kernel takes one activation; the second stays a kernel of its own
        Assert.Null(g.Nodes[2].FusedInto); // MaxPool2d has no epilogue
    }

    [Fact]
    public void Fuse_activation_grads_hands_the_relu_backward_to_the_consumer_through_flatten()
    {
        Graph g = Build(new Shape(Shape.Batch, 2, 4, 4), [Linear("Fc1", 8, 3)],
            ("MaxPool2d", null, [2]), ("Relu", null, None), ("Flatten", null, None), ("Apply", "Fc1", None), ("Relu", null, None));
        Assert.Equal(1, Fusion.FuseActivationGradients(g));
        Assert.Same(g.Nodes[2], g.Nodes[4].GradEpilogue); // Fc1's dx applies Relu1's backward
        Assert.True(g.Nodes[2].GradFused);
        Assert.False(g.Nodes[5].GradFused);              // the output's ReLU has no consumer to fuse into
    }

    [Fact]
    public void Fuse_loss_marks_a_final_log_softmax_and_names_the_logits_gradient()
    {
        Graph g = Build(new Shape(Shape.Batch, 5), [Linear("Fc1", 5, 3)], ("Apply", "Fc1", None), ("LogSoftmax", null, [1]));
        Assert.Equal("Fc1Grad", Fusion.FuseLossGradient(g, new Lowering(g)));
        Assert.True(g.Output.LossFused);
        Graph plain = Build(new Shape(Shape.Batch, 5), [Linear("Fc1", 5, 3)], ("Apply", "Fc1", None));
        Assert.Null(Fusion.FuseLossGradient(plain, new Lowering(plain)));
    }

    [Fact]
    public void Mlp_kernel_counts_fused_and_unfused()
    {
        Schedule fused = ModelCompilerTests.CompileMlp().Schedule!, plain = ModelCompilerTests.CompileMlp(fuse: false).Schedule!;
        // Unfused forward: 3 Linear + 2 ReLU + LogSoftmax. Fused: the ReLUs are GEMM epilogues.
        Assert.Equal((6, 4), (plain.ForwardKernels, fused.ForwardKernels));
        // Training step, unfused: 6 forward + NLL + LogSoftmax backward + 3 dW + 2 dx + 2 ReLU backward = 15.
        // Fused: 4 forward + NLL∘LogSoftmax + 3 dW + 2 masked dx = 10.
        Assert.Equal((15, 10), (plain.TrainingStepKernels(nllLoss: true), fused.TrainingStepKernels(nllLoss: true)));
        Assert.Equal(11, fused.TrainingStepKernels(nllLoss: false)); // any other loss keeps the LogSoftmax backward
        Assert.DoesNotContain(fused.Forward.Concat(fused.Backward), s => s.Kernel == "ReluKernels");
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
        Assert.Equal((12 + 1 + 16, 8 + 1 + 12), (plain.TrainingStepKernels(false), fused.TrainingStepKernels(false)));
        Step pool1 = fused.Backward.Single(s => s.Comment.StartsWith("Pool1"));
        Assert.Equal(["Pool1Grad", "Pool1Argmax", "Conv1Grad", "Pool1Geometry", "", "Pool1Out", "Relu"], pool1.Args.Select(a => a.Text));
    }
}
