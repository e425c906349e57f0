// The packed GEMM against a naive triple loop: every transpose combination, odd and cache-block-crossing sizes, padded strides.
using GraphCompiler.Backends.Cpu;
using Xunit;

namespace GraphCompiler.Tests.Kernels;

public class GemmTests
{
    public static IEnumerable<object[]> Shapes()
    {
        // (m, n, k): one element; smaller than a tile; exactly one 8×32 tile with K = one 192 block; one past each;
        // several MC/KC blocks; and two big enough for the multi-threaded path.
        (int, int, int)[] sizes = [(1, 1, 1), (7, 5, 3), (8, 32, 192), (9, 33, 193), (100, 70, 300), (300, 260, 210), (64, 128, 784), (257, 3100, 5)];
        foreach (var (m, n, k) in sizes)
            foreach (bool ta in new[] { false, true })
                foreach (bool tb in new[] { false, true })
                    yield return [m, n, k, ta, tb];
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void MatchesNaiveProduct(int m, int n, int k, bool transA, bool transB)
    {
        var rng = new Rng((ulong)(m * 7919 + n * 31 + k));
        // Leading dimensions padded by 3 so the kernels cannot silently assume packed rows.
        int lda = (transA ? m : k) + 3, ldb = (transB ? k : n) + 3, ldc = n + 3;
        float[] a = Data.Uniform(rng, (transA ? k : m) * lda);
        float[] b = Data.Uniform(rng, (transB ? n : k) * ldb);
        float[] c0 = Data.Uniform(rng, m * ldc);

        double[] product = new double[m * ldc];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int p = 0; p < k; p++)
                    s += (double)(transA ? a[p * lda + i] : a[i * lda + p]) * (transB ? b[j * ldb + p] : b[p * ldb + j]);
                product[i * ldc + j] = s;
            }

        foreach (bool accumulate in new[] { false, true })
        {
            float[] c = (float[])c0.Clone();
            Gemm.Multiply(transA, transB, m, n, k, a, lda, b, ldb, c, ldc, accumulate);
            var expected = new double[m * ldc];
            for (int i = 0; i < m; i++)
                for (int j = 0; j < ldc; j++)
                    expected[i * ldc + j] = j < n ? product[i * ldc + j] + (accumulate ? c0[i * ldc + j] : 0) : c0[i * ldc + j]; // padding untouched
            Data.AssertClose(c, expected, 1e-5, $"C = op(A)·op(B){(accumulate ? " + C" : "")} {m}×{n}×{k} tA={transA} tB={transB}");
        }
    }

    [Fact]
    public void SequentialAndParallelAgreeExactly()
    {
        // Same blocking, same summation order per element: splitting rows across threads must not change a bit.
        var rng = new Rng(3);
        int m = 200, n = 300, k = 400;
        float[] a = Data.Uniform(rng, m * k), b = Data.Uniform(rng, k * n);
        float[] c1 = new float[m * n], c2 = new float[m * n];
        Gemm.Multiply(false, false, m, n, k, a, k, b, n, c1, n, false, allowParallel: false);
        Gemm.Multiply(false, false, m, n, k, a, k, b, n, c2, n, false, allowParallel: true);
        Assert.Equal(c1, c2);
        Assert.Contains(c1, v => v != 0);
    }

    [Fact]
    public void ZeroInnerDimensionClearsOrKeepsC()
    {
        float[] c = [1, 2, 3, 4];
        Gemm.Multiply(false, false, 2, 2, 0, [], 1, [], 2, c, 2, accumulate: true);
        Assert.Equal([1f, 2, 3, 4], c);
        Gemm.Multiply(false, false, 2, 2, 0, [], 1, [], 2, c, 2, accumulate: false);
        Assert.Equal([0f, 0, 0, 0], c);
    }

    [Fact]
    public void TooShortOperandThrows()
    {
        var ex = Assert.Throws<ArgumentException>(() => Gemm.Multiply(false, false, 2, 2, 3, new float[5], 3, new float[6], 2, new float[4], 2, false));
        Assert.Contains("A (2×3", ex.Message);
    }
}
