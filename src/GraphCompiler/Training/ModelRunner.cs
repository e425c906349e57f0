// The workspaces behind the tensor-level calls of a model (Forward(Tensor), Backward, Predict), created on first use and reused.
using System.Runtime.CompilerServices;
using GraphCompiler.Compiler;
using GraphCompiler.Nn;

namespace GraphCompiler.Training;

/// <summary>
/// One per model, kept alongside it (a <see cref="ConditionalWeakTable{TKey, TValue}"/>, so it goes when the model does):
/// an inference workspace that runs a batch of any size in chunks of at most <see cref="ChunkSize"/> samples, and a
/// training workspace for optimizer-free backward passes, each grown only when a larger batch arrives. After the first
/// call of a size, a call allocates only the tensor it returns. Calls on one model are serialised by a lock.
/// </summary>
internal sealed class ModelRunner
{
    /// <summary>The largest inference chunk: a workspace for this many samples is the most a forward call keeps.</summary>
    public const int ChunkSize = 256;

    private static readonly ConditionalWeakTable<ICompiledModel, ModelRunner> Runners = new();

    private readonly ICompiledModel _model;
    private readonly bool _batchDependent;
    private ModelWorkspace? _inference;
    private ModelWorkspace? _training;

    private ModelRunner(ICompiledModel model)
    {
        _model = model;
        // In training mode BatchNorm normalises with the batch's statistics and Dropout draws one mask per pass, so a batch
        // split in chunks would give other numbers than the batch run whole.
        _batchDependent = model.Schedule.Forward.Any(s => s is BatchNormForward or DropoutForward);
    }

    public static ModelRunner Of(ICompiledModel model) => Runners.GetValue(model, static m => new ModelRunner(m));

    /// <summary>
    /// The forward pass of <paramref name="input"/> (N, ...InputShape) into <paramref name="output"/> (N, ...OutputShape),
    /// in the model's current mode, chunk by chunk through the inference workspace. Shapes are checked by the caller.
    /// </summary>
    public void Forward(Tensor input, Tensor output) => Forward(input.Data, input.Shape[0], output.Data);

    /// <summary><paramref name="n"/> samples' inputs into their outputs; the spans hold exactly those samples.</summary>
    public void Forward(ReadOnlySpan<float> input, int n, Span<float> output)
    {
        if (n == 0) return;
        lock (this)
        {
            int chunk = _batchDependent && _model.Training ? n : Math.Min(n, ChunkSize);
            if (_inference is null || _inference.Capacity < chunk)
            {
                // At least doubled (up to a chunk), so batches that grow one by one do not allocate every call.
                int capacity = Math.Max(chunk, Math.Min(ChunkSize, 2 * (_inference?.Capacity ?? 0)));
                _inference = null; // let the old one go before the larger one is allocated
                _inference = _model.CreateWorkspace(capacity, training: false);
            }
            ModelWorkspace ws = _inference;
            int inPer = ws.InputPerSample, outPer = ws.OutputPerSample;
            for (int start = 0; start < n; start += chunk)
            {
                int count = Math.Min(chunk, n - start);
                ws.SetInput(input.Slice(start * inPer, count * inPer), count);
                _model.Forward(ws);
                ws.Output.AsSpan(0, count * outPer).CopyTo(output.Slice(start * outPer, count * outPer));
            }
        }
    }

    /// <summary>
    /// Forward, loss and backward of one batch against class-index targets, adding every trainable parameter's gradient
    /// into its <c>Grad</c> (as PyTorch's <c>loss.backward()</c> does). Shapes and targets are checked by the caller.
    /// </summary>
    public float Backward(Tensor input, ReadOnlySpan<int> targets, Loss loss, int classes, int inner)
    {
        lock (this)
        {
            ModelWorkspace ws = TrainingForward(input);
            return Backward(ws, LossGradient.OfClassTargets(_model, loss, ws, targets, classes, inner));
        }
    }

    /// <summary>As the class-index form, for a loss over float targets shaped like the output.</summary>
    public float Backward(Tensor input, ReadOnlySpan<float> targets, Loss loss)
    {
        lock (this)
        {
            ModelWorkspace ws = TrainingForward(input);
            return Backward(ws, LossGradient.OfFloatTargets(loss, ws, targets));
        }
    }

    /// <summary>The batch into the training workspace (grown to hold it whole: a loss's mean is over the batch) and the forward pass.</summary>
    private ModelWorkspace TrainingForward(Tensor input)
    {
        int n = input.Shape[0];
        if (_training is null || _training.Capacity < n)
        {
            _training = null;
            _training = _model.CreateWorkspace(n, training: true);
        }
        ModelWorkspace ws = _training;
        ws.SetInput(input.Data, n);
        _model.Forward(ws);
        return ws;
    }

    private float Backward(ModelWorkspace ws, float loss)
    {
        _model.Backward(ws);
        ws.LossGradAtLogits = false;
        return loss;
    }
}
