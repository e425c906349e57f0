// Executes a model's compiled schedule on an ILGPU accelerator: device parameters and gradients, one float and one int
// arena laid out by the schedule's memory plan, and each step bound once to its ILGPU kernel.
using System.Reflection;
using System.Runtime.InteropServices;
using GraphCompiler.Compiler;
using GraphCompiler.Nn;
using GraphCompiler.Optim;
using ILGPU;
using ILGPU.Runtime;

namespace GraphCompiler.Backends.Ilgpu;

/// <summary>
/// A model's schedule (<see cref="ICompiledModel.Schedule"/>, the one its CPU code was printed from) bound to an ILGPU
/// accelerator for batches of up to <see cref="Capacity"/> samples. Parameters are copied to the device at construction
/// and back with <see cref="CopyParametersToHost"/>; between the two the device copy is the one that trains.
/// </summary>
public sealed partial class IlgpuModel : IDisposable
{
    private readonly IlgpuDevice _device;
    private readonly Schedule _schedule;
    private readonly Accelerator _acc;
    private readonly Dictionary<MethodInfo, Delegate> _kernels = [];
    private readonly List<DeviceParameter> _parameters = [];
    private readonly Dictionary<string, DeviceParameter> _byArg = [];
    private readonly Dictionary<Parameter, DeviceParameter> _byHost = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<string, Parameter[]> _layerParams = [];
    private readonly List<MemoryBuffer> _owned = [];
    private readonly Dictionary<string, ArrayView<float>> _floatViews = [];
    private readonly Dictionary<string, ArrayView<int>> _intViews = [];
    private readonly ArrayView<float> _input, _output, _outputGrad, _rowLoss, _dummy;
    private readonly ArrayView<float>? _logitsGrad;
    private readonly ArrayView<int> _targets;
    private readonly (KernelStep Step, Action<int> Run)[] _forward, _backward;
    private readonly float[] _rowLossHost;
    private readonly int _classes;
    private bool _lossAtLogits;
    private int _count;

