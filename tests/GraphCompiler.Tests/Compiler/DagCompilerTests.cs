// The compiler core on graphs beyond a chain: shapes of the new ops, gradient sums for values read more than once, a
// layer applied twice, fusion that must not fire across a fan-out, and frozen-layer guards in a DAG.
using GraphCompiler.Compiler;
using GraphCompiler.Compiler.Ops;
using Xunit;

namespace GraphCompiler.Tests.Compiler;

public class DagCompilerTests
{
    private static LayerDecl Linear(string name, int inF, int outF) => ModelCompilerTests.Linear(name, inF, outF);

    private static OpCall Apply(string layer, int input) => OpCall.Apply(layer, input);

    private static OpCall Op(string op, params int[] inputs) => OpCall.Of(op, inputs);

    private static ModelDecl Model(Shape input, LayerDecl[] layers, params OpCall[] calls) =>
        new("Net", input, 0, EquatableArray.From(layers), EquatableArray.From(calls.Select((c, i) => c with { Site = i + 1 })), calls.Length);

    private static Graph Build(ModelDecl model)
    {
        var errors = new List<CoreDiagnostic>();
        Graph graph = ModelCompiler.BuildGraph(model, errors)!;
        Assert.True(ModelCompiler.InferShapes(graph, errors), string.Join("\n", errors));
        ModelCompiler.NameValues(graph);
        return graph;
    }

    private static Schedule Compile(ModelDecl model)
    {
        CompileResult result = ModelCompiler.Compile(model);
        Assert.Empty(result.Diagnostics);
        return result.Schedule!;
    }

    /// <summary>x → Fc1 → a; a → ReLU → Fc2 → ReLU → Fc3 → b; a + b → Fc4: a skip value read late.</summary>
    internal static Schedule CompileSkip() => Compile(Model(new Shape(Shape.Batch, 6),
        [Linear("Fc1", 6, 8), Linear("Fc2", 8, 8), Linear("Fc3", 8, 8), Linear("Fc4", 8, 3)],
        Apply("Fc1", 0), Op("Relu", 1), Apply("Fc2", 2), Op("Relu", 3), Apply("Fc3", 4), Op("Add", 1, 5), Apply("Fc4", 6)));

    [Fact]
    public void New_ops_infer_broadcast_concat_reshape_and_flatten_shapes()
    {
        var errors = new List<CoreDiagnostic>();
        Graph ok = ModelCompiler.BuildGraph(Model(new Shape(Shape.Batch, 2, 1, 4), [],
            OpCall.Of("Cat", [0, 0, 0], ("dim", 2)),                    // 1: [N,2,3,4]
            Op("Add", 1, 0),                                            // 2: [N,2,3,4] + [N,2,1,4] → [N,2,3,4]
            OpCall.Of("Flatten", 2, ("startDim", -1)),                  // 3: [N,2,3,4], nothing to flatten
            Op("Add", 3, 0),                                            // 4: the input read once more
            OpCall.Of("Cat", [4, 0, 4], ("dim", -2)),                   // 5: along H: 3 + 1 + 3 = 7
            OpCall.Of("Reshape", 5, ("d1", -1), ("d2", 4))), errors)!; // 6: [N,14,4]
        Assert.True(ModelCompiler.InferShapes(ok, errors));
        Assert.Equal(["[N,2,3,4]", "[N,2,3,4]", "[N,2,3,4]", "[N,2,3,4]", "[N,2,7,4]", "[N,14,4]"], ok.Nodes.Skip(1).Select(n => n.Shape.ToString()));
        Assert.Equal("output of Cat(dim: -2) on [N,2,3,4] and [N,2,1,4] and [N,2,3,4]", ok.Nodes[5].Origin);
        Assert.Equal(6, ok.Uses(ok.Input).Count); // three reads by the first Cat, one by each Add, one by the second Cat
        Assert.Equal(2, ok.Uses(ok.Nodes[4]).Count);
        // Lowered: the input's five extra contributions (only for the input gradient) and Add2's one are summed.
        Schedule s = Compile(ok.Model);
        Assert.Equal(5, s.Backward.Count(b => b is AccumulateGrad && b.InputGradOnly));
        var sum = (AccumulateGrad)s.Backward.Single(b => b is AccumulateGrad && !b.InputGradOnly);
        Assert.Equal(("Add2Grad2", "Add2Grad"), (sum.Contribution.Name, sum.Grad.Name));

        // [N,2,3,4] · [N,2,12,1] cannot broadcast: the error names both operands and where each came from.
        errors.Clear();
        Graph bad = ModelCompiler.BuildGraph(Model(new Shape(Shape.Batch, 2, 3, 4), [], OpCall.Of("Flatten", 0, ("startDim", 2)),
            OpCall.Of("Reshape", 1, ("d1", 2), ("d2", -1), ("d3", 1)), Op("Mul", 0, 2)), errors)!;
        Assert.False(ModelCompiler.InferShapes(bad, errors));
        Assert.Equal(["[N,2,12]", "[N,2,12,1]"], bad.Nodes.Skip(1).Take(2).Select(n => n.Shape.ToString()));
        CoreDiagnostic d = Assert.Single(errors);
        Assert.Equal((DiagnosticIds.BroadcastMismatch, 3), (d.Id, d.Site));
        Assert.Equal("Mul of [N,2,3,4] (the declared input) and [N,2,12,1] (Reshape(2, -1, 1) of [N,2,12]) cannot broadcast: dim 2 is 3 vs 12", d.Message);
    }

