// Compiles ILGPU kernels to PTX for a chosen GPU architecture with no GPU present, to check CUDA code on any machine.
using System.Reflection;
using ILGPU;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace GraphCompiler.Backends.Ilgpu;

public static class IlgpuPtx
{
    /// <summary>
    /// The PTX assembly of an auto-grouped kernel (such as those <see cref="IlgpuModel.KernelMethods"/> lists) for
    /// <paramref name="architecture"/>, e.g. <see cref="CudaArchitecture.SM_75"/>; PTX ISA 8.0, which every architecture
    /// up to sm_90 accepts. Needs neither a GPU nor a CUDA driver.
    /// </summary>
    public static string Compile(MethodInfo kernel, CudaArchitecture architecture)
    {
        ArgumentNullException.ThrowIfNull(kernel);
        using var context = Context.Create(b => b.Optimize(OptimizationLevel.O1));
        using var backend = new PTXBackend(context, architecture, CudaInstructionSet.ISA_80, null!);
        var entry = EntryPointDescription.FromImplicitlyGroupedKernel(kernel);
        var compiled = (PTXCompiledKernel)backend.Compile(entry, KernelSpecialization.Empty);
        return compiled.PTXAssembly;
    }
}
