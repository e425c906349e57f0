// Where the ILGPU backend's matrix products run: cuBLAS on a CUDA accelerator where the library loads, the ILGPU GEMM
// kernel elsewhere; and which route (direct kernels, or im2col + GEMM) the Linear and Conv2d steps take.
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.Cuda.API;

namespace GraphCompiler.Backends.Ilgpu;

/// <summary>How the ILGPU backend runs Linear and Conv2d steps, forward and backward.</summary>
public enum IlgpuGemmRoute
{
    /// <summary><see cref="Im2colGemm"/> on a CUDA device, <see cref="DirectKernel"/> on the CPU accelerator (an emulator, where the GEMM form buys nothing and costs scratch memory).</summary>
    Auto,

    /// <summary>One ILGPU thread per output element sums its own products (the Linear and Conv2d kernels of <see cref="IlgpuKernels"/>).</summary>
    DirectKernel,

    /// <summary>
    /// Linear as GEMMs; Conv2d as im2col (col2im for the input gradient) and one GEMM per group over all N·OutH·OutW
    /// columns; bias, activation and the activation's derivative in ILGPU epilogue kernels. The GEMM is cuBLAS where it
    /// loads (<see cref="IlgpuDevice.CuBlas"/>), else the ILGPU GEMM kernel: the same steps either way.
    /// </summary>
    Im2colGemm,
}

/// <summary>Whether cuBLAS computes this accelerator's GEMMs: "cuBLAS 120805", or why not ("not available: …").</summary>
public sealed record CuBlasAvailability(bool Available, string Detail)
{
    public override string ToString() => Detail;
}

/// <summary>A GEMM over row-major device matrices (<see cref="GemmDims"/>), queued on the accelerator's default stream.</summary>
public abstract class IlgpuGemm
{
    /// <summary>"cuBLAS 120805" or "ILGPU GEMM kernel", for messages and DeviceCheck.</summary>
    public abstract string Name { get; }

    /// <summary>C = Alpha · op(A) · op(B) + Beta · C.</summary>
    public abstract void Run(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, GemmDims d);

    /// <summary>The ILGPU kernel <see cref="IlgpuKernels.Gemm"/>, one thread per element of C.</summary>
    internal sealed class Kernel(Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmDims> kernel) : IlgpuGemm
    {
        public override string Name => "ILGPU GEMM kernel";

        public override void Run(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, GemmDims d)
        {
            if (d.M > 0 && d.N > 0) kernel(d.M * d.N, a, b, c, d);
        }
    }

    /// <summary>
    /// The arguments of a column-major SGEMM (cuBLAS's, BLAS's) that computes the row-major <paramref name="d"/>: a
    /// row-major matrix is its transpose seen column-major, so C = op(A)·op(B) is computed as Cᵀ = op(B)ᵀ·op(A)ᵀ, with
    /// B as the first operand, M and N swapped, the same leading dimensions and no copy.
    /// </summary>
    internal static ColumnMajorSgemm ColumnMajor(GemmDims d) =>
        new(d.TransB != 0, d.TransA != 0, d.N, d.M, d.K, d.Alpha, FirstIsB: true, d.Ldb, d.Lda, d.Beta, d.Ldc);

    /// <summary>sgemm(transa, transb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc); FirstIsB: A is the row-major call's B.</summary>
    internal readonly record struct ColumnMajorSgemm(bool TransA, bool TransB, int M, int N, int K, float Alpha, bool FirstIsB, int Lda, int Ldb, float Beta, int Ldc);

    /// <summary>cuBLAS's SGEMM on the accelerator's default stream, called as <see cref="ColumnMajor"/> says.</summary>
    internal sealed class CuBlasSgemm(CuBlas<CuBlasPointerModeHandlers.ManualMode> blas) : IlgpuGemm
    {
        public override string Name => $"cuBLAS {blas.Version}";

        public override void Run(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, GemmDims d)
        {
            if (d.M <= 0 || d.N <= 0) return;
            ColumnMajorSgemm g = ColumnMajor(d);
            static CuBlasOperation Op(bool t) => t ? CuBlasOperation.Transpose : CuBlasOperation.NonTranspose;
            blas.Gemm(Op(g.TransA), Op(g.TransB), g.M, g.N, g.K, g.Alpha, g.FirstIsB ? b : a, g.Lda, g.FirstIsB ? a : b, g.Ldb, g.Beta, c, g.Ldc);
        }
    }

    /// <summary>
    /// Opens cuBLAS for <paramref name="accelerator"/> through <paramref name="open"/> (the newest libcublas installed):
    /// on any accelerator but CUDA, or when the library does not load, the handle is null and the status says why;
    /// nothing throws.
    /// </summary>
    internal static (CuBlas<CuBlasPointerModeHandlers.ManualMode>? Blas, CuBlasAvailability Status) OpenCuBlas(Accelerator accelerator,
        Func<CudaAccelerator, CuBlas<CuBlasPointerModeHandlers.ManualMode>> open)
    {
        if (accelerator is not CudaAccelerator cuda)
            return (null, new CuBlasAvailability(false, $"not available: cuBLAS runs on CUDA accelerators, this is ILGPU's {accelerator.AcceleratorType} accelerator"));
        return Probe(() =>
        {
            var blas = open(cuda);
            blas.PointerMode = CuBlasPointerMode.Host; // alpha and beta are host floats
            return (blas, $"cuBLAS {blas.Version}");
        });
    }

    /// <summary>
    /// The library <paramref name="open"/> returns and its description, or null and "not available: why" when it fails
    /// the way a missing or mismatched native library fails (not found, no such entry point, a cuBLAS error status).
    /// </summary>
    internal static (T? Library, CuBlasAvailability Status) Probe<T>(Func<(T Library, string Description)> open) where T : class
    {
        try
        {
            var (library, description) = open();
            return (library, new CuBlasAvailability(true, description));
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or BadImageFormatException or TypeInitializationException or CuBlasException)
        {
            Exception root = e is TypeInitializationException { InnerException: { } inner } ? inner : e;
            return (null, new CuBlasAvailability(false, $"not available: {root.GetType().Name}: {root.Message}"));
        }
    }

    /// <summary>The newest libcublas that loads (12, 11, then 10: ILGPU's one-argument constructor asks for 10 only).</summary>
    internal static CuBlas<CuBlasPointerModeHandlers.ManualMode> NewestCuBlas(CudaAccelerator accelerator)
    {
        Exception? first = null;
        foreach (CuBlasAPIVersion version in Enum.GetValues<CuBlasAPIVersion>().OrderDescending())
        {
            try
            {
                return new CuBlas<CuBlasPointerModeHandlers.ManualMode>(accelerator, version);
            }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
            {
                first ??= e;
            }
        }
        throw first ?? new DllNotFoundException("ILGPU knows no cuBLAS version");
    }
}
