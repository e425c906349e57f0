// Executes a model's compiled schedule on an ILGPU accelerator: device parameters and gradients, one float and one int
// arena laid out by the schedule's memory plan, and each step bound once to its ILGPU kernel.
using System.Reflection;
using System.Runtime.InteropServices;
using GraphCompiler.Backends.Cpu;
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
public sealed class IlgpuModel : IDisposable
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
    private readonly (Step Step, Action<int> Run)[] _forward, _backward;
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

        _forward = [.. _schedule.Forward.Select(s => (s, Bind(s)))];
        // The input gradient is not offered on a device, so steps that only produce it are never bound.
        _backward = training ? [.. _schedule.Backward.Where(s => !s.InputGradOnly).Select(s => (s, Bind(s)))] : [];
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
        _lossAtLogits = ReferenceEquals(loss, Nn.Loss.Nll) && _logitsGrad is not null;
        if (_lossAtLogits)
            Kernel<ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, RowParams>(IlgpuKernels.LossGradient<NllOfLogSoftmaxRow>)(
                n, output, _targets, _logitsGrad!.Value.SubView(0, (long)n * c), rowLoss, p);
        else if (ReferenceEquals(loss, Nn.Loss.Nll))
            Kernel<ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, RowParams>(IlgpuKernels.LossGradient<NllRow>)(
                n, output, _targets, _outputGrad.SubView(0, (long)n * c), rowLoss, p);
        else if (ReferenceEquals(loss, Nn.Loss.CrossEntropy))
            Kernel<ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, RowParams>(IlgpuKernels.LossGradient<CrossEntropyRow>)(
                n, output, _targets, _outputGrad.SubView(0, (long)n * c), rowLoss, p);
        else
            throw new NotSupportedException($"Loss '{loss.Name}' has no kernel on {_device.Name}; the ILGPU backend supports cross_entropy and nll_loss.");
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

    // ---- binding steps to kernels ----

    /// <summary>A float buffer as a step names it: the full view and the elements per sample it is sliced to (0: not sliced).</summary>
    private readonly record struct View(ArrayView<float> Full, int PerSample)
    {
        public ArrayView<float> At(int n) => PerSample == 0 ? Full : Full.SubView(0, (long)n * PerSample);
    }

    private readonly record struct IndexView(ArrayView<int> Full, int PerSample)
    {
        public ArrayView<int> At(int n) => Full.SubView(0, (long)n * PerSample);
    }

    private Action<int> Bind(Step s)
    {
        string which = $"{s.Kernel}.{s.Method}";
        int count = s.Args.Count;
        return which switch
        {
            "LinearKernels.Forward" => ByActivation(s, 7, LinearForward<IdentityActivation>, LinearForward<ReluActivation>),
            "LinearKernels.BackwardInput" => ByActivation(s, 7, LinearBackwardInput<IdentityActivation>, LinearBackwardInput<ReluActivation>),
            "LinearKernels.BackwardParams" => LinearBackwardParams(s),
            "Conv2dKernels.Forward" => ByActivation(s, 6, Conv2dForward<IdentityActivation>, Conv2dForward<ReluActivation>),
            "Conv2dKernels.BackwardInput" => ByActivation(s, 6, Conv2dBackwardInput<IdentityActivation>, Conv2dBackwardInput<ReluActivation>),
            "Conv2dKernels.BackwardParams" => Conv2dBackwardParams(s),
            "MaxPool2dKernels.Forward" => MaxPool2dForward(s),
            "MaxPool2dKernels.Backward" => ByActivation(s, 6, MaxPool2dBackward<IdentityActivation>, MaxPool2dBackward<ReluActivation>),
            "LogSoftmaxKernels.Forward" => LogSoftmaxForward(s),
            "LogSoftmaxKernels.Backward" => LogSoftmaxBackward(s),
            "ReluKernels.Forward" when count == 2 => ElementWise(s, Kernel<ArrayView<float>, ArrayView<float>>(IlgpuKernels.Map<ReluActivation>)),
            "ReluKernels.Backward" when count == 3 => ReluBackward(s),
            _ => throw Unsupported(s, "no kernel for this step"),
        };
    }

    private NotSupportedException Unsupported(Step s, string why) =>
        new($"The ILGPU backend ({_device.Name}) cannot run {s.Kernel}.{s.Method} ({s.Comment}) of model '{_schedule.Model}': {why}.");

    /// <summary>
    /// Picks the kernel instance for the step's fused activation: the Activation argument at <paramref name="index"/>, or
    /// none when the step has no such argument (the CPU overload without an epilogue).
    /// </summary>
    private Action<int> ByActivation(Step s, int index, Func<Step, Action<int>> identity, Func<Step, Action<int>> relu)
    {
        if (s.Args.Count <= index) return identity(s);
        Arg a = s.Args[index];
        if (a.Kind != ArgKind.Activation) throw Unsupported(s, $"argument {index} is a {a.Kind}, not an activation");
        return a.Text switch
        {
            nameof(Activation.None) => identity(s),
            nameof(Activation.Relu) => relu(s),
            _ => throw Unsupported(s, $"activation '{a.Text}' has no ILGPU functor"),
        };
    }

    private View F(Step s, int i)
    {
        Arg a = s.Args[i];
        return a.Kind switch
        {
            ArgKind.Buffer when _floatViews.TryGetValue(a.Text, out var v) => new View(v, a.Value),
            ArgKind.ParamData => new View(Param(s, a).Data, 0),
            ArgKind.ParamGrad => new View(Param(s, a).Grad, 0),
            ArgKind.Empty => new View(_dummy, 0),
            _ => throw Unsupported(s, $"argument {i} ({a.Kind} '{a.Text}') is not a float buffer of this workspace"),
        };
    }

    /// <summary>The activation-output argument of a backward epilogue, or the output view itself when there is none (unused then).</summary>
    private View Optional(Step s, int i, View fallback) => s.Args.Count > i ? F(s, i) : fallback;

    private IndexView Ix(Step s, int i)
    {
        Arg a = s.Args[i];
        return _intViews.TryGetValue(a.Text, out var v) ? new IndexView(v, a.Value)
            : throw Unsupported(s, $"argument {i} ('{a.Text}') is not an index buffer of this workspace");
    }

    private static int I(Step s, int i) => s.Args[i].Kind == ArgKind.Int ? s.Args[i].Value
        : throw new NotSupportedException($"{s.Kernel}.{s.Method}: argument {i} is a {s.Args[i].Kind}, expected an integer.");

    private int[] Geometry(Step s, int i, string type, int values)
    {
        Arg a = s.Args[i];
        GeometryDecl? g = _schedule.Geometries.FirstOrDefault(d => d.Name == a.Text);
        if (g is null || g.Type != type) throw Unsupported(s, $"argument {i} is not a {type}");
        if (g.Values.Count != values)
            throw Unsupported(s, $"{g.Name} uses {type} options the ILGPU kernels do not have yet (dilation, groups, asymmetric padding, ceil mode or count_include_pad)");
        return g.Values.ToArray();
    }

    private ConvParams Conv(Step s, int geo, int n, int hasBias)
    {
        int[] v = Geometry(s, geo, nameof(Conv2dGeometry), 10);
        return new ConvParams(new Conv2dGeometry(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9]), n, hasBias);
    }

    private Pool2dGeometry Pool(Step s, int geo)
    {
        int[] v = Geometry(s, geo, nameof(Pool2dGeometry), 9);
        return new Pool2dGeometry(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8]);
    }

    private DeviceParameter Param(Step s, Arg a) =>
        _byArg.TryGetValue(a.Text, out var p) ? p : throw Unsupported(s, $"'{a.Text}' is not a parameter of this model");

    private static int HasBias(Step s, int i) => s.Args[i].Kind == ArgKind.Empty ? 0 : 1;

    private Action<int> LinearForward<TAct>(Step s) where TAct : struct, IActivation
    {
        var k = Kernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, LinearDims>(IlgpuKernels.LinearForward<TAct>);
        View x = F(s, 0), w = F(s, 1), b = F(s, 2), y = F(s, 3);
        int inF = I(s, 5), outF = I(s, 6), bias = HasBias(s, 2);
        return n => k(n * outF, x.At(n), w.Full, b.Full, y.At(n), new LinearDims(n, inF, outF, bias));
    }

    private Action<int> LinearBackwardInput<TAct>(Step s) where TAct : struct, IActivation
    {
        var k = Kernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, LinearDims>(IlgpuKernels.LinearBackwardInput<TAct>);
        View dy = F(s, 0), w = F(s, 1), dx = F(s, 2), yAct = Optional(s, 6, dx);
        int inF = I(s, 4), outF = I(s, 5);
        return n => k(n * inF, dy.At(n), w.Full, yAct.At(n), dx.At(n), new LinearDims(n, inF, outF, 0));
    }

    private Action<int> LinearBackwardParams(Step s)
    {
        var k = Kernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, LinearDims>(IlgpuKernels.LinearBackwardParams);
        View dy = F(s, 0), x = F(s, 1), dw = F(s, 2), db = F(s, 3);
        int inF = I(s, 5), outF = I(s, 6), bias = HasBias(s, 3);
        return n => k(outF * inF + bias * outF, dy.At(n), x.At(n), dw.Full, db.Full, new LinearDims(n, inF, outF, bias));
    }

    private Action<int> Conv2dForward<TAct>(Step s) where TAct : struct, IActivation
    {
        var k = Kernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvParams>(IlgpuKernels.Conv2dForward<TAct>);
        View x = F(s, 0), w = F(s, 1), b = F(s, 2), y = F(s, 3);
        ConvParams p = Conv(s, 4, 0, HasBias(s, 2));
        int perSample = p.G.OutChannels * p.G.OutH * p.G.OutW;
        return n => k(n * perSample, x.At(n), w.Full, b.Full, y.At(n), p with { N = n });
    }

    private Action<int> Conv2dBackwardInput<TAct>(Step s) where TAct : struct, IActivation
    {
        var k = Kernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvParams>(IlgpuKernels.Conv2dBackwardInput<TAct>);
        View dy = F(s, 0), w = F(s, 1), dx = F(s, 2), xAct = Optional(s, 5, dx);
        ConvParams p = Conv(s, 3, 0, 0);
        int perSample = p.G.InChannels * p.G.InH * p.G.InW;
        return n => k(n * perSample, dy.At(n), w.Full, xAct.At(n), dx.At(n), p with { N = n });
    }

    private Action<int> Conv2dBackwardParams(Step s)
    {
        var k = Kernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvParams>(IlgpuKernels.Conv2dBackwardParams);
        View dy = F(s, 0), x = F(s, 1), dw = F(s, 2), db = F(s, 3);
        ConvParams p = Conv(s, 4, 0, HasBias(s, 3));
        int threads = p.G.OutChannels * p.G.PatchSize + p.HasBias * p.G.OutChannels;
        return n => k(threads, dy.At(n), x.At(n), dw.Full, db.Full, p with { N = n });
    }

    private Action<int> MaxPool2dForward(Step s)
    {
        var k = Kernel<ArrayView<float>, ArrayView<float>, ArrayView<int>, Pool2dGeometry>(IlgpuKernels.MaxPool2dForward);
        View x = F(s, 0), y = F(s, 1);
        IndexView arg = Ix(s, 2);
        Pool2dGeometry g = Pool(s, 3);
        int perSample = g.Channels * g.OutH * g.OutW;
        return n => k(n * perSample, x.At(n), y.At(n), arg.At(n), g);
    }

    private Action<int> MaxPool2dBackward<TAct>(Step s) where TAct : struct, IActivation
    {
        var k = Kernel<ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, Pool2dGeometry>(IlgpuKernels.MaxPool2dBackward<TAct>);
        View dy = F(s, 0), dx = F(s, 2), yAct = Optional(s, 5, dy);
        IndexView arg = Ix(s, 1);
        Pool2dGeometry g = Pool(s, 3);
        int perSample = g.Channels * g.InH * g.InW;
        return n => k(n * perSample, dy.At(n), arg.At(n), yAct.At(n), dx.At(n), g);
    }

    private Action<int> LogSoftmaxForward(Step s)
    {
        var k = Kernel<ArrayView<float>, ArrayView<float>, int>(IlgpuKernels.LogSoftmaxForward);
        View x = F(s, 0), y = F(s, 1);
        int c = I(s, 3);
        return n => k(n, x.At(n), y.At(n), c);
    }

    private Action<int> LogSoftmaxBackward(Step s)
    {
        var k = Kernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(IlgpuKernels.LogSoftmaxBackward);
        View y = F(s, 0), dy = F(s, 1), dx = F(s, 2);
        int c = I(s, 4);
        return n => k(n, y.At(n), dy.At(n), dx.At(n), c);
    }

    private Action<int> ElementWise(Step s, Action<Index1D, ArrayView<float>, ArrayView<float>> k)
    {
        View x = F(s, 0), y = F(s, 1);
        return n => k(n * y.PerSample, x.At(n), y.At(n));
    }

    private Action<int> ReluBackward(Step s)
    {
        var k = Kernel<ArrayView<float>, ArrayView<float>, ArrayView<float>>(IlgpuKernels.MaskGrad<ReluActivation>);
        View y = F(s, 0), dy = F(s, 1), dx = F(s, 2);
        return n => k(n * dx.PerSample, y.At(n), dy.At(n), dx.At(n));
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
