// log_softmax keeps float precision when |x| is large: every kernel path computes (x − max) − log Σ, never x − (max + log Σ).
using GraphCompiler.Backends.Cpu;
using Xunit;

namespace GraphCompiler.Tests.Kernels;

public class SoftmaxPrecisionTests
{
    // At |x| ≈ 1e4 float's spacing is 9.8e-4: rounding max + log Σ would cost up to half of it. x − max is exact there
    // (Sterbenz), so what is left is the rounding of log Σ and of one subtraction, a few 1e-7.
    private const double Tolerance = 1e-5;

    public static TheoryData<int, int, int> Shapes => new()
    {
        { 4, 9, 1 },   // rows (inner 1)
        { 3, 6, 5 },   // slabs: the class dim in the middle
        { 2, 1, 4 },   // a single class: exactly 0
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void LogSoftmax_of_large_values_matches_double_precision(int outer, int dim, int inner)
    {
        var rng = new Rng(17);
        float[] x = Data.Uniform(rng, outer * dim * inner, 3f);
        // Each (dim, inner) slab sits about +1e4 or −1e4, as test_logsoftmax_large_number's rows do.
        for (int i = 0; i < x.Length; i++) x[i] += i / (dim * inner) % 2 == 0 ? 10_000f : -10_000f;
        double[] expected = Reference(x, outer, dim, inner);

        var y = new float[x.Length];
        LogSoftmaxKernels.Forward(x, y, outer, dim, inner);
        AssertClose(expected, y, $"LogSoftmaxKernels.Forward (outer, dim, inner)=({outer}, {dim}, {inner})");

        float[] inPlace = (float[])x.Clone();
        LogSoftmaxKernels.Forward(inPlace, inPlace, outer, dim, inner);
        AssertClose(expected, inPlace, "in place");

        if (inner == 1)
        {
            var rows = new float[x.Length];
            LogSoftmaxKernels.Forward(x, rows, outer, dim);
            AssertClose(expected, rows, $"LogSoftmaxKernels.Forward (n, c)=({outer}, {dim})");
            float[] rowsInPlace = (float[])x.Clone();
            LogSoftmaxKernels.Forward(rowsInPlace, rowsInPlace, outer, dim);
            AssertClose(expected, rowsInPlace, "(n, c) in place");
        }
    }

    private static double[] Reference(float[] x, int outer, int dim, int inner)
    {
        var y = new double[x.Length];
        for (int o = 0; o < outer; o++)
            for (int j = 0; j < inner; j++)
            {
                double max = double.NegativeInfinity, sum = 0;
                for (int d = 0; d < dim; d++) max = Math.Max(max, x[(o * dim + d) * inner + j]);
                for (int d = 0; d < dim; d++) sum += Math.Exp(x[(o * dim + d) * inner + j] - max);
                for (int d = 0; d < dim; d++) y[(o * dim + d) * inner + j] = x[(o * dim + d) * inner + j] - max - Math.Log(sum);
            }
        return y;
    }

    private static void AssertClose(double[] expected, float[] actual, string what)
    {
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(actual[i] - expected[i]) <= Tolerance, $"{what}[{i}]: {actual[i]:R}, double precision gives {expected[i]:R}");
    }
}
