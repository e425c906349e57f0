// Access to Reference/optim.safetensors (made by tests/reference/make_optim_reference.py) and the tolerance checks against it.
using GraphCompiler.IO;
using GraphCompiler.Nn;
using Xunit;

namespace GraphCompiler.Tests.Optim;

internal static class OptimReference
{
    public const int Steps = 6;
    public const int SchedulerSteps = 25;
    public static readonly string[] Names = ["a", "b", "c"];

    private static readonly Lazy<IReadOnlyDictionary<string, SafeTensor>> LazyFile = new(() =>
        SafeTensors.Read(Path.Combine(AppContext.BaseDirectory, "Reference", "optim.safetensors")));

    public static IReadOnlyDictionary<string, SafeTensor> File => LazyFile.Value;

    public static SafeTensor Get(string name) =>
        File.TryGetValue(name, out var t) ? t : throw new KeyNotFoundException($"optim.safetensors has no tensor '{name}'.");

    /// <summary>Fresh parameters a [5,17], b [7], c [3,4] holding the reference's initial values.</summary>
    public static Dictionary<string, Parameter> InitialParameters()
    {
        var ps = new Dictionary<string, Parameter>();
        foreach (string n in Names)
        {
            var t = Get("init." + n);
            var p = new Parameter(n, t.ShapeArray());
            p.CopyFrom(t.AsFloat(), t.ShapeArray());
            ps[n] = p;
        }
        return ps;
    }

    /// <summary>Loads step <paramref name="step"/>'s gradients into every parameter (frozen ones too, to prove they are ignored).</summary>
    public static void SetGrads(Dictionary<string, Parameter> ps, int step)
    {
        foreach (string n in Names) Get($"grad.{step}.{n}").AsFloat().CopyTo(ps[n].Grad, 0);
    }

    /// <summary>
    /// Asserts |a − r| ≤ rtol·|r| + atol elementwise. Returns the largest |a − r| / |r| over elements with |r| ≥ 1e-3
    /// (below that the absolute floor is what applies, and a ratio says little) and the largest share of the
    /// tolerance used, |a − r| / (rtol·|r| + atol).
    /// </summary>
    public static (double Relative, double ToleranceUsed) AssertClose(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected, double rtol, double atol, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        double worst = 0, used = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            double a = actual[i], r = expected[i], diff = Math.Abs(a - r), tol = rtol * Math.Abs(r) + atol;
            if (!(diff <= tol))
                Assert.Fail($"{what}[{i}]: {a:R} vs PyTorch {r:R} (|diff| {diff:E2} > {rtol:E0}·|r| + {atol:E0})");
            if (Math.Abs(r) >= 1e-3) worst = Math.Max(worst, diff / Math.Abs(r));
            if (tol > 0) used = Math.Max(used, diff / tol);
        }
        return (worst, used);
    }

    public static double AssertClose(double actual, double expected, double rtol, double atol, string what)
    {
        double diff = Math.Abs(actual - expected);
        if (!(diff <= rtol * Math.Abs(expected) + atol))
            Assert.Fail($"{what}: {actual:R} vs PyTorch {expected:R} (|diff| {diff:E2} > {rtol:E0}·|r| + {atol:E0})");
        return expected != 0 ? diff / Math.Abs(expected) : 0;
    }
}
