// The ILGPU backend's entry point for the runtime: Trainer.Create and Device.Auto find it by this assembly's attribute.
using GraphCompiler.Nn;
using GraphCompiler.Optim;
using GraphCompiler.Training;

[assembly: GraphCompiler.DeviceBackend(typeof(GraphCompiler.Backends.Ilgpu.IlgpuBackend))]

namespace GraphCompiler.Backends.Ilgpu;

/// <summary>Runs ILGPU's CPU accelerator and CUDA devices.</summary>
public sealed class IlgpuBackend : IDeviceBackend
{
    public bool Runs(DeviceType type) => type is DeviceType.IlgpuCpu or DeviceType.Cuda;

    public int CudaDeviceCount() => IlgpuDevice.CudaDeviceCount();

    public ITrainer CreateTrainer(ICompiledModel model, Loss loss, IOptimizer optimizer, int batchSize, Device device) =>
        new IlgpuTrainer(model, loss, optimizer, batchSize, device);
}
