// The compiler pipeline as named passes: build the graph, infer shapes, name values, fuse, lower forward, differentiate,
// plan memory.
using System.Collections.Generic;
using System.Linq;

namespace GraphCompiler.Compiler
{
    public static class ModelCompiler
    {
        public static CompileResult Compile(ModelDecl model)
        {
            var errors = new List<CoreDiagnostic>();
            Graph? graph = BuildGraph(model, errors);
            if (graph is null || !InferShapes(graph, errors))
                return new CompileResult(null, EquatableArray.From(errors));
            NameValues(graph);
            // The trace is the model as written (a fused ReLU is still a row of the summary), so it is taken before fusion.
            // A layer applied again shares its parameters: they are counted at its first application only.
            var trace = EquatableArray.From(graph.Nodes.Skip(1).Select(n =>
                new TraceRow(n.Name, n.Op!.Describe(n), n.Shape, n.Layer is not null && n.Name != n.Layer.ValueStem ? 0 : n.Op.ParameterCount(n), n.Op.Flops(n), n.Layer?.StateName)));
            var lowering = new Lowering(graph);
            LossFusion? fusedLoss = model.Fuse ? Fusion.Run(graph, lowering) : null;
            LowerForward(graph, lowering);
            Differentiate(graph, lowering);
            var used = new HashSet<string>(lowering.ForwardSteps.Concat(lowering.BackwardSteps)
                .SelectMany(step => step.Buffers()).Select(b => b.Name));
            var schedule = new Schedule(
                model.Name,
                model.Input,
                graph.Output.Shape,
                lowering.OutName(graph.Input),
                lowering.OutName(graph.Output),
                lowering.GradName(graph.Output),
                model.Layers,
                EquatableArray.From(lowering.Buffers.Where(b => used.Contains(b.Name))), // fused values leave buffers unused
                EquatableArray.From(lowering.Geometries),
                EquatableArray.From(lowering.ForwardSteps),
                EquatableArray.From(lowering.BackwardSteps),
                trace)
            {
                FusedLoss = fusedLoss,
                LayerUses = lowering.LayerUses(),
            };
            schedule = schedule with
            {
                TrainingPlan = MemoryPlanner.Plan(schedule, training: true),
                InferencePlan = MemoryPlanner.Plan(schedule, training: false),
            };
            return new CompileResult(schedule, EquatableArray<CoreDiagnostic>.Empty);
        }

        /// <summary>
        /// One op applied to values of <paramref name="inputs"/>' shapes (the batch symbolic), for the eager path: the op's own
        /// shape rule (and its messages) and its forward steps, as a model would lower it, without fusion. The call reads
        /// the inputs in order (<c>a + b</c>, <c>Cat([a, b, c])</c>); a layer call reads the first.
        /// </summary>
        public static OpLowering LowerOp(OpCall call, IReadOnlyList<Shape> inputs, LayerDecl? layer)
        {
            OpDef op = layer?.Op ?? (OpsTable.Functional.TryGetValue(call.Op, out OpDef? f) ? f : OpsTable.Combining[call.Op]);
            var model = new ModelDecl("Eager", inputs[0], -1, layer is null ? EquatableArray<LayerDecl>.Empty : EquatableArray.Of(layer),
                EquatableArray.Of(call), 1, Fuse: false);
            var graph = new Graph(model);
            Node[] values = inputs.Select((shape, i) => new Node(i, null, new Node[0], null, new double[0], -1)
            {
                Shape = shape,
                Name = i == 0 ? "Input" : "Input" + (i + 1),
                Origin = inputs.Count == 1 ? "the declared input" : $"input {i + 1}",
            }).ToArray();
            graph.Nodes.AddRange(values);
            var node = new Node(values.Length, op, op.Arity == 1 ? new[] { values[0] } : values, layer, call.Args.ToArray(), -1);
            graph.Nodes.Add(node);
            graph.Output = node;
            graph.LinkConsumers();
            var errors = new List<CoreDiagnostic>();
            Shape? shape = op.Infer(node, errors);
            if (shape is null) return new OpLowering(null, EquatableArray<KernelStep>.Empty, EquatableArray.From(errors));
            node.Shape = shape.Value;
            node.Name = layer?.Property ?? op.NameStem + "1";
            var l = new Lowering(graph);
            if (!op.IsAlias) l.DeclareValue(node, "");
            op.Forward(l, node);
            return new OpLowering(shape, EquatableArray.From(l.ForwardSteps), EquatableArray<CoreDiagnostic>.Empty);
        }

