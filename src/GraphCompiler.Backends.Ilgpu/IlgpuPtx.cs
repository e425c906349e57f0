// Compiles ILGPU kernels to PTX for a chosen GPU architecture with no GPU present, to check CUDA code on any machine.
using System.Reflection;
using ILGPU;
using ILGPU.Algorithms;
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
    /// <remarks>
    /// ILGPU 1.5.3 writes at most <c>.target sm_80</c> whatever architecture it is given, and emits no instruction newer
    /// than sm_80. PTX for sm_80 is valid PTX for every later architecture, so for those the target line is set to the
    /// architecture asked for (the code itself is ILGPU's, unchanged); the CUDA driver then compiles it for that GPU.
    /// </remarks>
    public static string Compile(MethodInfo kernel, CudaArchitecture architecture)
    {
        ArgumentNullException.ThrowIfNull(kernel);
        using var context = Context.Create(b => b.Optimize(OptimizationLevel.O1).EnableAlgorithms());
        using var backend = new PTXBackend(context, architecture, CudaInstructionSet.ISA_80, null!);
        var entry = EntryPointDescription.FromImplicitlyGroupedKernel(kernel);
        var compiled = (PTXCompiledKernel)backend.Compile(entry, KernelSpecialization.Empty);
        string ptx = compiled.PTXAssembly;
        string target = ".target " + architecture.ToString().ToLowerInvariant();
        if (ptx.Contains(target + "\n", StringComparison.Ordinal)) return ptx;
        if (architecture <= CudaArchitecture.SM_80 || !ptx.Contains(".target sm_80\n", StringComparison.Ordinal))
            throw new InvalidOperationException($"ILGPU compiled {kernel.Name} for an unexpected target instead of {target}.");
        return ptx.Replace(".target sm_80\n", target + "\n", StringComparison.Ordinal);
    }
}
