// The contract every generated model fulfils, so training loops, losses and tools work with any model.
using GraphCompiler.Nn;

namespace GraphCompiler;

/// <summary>A model compiled at build time by the generator: fixed shapes, generated Forward and Backward.</summary>
public interface ICompiledModel
{
    /// <summary>Input shape of one sample, e.g. [1, 28, 28].</summary>
    int[] InputShape { get; }

    /// <summary>Output shape of one sample, e.g. [10].</summary>
    int[] OutputShape { get; }

    /// <summary>Each layer's output shape, parameter count and forward FLOPs per sample, as inferred at build time.</summary>
    IReadOnlyList<LayerSummary> Summary { get; }

    /// <summary>
    /// The kernel calls of <c>Forward</c>, then those of <c>Backward</c> with the guards that decide whether each runs:
    /// the <see cref="Schedule"/>'s steps, read as a list.
    /// </summary>
    IReadOnlyList<KernelSummary> Kernels => KernelSummary.Of(Schedule);

    /// <summary>
    /// Bytes of a workspace for <paramref name="batch"/> samples: the planned arenas plus the input, output and loss
    /// gradient arrays (parameters, their gradients, and kernels' per-thread scratch are not included).
    /// </summary>
    long PeakBytes(int batch, bool training);

    /// <summary>Every parameter, in the order of PyTorch's <c>state_dict</c>.</summary>
    IReadOnlyList<Parameter> Parameters();

    /// <summary>
    /// The lowered schedule the generated Forward and Backward were printed from: buffers, memory plans and kernel calls
    /// as data, for backends that execute it themselves (ILGPU).
    /// </summary>
    GraphCompiler.Compiler.Schedule Schedule { get; }

    /// <summary>
    /// Every buffer — non-learnable state such as BatchNorm's <c>running_mean</c>, <c>running_var</c> and int64
    /// <c>num_batches_tracked</c> — in the order of PyTorch's <c>state_dict</c>. Empty for a model without any.
    /// </summary>
    IReadOnlyList<ModelBuffer> Buffers() => [];

    /// <summary>
    /// Whether the model is in training mode (PyTorch's <c>module.training</c>; true when built): Dropout draws masks and
    /// BatchNorm normalises with the batch's statistics and updates its running ones. In eval mode Dropout is the identity
    /// and BatchNorm uses its running statistics. The mode is independent of the workspace kind (a training workspace
    /// merely has gradient buffers).
    /// </summary>
    bool Training { get; }

    /// <summary>Sets training mode on the model and every layer (PyTorch's <c>model.train(mode)</c>).</summary>
    void Train(bool mode = true);

    /// <summary>Eval mode (PyTorch's <c>model.eval()</c>): the same as <c>Train(false)</c>.</summary>
    void Eval();

    ModelWorkspace CreateWorkspace(int capacity, bool training = true, bool inputGrad = false);

    void Forward(ModelWorkspace ws);

    /// <summary>
    /// PyTorch's <c>model(x)</c> on the compiled code: the outputs (N, ...OutputShape) of a batch (N, ...InputShape) of any
    /// size, in the model's current mode. The batch runs in chunks through one inference workspace the model keeps (at most
    /// 256 samples; a model with BatchNorm or Dropout in training mode runs it whole, as their numbers depend on the
    /// batch), so after the first call of a size only the result is allocated. A model class's own <c>Forward(Tensor)</c>
    /// is its forward body run eagerly (slow, readable); through this interface the generated code runs.
    /// </summary>
    sealed Tensor Forward(Tensor inputs)
    {
        GraphCompiler.Training.BatchChecks.InputTensor("Forward", this, inputs);
        var output = new Tensor([inputs.Shape[0], .. OutputShape]);
        GraphCompiler.Training.ModelRunner.Of(this).Forward(inputs, output);
        return output;
    }

    /// <summary>
    /// <see cref="Forward(Tensor)"/> into <paramref name="output"/> (N, ...OutputShape), allocating nothing after the first
    /// call of a size.
    /// </summary>
    sealed void Forward(Tensor inputs, Tensor output)
    {
        GraphCompiler.Training.BatchChecks.InputTensor("Forward", this, inputs);
        ArgumentNullException.ThrowIfNull(output);
        int[] per = OutputShape;
        if (output.Shape.Length != per.Length + 1 || output.Shape[0] != inputs.Shape[0] || !output.Shape.AsSpan(1).SequenceEqual(per))
            throw new ArgumentException(
                $"Forward: the output tensor has shape [{string.Join(", ", output.Shape)}], but a batch of {inputs.Shape[0]} gives [{inputs.Shape[0]}, {string.Join(", ", per)}].", nameof(output));
        GraphCompiler.Training.ModelRunner.Of(this).Forward(inputs, output);
    }

    void Backward(ModelWorkspace ws);
}

/// <summary>
/// One row of a model summary: a value of the forward pass, its output shape per sample, its parameter count, its
/// forward FLOPs per sample (a multiply-add counts 2) and, for a layer, the <c>state_dict</c> prefix of its parameters.
/// </summary>
public sealed record LayerSummary(string Name, string Description, int[] OutputShape, int Parameters, long Flops = 0, string? StateName = null)
{
    /// <summary>The rows of <paramref name="schedule"/>'s trace: every value of the forward pass, as the core inferred it.</summary>
    public static IReadOnlyList<LayerSummary> Of(GraphCompiler.Compiler.Schedule schedule) =>
        [.. schedule.Trace.Select(r => new LayerSummary(r.Name, r.Description, r.Output.SampleDims, r.Parameters, r.Flops, r.StateName))];
}

