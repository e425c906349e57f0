// The GEMM route's pieces on ILGPU's CPU accelerator: the ILGPU GEMM kernel (cuBLAS's stand-in) against a plain host
// product in every transpose form, and cuBLAS reported as "not available" with its reason, never thrown, where it is not.
using GraphCompiler.Backends.Ilgpu;
using ILGPU;
using Xunit;

namespace GraphCompiler.Tests.Ilgpu;

[Collection(IlgpuCollection.Name)]
public class IlgpuGemmTests
{
    /// <summary>C = alpha·op(A)·op(B) + beta·C in doubles, row-major with leading dimensions.</summary>
    private static double[] Reference(float[] a, float[] b, float[] c, GemmDims d)
    {
        var result = c.Select(v => (double)v).ToArray();
        for (int i = 0; i < d.M; i++)
            for (int j = 0; j < d.N; j++)
            {
                double s = 0;
                for (int k = 0; k < d.K; k++)
                    s += (double)(d.TransA != 0 ? a[k * d.Lda + i] : a[i * d.Lda + k]) * (d.TransB != 0 ? b[j * d.Ldb + k] : b[k * d.Ldb + j]);
                result[i * d.Ldc + j] = d.Alpha * s + (d.Beta == 0 ? 0 : d.Beta * c[i * d.Ldc + j]);
            }
        return result;
    }

