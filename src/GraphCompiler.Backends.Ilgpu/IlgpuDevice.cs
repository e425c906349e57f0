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
    private readonly Lazy<(CuBlas<CuBlasPointerModeHandlers.ManualMode>? Blas, CuBlasAvailability Status)> _cuBlas;

    private IlgpuDevice(Device device, Context context, Accelerator accelerator, IlgpuGemmRoute route)
    {
        Device = device;
        Context = context;
        Accelerator = accelerator;
        Route = route != IlgpuGemmRoute.Auto ? route : accelerator is CudaAccelerator ? IlgpuGemmRoute.Im2colGemm : IlgpuGemmRoute.DirectKernel;
        _cuBlas = new(() => IlgpuGemm.OpenCuBlas(accelerator, IlgpuGemm.NewestCuBlas));
    }

    /// <summary>The device this accelerator runs (never <see cref="DeviceType.Auto"/>: that is resolved first).</summary>
    public Device Device { get; }

    public Context Context { get; }

    public Accelerator Accelerator { get; }

    /// <summary>"ilgpu-cpu (CPUAccelerator)" or "cuda:0 (NVIDIA …)", for messages.</summary>
    public string Name => $"{Device} ({Accelerator.Name})";

    /// <summary>How Linear and Conv2d steps run here (never <see cref="IlgpuGemmRoute.Auto"/>: that is resolved when the device opens).</summary>
    public IlgpuGemmRoute Route { get; }

    /// <summary>Whether cuBLAS serves this accelerator, and if not why; probed once, on first use, and never throws.</summary>
    public CuBlasAvailability CuBlas => _cuBlas.Value.Status;

    /// <summary>The cuBLAS handle of this accelerator (bound to its default stream), or null where <see cref="CuBlas"/> says it is not available.</summary>
    internal CuBlas<CuBlasPointerModeHandlers.ManualMode>? CuBlasHandle => _cuBlas.Value.Blas;

    /// <summary>
    /// The route and its GEMM in words: "im2col + GEMM on cuBLAS 120805", "im2col + GEMM on the ILGPU GEMM kernel (cuBLAS
    /// not available: …)" or "direct ILGPU kernels".
    /// </summary>
    public string GemmRoute => Route == IlgpuGemmRoute.DirectKernel ? "direct ILGPU kernels"
        : CuBlas.Available ? $"im2col + GEMM on {CuBlas}" : $"im2col + GEMM on the ILGPU GEMM kernel (cuBLAS {CuBlas})";

    /// <summary>
    /// Opens <paramref name="device"/> (<see cref="Device.Auto"/> resolved first). The native <see cref="Device.Cpu"/>
    /// has no ILGPU accelerator and is an error here; a CUDA device that is not present is an error that names the devices
    /// ILGPU does find. <paramref name="route"/> says how Linear and Conv2d steps run (<see cref="IlgpuGemmRoute.Auto"/>:
    /// im2col + GEMM on CUDA, the direct kernels on the CPU accelerator).
    /// </summary>
    public static IlgpuDevice Open(Device device, IlgpuGemmRoute route = IlgpuGemmRoute.Auto)
    {
        ArgumentNullException.ThrowIfNull(device);
        device = device.Resolve();
        switch (device.Type)
        {
            case DeviceType.IlgpuCpu:
            {
                var context = Context.Create(b => b.CPU().EnableAlgorithms());
                return new IlgpuDevice(device, context, context.CreateCPUAccelerator(0), route);
            }
            case DeviceType.Cuda:
            {
                var context = Context.Create(b => b.Cuda().EnableAlgorithms());
                if (device.Index >= context.GetCudaDevices().Count)
                {
                    context.Dispose();
                    throw new InvalidOperationException(MissingCuda(device.Index));
                }
                return new IlgpuDevice(device, context, context.CreateCudaAccelerator(device.Index), route);
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
    public DeviceProperties Properties => IlgpuDeviceProperties.Of(Accelerator.Device);

    /// <summary>
    /// The properties of <paramref name="device"/> (<see cref="Device.Auto"/> resolved first) without opening an
    /// accelerator, as <c>torch.cuda.get_device_properties(i)</c>; the native <see cref="Device.Cpu"/> is no ILGPU device
    /// (an error), a CUDA device that is not present is the error <see cref="Open"/> gives.
    /// </summary>
    public static DeviceProperties PropertiesOf(Device device)
    {
        ArgumentNullException.ThrowIfNull(device);
        device = device.Resolve();
        switch (device.Type)
        {
            case DeviceType.IlgpuCpu:
            {
                using var context = Context.Create(b => b.CPU());
                return IlgpuDeviceProperties.Of(context.GetCPUDevice(0));
            }
            case DeviceType.Cuda:
            {
                using var context = Context.Create(b => b.Cuda());
                if (device.Index >= context.GetCudaDevices().Count) throw new InvalidOperationException(MissingCuda(device.Index));
                return IlgpuDeviceProperties.Of(context.GetCudaDevice(device.Index));
            }
            default:
                throw new ArgumentException($"Device '{device}' is the native CPU backend; it has no ILGPU device properties.", nameof(device));
        }
    }

    /// <summary>The properties of every device ILGPU finds on this machine (CPU accelerator and CUDA devices).</summary>
    public static IReadOnlyList<DeviceProperties> AllProperties()
    {
        using var context = Context.Create(b => b.AllAccelerators());
        return [.. context.Devices.Select(IlgpuDeviceProperties.Of)];
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
        if (_cuBlas.IsValueCreated) _cuBlas.Value.Blas?.Dispose();
        Accelerator.Dispose();
        Context.Dispose();
    }
}

/// <summary>The runtime's <see cref="DeviceProperties"/> of an ILGPU device.</summary>
internal static class IlgpuDeviceProperties
{
    public static DeviceProperties Of(ILGPU.Runtime.Device device)
    {
        ArgumentNullException.ThrowIfNull(device);
        string? capability = device is CudaDevice cuda ? Capability(cuda) : null;
        return new DeviceProperties(device.Name, device.AcceleratorType.ToString(), device.MemorySize, device.NumMultiprocessors, device.WarpSize,
            device.MaxNumThreadsPerGroup, capability);
    }

    /// <summary>
    /// The architecture ILGPU knows the device by, or for one newer than ILGPU 1.5.3 knows (it then has no
    /// <see cref="CudaDevice.Architecture"/>), the CUDA driver's answer; null only if the driver has none.
    /// </summary>
    private static string? Capability(CudaDevice device)
    {
        if (device.Architecture is { } a) return $"{a.Major}.{a.Minor}";
        return CudaAPI.CurrentAPI.GetDeviceComputeCapability(out int major, out int minor, device.DeviceId) == CudaError.CUDA_SUCCESS ? $"{major}.{minor}" : null;
    }
}
