// Runs every op in the OpsTable through the same four checks: forward vs reference, backward vs finite differences,
// backward vs reference, and gradient accumulation/overwrite semantics.
using Xunit;

namespace GraphCompiler.Tests.Kernels;

public class OpsTableTests
{
    private const double ForwardTolerance = 1e-4;
    private const double FiniteDifferenceTolerance = 1e-3;
    private const double BackwardTolerance = 1e-4;

    public static IEnumerable<object[]> Cases => OpsTable.Cases();

    public static IEnumerable<object[]> CasesWithParams => OpsTable.CasesWithParams();

    [Fact]
    public void EveryOpHasCases()
    {
        Assert.Equal(["Linear", "Conv2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Gelu", "Silu", "ElementwiseChain",
            "Softmax", "LogSoftmax", "CrossEntropy", "Nll", "NllOfLogSoftmax", "Mse", "L1", "SmoothL1", "Bce", "BceWithLogits",
            "BatchNorm1d", "BatchNorm2d", "LayerNorm", "Dropout", "Add", "Mul", "Cat"], OpsTable.All.Select(s => s.Name));
        foreach (var spec in OpsTable.All) Assert.True(spec.CaseCount >= 6, $"{spec.Name} has only {spec.CaseCount} cases");
    }

    [Fact]
    public void EveryCpuKernelClassIsInTheTable()
    {
        // A new XxxKernels class (or a new loss) fails here until its ops are added to the OpsTable and so to every check.
        var names = OpsTable.All.Select(s => s.Name).ToHashSet();
        var kernelClasses = typeof(GraphCompiler.Backends.Cpu.Gemm).Assembly.GetTypes()
            .Where(t => t.IsPublic && t.Namespace == "GraphCompiler.Backends.Cpu" && t.Name.EndsWith("Kernels", StringComparison.Ordinal))
            .ToList();
        Assert.True(kernelClasses.Count >= 7, $"found only {kernelClasses.Count} kernel classes");
        foreach (var type in kernelClasses)
        {
            // Optimizer updates, checked against PyTorch trajectories in SgdTests and Optim/OptimizerParityTests.
            if (type.Name is "SgdKernels" or "AdamKernels") continue;
            // ElementwiseKernels computes every activation of the catalog: each kind needs its own entry (GELU's two forms share one).
            var ops = type.Name switch
            {
                "LossKernels" => type.GetMethods(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static).Select(m => m.Name).Distinct(),
                "BatchNormKernels" => ["BatchNorm1d", "BatchNorm2d"], // one kernel class, two layers (and layouts)
                "ElementwiseKernels" => Enum.GetNames<GraphCompiler.Compiler.ElementwiseKind>().Where(k => k is not ("Identity" or "GeluTanh")),
                _ => [type.Name[..^"Kernels".Length]],
            };
            foreach (string op in ops) Assert.True(names.Contains(op), $"{type.Name}: op '{op}' has no OpsTable entry");
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void ForwardMatchesReference(string op, int index)
    {
        var c = OpsTable.Get(op).Case(index);
        float[] y = RunForward(c);
        double[] expected = c.ReferenceForward(Doubles(c));
        Data.AssertClose(y, expected, ForwardTolerance, $"{c} forward");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void BackwardMatchesFiniteDifferences(string op, int index)
    {
        var c = OpsTable.Get(op).Case(index);
        var rng = new Rng(77 + (ulong)index);
        float[] r = Data.Uniform(rng, c.OutputLength); // L = Σ y·r, so dL/dy = r
        float[]?[] grads = RunBackward(c, r, fill: 0f);
        double[] rd = Data.ToDouble(r);
        double[][] inputs = Doubles(c);

        double Loss()
        {
            double[] y = c.ReferenceForward(inputs);
            double s = 0;
            for (int i = 0; i < y.Length; i++) s += y[i] * rd[i];
            return s;
        }

        const double h = 1e-4;
        for (int k = 0; k < c.Inputs.Length; k++)
        {
            float[] grad = grads[k]!;
            int len = inputs[k].Length;
            int samples = Math.Min(len, c.FiniteDifferenceSamples);
            var idx = new int[samples];
            var fd = new double[samples];
            var actual = new float[samples];
            for (int s = 0; s < samples; s++)
            {
                int i = samples == len ? s : rng.NextInt(len);
                double saved = inputs[k][i];
                inputs[k][i] = saved + h;
                double plus = Loss();
                inputs[k][i] = saved - h;
                double minus = Loss();
                inputs[k][i] = saved;
                idx[s] = i;
                fd[s] = (plus - minus) / (2 * h);
                actual[s] = grad[i];
            }
            Data.AssertClose(actual, fd, FiniteDifferenceTolerance, $"{c} d/d{c.Inputs[k].Name} vs finite differences at [{string.Join(",", idx.Take(8))}…]");
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void BackwardMatchesReference(string op, int index)
    {
        var c = OpsTable.Get(op).Case(index);
        float[] dy = Data.Uniform(new Rng(5 + (ulong)index), c.OutputLength);
        float[]?[] grads = RunBackward(c, dy, fill: 0f);
        double[]?[] expected = c.ReferenceBackward(Doubles(c), Data.ToDouble(dy));
        Assert.Equal(c.Inputs.Length, expected.Length);
        for (int k = 0; k < c.Inputs.Length; k++)
            Data.AssertClose(grads[k], expected[k], BackwardTolerance, $"{c} d/d{c.Inputs[k].Name}");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void InputGradientsAreOverwrittenAndParamGradientsAccumulate(string op, int index)
    {
        var c = OpsTable.Get(op).Case(index);
        float[] dy = Data.Uniform(new Rng(9 + (ulong)index), c.OutputLength);
        // Start every gradient at 3: an input gradient must not keep it, a parameter gradient must add onto it.
        float[]?[] grads = RunBackward(c, dy, fill: 3f);
        double[]?[] expected = c.ReferenceBackward(Doubles(c), Data.ToDouble(dy));
        for (int k = 0; k < c.Inputs.Length; k++)
        {
            double[] e = expected[k]!;
            if (c.Inputs[k].Role == Role.Param) e = e.Select(v => v + 3).ToArray();
            Data.AssertClose(grads[k], e, BackwardTolerance, $"{c} d/d{c.Inputs[k].Name} ({c.Inputs[k].Role})");
        }
    }

    [Theory]
    [MemberData(nameof(CasesWithParams))]
    public void CallingBackwardTwiceDoublesParamGradients(string op, int index)
    {
        var c = OpsTable.Get(op).Case(index);
        float[] dy = Data.Uniform(new Rng(11 + (ulong)index), c.OutputLength);
        float[][] inputs = c.Inputs.Select(i => i.Values).ToArray();
        float[] y = RunForward(c);
        float[]?[] once = c.Inputs.Select(i => new float[i.Values.Length]).ToArray();
        c.FastBackward(inputs, y, dy, once);
        float[]?[] twice = c.Inputs.Select(i => new float[i.Values.Length]).ToArray();
        c.FastBackward(inputs, y, dy, twice);
        c.FastBackward(inputs, y, dy, twice);
        for (int k = 0; k < c.Inputs.Length; k++)
        {
            var expected = once[k]!.Select(v => (double)v * (c.Inputs[k].Role == Role.Param ? 2 : 1)).ToArray();
            Assert.Contains(expected, v => v != 0); // a gradient of all zeros would make this check vacuous
            Data.AssertClose(twice[k], expected, 1e-6, $"{c} d/d{c.Inputs[k].Name} after two backward calls");
        }
    }

    internal static float[] RunForward(OpCase c)
    {
        var y = new float[c.OutputLength];
        y.AsSpan().Fill(float.NaN); // the kernel must write every output element
        c.FastForward(c.Inputs.Select(i => i.Values).ToArray(), y);
        return y;
    }

    internal static float[]?[] RunBackward(OpCase c, float[] dy, float fill)
    {
        float[] y = RunForward(c);
        float[]?[] grads = c.Inputs.Select(i => { var g = new float[i.Values.Length]; g.AsSpan().Fill(fill); return g; }).ToArray();
        c.FastBackward(c.Inputs.Select(i => i.Values).ToArray(), y, dy, grads);
        return grads;
    }

    private static double[][] Doubles(OpCase c) => c.Inputs.Select(i => Data.ToDouble(i.Values)).ToArray();
}
