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
    /// When true, a backward that accumulates (<c>zeroGrad: false</c>) sums its micro-batch's gradients from zero and then
    /// adds them to the accumulated ones, instead of the kernels continuing their sums from the accumulated values (off by
    /// default). A batch taken as k micro-batches of its data-parallel shares then reduces over its samples in the order
    /// k ranks do (each rank sums its share from zero, the all-reduce adds the shares), so with the same loss scaling the
    /// two agree bit for bit: the deterministic reduction order that makes one process comparable with the ranks even
    /// under Adam, which magnifies last-bit differences. It costs a copy of the trainable gradients per micro-batch.
    /// </summary>
    public bool BlockwiseAccumulation { get; set; }

    private float[][]? _accumulated;
    private bool _addAccumulated;

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
        float loss = LossGradient.OfClassTargets(_model, _loss, ws, targets, _classes, _inner);
        Backward(ws, lossScale, loss);
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
        Forward(inputs, count, zeroGrad);
        float loss = LossGradient.OfFloatTargets(_loss, ws, targets);
        Backward(ws, lossScale, loss);
        return loss;
    }

    private ModelWorkspace Forward(ReadOnlySpan<float> inputs, int count, bool zeroGrad)
    {
        ModelWorkspace ws = Workspace;
        _anomaly?.BeforeForward(inputs, count, ws.InputPerSample);
        ws.SetInput(inputs, count);
        _addAccumulated = false;
        if (zeroGrad) _optimizer.ZeroGrad();
        else if (BlockwiseAccumulation) SetAsideGradients();
        _model.Forward(ws);
        _anomaly?.AfterForward(ws);
        return ws;
    }

    private void Backward(ModelWorkspace ws, float lossScale, float loss)
    {
        LossGradient.Scale(ws, lossScale);
        _model.Backward(ws);
        ws.LossGradAtLogits = false;
        if (_addAccumulated) AddSetAsideGradients();
        _anomaly?.AfterBackward(ws.Output.AsSpan(0, ws.Count * ws.OutputPerSample), loss);
    }

    /// <summary>The accumulated gradients of the trainable parameters moved aside, and the gradients cleared, for <see cref="BlockwiseAccumulation"/>.</summary>
    private void SetAsideGradients()
    {
        IReadOnlyList<Parameter> parameters = _model.Parameters();
        _accumulated ??= new float[parameters.Count][];
        for (int i = 0; i < parameters.Count; i++)
        {
            if (!parameters[i].RequiresGrad) continue;
            float[] grad = parameters[i].Grad;
            float[] aside = _accumulated[i] ??= new float[grad.Length];
            grad.CopyTo(aside, 0);
            Array.Clear(grad);
        }
        _addAccumulated = true;
    }

    /// <summary>accumulated + this micro-batch's sum, one addition per element, as an all-reduce adds two ranks' sums.</summary>
    private void AddSetAsideGradients()
    {
        _addAccumulated = false;
        IReadOnlyList<Parameter> parameters = _model.Parameters();
        for (int i = 0; i < parameters.Count; i++)
            if (parameters[i].RequiresGrad) System.Numerics.Tensors.TensorPrimitives.Add(_accumulated![i], parameters[i].Grad, parameters[i].Grad);
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
        BatchChecks.TargetTensor("Trainer.Step", _model, inputs, targets);
        return Step(inputs.Data, targets.Data, inputs.Shape[0]);
    }
}
