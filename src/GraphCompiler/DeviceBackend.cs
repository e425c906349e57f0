// The backend contract for devices other than the native CPU. A backend (the ILGPU one: ILGPU's CPU accelerator and
// CUDA) lives in its own assembly, which the runtime never references: it names its entry point with an assembly attribute
// and is found by name when a device needs it, so an application that deploys no such backend needs none of its packages.
using System.Reflection;
using GraphCompiler.Nn;
using GraphCompiler.Optim;
using GraphCompiler.Training;

namespace GraphCompiler;

/// <summary>A backend that runs compiled models on devices other than <see cref="Device.Cpu"/>.</summary>
public interface IDeviceBackend
{
    /// <summary>Whether this backend runs devices of <paramref name="type"/>.</summary>
    bool Runs(DeviceType type);

    /// <summary>How many CUDA devices this backend finds (0 without a GPU or a driver), for <see cref="Device.Auto"/>.</summary>
    int CudaDeviceCount();

    /// <summary>The properties of <paramref name="device"/> (one this backend runs), without opening it.</summary>
    DeviceProperties Properties(Device device);

    /// <summary>A trainer for <paramref name="model"/> on <paramref name="device"/>, as <see cref="Trainer.Create"/> promises.</summary>
    ITrainer CreateTrainer(ICompiledModel model, Loss loss, IOptimizer optimizer, int batchSize, Device device);
}

/// <summary>
/// What data-parallel training needs from a device trainer (<see cref="Distributed.DistributedDataParallel"/> on a
/// device): the backward without the optimizer step, the parameter gradients staged through the host's
/// <see cref="Parameter.Grad"/> (MPI moves host memory), and the optimizer step on the device gradients.
/// </summary>
public interface IDeviceTrainer : ITrainer
{
    /// <summary>Zero grads (unless <paramref name="zeroGrad"/> is false), forward, loss and backward on the device; returns the mean loss.</summary>
    float ForwardBackward(ReadOnlySpan<float> inputs, ReadOnlySpan<int> targets, int count, bool zeroGrad = true, float lossScale = 1f);

    /// <summary><see cref="ForwardBackward(ReadOnlySpan{float}, ReadOnlySpan{int}, int, bool, float)"/> with float targets shaped like the output.</summary>
    float ForwardBackward(ReadOnlySpan<float> inputs, ReadOnlySpan<float> targets, int count, bool zeroGrad = true, float lossScale = 1f);

    /// <summary>Copies every parameter's device gradient to the host's <see cref="Parameter.Grad"/>.</summary>
    void CopyGradientsToHost();

    /// <summary>Copies every parameter's host <see cref="Parameter.Grad"/> to its device gradient (after the host changed it).</summary>
    void CopyGradientsToDevice();

    /// <summary>One step of the trainer's optimizer on the device gradients.</summary>
    void OptimizerStep();
}

/// <summary>Names the <see cref="IDeviceBackend"/> an assembly provides (it must have a public parameterless constructor).</summary>
[AttributeUsage(AttributeTargets.Assembly)]
public sealed class DeviceBackendAttribute(Type backend) : Attribute
{
    public Type Backend { get; } = backend;
}

/// <summary>The device backends of this process: those registered, and the known backend assemblies found by name.</summary>
public static class DeviceBackends
{
    /// <summary>The assemblies tried, in order, for a device the registered backends do not run.</summary>
    public static readonly IReadOnlyList<string> KnownAssemblies = ["GraphCompiler.Backends.Ilgpu"];

    private static readonly List<IDeviceBackend> Registered = [];
    private static readonly HashSet<string> Tried = [];

    /// <summary>Adds <paramref name="backend"/>; a later registration is asked first.</summary>
    public static void Register(IDeviceBackend backend)
    {
        ArgumentNullException.ThrowIfNull(backend);
        lock (Registered) Registered.Insert(0, backend);
    }

    /// <summary>The backend that runs <paramref name="type"/>, or null when none is registered or deployed.</summary>
    public static IDeviceBackend? TryFind(DeviceType type)
    {
        lock (Registered)
        {
            if (Registered.FirstOrDefault(b => b.Runs(type)) is { } found) return found;
            foreach (string name in KnownAssemblies)
            {
                if (!Tried.Add(name)) continue;
                Assembly assembly;
                try
                {
                    assembly = Assembly.Load(new AssemblyName(name));
                }
                catch (FileNotFoundException)
                {
                    continue;
                }
                foreach (DeviceBackendAttribute a in assembly.GetCustomAttributes<DeviceBackendAttribute>())
                    Registered.Add((IDeviceBackend)Activator.CreateInstance(a.Backend)!);
            }
            return Registered.FirstOrDefault(b => b.Runs(type));
        }
    }

    /// <summary>The backend that runs <paramref name="device"/>; an error naming the package to add when none is deployed.</summary>
    public static IDeviceBackend For(Device device)
    {
        ArgumentNullException.ThrowIfNull(device);
        return TryFind(device.Type) ?? throw new InvalidOperationException(
            $"No backend for device '{device}' is deployed with this application: add a reference to GraphCompiler.Backends.Ilgpu " +
            "(the ILGPU backend: ILGPU's CPU accelerator and CUDA), or train on Device.Cpu.");
    }
}

/// <summary>
/// A device's name, kind, memory and compute units, the fields of <c>torch.cuda.get_device_properties</c> (name,
/// total_memory, multi_processor_count, major.minor); <see cref="ComputeCapability"/> ("9.0") for a CUDA device, else null.
/// </summary>
public sealed record DeviceProperties(string Name, string Kind, long MemoryBytes, int Multiprocessors, int WarpSize, int MaxThreadsPerGroup, string? ComputeCapability)
{
    /// <summary>"NVIDIA H200 (Cuda, compute capability 9.0, 139.8 GiB, 132 multiprocessors)"; a device that reports no
    /// memory limit (long.MaxValue, ILGPU's CPU accelerator) shows "host memory".</summary>
    public override string ToString()
    {
        string memory = MemoryBytes == long.MaxValue ? "host memory" : FormattableString.Invariant($"{MemoryBytes / (double)(1L << 30):F1} GiB");
        return $"{Name} ({Kind}{(ComputeCapability is null ? "" : ", compute capability " + ComputeCapability)}, {memory}, {Multiprocessors} multiprocessors)";
    }
}
