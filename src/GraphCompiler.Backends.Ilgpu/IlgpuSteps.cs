// The ILGPU backend's side of the step contract: each typed step bound once to a launch of its ILGPU kernel, over device
// buffers, parameters and stateful layers registered by name (a model's workspace, or a test's single op).
using MethodInfo = System.Reflection.MethodInfo;
using GraphCompiler.Compiler;
using GraphCompiler.Nn;
using ILGPU;
using ILGPU.Runtime;

namespace GraphCompiler.Backends.Ilgpu;

/// <summary>
/// Binds typed steps to ILGPU launches on one accelerator. Buffers are registered by the names steps use
/// (<see cref="Buf.Name"/>), parameters by their host <see cref="Parameter"/> and <see cref="ParamRef.Text"/>, and layers
/// with state (BatchNorm, LayerNorm, Dropout) by the property name steps carry: their options and mode are read from
/// the host layer at each launch, their running statistics live on the device (<see cref="CopyStateToHost"/>).
/// </summary>
public sealed partial class IlgpuSteps : IDisposable
{
    private readonly IlgpuDevice _device;
    private readonly Accelerator _acc;
    private readonly Dictionary<MethodInfo, Delegate> _kernels = [];
    private readonly List<MemoryBuffer> _owned = [];
    private readonly Dictionary<string, ArrayView<float>> _floats = [];
    private readonly Dictionary<string, ArrayView<int>> _ints = [];
    private readonly Dictionary<string, DeviceParameter> _byText = [];
    private readonly Dictionary<Parameter, DeviceParameter> _byHost = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<string, Module> _layers = [];
    private readonly List<(ModelBuffer Host, ArrayView<float> Device)> _state = [];
    private readonly Dictionary<ModelBuffer, ArrayView<float>> _stateByHost = new(ReferenceEqualityComparer.Instance);

    /// <param name="device">The accelerator.</param>
    /// <param name="model">The model's name, for messages.</param>
    public IlgpuSteps(IlgpuDevice device, string model)
    {
        ArgumentNullException.ThrowIfNull(device);
        _device = device;
        _acc = device.Accelerator;
        Model = model;
        Dummy = Allocate<float>(1);
    }

    public IlgpuDevice Device => _device;

    public string Model { get; }

    /// <summary>A one-element buffer for absent operands (no bias, no mask).</summary>
    public ArrayView<float> Dummy { get; }

    /// <summary>Every ILGPU kernel (with its functor type arguments) the bound steps launch, for PTX checks.</summary>
    public IReadOnlyCollection<MethodInfo> KernelMethods => _kernels.Keys;

    /// <summary>Registers a float buffer under the name steps use for it.</summary>
    public void AddBuffer(string name, ArrayView<float> view) => _floats[name] = view;

    /// <summary>Registers an int (index) buffer, e.g. a max pool's argmax.</summary>
    public void AddIndexBuffer(string name, ArrayView<int> view) => _ints[name] = view;

    /// <summary>
    /// Registers a parameter's device values and gradient (the gradient may be empty for inference) under
    /// <paramref name="text"/>, the <see cref="ParamRef.Text"/> steps name it by (<c>Fc1.Weight</c>).
    /// </summary>
    public void AddParameter(string text, Parameter host, ArrayView<float> data, ArrayView<float> grad)
    {
        var dp = new DeviceParameter(host, data, grad);
        _byText[text] = dp;
        _byHost[host] = dp;
    }

    /// <summary>
    /// Registers a layer with state under the property name its steps carry. A BatchNorm's running statistics are
    /// allocated on the device and copied there now.
    /// </summary>
    public void AddLayer(string property, Module layer)
    {
        ArgumentNullException.ThrowIfNull(layer);
        _layers[property] = layer;
        if (layer is BatchNorm { TrackRunningStats: true } bn)
            foreach (ModelBuffer b in new[] { bn.RunningMean!, bn.RunningVar! })
            {
                ArrayView<float> view = Allocate<float>(b.Count);
                CopyIn(b.Data, view);
                _state.Add((b, view));
                _stateByHost[b] = view;
            }
    }

    /// <summary>Copies the device's running statistics (BatchNorm's running_mean and running_var) to the host layers.</summary>
    public void CopyStateToHost()
    {
        foreach (var (host, view) in _state) CopyOut(view, host.Data);
    }

    /// <summary>Copies the host layers' running statistics to the device (e.g. after loading a checkpoint).</summary>
    public void CopyStateToDevice()
    {
        foreach (var (host, view) in _state) CopyIn(host.Data, view);
    }

    /// <summary>The launch of <paramref name="step"/>, taking the live batch size; fails now, naming the step, if it cannot run here.</summary>
    public Action<int> Bind(KernelStep step)
    {
        ArgumentNullException.ThrowIfNull(step);
        return step.Accept(new StepBinder(this, step));
    }

    // ---- kernels and memory ----

    internal Action<Index1D, T1, T2> Kernel<T1, T2>(Action<Index1D, T1, T2> method) where T1 : struct where T2 : struct =>
        (Action<Index1D, T1, T2>)Load(method, () => _acc.LoadAutoGroupedStreamKernel(method));

