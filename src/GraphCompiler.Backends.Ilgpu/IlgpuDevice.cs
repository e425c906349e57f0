// Opens the ILGPU accelerator a Device names, and says clearly which devices exist when the one asked for does not.
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;

namespace GraphCompiler.Backends.Ilgpu;

/// <summary>An ILGPU context and the accelerator of one <see cref="Device"/>; disposing it releases both.</summary>
public sealed class IlgpuDevice : IDisposable
{
    private IlgpuDevice(Device device, Context context, Accelerator accelerator)
    {
        Device = device;
        Context = context;
        Accelerator = accelerator;
    }

    /// <summary>The device this accelerator runs (never <see cref="DeviceType.Auto"/>: that is resolved first).</summary>
    public Device Device { get; }

    public Context Context { get; }

    public Accelerator Accelerator { get; }

    /// <summary>"ilgpu-cpu (CPUAccelerator)" or "cuda:0 (NVIDIA …)", for messages.</summary>
    public string Name => $"{Device} ({Accelerator.Name})";

    /// <summary>
    /// Opens <paramref name="device"/> (<see cref="Device.Auto"/> resolved first). The native <see cref="Device.Cpu"/>
    /// has no ILGPU accelerator and is an error here; a CUDA device that is not present is an error that names the devices
    /// ILGPU does find.
    /// </summary>
    public static IlgpuDevice Open(Device device)
    {
        ArgumentNullException.ThrowIfNull(device);
        device = device.Resolve();
        switch (device.Type)
        {
            case DeviceType.IlgpuCpu:
            {
                var context = Context.Create(b => b.CPU().EnableAlgorithms());
                return new IlgpuDevice(device, context, context.CreateCPUAccelerator(0));
            }
            case DeviceType.Cuda:
            {
                var context = Context.Create(b => b.Cuda().EnableAlgorithms());
                if (device.Index >= context.GetCudaDevices().Count)
                {
                    context.Dispose();
                    throw new InvalidOperationException(MissingCuda(device.Index));
                }
                return new IlgpuDevice(device, context, context.CreateCudaAccelerator(device.Index));
            }
            default:
                throw new ArgumentException($"Device '{device}' is the native CPU backend, which runs the generated code directly; it has no ILGPU accelerator.", nameof(device));
        }
    }

    /// <summary>How many CUDA devices ILGPU finds (0 without a GPU or a CUDA driver).</summary>
    public static int CudaDeviceCount()
    {
        using var context = Context.Create(b => b.Cuda());
        return context.GetCudaDevices().Count;
    }

    /// <summary>This accelerator's properties, as <c>torch.cuda.get_device_properties</c> reports them.</summary>
    public DeviceProperties Properties => DeviceProperties.Of(Accelerator.Device);

    /// <summary>The properties of every device ILGPU finds on this machine (CPU accelerator and CUDA devices).</summary>
    public static IReadOnlyList<DeviceProperties> AllProperties()
    {
        using var context = Context.Create(b => b.AllAccelerators());
        return [.. context.Devices.Select(DeviceProperties.Of)];
    }

    /// <summary>Every device ILGPU finds on this machine, e.g. "CPUAccelerator (CPU)".</summary>
    public static IReadOnlyList<string> PresentDevices()
    {
        using var context = Context.Create(b => b.AllAccelerators());
        return [.. context.Devices.Select(d => $"{d.Name} ({d.AcceleratorType})")];
    }

    private static string MissingCuda(int index)
    {
        int count = CudaDeviceCount();
        string have = count == 0 ? "there is no CUDA device" : $"there {(count == 1 ? "is 1 CUDA device" : $"are {count} CUDA devices")} (cuda:0 to cuda:{count - 1})";
        return $"Device cuda:{index} was requested but {have}. Devices present: {string.Join(", ", PresentDevices())}. " +
            "Use --device cpu (the native CPU backend), ilgpu-cpu or auto.";
    }

    public void Dispose()
    {
        Accelerator.Dispose();
        Context.Dispose();
    }
}

/// <summary>
/// An ILGPU device's name, kind, memory and compute units; <see cref="ComputeCapability"/> ("9.0") for a CUDA device
/// whose architecture ILGPU knows, else null.
/// </summary>
public sealed record DeviceProperties(string Name, string Kind, long MemoryBytes, int Multiprocessors, int WarpSize, int MaxThreadsPerGroup, string? ComputeCapability)
{
    public static DeviceProperties Of(ILGPU.Runtime.Device device)
    {
        ArgumentNullException.ThrowIfNull(device);
        string? capability = device is CudaDevice { Architecture: { } a } ? $"{a.Major}.{a.Minor}" : null;
        return new DeviceProperties(device.Name, device.AcceleratorType.ToString(), device.MemorySize, device.NumMultiprocessors, device.WarpSize,
            device.MaxNumThreadsPerGroup, capability);
    }

    /// <summary>"NVIDIA H200 (Cuda, compute capability 9.0, 139.8 GiB, 132 multiprocessors)"; the CPU accelerator, which
    /// reports no memory limit (long.MaxValue), shows "host memory".</summary>
    public override string ToString()
    {
        string memory = MemoryBytes == long.MaxValue ? "host memory" : FormattableString.Invariant($"{MemoryBytes / (double)(1L << 30):F1} GiB");
        return $"{Name} ({Kind}{(ComputeCapability is null ? "" : ", compute capability " + ComputeCapability)}, {memory}, {Multiprocessors} multiprocessors)";
    }
}
