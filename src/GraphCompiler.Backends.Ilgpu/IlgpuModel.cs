// Executes a model's compiled schedule on an ILGPU accelerator: device parameters, gradients, optimizer state and running
// statistics, one float and one int arena laid out by the schedule's memory plan, and each step bound once to its kernel.
using MethodInfo = System.Reflection.MethodInfo;
using GraphCompiler.Compiler;
using GraphCompiler.Nn;
using GraphCompiler.Optim;
using ILGPU;
using ILGPU.Runtime;

namespace GraphCompiler.Backends.Ilgpu;

/// <summary>
/// A model's schedule (<see cref="ICompiledModel.Schedule"/>, the one its CPU code was printed from) bound to an ILGPU
/// accelerator for batches of up to <see cref="Capacity"/> samples. Parameters and running statistics are copied to the
/// device at construction and back with <see cref="CopyParametersToHost"/>; between the two the device copy is the one
/// that trains. Every step kind, every loss of <see cref="Nn.Loss"/>, SGD, Adam and AdamW run on the device.
/// </summary>
public sealed class IlgpuModel : IDisposable
{
    private readonly IlgpuDevice _device;
    private readonly Schedule _schedule;
    private readonly IlgpuSteps _steps;
    private readonly IlgpuLosses _losses;
    private readonly List<DeviceParameter> _parameters = [];
    private readonly Dictionary<Parameter, DeviceParameter> _byHost = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<string, Parameter[]> _layerParams = [];
    private readonly ArrayView<float> _input, _output, _outputGrad;
    private readonly ArrayView<float>? _logitsGrad, _inputGrad;
    private readonly (KernelStep Step, Action<int> Run)[] _forward, _backward;
    private readonly int _outPerSample, _classes, _inner;
    private ArrayView<double> _sums;
    private double[] _sumsHost = [];
    private bool _lossAtLogits;
    private int _count;

