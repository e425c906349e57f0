// A torchinfo-style summary of a compiled model at a batch size: layers, fused kernels, parameters, FLOPs and peak memory.
using System.Globalization;
using System.Text;
using GraphCompiler.Compiler;
using GraphCompiler.Nn;

namespace GraphCompiler.Diagnostics;

/// <summary>One layer row of a <see cref="ModelSummary"/>: output shape with the batch filled in, FLOPs for the whole batch.</summary>
public sealed record LayerRow(string Name, string Type, int[] OutputShape, long TrainableParameters, long FrozenParameters, long Flops);

/// <summary>
/// What <c>torchinfo.summary(model, input_size)</c> shows, for a compiled model at one batch size: each layer's output
/// shape, parameters (frozen ones apart) and forward FLOPs; the fused kernels of a forward pass and of a training step
/// (as the generated schedule lists them, with frozen layers' skipped work left out); totals; and peak memory.
/// FLOPs count a multiply-add as 2 (see <c>OpDef.Flops</c>). Build one with <see cref="Of"/> or
/// <c>model.Summarize(batch)</c>; <see cref="ToString"/> gives the aligned table.
/// </summary>
public sealed class ModelSummary
{
    private const int BytesPerFloat = sizeof(float);

    private ModelSummary(string model, int batch, int[] inputShape, string lossName, IReadOnlyList<LayerRow> layers,
        IReadOnlyList<KernelSummary> forward, IReadOnlyList<KernelSummary> trainingStep, long trainable, long frozen,
        long workspaceInference, long workspaceTraining)
    {
        Model = model;
        Batch = batch;
        InputShape = inputShape;
        LossName = lossName;
        Layers = layers;
        ForwardKernels = forward;
        TrainingStepKernels = trainingStep;
        TrainableParameters = trainable;
        FrozenParameters = frozen;
        WorkspaceBytesInference = workspaceInference;
        WorkspaceBytesTraining = workspaceTraining;
    }

    /// <summary>The model's class name.</summary>
    public string Model { get; }

    public int Batch { get; }

    /// <summary>The input of one pass, batch included, e.g. [64, 1, 28, 28].</summary>
    public int[] InputShape { get; }

    /// <summary>The loss the training-step kernel list assumes, e.g. <c>nll_loss</c>.</summary>
    public string LossName { get; }

    public IReadOnlyList<LayerRow> Layers { get; }

    /// <summary>The kernels one forward pass runs.</summary>
    public IReadOnlyList<KernelSummary> ForwardKernels { get; }

    /// <summary>
    /// The kernels one training step runs (as <c>Trainer</c> does it: forward, one loss kernel, backward without the input
    /// gradient), given which parameters are frozen now. The optimizer's update is not a kernel of the schedule.
    /// </summary>
    public IReadOnlyList<KernelSummary> TrainingStepKernels { get; }

    public long TrainableParameters { get; }

    public long FrozenParameters { get; }

    public long TotalParameters => TrainableParameters + FrozenParameters;

    /// <summary>Forward FLOPs of the whole batch.</summary>
    public long ForwardFlops => Layers.Sum(l => l.Flops);

    /// <summary>The generated <c>PeakBytes(batch, training: false)</c>: the inference workspace.</summary>
    public long WorkspaceBytesInference { get; }

    /// <summary>The generated <c>PeakBytes(batch, training: true)</c>: the training workspace.</summary>
    public long WorkspaceBytesTraining { get; }

    public long ParameterBytes => TotalParameters * BytesPerFloat;

    /// <summary>Every parameter has a gradient array, frozen or not.</summary>
    public long GradientBytes => TotalParameters * BytesPerFloat;

    /// <summary>Peak memory of a forward pass: the inference workspace plus the parameters.</summary>
    public long InferenceBytes => WorkspaceBytesInference + ParameterBytes;

    /// <summary>
    /// Peak memory of a training step: the training workspace plus the parameters and their gradients. Optimizer state
    /// (SGD momentum: one copy of the parameters, Adam: two) and kernels' per-thread scratch are not counted.
    /// </summary>
    public long TrainingBytes => WorkspaceBytesTraining + ParameterBytes + GradientBytes;