    internal Action<Index1D, T1, T2, T3> Kernel<T1, T2, T3>(Action<Index1D, T1, T2, T3> method) where T1 : struct where T2 : struct where T3 : struct =>
        (Action<Index1D, T1, T2, T3>)Load(method, () => _acc.LoadAutoGroupedStreamKernel(method));

    internal Action<Index1D, T1, T2, T3, T4> Kernel<T1, T2, T3, T4>(Action<Index1D, T1, T2, T3, T4> method)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct =>
        (Action<Index1D, T1, T2, T3, T4>)Load(method, () => _acc.LoadAutoGroupedStreamKernel(method));

    internal Action<Index1D, T1, T2, T3, T4, T5> Kernel<T1, T2, T3, T4, T5>(Action<Index1D, T1, T2, T3, T4, T5> method)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct =>
        (Action<Index1D, T1, T2, T3, T4, T5>)Load(method, () => _acc.LoadAutoGroupedStreamKernel(method));

    internal Action<Index1D, T1, T2, T3, T4, T5, T6> Kernel<T1, T2, T3, T4, T5, T6>(Action<Index1D, T1, T2, T3, T4, T5, T6> method)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct =>
        (Action<Index1D, T1, T2, T3, T4, T5, T6>)Load(method, () => _acc.LoadAutoGroupedStreamKernel(method));

    internal Action<Index1D, T1, T2, T3, T4, T5, T6, T7> Kernel<T1, T2, T3, T4, T5, T6, T7>(Action<Index1D, T1, T2, T3, T4, T5, T6, T7> method)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct where T7 : struct =>
        (Action<Index1D, T1, T2, T3, T4, T5, T6, T7>)Load(method, () => _acc.LoadAutoGroupedStreamKernel(method));

    internal Action<Index1D, T1, T2, T3, T4, T5, T6, T7, T8> Kernel<T1, T2, T3, T4, T5, T6, T7, T8>(Action<Index1D, T1, T2, T3, T4, T5, T6, T7, T8> method)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct where T7 : struct where T8 : struct =>
        (Action<Index1D, T1, T2, T3, T4, T5, T6, T7, T8>)Load(method, () => _acc.LoadAutoGroupedStreamKernel(method));

    internal Action<Index1D, T1, T2, T3, T4, T5, T6, T7, T8, T9> Kernel<T1, T2, T3, T4, T5, T6, T7, T8, T9>(
        Action<Index1D, T1, T2, T3, T4, T5, T6, T7, T8, T9> method)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct where T7 : struct where T8 : struct where T9 : struct =>
        (Action<Index1D, T1, T2, T3, T4, T5, T6, T7, T8, T9>)Load(method, () => _acc.LoadAutoGroupedStreamKernel(method));

    /// <summary>Each kernel is compiled once per binder (ILGPU also caches by method across binders of one context).</summary>
    private Delegate Load(Delegate method, Func<Delegate> load)
    {
        if (!_kernels.TryGetValue(method.Method, out Delegate? kernel)) _kernels[method.Method] = kernel = load();
        return kernel;
    }

    /// <summary>A zeroed device buffer owned (and freed) by this binder.</summary>
    public ArrayView<T> Allocate<T>(long length) where T : unmanaged
    {
        var buffer = _acc.Allocate1D<T>(Math.Max(1L, length));
        _owned.Add(buffer);
        buffer.MemSetToZero();
        return buffer.View.SubView(0, length);
    }

    public static unsafe void CopyIn<T>(ReadOnlySpan<T> source, ArrayView<T> target) where T : unmanaged
    {
        if (source.Length != target.Length) throw new ArgumentException($"Copying {source.Length} values into a device buffer of {target.Length}.");
        if (source.Length == 0) return;
        // Pinned: ILGPU copies from the raw address it is given, and a GC on another thread could move a managed array
        // mid-copy (seen as a device buffer left at zero under the parallel test run). On the view's own accelerator's
        // stream: the default overloads synchronize the thread's current accelerator, which may be another one.
        fixed (T* host = source)
            target.CopyFromCPU(target.GetAccelerator().DefaultStream, ref *host, source.Length);
    }

    public static unsafe void CopyOut<T>(ArrayView<T> source, Span<T> target) where T : unmanaged
    {
        if (source.Length != target.Length) throw new ArgumentException($"Copying a device buffer of {source.Length} values into {target.Length}.");
        if (target.Length == 0) return;
        fixed (T* host = target)
            source.CopyToCPU(source.GetAccelerator().DefaultStream, ref *host, target.Length);
    }

    public void Dispose()
    {
        foreach (MemoryBuffer b in _owned) b.Dispose();
        _owned.Clear();
    }

    /// <summary>A host parameter's device values and gradient.</summary>
    internal sealed class DeviceParameter(Parameter host, ArrayView<float> data, ArrayView<float> grad)
    {
        public Parameter Host { get; } = host;

        public ArrayView<float> Data { get; } = data;

        public ArrayView<float> Grad { get; } = grad;
    }
}