    /// <summary>
    /// Binds <paramref name="model"/>'s schedule to <paramref name="device"/>: a training workspace (the training memory
    /// plan, gradients, loss buffers) or, with <paramref name="training"/> false, the smaller inference one. With
    /// <paramref name="inputGrad"/> the backward also produces the model input's gradient (<see cref="CopyInputGrad"/>).
    /// </summary>
    public IlgpuModel(ICompiledModel model, IlgpuDevice device, int capacity, bool training = true, bool inputGrad = false)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(device);
        if (capacity <= 0) throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "A workspace needs room for at least one sample.");
        if (inputGrad && !training) throw new ArgumentException("The input gradient needs a training workspace (training: true).", nameof(inputGrad));
        _device = device;
        _schedule = model.Schedule;
        _steps = new IlgpuSteps(device, _schedule.Model);
        _losses = new IlgpuLosses(_steps);
        Capacity = capacity;
        Training = training;
        InputGrad = inputGrad;
        _outPerSample = _schedule.Output.PerSample;
        _classes = model.OutputShape.Length > 0 ? model.OutputShape[0] : 1;
        _inner = _outPerSample / Math.Max(1, _classes);

        foreach (LayerDecl layer in _schedule.Layers)
        {
            var ps = model.Parameters().Where(p => p.Name.StartsWith(layer.StateName + ".", StringComparison.Ordinal)).ToArray();
            _layerParams[layer.Property] = ps;
            foreach (Parameter p in ps)
            {
                var dp = new DeviceParameter(p, _steps.Allocate<float>(p.Count), training ? _steps.Allocate<float>(p.Count) : default);
                string member = p.Name[(layer.StateName.Length + 1)..];
                _steps.AddParameter($"{layer.Property}.{char.ToUpperInvariant(member[0])}{member[1..]}", p, dp.Data, dp.Grad);
                _byHost[p] = dp;
                _parameters.Add(dp);
            }
        }
        CopyParametersToDevice();
        // Layers with state run through their host objects (mode, options, seed and counters); BatchNorm's running
        // statistics move to the device.
        foreach (string layer in _schedule.Forward.Concat(_schedule.Backward).Select(StatefulLayer).OfType<string>().Distinct())
        {
            if (Module.Find(model, layer) is not Module module)
                throw new NotSupportedException($"The ILGPU backend cannot find layer '{layer}' of model '{_schedule.Model}' (a property holding its Nn module).");
            _steps.AddLayer(layer, module);
        }

        MemoryPlan plan = training ? _schedule.TrainingPlan : _schedule.InferencePlan;
        ArrayView<float> floats = _steps.Allocate<float>(Math.Max(1L, (long)capacity * plan.FloatsPerSample));
        ArrayView<int> ints = _steps.Allocate<int>(Math.Max(1L, (long)capacity * plan.IntsPerSample));
        foreach (Placement p in plan.Placements)
        {
            if (p.IsIndex) _steps.AddIndexBuffer(p.Buffer, ints.SubView((long)p.Offset * capacity, (long)p.Size * capacity));
            else _steps.AddBuffer(p.Buffer, floats.SubView((long)p.Offset * capacity, (long)p.Size * capacity));
        }
        _steps.AddBuffer(Lowering.InputBuffer, _input = _steps.Allocate<float>((long)capacity * _schedule.Input.PerSample));
        _steps.AddBuffer(_schedule.OutputBuffer, _output = _steps.Allocate<float>((long)capacity * _outPerSample));
        _outputGrad = _steps.Dummy;
        if (training)
        {
            _steps.AddBuffer(_schedule.OutputGradBuffer, _outputGrad = _steps.Allocate<float>((long)capacity * _outPerSample));
            if (_schedule.LogitsGradBuffer is not null)
                _steps.AddBuffer(_schedule.LogitsGradBuffer, (_logitsGrad = _steps.Allocate<float>((long)capacity * _outPerSample)).Value);
            if (inputGrad)
                _steps.AddBuffer(Lowering.InputGradBuffer, (_inputGrad = _steps.Allocate<float>((long)capacity * _schedule.Input.PerSample)).Value);
        }

        _forward = [.. _schedule.Forward.Select(s => (s, _steps.Bind(s)))];
        _backward = training ? [.. _schedule.Backward.Where(s => inputGrad || !s.InputGradOnly).Select(s => (s, _steps.Bind(s)))] : [];
    }

    private static string? StatefulLayer(KernelStep s) => s switch
    {
        BatchNormForward b => b.Layer,
        BatchNormBackwardParams b => b.Layer,
        BatchNormBackwardInput b => b.Layer,
        LayerNormForward l => l.Layer,
        LayerNormBackwardParams l => l.Layer,
        LayerNormBackwardInput l => l.Layer,
        DropoutForward d => d.Layer,
        DropoutBackward d => d.Layer,
        _ => null,
    };

    public int Capacity { get; }

    public bool Training { get; }

    /// <summary>Whether <see cref="Backward"/> also computes the model input's gradient.</summary>
    public bool InputGrad { get; }

    public IlgpuDevice Device => _device;

    /// <summary>Every ILGPU kernel (with its functor type arguments) this model's steps, losses and optimizers have launched, for PTX checks.</summary>
    public IReadOnlyCollection<MethodInfo> KernelMethods => _steps.KernelMethods;

    /// <summary>Copies every parameter's values and the layers' running statistics from the host (e.g. after loading a checkpoint).</summary>
    public void CopyParametersToDevice()
    {
        foreach (DeviceParameter p in _parameters) IlgpuSteps.CopyIn(p.Host.Data, p.Data);
        _steps.CopyStateToDevice();
    }

    /// <summary>
    /// Copies every parameter's values, the running statistics, and the optimizer state made on the device (SGD momentum,
    /// Adam's moments) back to the host, so checkpoints, <c>state_dict</c> and host evaluation see the trained model.
    /// </summary>
    public void CopyParametersToHost()
    {
        _steps.CopyStateToHost();
        foreach (DeviceParameter p in _parameters)
        {
            IlgpuSteps.CopyOut(p.Data, p.Host.Data);
            if (p.Momentum is { } m && p.Sgd is { } sgd)
            {
                float[] host = sgd.GetMomentumBuffer(p.Group, p.Index) ?? new float[p.Host.Count];
                IlgpuSteps.CopyOut(m, host);
                sgd.SetMomentumBuffer(p.Group, p.Index, host);
            }
            if (p.Adam is { } adam && adam.GetState(p.Group, p.Index) is { } state)
            {
                IlgpuSteps.CopyOut(p.ExpAvg!.Value, state.ExpAvgBuffer);
                IlgpuSteps.CopyOut(p.ExpAvgSq!.Value, state.ExpAvgSqBuffer);
                if (p.MaxExpAvgSq is { } vmax)
                {
                    if (state.MaxExpAvgSqBuffer.Length == 0) state.MaxExpAvgSqBuffer = new float[p.Host.Count];
                    IlgpuSteps.CopyOut(vmax, state.MaxExpAvgSqBuffer);
                }
            }
        }
    }

    /// <summary>Copies every parameter's gradient to the host's <see cref="Parameter.Grad"/>.</summary>
    public void CopyGradientsToHost()
    {
        EnsureTraining();
        foreach (DeviceParameter p in _parameters) IlgpuSteps.CopyOut(p.Grad, p.Host.Grad);
    }

    /// <summary>Copies every parameter's host <see cref="Parameter.Grad"/> to its device gradient (the all-reduced averages, say).</summary>
    public void CopyGradientsToDevice()
    {
        EnsureTraining();
        foreach (DeviceParameter p in _parameters) IlgpuSteps.CopyIn(p.Host.Grad, p.Grad);
    }

    /// <summary>Copies a batch of <paramref name="count"/> samples to the device input.</summary>
    public void SetInput(ReadOnlySpan<float> batch, int count)
    {
        if (count <= 0 || count > Capacity)
            throw new ArgumentException($"A batch of {count} samples, but the device workspace holds 1 to {Capacity} (the trainer's batchSize).");
        int per = _schedule.Input.PerSample;
        if (batch.Length != count * per)
            throw new ArgumentException($"Input holds {batch.Length} values but {count} samples of {per} values need {count * per}.", nameof(batch));
        IlgpuSteps.CopyIn(batch, _input.SubView(0, (long)count * per));
        _count = count;
    }

    /// <summary>Runs the forward steps on the current batch.</summary>
    public void Forward()
    {
        EnsureInput();
        foreach (var (_, run) in _forward) run(_count);
    }

    /// <summary>Copies the current batch's output (count, ...OutputShape) to <paramref name="destination"/>.</summary>
    public void CopyOutput(Span<float> destination)
    {
        EnsureInput();
        IlgpuSteps.CopyOut(_output.SubView(0, (long)_count * _outPerSample), destination[..(_count * _outPerSample)]);
    }

    /// <summary>Copies the model input's gradient of the last <see cref="Backward"/> (count, ...InputShape).</summary>
    public void CopyInputGrad(Span<float> destination)
    {
        if (_inputGrad is not { } g) throw new InvalidOperationException("This workspace was created without the input gradient (inputGrad: false).");
        EnsureInput();
        int per = _schedule.Input.PerSample;
        IlgpuSteps.CopyOut(g.SubView(0, (long)_count * per), destination[..(_count * per)]);
    }

    /// <summary>
    /// How many of the current batch's rows have their largest output at the target class (ties: the first), counted on
    /// the host from the device output: evaluation copies n·classes floats, never the parameters.
    /// </summary>
    public int CountCorrect(ReadOnlySpan<int> targets, Span<float> scratch)
    {
        EnsureInput();
        CopyOutput(scratch);
        int correct = 0;
        for (int i = 0; i < _count; i++)
        {
            ReadOnlySpan<float> row = scratch.Slice(i * _outPerSample, _outPerSample);
            int best = 0;
            for (int j = 1; j < row.Length; j++)
                if (row[j] > row[best]) best = j;
            if (best == targets[i]) correct++;
        }
        return correct;
    }

    /// <summary>Clears every parameter's gradient on the device.</summary>
    public void ZeroGrad()
    {
        EnsureTraining();
        foreach (DeviceParameter p in _parameters) p.Grad.MemSetToZero(_device.Accelerator.DefaultStream); // this accelerator's stream, not the thread's current one
    }

    /// <summary>
    /// The loss of the current batch's output against class indices, and its gradient times <paramref name="scale"/>, on
    /// the device. NLL after a fused LogSoftmax writes the gradient at the logits (the LogSoftmax backward is then skipped),
    /// as the schedule's loss fusion says (<see cref="Schedule.LossAtLogits"/>) and the CPU trainer does.
    /// </summary>
    public float Loss(Loss loss, ReadOnlySpan<int> targets, float scale = 1f)
    {
        EnsureTraining();
        EnsureInput();
        ArgumentNullException.ThrowIfNull(loss);
        if (loss is not ClassIndexLoss classLoss) throw new ArgumentException($"{loss.Name} takes float targets shaped like the output; pass float targets.", nameof(targets));
        int n = _count, count = n * _inner;
        if (targets.Length < count) throw new ArgumentException($"{n} samples need {count} targets but only {targets.Length} were given.", nameof(targets));
        long size = (long)n * _outPerSample;
        _lossAtLogits = _logitsGrad is not null && _inner == 1 && classLoss is NllLoss && _schedule.LossAtLogits(loss.Name);
        ArrayView<float> grad = (_lossAtLogits ? _logitsGrad!.Value : _outputGrad).SubView(0, size);
        float value = _losses.Class(classLoss, _output.SubView(0, size), targets[..count], grad, n, _classes, _inner, _lossAtLogits);
        ScaleGrad(grad, scale);
        return value;
    }

    /// <summary>The loss of the current batch's output against float targets shaped like it, and its gradient times <paramref name="scale"/>.</summary>
    public float Loss(Loss loss, ReadOnlySpan<float> targets, float scale = 1f)
    {
        EnsureTraining();
        EnsureInput();
        ArgumentNullException.ThrowIfNull(loss);
        if (loss is not ElementwiseLoss elementwise) throw new ArgumentException($"{loss.Name} takes class-index (int) targets; pass int targets.", nameof(targets));
        int size = _count * _outPerSample;
        if (targets.Length < size) throw new ArgumentException($"{_count} samples of {_outPerSample} output values need {size} targets but only {targets.Length} were given.", nameof(targets));
        _lossAtLogits = false;
        ArrayView<float> grad = _outputGrad.SubView(0, size);
        float value = _losses.Elementwise(elementwise, _output.SubView(0, size), targets[..size], grad);
        ScaleGrad(grad, scale);
        return value;
    }

    private void ScaleGrad(ArrayView<float> grad, float scale)
    {
        if (scale != 1f) _steps.Kernel<ArrayView<float>, float>(IlgpuKernels.Scale)((int)grad.Length, grad, scale);
    }

    /// <summary>
    /// Runs the backward steps from the gradient <see cref="Loss"/> wrote, adding into every trainable parameter's device
    /// gradient; frozen layers are skipped exactly as the generated Backward skips them.
    /// </summary>
    public void Backward()
    {
        EnsureTraining();
        EnsureInput();
        EquatableArray<LayerUse> uses = _schedule.LayerUses;
        foreach (var (step, run) in _backward)
        {
            if (step.UnlessLossFused && _lossAtLogits) continue;
            if (step.Runs(Trains, uses, InputGrad)) run(_count);
        }
        _lossAtLogits = false;
    }

    /// <summary>
    /// One step of <paramref name="optimizer"/> on the device gradients: SGD (momentum, dampening, Nesterov, weight
    /// decay), Adam and AdamW (AMSGrad), with every group's options and learning rate read from the host optimizer now,
    /// so LR schedulers that set them work as on the CPU.
    /// </summary>
    public void OptimizerStep(IOptimizer optimizer)
    {
        EnsureTraining();
        switch (optimizer)
        {
            case Sgd sgd: SgdStep(sgd); break;
            case AdamBase adam: AdamStep(adam); break;
            default:
                throw new NotSupportedException($"Optimizer '{(optimizer as Optimizer)?.Name ?? optimizer.GetType().Name}' has no kernel on {_device.Name}; " +
                    "the ILGPU backend supports SGD, Adam and AdamW. Train with --device cpu for other optimizers.");
        }
    }

    private IEnumerable<(ParamGroup Group, int G, int I, DeviceParameter P)> Trainable(Optimizer optimizer)
    {
        for (int g = 0; g < optimizer.ParamGroups.Count; g++)
        {
            ParamGroup group = optimizer.ParamGroups[g];
            for (int i = 0; i < group.Parameters.Count; i++)
            {
                Parameter host = group.Parameters[i];
                if (!host.RequiresGrad) continue;
                if (!_byHost.TryGetValue(host, out DeviceParameter? p))
                    throw new ArgumentException($"The optimizer holds parameter '{host.Name}', which is not a parameter of model '{_schedule.Model}'.", nameof(optimizer));
                yield return (group, g, i, p);
            }
        }
    }

    private void SgdStep(Sgd sgd)
    {
        var step = _steps.Kernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, SgdParams>(IlgpuKernels.SgdStep);
        foreach (var (group, g, i, p) in Trainable(sgd))
        {
            float momentum = (float)group.Momentum!.Value;
            bool first = false;
            if (momentum != 0 && p.Momentum is null)
            {
                // The first update with momentum starts the buffer, unless the host optimizer has one (a checkpoint's).
                p.Momentum = _steps.Allocate<float>(p.Host.Count);
                (p.Sgd, p.Group, p.Index) = (sgd, g, i);
                float[]? existing = sgd.GetMomentumBuffer(g, i);
                if (existing is null) first = true;
                else IlgpuSteps.CopyIn(existing, p.Momentum.Value);
            }
            step(p.Host.Count, p.Data, p.Grad, p.Momentum ?? _steps.Dummy, new SgdParams((float)group.LearningRate, momentum,
                (float)group.Dampening!.Value, (float)group.WeightDecay, group.Nesterov!.Value ? 1 : 0, first ? 1 : 0));
        }
    }

    private void AdamStep(AdamBase adam)
    {
        var step = _steps.Kernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AdamParams>(IlgpuKernels.AdamStep);
        bool decoupled = adam is AdamW;
        foreach (var (group, g, i, p) in Trainable(adam))
        {
            bool amsgrad = group.Amsgrad!.Value;
            if (p.ExpAvg is null)
            {
                // The moments start at zero, or at the host optimizer's (a checkpoint's); the step count lives in the host state.
                p.ExpAvg = _steps.Allocate<float>(p.Host.Count);
                p.ExpAvgSq = _steps.Allocate<float>(p.Host.Count);
                (p.Adam, p.Group, p.Index) = (adam, g, i);
                if (adam.GetState(g, i) is { } existing)
                {
                    IlgpuSteps.CopyIn(existing.ExpAvg, p.ExpAvg.Value);
                    IlgpuSteps.CopyIn(existing.ExpAvgSq, p.ExpAvgSq.Value);
                    if (existing.MaxExpAvgSq.Length > 0) IlgpuSteps.CopyIn(existing.MaxExpAvgSq, (p.MaxExpAvgSq = _steps.Allocate<float>(p.Host.Count)).Value);
                }
                else adam.SetState(g, i, new AdamState(p.Host.Count));
            }
            if (amsgrad && p.MaxExpAvgSq is null) p.MaxExpAvgSq = _steps.Allocate<float>(p.Host.Count);
            AdamState state = adam.GetState(g, i)!;
            state.Step++;
            var (beta1, beta2) = group.Betas!.Value;
            step(p.Host.Count, p.Data, p.Grad, p.ExpAvg.Value, p.ExpAvgSq!.Value, p.MaxExpAvgSq ?? _steps.Dummy,
                AdamParams.Of(state.Step, group.LearningRate, beta1, beta2, group.Eps!.Value, group.WeightDecay, decoupled, amsgrad));
        }
    }

    /// <summary>
    /// PyTorch's <c>clip_grad_norm_</c> over the device gradients of the parameters that learn: each gradient's Σg² on the
    /// device, combined on the host in double, then every gradient scaled by max_norm / (norm + 1e-6) when that is below 1.
    /// Returns the total 2-norm before clipping (only the 2-norm is offered on the device).
    /// </summary>
    public float ClipGradNorm(float maxNorm)
    {
        EnsureTraining();
        if (!(maxNorm >= 0)) throw new ArgumentOutOfRangeException(nameof(maxNorm), maxNorm, "max_norm must be non-negative.");
        var grads = _parameters.Where(p => p.Host.RequiresGrad).ToList();
        if (grads.Count == 0) return 0f;
        if (_sums.Length < grads.Count)
        {
            _sums = _steps.Allocate<double>(grads.Count);
            _sumsHost = new double[grads.Count];
        }
        var sumOfSquares = _steps.Kernel<ArrayView<float>, ArrayView<double>, int>(IlgpuKernels.SumOfSquares);
        for (int k = 0; k < grads.Count; k++) sumOfSquares(1, grads[k].Grad, _sums.SubView(k, 1), grads[k].Host.Count);
        IlgpuSteps.CopyOut(_sums.SubView(0, grads.Count), _sumsHost.AsSpan(0, grads.Count));
        double sum = 0;
        for (int k = 0; k < grads.Count; k++) sum += _sumsHost[k];
        float totalNorm = (float)Math.Sqrt(sum);
        float coef = maxNorm * (1f / (totalNorm + 1e-6f));
        if (coef < 1f)
            foreach (DeviceParameter p in grads) ScaleGrad(p.Grad, coef);
        return totalNorm;
    }

    /// <summary>PyTorch's <c>clip_grad_value_</c> on the device gradients of the parameters that learn.</summary>
    public void ClipGradValue(float clipValue)
    {
        EnsureTraining();
        var clamp = _steps.Kernel<ArrayView<float>, float>(IlgpuKernels.Clamp);
        foreach (DeviceParameter p in _parameters.Where(p => p.Host.RequiresGrad)) clamp(p.Host.Count, p.Grad, clipValue);
    }

    /// <summary>Waits for every launched kernel (launches are asynchronous on a GPU).</summary>
    public void Synchronize() => _device.Accelerator.Synchronize();

    private bool Trains(string layer) => _layerParams.TryGetValue(layer, out var ps) && ps.Any(p => p.RequiresGrad);

    private void EnsureTraining()
    {
        if (!Training)
            throw new InvalidOperationException("This ILGPU workspace was created for inference (training: false); create one with training: true to run the loss and Backward.");
    }

    private void EnsureInput()
    {
        if (_count == 0) throw new InvalidOperationException("No batch yet: call SetInput first.");
    }

    public void Dispose() => _steps.Dispose();

    /// <summary>A host parameter's device values, gradient and optimizer state (made by the first update that needs it).</summary>
    private sealed class DeviceParameter(Parameter host, ArrayView<float> data, ArrayView<float> grad)
    {
        public Parameter Host { get; } = host;

        public ArrayView<float> Data { get; } = data;

        public ArrayView<float> Grad { get; } = grad;

        public ArrayView<float>? Momentum { get; set; }

        public Sgd? Sgd { get; set; }

        public AdamBase? Adam { get; set; }

        public ArrayView<float>? ExpAvg { get; set; }

        public ArrayView<float>? ExpAvgSq { get; set; }

        public ArrayView<float>? MaxExpAvgSq { get; set; }

        public int Group { get; set; }

        public int Index { get; set; }
    }
}