        /// <summary>
        /// Pass "build": one node per call, layers resolved. Values may be read any number of times (residuals, branches,
        /// a layer applied twice), but every value must flow into the result: one that is never read is an error.
        /// </summary>
        public static Graph? BuildGraph(ModelDecl model, List<CoreDiagnostic> errors)
        {
            var graph = new Graph(model);
            var input = new Node(0, null, new Node[0], null, new double[0], model.InputSite)
            {
                Shape = model.Input,
                Name = "Input",
                Origin = "the declared input",
            };
            graph.Nodes.Add(input);
            var uses = new int[model.Calls.Count + 1];
            foreach (OpCall call in model.Calls)
            {
                OpDef? op;
                LayerDecl? layer = null;
                if (call.Op == "Apply")
                {
                    layer = model.Layers.FirstOrDefault(l => l.Property == call.Layer);
                    if (layer is null)
                    {
                        errors.Add(new CoreDiagnostic(DiagnosticIds.UnknownLayer,
                            $"'{call.Layer}' is not a layer of model '{model.Name}'; declare it as a partial property with a [Linear] or [Conv2d] attribute",
                            call.Site));
                        return null;
                    }
                    op = layer.Op;
                }
                else if (!OpsTable.Functional.TryGetValue(call.Op, out op) && !OpsTable.Combining.TryGetValue(call.Op, out op))
                {
                    errors.Add(new CoreDiagnostic(DiagnosticIds.UnsupportedConstruct,
                        $"'{call.Op}' is not an op of the forward body; supported: Apply, {string.Join(", ", OpsTable.Functional.Keys.Concat(OpsTable.Combining.Keys))}",
                        call.Site));
                    return null;
                }
                if (op.Arity == 0 ? call.Inputs.Count == 0 : call.Inputs.Count != op.Arity)
                    throw new System.ArgumentException($"{call.Op} reads {(op.Arity == 0 ? "at least one value" : $"{op.Arity} value(s)")} but the call has {call.Inputs.Count}", nameof(model));
                foreach (int v in call.Inputs) uses[v]++;
                graph.Nodes.Add(new Node(graph.Nodes.Count, op, call.Inputs.Select(v => graph.Nodes[v]).ToArray(), layer, call.Args.ToArray(), call.Site));
            }
            uses[model.OutputValue]++;
            for (int v = 0; v < uses.Length; v++)
            {
                if (uses[v] > 0) continue;
                int site = v == 0 ? model.InputSite : model.Calls[v - 1].Site;
                string what = v == 0 ? "the forward's input" : $"the result of '{model.Calls[v - 1].Op}'";
                errors.Add(new CoreDiagnostic(DiagnosticIds.ValueReuse,
                    $"{what} is never used; every value in the forward body must flow into the result", site));
                return null;
            }
            graph.Output = graph.Nodes[model.OutputValue];
            graph.LinkConsumers();
            return graph;
        }

        /// <summary>Pass "shapes": each op's shape rule in order; stops at the first error since later shapes depend on it.</summary>
        public static bool InferShapes(Graph graph, List<CoreDiagnostic> errors)
        {
            foreach (Node node in graph.Nodes.Skip(1))
            {
                Shape? shape = node.Op!.Infer(node, errors);
                if (shape is null) return false;
                node.Shape = shape.Value;
                string inputs = string.Join(" and ", node.Inputs.Select(i => i.Shape.ToString()));
                node.Origin = node.Op.IsAlias
                    ? $"{node.Op.Describe(node)} of {inputs}"
                    : $"output of {node.Op.Describe(node)} on {inputs}";
            }
            return true;
        }

        /// <summary>
        /// Pass "names": layers keep their property name (a second application of the same layer is <c>Fc1_2</c>, a third
        /// <c>Fc1_3</c>; element 2 of a layer array is <c>Blocks_2</c>); other ops are numbered per kind (Relu1, Relu2 …).
        /// </summary>
        public static void NameValues(Graph graph)
        {
            var counts = new Dictionary<string, int>();
            foreach (Node node in graph.Nodes.Skip(1))
            {
                string stem = node.Layer?.ValueStem ?? node.Op!.NameStem;
                counts.TryGetValue(stem, out int k);
                counts[stem] = ++k;
                node.Name = node.Layer is null ? stem + k : k == 1 ? stem : $"{stem}_{k}";
            }
        }

        /// <summary>Pass "lower": buffers for every value that owns storage, then each op's forward kernels in order.</summary>
        public static void LowerForward(Graph graph, Lowering l)
        {
            foreach (Node node in graph.Nodes.Skip(1))
            {
                if (!node.Op!.IsAlias) l.DeclareValue(node, $"output of {node.Op.Describe(node)}"); // aliases live in their input's buffer
                node.Op.Forward(l, node);
            }
        }

        /// <summary>
        /// Pass "autodiff": the VJP rule of every node, last to first; the output's gradient comes from the loss. A value read
        /// k times receives k contributions: the first read writes the value's gradient buffer, every other read writes a
        /// buffer of its own, and once all its consumers are done (they come later in the forward order) the extra
        /// contributions are added in, just before the value's own VJP runs.
        /// </summary>
        public static void Differentiate(Graph graph, Lowering l)
        {
            l.BeginBackward();
            for (int i = graph.Nodes.Count - 1; i >= 1; i--)
            {
                Node node = graph.Nodes[i];
                l.EmitGradientSum(node);
                l.Differentiating = node;
                node.Op!.Backward(l, node);
                l.Differentiating = null;
            }
            l.EmitGradientSum(graph.Input);
        }
    }
}