    /// <summary>
    /// Summarizes <paramref name="model"/> at <paramref name="batch"/> samples. The training-step kernels assume
    /// <paramref name="loss"/>; by default <see cref="Loss.Nll"/> for a model whose output is a LogSoftmax and
    /// <see cref="Loss.CrossEntropy"/> otherwise, the pairings the samples train with.
    /// </summary>
    public static ModelSummary Of(ICompiledModel model, int batch, Loss? loss = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (batch <= 0) throw new ArgumentOutOfRangeException(nameof(batch), batch, "A summary needs a batch of at least one sample.");
        IReadOnlyList<LayerSummary> summary = model.Summary;
        loss ??= summary.Count > 0 && summary[^1].Description.StartsWith("LogSoftmax", StringComparison.Ordinal) ? Loss.Nll : Loss.CrossEntropy;
        IReadOnlyList<Parameter> parameters = model.Parameters();

        IEnumerable<Parameter> ParamsOf(LayerSummary row) =>
            row.StateName is null ? [] : parameters.Where(p => p.Name.StartsWith(row.StateName + ".", StringComparison.Ordinal));
        var layers = summary.Select(row => new LayerRow(row.Name, TypeOf(row), [batch, .. row.OutputShape],
            ParamsOf(row).Where(p => p.RequiresGrad).Sum(p => (long)p.Count), ParamsOf(row).Where(p => !p.RequiresGrad).Sum(p => (long)p.Count),
            row.Flops * batch)).ToList();

        // The guards of the generated Backward (KernelStep.Runs on the schedule it was printed from), evaluated as Trainer runs it:
        // no input gradient, the loss kernel in between.
        Schedule schedule = model.Schedule;
        bool Trains(string layer) => ParamsOf(summary.First(r => r.Name == schedule.Layers.First(l => l.Property == layer).ValueStem)).Any(p => p.RequiresGrad);
        bool atLogits = schedule.LossAtLogits(loss.Name);
        var forward = model.Kernels.Where(k => !k.Backward).ToList();
        var step = new List<KernelSummary>(forward)
        {
            atLogits
                ? new KernelSummary("Loss.TryComputeAtLogits", $"loss: {loss.Name} and its gradient at the logits, the LogSoftmax backward folded in")
                : new KernelSummary("Loss.Compute", $"loss: {loss.Name} and its gradient at the output"),
        };
        var backward = model.Kernels.Where(k => k.Backward).ToList();
        step.AddRange(backward.Where((k, i) => !(atLogits && k.UnlessLossFused) && schedule.Backward[i].Runs(Trains, schedule.LayerUses, inputGrad: false)));

        long trainable = parameters.Where(p => p.RequiresGrad).Sum(p => (long)p.Count);
        long frozen = parameters.Where(p => !p.RequiresGrad).Sum(p => (long)p.Count);
        return new ModelSummary(model.GetType().Name, batch, [batch, .. model.InputShape], loss.Name, layers, forward, step,
            trainable, frozen, model.PeakBytes(batch, training: false), model.PeakBytes(batch, training: true));
    }

    /// <summary>The op without the layer's own name: <c>Linear 'Fc1'</c> reads <c>Linear</c> next to the name column.</summary>
    private static string TypeOf(LayerSummary row)
    {
        // A layer's description ends in its name: "Linear 'Fc1'", "Linear 'Blocks[2]'" (an element of a layer array).
        int quote = row.Description.LastIndexOf(" '", StringComparison.Ordinal);
        return row.StateName is not null && quote > 0 && row.Description.EndsWith('\'') ? row.Description[..quote] : row.Description;
    }