    [Fact]
    public void A_value_read_twice_gets_the_sum_of_both_contributions_before_its_own_backward()
    {
        // a = Fc1(x); y = a · a: the left operand's gradient goes to Fc1Grad, the right one's to Fc1Grad2, added in before
        // Fc1's VJP reads Fc1Grad.
        Schedule s = Compile(Model(new Shape(Shape.Batch, 3), [Linear("Fc1", 3, 4)], Apply("Fc1", 0), Op("Mul", 1, 1)));
        Assert.Equal(["MulBackward", "MulBackward", "AccumulateGrad", "LinearBackwardParams", "LinearBackwardInput"], s.Backward.Select(b => b.Kind));
        Assert.Equal(("Fc1Grad", false), (((MulBackward)s.Backward[0]).Dx.Name, ((MulBackward)s.Backward[0]).Right));
        Assert.Equal(("Fc1Grad2", true), (((MulBackward)s.Backward[1]).Dx.Name, ((MulBackward)s.Backward[1]).Right));
        var sum = (AccumulateGrad)s.Backward[2];
        Assert.Equal(("Fc1Grad2", "Fc1Grad"), (sum.Contribution.Name, sum.Grad.Name));
        Assert.Contains(s.Buffers, b => b.Name == "Fc1Grad2" && b.IsGrad && b.PerSample == 4);
    }

    [Fact]
    public void The_input_read_twice_sums_its_gradient_only_when_it_is_wanted()
    {
        Schedule s = Compile(Model(new Shape(Shape.Batch, 3), [Linear("Fc1", 3, 3)], Apply("Fc1", 0), Op("Add", 1, 0)));
        var sum = (AccumulateGrad)Assert.Single(s.Backward, b => b is AccumulateGrad);
        Assert.True(sum.InputGradOnly);
        Assert.Equal(("InputGrad2", "InputGrad"), (sum.Contribution.Name, sum.Grad.Name));
    }

    [Fact]
    public void A_layer_applied_twice_shares_its_parameters_and_its_gradient_adds_up()
    {
        Schedule s = Compile(Model(new Shape(Shape.Batch, 4), [Linear("Fc1", 4, 4)], Apply("Fc1", 0), Op("Relu", 1), Apply("Fc1", 2)));
        Assert.Equal(["Fc1", "Relu1", "Fc1_2"], s.Trace.Select(t => t.Name));
        Assert.Equal([20, 0, 0], s.Trace.Select(t => t.Parameters)); // counted once
        Assert.Equal(2, s.Backward.Count(b => b.ParamsOf == "Fc1"));  // both applications add into Fc1's gradient
        Assert.Equal([new LayerUse("Fc1", "Fc1", EquatableArray<string>.Empty), new LayerUse("Fc1_2", "Fc1", EquatableArray.Of("Fc1"))], s.LayerUses);
        Assert.Contains(s.Buffers, b => b.Name == "Fc1_2Out");
        Assert.All(s.Forward, f => Assert.Equal("Fc1.Weight", Assert.IsType<LinearForward>(f).W.Text));
    }

    [Fact]
    public void A_value_that_is_never_read_is_an_error()
    {
        CompileResult r = ModelCompiler.Compile(Model(new Shape(Shape.Batch, 3), [], Op("Relu", 0), Op("Relu", 0)));
        CoreDiagnostic d = Assert.Single(r.Diagnostics);
        Assert.Equal((DiagnosticIds.ValueReuse, 1), (d.Id, d.Site));
        Assert.Equal("the result of 'Relu' is never used; every value in the forward body must flow into the result", d.Message);
    }