/// <summary>
/// One kernel call of the generated schedule: its step kind (<c>Conv2dForward</c>) and the one-line comment the
/// generated code carries above it. A backward kernel carries the guards of the generated <c>Backward</c>:
/// <see cref="ParamsOf"/> (a layer's weight gradient, skipped while it is frozen), <see cref="InputGradOnly"/> (the
/// model input's gradient, only on request), <see cref="GradUpTo"/> (needed while a layer at or upstream of these
/// comma-separated layer applications trains)
/// and <see cref="UnlessLossFused"/> (the LogSoftmax backward a fused NLL loss replaces).
/// </summary>
public sealed record KernelSummary(string Call, string Description, bool Backward = false, bool InputGradOnly = false,
    bool UnlessLossFused = false, string? ParamsOf = null, string? GradUpTo = null)
{
    /// <summary>The forward steps of <paramref name="schedule"/>, then its backward steps with their guards.</summary>
    public static IReadOnlyList<KernelSummary> Of(GraphCompiler.Compiler.Schedule schedule) =>
    [
        .. schedule.Forward.Select(s => new KernelSummary(s.Kind, s.Comment)),
        .. schedule.Backward.Select(s => new KernelSummary(s.Kind, s.Comment, Backward: true, s.InputGradOnly, s.UnlessLossFused, s.ParamsOf,
            s.GradUpTo.Count == 0 ? null : string.Join(", ", s.GradUpTo))),
    ];
}

/// <summary>
/// The buffers of one model for batches of up to <see cref="Capacity"/> samples, allocated once and reused every step.
/// Generated models derive their own workspace with a named span per buffer, laid out by the build-time memory plan.
/// </summary>
public abstract class ModelWorkspace
{
    protected ModelWorkspace(int capacity, bool training, bool inputGrad, int inputPerSample, int outputPerSample)
    {
        if (capacity <= 0) throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "A workspace needs room for at least one sample.");
        Capacity = capacity;
        Training = training;
        InputPerSample = inputPerSample;
        OutputPerSample = outputPerSample;
        Input = new float[capacity * inputPerSample];
        InputGrad = inputGrad && training ? new float[capacity * inputPerSample] : null;
        Count = capacity;
    }

    public int Capacity { get; }

    /// <summary>Whether gradient buffers exist, so <c>Backward</c> may run.</summary>
    public bool Training { get; }

    public int InputPerSample { get; }

    public int OutputPerSample { get; }

    /// <summary>How many samples the next pass processes (at most <see cref="Capacity"/>; the last batch may be smaller).</summary>
    public int Count
    {
        get;
        set
        {
            if (value <= 0 || value > Capacity)
                throw new ArgumentOutOfRangeException(nameof(Count), value,
                    $"A batch of {value} samples, but this workspace was created with capacity {Capacity} (CreateWorkspace(capacity: {Capacity})): it runs 1 to {Capacity} samples at a time.");
            field = value;
        }
    }

    /// <summary>(Capacity, ...InputShape)</summary>
    public float[] Input { get; }

    /// <summary>(Capacity, ...InputShape), present when created with <c>inputGrad</c>.</summary>
    public float[]? InputGrad { get; }

    /// <summary>(Capacity, ...OutputShape)</summary>
    public float[] Output { get; protected set; } = [];

    /// <summary>
    /// A forward value by its name in the model's schedule (<c>Fc1Out</c>), for the live batch, for diagnostics such as
    /// anomaly detection; empty for a name this workspace does not hold (a hand-written workspace holds none).
    /// </summary>
    public virtual ReadOnlySpan<float> Value(string buffer) => default;

    /// <summary>(Capacity, ...OutputShape), the loss gradient Backward starts from.</summary>
    public float[] OutputGrad { get; protected set; } = [];

    /// <summary>
    /// For a model that ends in LogSoftmax (training workspaces only): the gradient buffer of the LogSoftmax's input, the
    /// logits, (Capacity, ...OutputShape). A loss that computes dLoss/dlogits directly (NLL of log-probabilities) writes it
    /// here and sets <see cref="LossGradAtLogits"/>. Null for other models.
    /// </summary>
    public float[]? LogitsGrad { get; protected set; }

    /// <summary>
    /// Set by the caller when the loss gradient was written to <see cref="LogitsGrad"/> rather than <see cref="OutputGrad"/>;
    /// <c>Backward</c> then skips the LogSoftmax backward. Leave false when writing <see cref="OutputGrad"/>.
    /// </summary>
    public bool LossGradAtLogits { get; set; }

    /// <summary>
    /// Called by the generated <c>Backward</c> right after a layer's parameter gradients were added, with the layer's
    /// property name (<c>"Fc3"</c>), in the order of the schedule's backward; a layer applied twice reports after each
    /// application. Data-parallel training starts a gradient bucket's all-reduce as soon as its last layer reports,
    /// while the backward goes on. Null by default: nothing is called.
    /// </summary>
    public Action<string>? ParamGradsReady { get; set; }

    public void EnsureTraining()
    {
        if (!Training)
            throw new InvalidOperationException("This workspace was created for inference (training: false); create one with training: true to run Backward.");
    }

    /// <summary>Copies a batch into <see cref="Input"/> and sets <see cref="Count"/>, checking the sizes.</summary>
    public void SetInput(ReadOnlySpan<float> batch, int count)
    {
        if (count <= 0 || count > Capacity)
            throw new ArgumentOutOfRangeException(nameof(count), count,
                $"SetInput: a batch of {count} samples, but this workspace was created with capacity {Capacity} (CreateWorkspace(capacity: {Capacity})): it runs 1 to {Capacity} samples at a time.");
        if (batch.Length != count * InputPerSample)
            throw new ArgumentException($"Input holds {batch.Length} values but {count} samples of {InputPerSample} values need {count * InputPerSample}.", nameof(batch));
        Count = count;
        batch.CopyTo(Input);
    }
}