    /// <summary>The summary as an aligned table, in torchinfo's layout.</summary>
    public override string ToString()
    {
        string[] header = ["Layer", "Type", "Output shape", "Param #", "FLOPs"];
        var cells = Layers.Select(l => new[]
        {
            l.Name, l.Type, ShapeText(l.OutputShape), Params(l.TrainableParameters, l.FrozenParameters), Number(l.Flops),
        }).ToList();
        int[] width = header.Select((h, c) => Math.Max(h.Length, cells.Count == 0 ? 0 : cells.Max(r => r[c].Length))).ToArray();
        string Row(string[] r) => $"{r[0].PadRight(width[0])}  {r[1].PadRight(width[1])}  {r[2].PadRight(width[2])}  " +
            $"{r[3].PadLeft(width[3])}  {r[4].PadLeft(width[4])}";

        List<string> forward = Kernels(ForwardKernels, TrainingStepKernels), step = Kernels(TrainingStepKernels, ForwardKernels);
        int rule = forward.Concat(step).Append(Row(header)).Max(line => line.Length);
        var sb = new StringBuilder();
        void Line(string text = "") => sb.Append(text.TrimEnd()).Append('\n');
        string thick = new('=', rule), thin = new('-', rule);

        Line(thick);
        Line($"{Model}, batch {Batch}, input {ShapeText(InputShape)}");
        Line(thick);
        Line(Row(header));
        Line(thin);
        foreach (string[] r in cells) Line(Row(r));
        if (FrozenParameters > 0) Line("(n): frozen parameters");
        Line(thick);
        Line($"Forward kernels: {ForwardKernels.Count}");
        forward.ForEach(k => Line(k));
        Line(thin);
        Line($"Training step kernels ({LossName}, no input gradient): {TrainingStepKernels.Count}");
        step.ForEach(k => Line(k));
        Line(thick);
        Line($"Total params: {Number(TotalParameters)}");
        Line($"Trainable params: {Number(TrainableParameters)}");
        Line($"Non-trainable params: {Number(FrozenParameters)}");
        Line($"Forward FLOPs (batch {Batch}): {Number(ForwardFlops)} ({Scaled(ForwardFlops, "FLOP")})");
        Line(thick);
        Line($"Peak memory, batch {Batch}, in bytes (MB = 10^6 bytes):");
        Line($"  inference:     {Mb(InferenceBytes)} = workspace {Number(WorkspaceBytesInference)} + parameters {Number(ParameterBytes)}");
        Line($"  training step: {Mb(TrainingBytes)} = workspace {Number(WorkspaceBytesTraining)} + parameters {Number(ParameterBytes)} + gradients {Number(GradientBytes)}");
        Line("  (workspace = the generated PeakBytes; optimizer state and kernels' per-thread scratch are not counted)");
        Line(thick);
        return sb.ToString();
    }

    /// <summary>Numbered kernel lines, padded so that their calls line up with those of the <paramref name="other"/> list too.</summary>
    private static List<string> Kernels(IReadOnlyList<KernelSummary> kernels, IReadOnlyList<KernelSummary> other)
    {
        int number = Math.Max(kernels.Count, other.Count).ToString(CultureInfo.InvariantCulture).Length;
        int description = kernels.Concat(other).Select(k => k.Description.Length).DefaultIfEmpty(0).Max();
        return kernels.Select((k, i) =>
            $"  {(i + 1).ToString(CultureInfo.InvariantCulture).PadLeft(number)}  {k.Description.PadRight(description)}  [{k.Call}]").ToList();
    }

    private static string ShapeText(int[] dims) => "[" + string.Join(", ", dims) + "]";

    private static string Number(long value) => value.ToString("N0", CultureInfo.InvariantCulture);

    private static string Params(long trainable, long frozen) =>
        (trainable, frozen) switch
        {
            (0, 0) => "--",
            (_, 0) => Number(trainable),
            (0, _) => $"({Number(frozen)})",
            _ => $"{Number(trainable)} + ({Number(frozen)})",
        };

    private static string Mb(long bytes) => $"{Number(bytes)} ({(bytes / 1e6).ToString("0.00", CultureInfo.InvariantCulture)} MB)";

    private static string Scaled(long value, string unit) => value switch
    {
        >= 1_000_000_000 => (value / 1e9).ToString("0.00", CultureInfo.InvariantCulture) + " G" + unit,
        >= 1_000_000 => (value / 1e6).ToString("0.00", CultureInfo.InvariantCulture) + " M" + unit,
        >= 1_000 => (value / 1e3).ToString("0.00", CultureInfo.InvariantCulture) + " K" + unit,
        _ => value.ToString(CultureInfo.InvariantCulture) + " " + unit,
    };
}

/// <summary><c>model.Summarize(batch)</c>, the torchinfo-style entry point.</summary>
public static class ModelSummaryExtensions
{
    /// <summary>The summary of <paramref name="model"/> at <paramref name="batch"/> samples; print it with <c>ToString()</c>.</summary>
    public static ModelSummary Summarize(this ICompiledModel model, int batch, Loss? loss = null) => ModelSummary.Of(model, batch, loss);
}
