// Inference helpers for compiled models: batched prediction and classification accuracy.
namespace GraphCompiler.Training;

public static class Evaluation
{
    /// <summary>Runs the compiled forward on a batch (count, ...InputShape) and returns the outputs (count, ...OutputShape).</summary>
    public static Tensor Predict(this ICompiledModel model, Tensor inputs)
    {
        int count = inputs.Shape[0];
        int[] expected = [count, .. model.InputShape];
        if (!inputs.Shape.AsSpan().SequenceEqual(expected))
            throw new ArgumentException($"The model expects input [{string.Join(", ", expected)}] (N = {count}) but got [{string.Join(", ", inputs.Shape)}].", nameof(inputs));
        ModelWorkspace ws = model.CreateWorkspace(count, training: false);
        ws.SetInput(inputs.Data, count);
        model.Forward(ws);
        return new Tensor(ws.Output.AsSpan(0, count * ws.OutputPerSample).ToArray(), [count, .. model.OutputShape]);
    }

    /// <summary>Index of the largest value in each row of (n, classes).</summary>
    public static void ArgMax(ReadOnlySpan<float> rows, int n, int classes, Span<int> result)
    {
        for (int i = 0; i < n; i++)
        {
            ReadOnlySpan<float> row = rows.Slice(i * classes, classes);
            int best = 0;
            for (int c = 1; c < classes; c++)
                if (row[c] > row[best]) best = c;
            result[i] = best;
        }
    }
}
