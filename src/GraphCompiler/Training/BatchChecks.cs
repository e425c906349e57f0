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
    /// <summary>A batch tensor must be [N, ...the model's input shape].</summary>
    public static void InputTensor(string entry, ICompiledModel model, Tensor inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        int[] per = model.InputShape;
        if (inputs.Shape.Length == 0)
            throw new ArgumentException($"{entry}: the input is a scalar (rank 0); the model takes a batch of shape [N, {string.Join(", ", per)}].", nameof(inputs));
        if (inputs.Shape.Length != per.Length + 1 || !inputs.Shape.AsSpan(1).SequenceEqual(per))
            throw new ArgumentException(
                $"{entry}: the input has shape [{string.Join(", ", inputs.Shape)}] (rank {inputs.Shape.Length}); the model takes [N, {string.Join(", ", per)}] (rank {per.Length + 1}).", nameof(inputs));
    }

    /// <summary>1 to capacity samples, and exactly their input values.</summary>
    public static void Inputs(string entry, ICompiledModel model, ModelWorkspace ws, int inputLength, int count) =>
        Inputs(entry, model, ws.Capacity, inputLength, count);

    /// <summary>1 to <paramref name="capacity"/> samples (the batch size a trainer was created with), and exactly their input values.</summary>
    public static void Inputs(string entry, ICompiledModel model, int capacity, int inputLength, int count)
    {
        if (count < 1 || count > capacity)
            throw new ArgumentOutOfRangeException(nameof(count), count,
                $"{entry}: a batch of {count} samples, but this workspace holds 1 to {capacity} (the batch size it was created with).");
        long need = (long)count * model.InputShape.Aggregate(1L, (p, d) => p * d);
        if (inputLength != need)
            throw new ArgumentException(
                $"{entry}: {count} samples of shape [{string.Join(", ", model.InputShape)}] need {need} input values, but {inputLength} were given.", "inputs");
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