    [Theory]
    [InlineData(false, false, 0f)]
    [InlineData(false, true, 0f)]
    [InlineData(true, false, 1f)]
    [InlineData(true, true, 0.5f)]
    public void The_ilgpu_gemm_kernel_computes_every_transpose_form_with_padded_rows(bool transA, bool transB, float beta)
    {
        int m = 7, n = 5, k = 9, pad = 3;
        // Rows longer than the matrix (leading dimension + pad): a kernel that assumed packed rows would read the padding.
        int lda = (transA ? m : k) + pad, ldb = (transB ? k : n) + pad, ldc = n + pad;
        var d = new GemmDims(m, n, k, lda, ldb, ldc, transA ? 1 : 0, transB ? 1 : 0, 1.5f, beta);
        var rng = new Rng(5);
        float[] a = Kernels.Data.Uniform(rng, (transA ? k : m) * lda), b = Kernels.Data.Uniform(rng, (transB ? n : k) * ldb);
        // Beta 0 must not read C, as in BLAS: C starts as NaN there.
        float[] c = beta == 0 ? Enumerable.Repeat(float.NaN, m * ldc).ToArray() : Kernels.Data.Uniform(rng, m * ldc);
        double[] want = Reference(a, b, beta == 0 ? new float[c.Length] : c, d);

        using var device = IlgpuDevice.Open(Device.IlgpuCpu, IlgpuGemmRoute.Im2colGemm);
        using var steps = new IlgpuSteps(device, "gemm");
        Assert.Equal("ILGPU GEMM kernel", steps.Gemm.Name);
        ArrayView<float> da = steps.Allocate<float>(a.Length), db = steps.Allocate<float>(b.Length), dc = steps.Allocate<float>(c.Length);
        IlgpuSteps.CopyIn<float>(a, da);
        IlgpuSteps.CopyIn<float>(b, db);
        IlgpuSteps.CopyIn<float>(c, dc);
        steps.Gemm.Run(da, db, dc, d);
        var got = new float[c.Length];
        IlgpuSteps.CopyOut(dc, got);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < ldc; j++)
            {
                int at = i * ldc + j;
                if (j < n) Assert.True(Math.Abs(got[at] - want[at]) <= 1e-5 * (1 + Math.Abs(want[at])), $"C[{i},{j}] = {got[at]}, want {want[at]}");
                else if (beta == 0) Assert.True(float.IsNaN(got[at]), $"padding C[{i},{j}] was written");
                else Assert.Equal(c[at], got[at]); // padding columns untouched
            }
    }

    /// <summary>
    /// A column-major SGEMM with BLAS semantics (what cuBLAS computes): C(i, j) at c[i + j·ldc], A(i, l) at a[i + l·lda]
    /// (or, transposed, a[l + i·lda]).
    /// </summary>
    private static void ColumnMajorSgemm(bool transA, bool transB, int m, int n, int k, float alpha, float[] a, int lda, float[] b, int ldb, float beta, double[] c, int ldc)
    {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int l = 0; l < k; l++) s += (double)(transA ? a[l + i * lda] : a[i + l * lda]) * (transB ? b[j + l * ldb] : b[l + j * ldb]);
                c[i + j * ldc] = alpha * s + (beta == 0 ? 0 : beta * c[i + j * ldc]);
            }
    }

    [Theory]
    [InlineData(false, false, 0f)]
    [InlineData(false, true, 1f)]
    [InlineData(true, false, 0f)]
    [InlineData(true, true, 0.5f)]
    public void The_cublas_call_of_a_row_major_gemm_computes_it_column_major(bool transA, bool transB, float beta)
    {
        // The one piece of the cuBLAS route that is ours, checked without a GPU: the arguments handed to cuBLAS, run by a
        // column-major BLAS on the row-major buffers, give the row-major product.
        int m = 6, n = 4, k = 5, pad = 2;
        int lda = (transA ? m : k) + pad, ldb = (transB ? k : n) + pad, ldc = n + pad;
        var d = new GemmDims(m, n, k, lda, ldb, ldc, transA ? 1 : 0, transB ? 1 : 0, 2f, beta);
        var rng = new Rng(9);
        float[] a = Kernels.Data.Uniform(rng, (transA ? k : m) * lda), b = Kernels.Data.Uniform(rng, (transB ? n : k) * ldb), c = Kernels.Data.Uniform(rng, m * ldc);
        double[] want = Reference(a, b, c, d);
        var call = IlgpuGemm.ColumnMajor(d);
        double[] got = c.Select(v => (double)v).ToArray();
        ColumnMajorSgemm(call.TransA, call.TransB, call.M, call.N, call.K, call.Alpha, call.FirstIsB ? b : a, call.Lda, call.FirstIsB ? a : b, call.Ldb, call.Beta, got, call.Ldc);
        for (int i = 0; i < got.Length; i++) Assert.True(Math.Abs(got[i] - want[i]) <= 1e-9 * (1 + Math.Abs(want[i])), $"C at {i}: {got[i]} vs {want[i]}");
    }

    [Fact]
    public void Without_cuda_cublas_is_reported_not_available_with_the_reason_and_the_gemm_kernel_stands_in()
    {
        using var device = IlgpuDevice.Open(Device.IlgpuCpu, IlgpuGemmRoute.Im2colGemm);
        CuBlasAvailability cublas = device.CuBlas;
        Assert.False(cublas.Available);
        Assert.Equal("not available: cuBLAS runs on CUDA accelerators, this is ILGPU's CPU accelerator", cublas.Detail);
        Assert.Equal(IlgpuGemmRoute.Im2colGemm, device.Route);
        Assert.Equal("im2col + GEMM on the ILGPU GEMM kernel (cuBLAS not available: cuBLAS runs on CUDA accelerators, this is ILGPU's CPU accelerator)", device.GemmRoute);
        using var steps = new IlgpuSteps(device, "m");
        Assert.Equal("ILGPU GEMM kernel", steps.Gemm.Name);
    }

    [Fact]
    public void Auto_takes_the_direct_kernels_on_the_cpu_accelerator()
    {
        using var device = IlgpuDevice.Open(Device.IlgpuCpu);
        Assert.Equal(IlgpuGemmRoute.DirectKernel, device.Route);
        Assert.Equal("direct ILGPU kernels", device.GemmRoute);
        Assert.False(device.CuBlas.Available);
    }

    [Fact]
    public void A_cublas_library_that_fails_to_load_is_reported_not_thrown()
    {
        // What a CUDA machine without libcublas.so.12/11/10 on its library path raises when the handle is created.
        var (missing, status) = IlgpuGemm.Probe<object>(() => throw new DllNotFoundException("Unable to load shared library 'libcublas.so.12'"));
        Assert.Null(missing);
        Assert.False(status.Available);
        Assert.Equal("not available: DllNotFoundException: Unable to load shared library 'libcublas.so.12'", status.Detail);

        var (wrapped, inner) = IlgpuGemm.Probe<object>(() => throw new TypeInitializationException("CuBlasAPI", new EntryPointNotFoundException("cublasCreate_v2")));
        Assert.Null(wrapped);
        Assert.Equal("not available: EntryPointNotFoundException: cublasCreate_v2", inner.Detail);

        var (loaded, ok) = IlgpuGemm.Probe(() => ((object)"handle", "cuBLAS 120805"));
        Assert.Equal("handle", loaded);
        Assert.Equal(new CuBlasAvailability(true, "cuBLAS 120805"), ok);

        // Anything else is a bug, not a missing library: it propagates.
        Assert.Throws<InvalidOperationException>(() => IlgpuGemm.Probe<object>(() => throw new InvalidOperationException("bug")));
    }
}