    /// <summary>
    /// Binds <paramref name="model"/>'s schedule to <paramref name="device"/>: a training workspace (the training memory
    /// plan, gradients, loss buffers) or, with <paramref name="training"/> false, the smaller inference one.
    /// </summary>
    public IlgpuModel(ICompiledModel model, IlgpuDevice device, int capacity, bool training = true)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(device);
        if (capacity <= 0) throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "A workspace needs room for at least one sample.");
        _device = device;
        _acc = device.Accelerator;
        _schedule = model.Schedule;
        Capacity = capacity;
        Training = training;
        _classes = _schedule.Output.PerSample;

        foreach (LayerDecl layer in _schedule.Layers)
        {
            var ps = model.Parameters().Where(p => p.Name.StartsWith(layer.StateName + ".", StringComparison.Ordinal)).ToArray();
            _layerParams[layer.Property] = ps;
            foreach (Parameter p in ps)
            {
                var dp = new DeviceParameter(p, Allocate<float>(p.Count), training ? Allocate<float>(p.Count) : default);
                string member = p.Name[(layer.StateName.Length + 1)..];
                _byArg[$"{layer.Property}.{char.ToUpperInvariant(member[0])}{member[1..]}"] = dp;
                _byHost[p] = dp;
                _parameters.Add(dp);
            }
        }
        CopyParametersToDevice();

        MemoryPlan plan = training ? _schedule.TrainingPlan : _schedule.InferencePlan;
        ArrayView<float> floats = Allocate<float>(Math.Max(1L, (long)capacity * plan.FloatsPerSample));
        ArrayView<int> ints = Allocate<int>(Math.Max(1L, (long)capacity * plan.IntsPerSample));
        foreach (Placement p in plan.Placements)
        {
            if (p.IsIndex) _intViews[p.Buffer] = ints.SubView((long)p.Offset * capacity, (long)p.Size * capacity);
            else _floatViews[p.Buffer] = floats.SubView((long)p.Offset * capacity, (long)p.Size * capacity);
        }
        _input = _floatViews[Lowering.InputBuffer] = Allocate<float>((long)capacity * _schedule.Input.PerSample);
        _output = _floatViews[_schedule.OutputBuffer] = Allocate<float>((long)capacity * _classes);
        _dummy = Allocate<float>(1);
        _outputGrad = _rowLoss = _dummy;
        _targets = Allocate<int>(capacity);
        _rowLossHost = new float[capacity];
        if (training)
        {
            _outputGrad = _floatViews[_schedule.OutputGradBuffer] = Allocate<float>((long)capacity * _classes);
            if (_schedule.LogitsGradBuffer is not null)
                _logitsGrad = _floatViews[_schedule.LogitsGradBuffer] = Allocate<float>((long)capacity * _classes);
            _rowLoss = Allocate<float>(capacity);
        }

        var binder = new StepBinder(this);
        _forward = [.. _schedule.Forward.Select(s => (s, s.Accept(binder)))];
        // The input gradient is not offered on a device, so steps that only produce it are never bound.
        _backward = training ? [.. _schedule.Backward.Where(s => !s.InputGradOnly).Select(s => (s, s.Accept(binder)))] : [];
    }

    public int Capacity { get; }

    public bool Training { get; }

    public IlgpuDevice Device => _device;

    /// <summary>Every ILGPU kernel (with its functor type arguments) this model's steps launch, for PTX checks.</summary>
    public IReadOnlyCollection<MethodInfo> KernelMethods => _kernels.Keys;

    /// <summary>Copies every parameter's values from the host (e.g. after loading a checkpoint).</summary>
    public void CopyParametersToDevice()
    {
        foreach (DeviceParameter p in _parameters) CopyIn(p.Host.Data, p.Data);
    }

    /// <summary>Copies every parameter's values, and SGD momentum buffers made on the device, back to the host.</summary>
    public void CopyParametersToHost()
    {
        foreach (DeviceParameter p in _parameters)
        {
            CopyOut(p.Data, p.Host.Data);
            if (p.Momentum is { } m && p.Optimizer is { } sgd)
            {
                float[] host = sgd.GetMomentumBuffer(p.Group, p.Index) ?? new float[p.Host.Count];
                CopyOut(m, host);
                sgd.SetMomentumBuffer(p.Group, p.Index, host);
            }
        }
    }

    /// <summary>Copies every parameter's gradient to the host's <see cref="Parameter.Grad"/>.</summary>
    public void CopyGradientsToHost()
    {
        EnsureTraining();
        foreach (DeviceParameter p in _parameters) CopyOut(p.Grad, p.Host.Grad);
    }

    /// <summary>Copies a batch of <paramref name="count"/> samples to the device input.</summary>
    public void SetInput(ReadOnlySpan<float> batch, int count)
    {
        if (count <= 0 || count > Capacity)
            throw new ArgumentOutOfRangeException(nameof(count), count, $"The batch must hold 1 to {Capacity} samples (the workspace capacity).");
        int per = _schedule.Input.PerSample;
        if (batch.Length != count * per)
            throw new ArgumentException($"Input holds {batch.Length} values but {count} samples of {per} values need {count * per}.", nameof(batch));
        CopyIn(batch, _input.SubView(0, (long)count * per));
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
        CopyOut(_output.SubView(0, (long)_count * _classes), destination[..(_count * _classes)]);
    }

    /// <summary>Clears every parameter's gradient on the device.</summary>
    public void ZeroGrad()
    {
        EnsureTraining();
        foreach (DeviceParameter p in _parameters) p.Grad.MemSetToZero();
    }

    /// <summary>
    /// The mean <paramref name="loss"/> of the current batch's output, and its gradient times <paramref name="scale"/> in
    /// one kernel. NLL after a fused LogSoftmax writes the gradient at the logits (the LogSoftmax backward is then skipped),
    /// as the CPU trainer does. Cross-entropy and NLL have device kernels; other losses are not supported.
    /// </summary>
    public float Loss(Loss loss, ReadOnlySpan<int> targets, float scale = 1f)
    {
        EnsureTraining();
        EnsureInput();
        ArgumentNullException.ThrowIfNull(loss);
        int n = _count, c = _classes;
        if (targets.Length < n) throw new ArgumentException($"{n} samples but only {targets.Length} targets.", nameof(targets));
        for (int i = 0; i < n; i++)
            if ((uint)targets[i] >= (uint)c)
                throw new ArgumentException($"Target {targets[i]} in row {i} is outside the class range [0, {c}).", nameof(targets));
        CopyIn(targets[..n], _targets.SubView(0, n));
        var p = new RowParams(c, scale / n);
        var output = _output.SubView(0, (long)n * c);
        var rowLoss = _rowLoss.SubView(0, n);
        // The device kernels have PyTorch's default options only (no class weights, mean reduction).
        if (!ReferenceEquals(loss, Nn.Loss.Nll) && !ReferenceEquals(loss, Nn.Loss.CrossEntropy))
            throw new NotSupportedException($"Loss '{loss.Name}' has no kernel on {_device.Name}; the ILGPU backend supports cross_entropy and nll_loss.");
        _lossAtLogits = _logitsGrad is not null && _schedule.LossAtLogits(loss.Name);
        if (_lossAtLogits)
            Kernel<ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, RowParams>(IlgpuKernels.LossGradient<NllOfLogSoftmaxRow>)(
                n, output, _targets, _logitsGrad!.Value.SubView(0, (long)n * c), rowLoss, p);
        else if (ReferenceEquals(loss, Nn.Loss.Nll))
            Kernel<ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, RowParams>(IlgpuKernels.LossGradient<NllRow>)(
                n, output, _targets, _outputGrad.SubView(0, (long)n * c), rowLoss, p);
        else
            Kernel<ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, RowParams>(IlgpuKernels.LossGradient<CrossEntropyRow>)(
                n, output, _targets, _outputGrad.SubView(0, (long)n * c), rowLoss, p);
        CopyOut(rowLoss, _rowLossHost.AsSpan(0, n));
        double total = 0;
        for (int i = 0; i < n; i++) total += _rowLossHost[i];
        return (float)(total / n);
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
            if (step.Runs(Trains, uses, inputGrad: false)) run(_count);
        }
        _lossAtLogits = false;
    }

    /// <summary>
    /// One step of <paramref name="optimizer"/> on the device gradients. SGD (momentum, dampening, Nesterov, weight decay,
    /// per-group options, learning rates a scheduler sets on the host optimizer) runs on the device; other optimizers are
    /// not supported here.
    /// </summary>
    public void OptimizerStep(IOptimizer optimizer)
    {
        EnsureTraining();
        if (optimizer is not Sgd sgd)
            throw new NotSupportedException($"Optimizer '{(optimizer as Optimizer)?.Name ?? optimizer.GetType().Name}' has no kernel on {_device.Name}; " +
                "the ILGPU backend supports SGD (with momentum and weight decay). Train with --device cpu for other optimizers.");
        var step = Kernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, SgdParams>(IlgpuKernels.SgdStep);
        for (int g = 0; g < sgd.ParamGroups.Count; g++)
        {
            ParamGroup group = sgd.ParamGroups[g];
            for (int i = 0; i < group.Parameters.Count; i++)
            {
                Parameter host = group.Parameters[i];
                if (!host.RequiresGrad) continue;
                if (!_byHost.TryGetValue(host, out DeviceParameter? p))
                    throw new ArgumentException($"The optimizer holds parameter '{host.Name}', which is not a parameter of model '{_schedule.Model}'.", nameof(optimizer));
                float momentum = (float)group.Momentum!.Value;
                bool first = false;
                if (momentum != 0 && p.Momentum is null)
                {
                    // The first update with momentum starts the buffer, unless the host optimizer has one (a checkpoint's).
                    p.Momentum = Allocate<float>(host.Count);
                    (p.Optimizer, p.Group, p.Index) = (sgd, g, i);
                    float[]? existing = sgd.GetMomentumBuffer(g, i);
                    if (existing is null) first = true;
                    else CopyIn(existing, p.Momentum.Value);
                }
                step(host.Count, p.Data, p.Grad, p.Momentum ?? _dummy, new SgdParams((float)group.LearningRate, momentum,
                    (float)group.Dampening!.Value, (float)group.WeightDecay, group.Nesterov!.Value ? 1 : 0, first ? 1 : 0));
            }
        }
    }

    /// <summary>Waits for every launched kernel (launches are asynchronous on a GPU).</summary>
    public void Synchronize() => _acc.Synchronize();

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

    // ---- kernels and memory ----

    private Action<Index1D, T1, T2> Kernel<T1, T2>(Action<Index1D, T1, T2> method) where T1 : struct where T2 : struct =>
        (Action<Index1D, T1, T2>)Load(method, () => _acc.LoadAutoGroupedStreamKernel(method));

    private Action<Index1D, T1, T2, T3> Kernel<T1, T2, T3>(Action<Index1D, T1, T2, T3> method) where T1 : struct where T2 : struct where T3 : struct =>
        (Action<Index1D, T1, T2, T3>)Load(method, () => _acc.LoadAutoGroupedStreamKernel(method));

    private Action<Index1D, T1, T2, T3, T4> Kernel<T1, T2, T3, T4>(Action<Index1D, T1, T2, T3, T4> method)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct =>
        (Action<Index1D, T1, T2, T3, T4>)Load(method, () => _acc.LoadAutoGroupedStreamKernel(method));

    private Action<Index1D, T1, T2, T3, T4, T5> Kernel<T1, T2, T3, T4, T5>(Action<Index1D, T1, T2, T3, T4, T5> method)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct =>
        (Action<Index1D, T1, T2, T3, T4, T5>)Load(method, () => _acc.LoadAutoGroupedStreamKernel(method));

    /// <summary>Each kernel is compiled once per model (ILGPU also caches by method across models of one context).</summary>
    private Delegate Load(Delegate method, Func<Delegate> load)
    {
        if (!_kernels.TryGetValue(method.Method, out Delegate? kernel)) _kernels[method.Method] = kernel = load();
        return kernel;
    }

    private ArrayView<T> Allocate<T>(long length) where T : unmanaged
    {
        var buffer = _acc.Allocate1D<T>(length);
        _owned.Add(buffer);
        buffer.MemSetToZero();
        return buffer.View;
    }

    private static void CopyIn<T>(ReadOnlySpan<T> source, ArrayView<T> target) where T : unmanaged
    {
        if (source.Length != target.Length) throw new ArgumentException($"Copying {source.Length} values into a device buffer of {target.Length}.");
        if (source.Length > 0) target.CopyFromCPU(ref MemoryMarshal.GetReference(source), source.Length);
    }

    private static void CopyOut<T>(ArrayView<T> source, Span<T> target) where T : unmanaged
    {
        if (source.Length != target.Length) throw new ArgumentException($"Copying a device buffer of {source.Length} values into {target.Length}.");
        if (target.Length > 0) source.CopyToCPU(ref MemoryMarshal.GetReference(target), target.Length);
    }

    public void Dispose()
    {
        foreach (MemoryBuffer b in _owned) b.Dispose();
        _owned.Clear();
    }

    /// <summary>A host parameter's device values, gradient and (once SGD with momentum has run) momentum buffer.</summary>
    private sealed class DeviceParameter(Parameter host, ArrayView<float> data, ArrayView<float> grad)
    {
        public Parameter Host { get; } = host;

        public ArrayView<float> Data { get; } = data;

        public ArrayView<float> Grad { get; } = grad;

        public ArrayView<float>? Momentum { get; set; }

        public Sgd? Optimizer { get; set; }

        public int Group { get; set; }

        public int Index { get; set; }
    }
}
