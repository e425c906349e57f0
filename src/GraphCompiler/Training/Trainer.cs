// The training step of a compiled model: zero grads → forward → loss → backward → optimizer step, on buffers allocated once.
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
    private readonly int _inner;

    /// <summary>
    /// A trainer for <paramref name="model"/> with <paramref name="loss"/>. A class-index loss needs outputs (C) or
    /// (C, d1…) per sample and takes int targets (one, or one per position d1…, per sample); any other loss takes float
    /// targets shaped like the output. The loss must reduce (mean or sum): reduction none has no scalar to minimise.
    /// </summary>
    public Trainer(ICompiledModel model, Loss loss, IOptimizer optimizer, int batchSize)
    {
        _model = model;
        _loss = loss;
        _optimizer = optimizer;
        if (loss.Reduction == Reduction.None)
            throw new ArgumentException($"{loss.Name} with reduction none gives per-element losses for inspection; train with reduction mean or sum.", nameof(loss));
        int[] shape = model.OutputShape;
        if (loss.TakesClassTargets)
        {
            if (shape.Length == 0)
                throw new ArgumentException($"{loss.Name} needs a model output with a class dimension per sample (C or C, d1…), but the model outputs [{string.Join(", ", shape)}].");
            _classes = shape[0];
            _inner = 1;
            for (int d = 1; d < shape.Length; d++) _inner *= shape[d];
        }
        Workspace = model.CreateWorkspace(batchSize, training: true);
    }

    /// <summary>
    /// A trainer on <paramref name="device"/>: this class for <see cref="Device.Cpu"/>, the trainer of the device's backend
    /// otherwise (<see cref="DeviceBackends"/>: the ILGPU backend's for ILGPU's CPU accelerator or CUDA);
    /// <see cref="Device.Auto"/> picks CUDA when present, else the CPU.
    /// </summary>
    public static ITrainer Create(ICompiledModel model, Loss loss, IOptimizer optimizer, int batchSize, Device device)
    {
        ArgumentNullException.ThrowIfNull(device);
        device = device.Resolve();
        return device.Type == DeviceType.Cpu
            ? new Trainer(model, loss, optimizer, batchSize)
            : DeviceBackends.For(device).CreateTrainer(model, loss, optimizer, batchSize, device);
    }

    public ModelWorkspace Workspace { get; }

    /// <summary>
    /// When true, every step checks its input, parameters, output, loss and gradients for NaN and infinity and throws an
    /// <see cref="AnomalyException"/> naming the step and the first place one appeared (off by default; see
    /// <see cref="AnomalyDetector"/> for what it costs).
    /// </summary>
    public bool DetectAnomaly
    {
        get => _anomaly is not null;
        set => _anomaly = value ? _anomaly ?? new AnomalyDetector(_model) : null;
    }

    private AnomalyDetector? _anomaly;

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

    /// <summary>One step on <paramref name="count"/> samples with class-index targets; returns the batch's loss.</summary>
    public float Step(ReadOnlySpan<float> inputs, ReadOnlySpan<int> targets, int count)
    {
        float loss = ForwardBackward(inputs, targets, count);
        _optimizer.Step();
        return loss;
    }

    /// <summary>One step on <paramref name="count"/> samples with float targets shaped like the output; returns the batch's loss.</summary>
    public float Step(ReadOnlySpan<float> inputs, ReadOnlySpan<float> targets, int count)
    {
        float loss = ForwardBackward(inputs, targets, count);
        _optimizer.Step();
        return loss;
    }

    /// <summary>
    /// Zero grads (unless <paramref name="zeroGrad"/> is false, to accumulate over micro-batches), forward, loss and
    /// backward, without the optimizer step: for loops that clip gradients or step a schedule in between. The gradient
    /// is that of <paramref name="lossScale"/> × the loss: accumulating k micro-batches with <c>lossScale: 1f / k</c>
    /// gives the gradients of one batch k times larger (PyTorch's <c>(loss / k).backward()</c>). Returns the unscaled loss.
    /// </summary>
    public float ForwardBackward(ReadOnlySpan<float> inputs, ReadOnlySpan<int> targets, int count, bool zeroGrad = true, float lossScale = 1f)
    {
        if (!_loss.TakesClassTargets)
            throw new ArgumentException($"{_loss.Name} takes float targets shaped like the output; pass float targets.", nameof(targets));
        BatchChecks.Inputs("Trainer", _model, Workspace, inputs.Length, count);
        BatchChecks.ClassTargets("Trainer", _loss, targets, count, _classes, _inner);
        ModelWorkspace ws = Forward(inputs, count, zeroGrad);
        int size = count * _classes * _inner;
        targets = targets[..(count * _inner)];
        // The schedule's loss fusion (a LogSoftmax over classes read by an NLL loss): one kernel gives the gradient at the
        // logits (softmax − onehot) / N.
        float loss = 0;
        ws.LossGradAtLogits = ws.LogitsGrad is not null && _model.Schedule.LossAtLogits(_loss.Name)
            && _loss.TryComputeAtLogits(ws.Output.AsSpan(0, size), targets, ws.LogitsGrad.AsSpan(0, size), count, _classes, out loss);
        if (!ws.LossGradAtLogits)
            loss = _loss.Compute(ws.Output.AsSpan(0, size), targets, ws.OutputGrad.AsSpan(0, size), [], count, _classes, _inner);
        Backward(ws, size, lossScale, loss);
        return loss;
    }

    /// <summary>
    /// <see cref="ForwardBackward(ReadOnlySpan{float}, ReadOnlySpan{int}, int, bool, float)"/> for a loss over float targets,
    /// <paramref name="count"/> samples' worth of values shaped like the output.
    /// </summary>
    public float ForwardBackward(ReadOnlySpan<float> inputs, ReadOnlySpan<float> targets, int count, bool zeroGrad = true, float lossScale = 1f)
    {
        if (_loss.TakesClassTargets)
            throw new ArgumentException($"{_loss.Name} takes class-index (int) targets; pass int targets.", nameof(targets));
        ModelWorkspace ws = Workspace;
        BatchChecks.Inputs("Trainer", _model, ws, inputs.Length, count);
        BatchChecks.FloatTargets("Trainer", _model, targets, count, ws.OutputPerSample);
        int size = count * ws.OutputPerSample;
        Forward(inputs, count, zeroGrad);
        float loss = _loss.Compute(ws.Output.AsSpan(0, size), targets[..size], ws.OutputGrad.AsSpan(0, size));
        Backward(ws, size, lossScale, loss);
        return loss;
    }

    private ModelWorkspace Forward(ReadOnlySpan<float> inputs, int count, bool zeroGrad)
    {
        ModelWorkspace ws = Workspace;
        _anomaly?.BeforeForward(inputs, count, ws.InputPerSample);
        ws.SetInput(inputs, count);
        if (zeroGrad) _optimizer.ZeroGrad();
        _model.Forward(ws);
        _anomaly?.AfterForward(ws);
        return ws;
    }

    private void Backward(ModelWorkspace ws, int size, float lossScale, float loss)
    {
        if (lossScale != 1f)
        {
            Span<float> grad = (ws.LossGradAtLogits ? ws.LogitsGrad! : ws.OutputGrad).AsSpan(0, size);
            System.Numerics.Tensors.TensorPrimitives.Multiply(grad, lossScale, grad);
        }
        _model.Backward(ws);
        ws.LossGradAtLogits = false;
        _anomaly?.AfterBackward(ws.Output.AsSpan(0, ws.Count * ws.OutputPerSample), loss);
    }

    /// <summary>One step on a batch tensor of shape (count, ...InputShape).</summary>
    public float Step(Tensor inputs, ReadOnlySpan<int> targets)
    {
        BatchChecks.InputTensor("Trainer.Step", _model, inputs);
        return Step(inputs.Data, targets, inputs.Shape[0]);
    }

    /// <summary>One step on a batch tensor of shape (count, ...InputShape) with float targets (count, ...OutputShape).</summary>
    public float Step(Tensor inputs, Tensor targets)
    {
        BatchChecks.InputTensor("Trainer.Step", _model, inputs);
        return Step(inputs.Data, targets.Data, inputs.Shape[0]);
    }
}