    [Fact]
    public void An_activation_is_no_epilogue_when_its_producers_value_is_read_elsewhere()
    {
        // Fc1(x) + Fc1(x).Relu(): writing relu into Fc1's buffer would corrupt the Add's left operand.
        Graph shared = Build(Model(new Shape(Shape.Batch, 4), [Linear("Fc1", 4, 4)], Apply("Fc1", 0), Op("Relu", 1), Op("Add", 1, 2)));
        Assert.Equal(0, Fusion.FuseEpilogues(shared));
        Assert.DoesNotContain(shared.Nodes, n => n.Op is FusedOp);
        // x + Fc1(x).Relu(): Fc1's value is read by the ReLU alone, so it fuses.
        Graph alone = Build(Model(new Shape(Shape.Batch, 4), [Linear("Fc1", 4, 4)], Apply("Fc1", 0), Op("Relu", 1), Op("Add", 0, 2)));
        Assert.Equal(1, Fusion.FuseEpilogues(alone));
        Node fc1 = alone.Nodes[1];
        Assert.Equal(("Fc1", Elementwise.Relu), (fc1.Name, ((FusedOp)fc1.Op!).Epilogue));
        Assert.Equal([alone.Input, fc1], alone.Nodes[2].Inputs); // the Add reads x and relu(Fc1(x)), one node now
    }

    [Fact]
    public void An_activation_backward_fuses_only_into_its_single_consumer()
    {
        // h = relu(Fc1(x)); Fc2(h) + h: the ReLU's gradient is a sum of two contributions, so Fc2's dx cannot apply relu′.
        Graph two = Build(Model(new Shape(Shape.Batch, 4), [Linear("Fc1", 4, 4), Linear("Fc2", 4, 4)],
            Apply("Fc1", 0), Op("Relu", 1), Apply("Fc2", 2), Op("Add", 3, 2)));
        Assert.Equal(0, Fusion.FuseActivationGradients(two));
        Assert.DoesNotContain(two.Nodes, n => n.Op is FusedOp);
        // Fc2(h) + x: one consumer, fused.
        Graph one = Build(Model(new Shape(Shape.Batch, 4), [Linear("Fc1", 4, 4), Linear("Fc2", 4, 4)],
            Apply("Fc1", 0), Op("Relu", 1), Apply("Fc2", 2), Op("Add", 3, 0)));
        Assert.Equal(1, Fusion.FuseActivationGradients(one));
        Assert.Same(one.Nodes[2], ((FusedOp)one.Nodes[3].Op!).Mask!.Activation);
        Assert.True(((FusedOp)one.Nodes[2].Op!).OutputGradInConsumer);
    }

    [Fact]
    public void Frozen_layers_in_a_dag_run_the_steps_that_reach_a_trainable_layer()
    {
        // Two branches A and B of the input, added, then C. Only B trains.
        Schedule s = Compile(Model(new Shape(Shape.Batch, 4), [Linear("A", 4, 4), Linear("B", 4, 4), Linear("C", 4, 2)],
            Apply("A", 0), Apply("B", 0), Op("Add", 1, 2), Apply("C", 3)));
        Assert.Equal([new LayerUse("A", "A", EquatableArray<string>.Empty), new LayerUse("B", "B", EquatableArray<string>.Empty),
            new LayerUse("C", "C", EquatableArray.Of("A", "B"))], s.LayerUses);
        string[] Running(Func<string, bool> trains, bool inputGrad) =>
            s.Backward.Where(b => b.Runs(trains, s.LayerUses, inputGrad)).Select(b => b.Comment.Split(':')[0] + " " + b switch
            {
                AddBackward add => add.Right ? "right" : "left",
                _ => b.Kind,
            }).ToArray();
        Assert.Equal(["C LinearBackwardInput", "Add1 right", "B LinearBackwardParams"], Running(l => l == "B", inputGrad: false));
        Assert.Equal(["C LinearBackwardInput", "Add1 left", "A LinearBackwardParams"], Running(l => l == "A", inputGrad: false));
        Assert.Equal(["C LinearBackwardParams"], Running(l => l == "C", inputGrad: false));
        Assert.Equal(s.Backward.Count, Running(_ => true, inputGrad: true).Length);
        // The input is read twice: A's and B's dx, summed; all three only for the input gradient.
        Assert.Equal(3, s.Backward.Count(b => b.InputGradOnly));
    }
}
