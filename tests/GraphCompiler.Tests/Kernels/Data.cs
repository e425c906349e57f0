// Random test data and tolerance assertions shared by the kernel tests.
using Xunit;

namespace GraphCompiler.Tests.Kernels;

internal static class Data
{
    public static float[] Uniform(Rng rng, int count, float scale = 1f)
    {
        var a = new float[count];
        for (int i = 0; i < count; i++) a[i] = rng.Uniform(-scale, scale);
        return a;
    }

    /// <summary>Values at least <paramref name="gap"/> from zero, either sign.</summary>
    public static float[] AwayFromZero(Rng rng, int count, float gap)
    {
        var a = new float[count];
        for (int i = 0; i < count; i++) a[i] = (rng.NextInt(2) == 0 ? -1 : 1) * rng.Uniform(gap, 1f);
        return a;
    }

    /// <summary>A shuffled arithmetic sequence centred on 0: all distinct, 0.01 apart.</summary>
    public static float[] DistinctShuffled(Rng rng, int count)
    {
        var a = new float[count];
        for (int i = 0; i < count; i++) a[i] = (i - count / 2) * 0.01f;
        rng.Shuffle(a.AsSpan());
        return a;
    }

    public static int[] Targets(Rng rng, int n, int c)
    {
        var t = new int[n];
        for (int i = 0; i < n; i++) t[i] = rng.NextInt(c);
        return t;
    }

    public static double[] ToDouble(float[] a) => Array.ConvertAll(a, v => (double)v);

    /// <summary>
    /// allclose: |actual − expected| ≤ rtol·(|expected| + max|expected|) element-wise. The max term keeps entries that
    /// cancel to near zero from demanding impossible relative precision; it cannot pass a wrong sign or a missing term.
    /// </summary>
    public static void AssertClose(ReadOnlySpan<float> actual, ReadOnlySpan<double> expected, double rtol, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        double scale = 0;
        foreach (double e in expected) scale = Math.Max(scale, Math.Abs(e));
        for (int i = 0; i < expected.Length; i++)
        {
            double err = Math.Abs(actual[i] - expected[i]);
            if (!(err <= rtol * (Math.Abs(expected[i]) + scale)))
                Assert.Fail($"{what}: element {i} is {actual[i]:R}, expected {expected[i]:R} (error {err:E2}, tolerance {rtol * (Math.Abs(expected[i]) + scale):E2}).");
        }
    }
}
