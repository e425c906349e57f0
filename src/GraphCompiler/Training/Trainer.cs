// The training step of a compiled model: zero grads → forward → loss → backward → optimizer step, on buffers allocated once.
using GraphCompiler.Backends.Ilgpu;
using GraphCompiler.Nn;
using GraphCompiler.Optim;

namespace GraphCompiler.Training;

/// <summary>
/// Runs training steps of one model with one loss and optimizer. The workspace is created once for
/// <c>batchSize</c> samples; a smaller final batch reuses it.
/// </summary>
public sealed class Trainer : ITrainer
{
    private readonly ICompiledModel _model;
    private readonly Loss _loss;
    private readonly IOptimizer _optimizer;
    private readonly int _classes;

    public Trainer(ICompiledModel model, Loss loss, IOptimizer optimizer, int batchSize)
    {
        _model = model;
        _loss = loss;
        _optimizer = optimizer;
        if (model.OutputShape.Length != 1)
            throw new ArgumentException($"{loss.Name} needs a model output of one dimension per sample (classes), but the model outputs [{string.Join(", ", model.OutputShape)}].");
        _classes = model.OutputShape[0];
        Workspace = model.CreateWorkspace(batchSize, training: true);
    }

    /// <summary>
    /// A trainer on <paramref name="device"/>: this class for <see cref="Device.Cpu"/>, an <see cref="IlgpuTrainer"/>
    /// for ILGPU's CPU accelerator or CUDA; <see cref="Device.Auto"/> picks CUDA when present, else the CPU.
    /// </summary>
    public static ITrainer Create(ICompiledModel model, Loss loss, IOptimizer optimizer, int batchSize, Device device)
    {
        ArgumentNullException.ThrowIfNull(device);
        device = device.Resolve();
        return device.Type == DeviceType.Cpu
            ? new Trainer(model, loss, optimizer, batchSize)
            : new IlgpuTrainer(model, loss, optimizer, batchSize, device);
    }

    public ModelWorkspace Workspace { get; }

    /// <summary>Always <see cref="Device.Cpu"/>: the generated code runs the native CPU kernels.</summary>
    public Device Device => Device.Cpu;

    /// <summary>Nothing to copy: the model's parameters are the ones that train.</summary>
    public void Synchronize()
    {
    }

    /// <summary>Nothing to release: the workspace is managed memory.</summary>
    public void Dispose()
    {
    }

    /// <summary>One step on <paramref name="count"/> samples; returns the mean loss of the batch.</summary>
    public float Step(ReadOnlySpan<float> inputs, ReadOnlySpan<int> targets, int count)
    {
        float loss = ForwardBackward(inputs, targets, count);
        _optimizer.Step();
        return loss;
    }

    /// <summary>
    /// Zero grads (unless <paramref name="zeroGrad"/> is false, to accumulate over micro-batches), forward, loss and
    /// backward, without the optimizer step: for loops that clip gradients or step a schedule in between. The gradient
    /// is that of <paramref name="lossScale"/> × the mean loss: accumulating k micro-batches with <c>lossScale: 1f / k</c>
    /// gives the gradients of one batch k times larger (PyTorch's <c>(loss / k).backward()</c>). Returns the unscaled loss.
    /// </summary>
    public float ForwardBackward(ReadOnlySpan<float> inputs, ReadOnlySpan<int> targets, int count, bool zeroGrad = true, float lossScale = 1f)
    {
        if (targets.Length < count)
            throw new ArgumentException($"{count} samples but only {targets.Length} targets.", nameof(targets));
        ModelWorkspace ws = Workspace;
        ws.SetInput(inputs, count);
        if (zeroGrad) _optimizer.ZeroGrad();
        _model.Forward(ws);
        int size = count * _classes;
        // A model ending in LogSoftmax with an NLL loss: one kernel gives the gradient at the logits (softmax − onehot) / N.
        float loss = 0;
        ws.LossGradAtLogits = ws.LogitsGrad is not null
            && _loss.TryComputeAtLogits(ws.Output.AsSpan(0, size), targets[..count], ws.LogitsGrad.AsSpan(0, size), count, _classes, out loss);
        if (!ws.LossGradAtLogits)
            loss = _loss.Compute(ws.Output.AsSpan(0, size), targets[..count], ws.OutputGrad.AsSpan(0, size), count, _classes);
        if (lossScale != 1f)
        {
            Span<float> grad = (ws.LossGradAtLogits ? ws.LogitsGrad! : ws.OutputGrad).AsSpan(0, size);
            System.Numerics.Tensors.TensorPrimitives.Multiply(grad, lossScale, grad);
        }
        _model.Backward(ws);
        ws.LossGradAtLogits = false;
        return loss;
    }

    /// <summary>One step on a batch tensor of shape (count, ...InputShape).</summary>
    public float Step(Tensor inputs, ReadOnlySpan<int> targets) => Step(inputs.Data, targets, inputs.Shape[0]);
}
