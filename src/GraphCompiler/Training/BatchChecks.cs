// Checks a batch against the model and the loss before any kernel runs, with messages in the caller's terms.
using GraphCompiler.Nn;

namespace GraphCompiler.Training;

/// <summary>
/// The checks every public entry point (trainer step, forward-backward, evaluation) makes before it touches a kernel or
/// any state: a kernel would read past a short buffer or ignore a long one, and a bad label found by the loss comes after
/// the forward pass has already moved BatchNorm's running statistics, its batch counter and the dropout step.
/// Messages name the entry point and say what was expected and what was given, in shapes and counts.
/// </summary>
internal static class BatchChecks
{
    /// <summary>
    /// The input shape as the model declares it in <c>[Forward(Input = "N,1,28,28")]</c>, for messages:
    /// <c>Mlp is declared with Input = "N,1,28,28"</c>.
    /// </summary>
    public static string Declared(ICompiledModel model) =>
        $"{model.Schedule.Model} is declared with Input = \"N,{string.Join(",", model.InputShape)}\"";

    /// <summary>A batch tensor must be [N, ...the model's input shape].</summary>
    public static void InputTensor(string entry, ICompiledModel model, Tensor inputs)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(inputs);
        int[] per = model.InputShape;
        if (inputs.Shape.Length == 0)
            throw new ArgumentException($"{entry}: the input is a scalar (rank 0), but {Declared(model)}: a batch of shape [N, {string.Join(", ", per)}].", nameof(inputs));
        if (inputs.Shape.Length != per.Length + 1 || !inputs.Shape.AsSpan(1).SequenceEqual(per))
            throw new ArgumentException(
                $"{entry}: the input has shape [{string.Join(", ", inputs.Shape)}] (rank {inputs.Shape.Length}), but {Declared(model)}: a batch of shape [N, {string.Join(", ", per)}] (rank {per.Length + 1}).", nameof(inputs));
    }

    /// <summary>A dataset's samples must have the model's input shape (the loader stacks them into [N, ...that shape]).</summary>
    public static void Dataset(string entry, string which, ICompiledModel model, Data.IDataset data)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (!data.SampleShape.AsSpan().SequenceEqual(model.InputShape))
            throw new ArgumentException(
                $"{entry}: the {which} samples have shape [{string.Join(", ", data.SampleShape)}], but {Declared(model)}: samples of shape [{string.Join(", ", model.InputShape)}].", which == "test" ? "test" : "data");
    }

    /// <summary>Float targets as a tensor must be shaped like the outputs of the batch, [N, ...the model's output shape].</summary>
    public static void TargetTensor(string entry, ICompiledModel model, Tensor inputs, Tensor targets)
    {
        ArgumentNullException.ThrowIfNull(targets);
        int[] want = [inputs.Shape[0], .. model.OutputShape];
        if (!targets.Shape.AsSpan().SequenceEqual(want))
            throw new ArgumentException(
                $"{entry}: the targets have shape [{string.Join(", ", targets.Shape)}], but a batch of {inputs.Shape[0]} gives outputs of shape [{string.Join(", ", want)}] and needs targets of that shape.", nameof(targets));
    }

    /// <summary>1 to the workspace's capacity (the trainer's batch size) samples, and exactly their input values.</summary>
    public static void Inputs(string entry, ICompiledModel model, ModelWorkspace ws, int inputLength, int count) =>
        Inputs(entry, model, ws.Capacity, inputLength, count);

    /// <summary>1 to <paramref name="batchSize"/> samples (the batch size a trainer was created with), and exactly their input values.</summary>
    public static void Inputs(string entry, ICompiledModel model, int batchSize, int inputLength, int count)
    {
        if (count < 1 || count > batchSize)
            throw new ArgumentOutOfRangeException(nameof(count), count, count < 1
                ? $"{entry}: a batch of {count} samples; a step needs at least one."
                : $"{entry}: a batch of {count} samples, but the trainer was created with batchSize {batchSize}: a step takes 1 to {batchSize} samples. Split the batch or create the trainer with a larger batchSize.");
        long need = (long)count * model.InputShape.Aggregate(1L, (p, d) => p * d);
        if (inputLength != need)
            throw new ArgumentException(
                $"{entry}: {count} samples of shape [{string.Join(", ", model.InputShape)}] need {need} input values, but {inputLength} were given.", "inputs");
    }

    /// <summary>The classes (the output's first per-sample dim) and positions per sample (the product of the rest) a class-index loss sees.</summary>
    public static (int Classes, int Inner) ClassLayout(string entry, ICompiledModel model, Loss loss)
    {
        int[] shape = model.OutputShape;
        if (shape.Length == 0)
            throw new ArgumentException($"{entry}: {loss.Name} needs a model output with a class dimension per sample (C or C, d1…), but the model outputs [].");
        int inner = 1;
        for (int d = 1; d < shape.Length; d++) inner *= shape[d];
        return (shape[0], inner);
    }

    /// <summary>Exactly one class index per sample (and position), each in [0, classes) or the loss's ignore_index.</summary>
    public static void ClassTargets(string entry, Loss loss, ReadOnlySpan<int> targets, int count, int classes, int inner)
    {
        long need = (long)count * inner;
        if (targets.Length != need)
            throw new ArgumentException(
                $"{entry}: {count} samples need {need} class targets ({(inner == 1 ? "one per sample" : $"one per sample and position, {inner} positions")}), but {targets.Length} were given.", nameof(targets));
        int ignore = loss is ClassIndexLoss c ? c.IgnoreIndex : int.MinValue;
        for (int e = 0; e < targets.Length; e++)
        {
            int t = targets[e];
            if ((uint)t < (uint)classes || t == ignore) continue;
            string where = inner > 1 ? $"sample {e / inner}, position {e % inner}" : $"sample {e}";
            string ignored = loss is ClassIndexLoss ? $" and is not ignore_index ({ignore})" : "";
            throw new ArgumentException($"{loss.Name}: target {t} at {where} is outside the class range [0, {classes}){ignored}.", nameof(targets));
        }
    }

    /// <summary>Exactly the output's number of float targets.</summary>
    public static void FloatTargets(string entry, ICompiledModel model, ReadOnlySpan<float> targets, int count, int perSample)
    {
        long need = (long)count * perSample;
        if (targets.Length != need)
            throw new ArgumentException(
                $"{entry}: {count} samples with outputs of shape [{string.Join(", ", model.OutputShape)}] need {need} float targets, but {targets.Length} were given.", nameof(targets));
    }
}
