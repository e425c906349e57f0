// Inference helpers for compiled models: batched prediction and classification accuracy.
namespace GraphCompiler.Training;

public static class Evaluation
{
    /// <summary>
    /// Runs the compiled forward on a batch (count, ...InputShape) of any size in eval mode and returns the outputs
    /// (count, ...OutputShape): <see cref="ICompiledModel.Forward(Tensor)"/> under <c>torch.no_grad()</c> and
    /// <c>model.eval()</c>. The model's mode is restored afterwards.
    /// </summary>
    public static Tensor Predict(this ICompiledModel model, Tensor inputs)
    {
        BatchChecks.InputTensor("Predict", model, inputs);
        int count = inputs.Shape[0];
        if (count < 1) throw new ArgumentException($"Predict: the batch is empty (shape [{string.Join(", ", inputs.Shape)}]).", nameof(inputs));
        var output = new Tensor([count, .. model.OutputShape]);
        using var _ = EvalScope(model);
        ModelRunner.Of(model).Forward(inputs, output);
        return output;
    }

    /// <summary>
    /// The outputs (data.Count, ...OutputShape) of every sample of <paramref name="data"/>, in order, in eval mode: PyTorch's
    /// <c>torch.cat([model(x) for x, _ in DataLoader(data, batch_size)])</c> under <c>no_grad</c>. The samples are loaded
    /// <paramref name="batchSize"/> at a time; the model's mode is restored afterwards.
    /// </summary>
    public static Tensor Predict(this ICompiledModel model, Data.IDataset data, int batchSize = 256)
    {
        ArgumentNullException.ThrowIfNull(model);
        BatchChecks.Dataset("Predict", "dataset", model, data);
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "Predict: batchSize must be at least 1.");
        var output = new Tensor([data.Count, .. model.OutputShape]);
        if (data.Count == 0) return output;
        int perSample = output.Count / data.Count, inPerSample = model.InputShape.Aggregate(1, (a, d) => a * d), done = 0;
        ModelRunner runner = ModelRunner.Of(model);
        using var _ = EvalScope(model);
        foreach (Data.Batch batch in new Data.DataLoader(data, Math.Min(batchSize, data.Count)))
        {
            runner.Forward(batch.Images.Data.AsSpan(0, batch.Count * inPerSample), batch.Count, output.Data.AsSpan(done * perSample, batch.Count * perSample));
            done += batch.Count;
        }
        return output;
    }

    /// <summary>The loss of the model's outputs for a batch (count, ...InputShape) against class-index targets, with no gradient.</summary>
    public static float Loss(this ICompiledModel model, Nn.Loss loss, Tensor inputs, ReadOnlySpan<int> targets)
    {
        BatchChecks.InputTensor("Evaluation.Loss", model, inputs);
        int[] per = model.OutputShape;
        int n = inputs.Shape[0], classes = per.Length > 0 ? per[0] : 0, inner = 1;
        for (int d = 1; d < per.Length; d++) inner *= per[d];
        BatchChecks.ClassTargets("Evaluation.Loss", loss, targets, n, classes, inner);
        Tensor output = model.Predict(inputs);
        return loss.Compute(output.Data, targets, [], [], n, classes, inner);
    }

    /// <summary>The loss of the model's outputs for a batch (count, ...InputShape) against float targets shaped like the outputs, with no gradient.</summary>
    public static float Loss(this ICompiledModel model, Nn.Loss loss, Tensor inputs, ReadOnlySpan<float> targets)
    {
        BatchChecks.InputTensor("Evaluation.Loss", model, inputs);
        int perSample = model.OutputShape.Aggregate(1, (a, d) => a * d);
        BatchChecks.FloatTargets("Evaluation.Loss", model, targets, inputs.Shape[0], perSample);
        return loss.Compute(model.Predict(inputs).Data, targets, []);
    }

    /// <summary>Fraction of <paramref name="data"/> whose largest output is the label, in batches through one inference workspace;
    /// <paramref name="progress"/> (none by default) shows the pass under <paramref name="label"/>. Runs in eval mode and
    /// restores the model's mode afterwards.</summary>
    public static float Accuracy(ICompiledModel model, Data.IDataset data, int batchSize = 500, ProgressReporter? progress = null, string label = "eval")
    {
        BatchChecks.Dataset("Accuracy", "evaluation", model, data);
        using var _ = EvalScope(model);
        if (model.OutputShape.Length != 1)
            throw new ArgumentException($"Accuracy needs one output dimension (classes) but the model outputs [{string.Join(", ", model.OutputShape)}].");
        int classes = model.OutputShape[0];
        ModelWorkspace ws = model.CreateWorkspace(Math.Min(batchSize, data.Count), training: false);
        var loader = new Data.DataLoader(data, ws.Capacity);
        var predicted = new int[ws.Capacity];
        long correct = 0;
        progress?.Begin(label, loader.Count);
        foreach (Data.Batch batch in loader)
        {
            ws.SetInput(batch.Images.Data, batch.Count);
            model.Forward(ws);
            ArgMax(ws.Output, batch.Count, classes, predicted);
            for (int i = 0; i < batch.Count; i++)
                if (predicted[i] == batch.Labels[i]) correct++;
            progress?.Advance(batch.Count, float.NaN);
        }
        progress?.End();
        return (float)correct / data.Count;
    }

    /// <summary>Puts <paramref name="model"/> in eval mode until the returned scope is disposed, then restores its mode.</summary>
    public static IDisposable EvalScope(ICompiledModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var scope = new ModeScope(model, model.Training);
        model.Eval();
        return scope;
    }

    private sealed class ModeScope(ICompiledModel model, bool training) : IDisposable
    {
        public void Dispose() => model.Train(training);
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
