// The ops table per backend: each (backend, op, case) is a test. The CPU backend's kernels are checked against the
// double-precision reference; the ILGPU backend, on ILGPU's CPU accelerator, runs the case's typed steps and is checked
// against the CPU backend, forward and backward, with gradients starting at 3 (input gradients overwritten, parameter
// gradients accumulated).
using GraphCompiler.Backends.Ilgpu;
using Xunit;

namespace GraphCompiler.Tests.Kernels;

[Collection(GraphCompiler.Tests.Ilgpu.IlgpuCollection.Name)]
public class OpsTableBackendTests
{
    private const double Tolerance = 1e-4;

    /// <summary>
    /// The emulated accelerator runs one thread per output element at about a microsecond each, so its cases stay under
    /// this many elements and multiply-adds; the larger ones (the CPU's multi-threaded paths) run on the CPU backend here
    /// and on a real GPU in samples/DeviceCheck.
    /// </summary>
    public const long EmulatorBudget = 300_000;

    /// <summary>"ilgpu-gemm" is the CPU accelerator on the GEMM route (im2col + GEMM), for the ops that have one.</summary>
    public static readonly string[] Backends = ["cpu", "ilgpu-cpu", "ilgpu-gemm"];

    private static readonly string[] GemmOps = ["Linear", "Conv2d"];

    private static readonly Lazy<IlgpuDevice> Device = new(() => IlgpuDevice.Open(GraphCompiler.Device.IlgpuCpu));

    private static readonly Lazy<IlgpuDevice> GemmDevice = new(() => IlgpuDevice.Open(GraphCompiler.Device.IlgpuCpu, IlgpuGemmRoute.Im2colGemm));

    private static bool Runs(string backend, string op, int index) => backend switch
    {
        "cpu" => true,
        "ilgpu-gemm" when !GemmOps.Contains(op) => false,
        _ => OpsTable.Steps(op, index).Work <= EmulatorBudget,
    };

    public static IEnumerable<object[]> Cases() =>
        OpsTable.Cases().SelectMany(c => Backends.Where(b => Runs(b, (string)c[0], (int)c[1])).Select(b => new object[] { b, c[0], c[1] }));

    [Fact]
    public void Every_op_runs_on_every_backend()
    {
        foreach (OpSpec spec in OpsTable.All)
        {
            int onDevice = Enumerable.Range(0, spec.CaseCount).Count(i => OpsTable.Steps(spec.Name, i).Work <= EmulatorBudget);
            Assert.True(onDevice >= 3, $"{spec.Name}: only {onDevice} of {spec.CaseCount} cases fit the emulator's budget");
        }
        var cases = Cases().ToList();
        Assert.Equal(OpsTable.Cases().Count(), cases.Count(c => (string)c[0] == "cpu"));
        // Every Linear and Conv2d case the emulator runs directly it runs on the GEMM route too.
        Assert.Equal(cases.Count(c => (string)c[0] == "ilgpu-cpu" && GemmOps.Contains((string)c[1])), cases.Count(c => (string)c[0] == "ilgpu-gemm"));
        Assert.True(cases.Count(c => (string)c[0] == "ilgpu-gemm" && (string)c[1] == "Conv2d") >= 3);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Forward_and_backward_match(string backend, string op, int index)
    {
        OpCase c = OpsTable.Get(op).Case(index);
        float[][] inputs = c.Inputs.Select(i => i.Values).ToArray();
        float[] dy = Data.Uniform(new Rng(21 + (ulong)index), c.OutputLength);
        var (y, grads) = Cpu(c, inputs, dy);
        if (backend == "cpu")
        {
            double[][] doubles = c.Inputs.Select(i => Data.ToDouble(i.Values)).ToArray();
            Data.AssertClose(y, c.ReferenceForward(doubles), Tolerance, $"{backend} {c} forward");
            double[]?[] expected = c.ReferenceBackward(doubles, Data.ToDouble(dy));
            for (int k = 0; k < inputs.Length; k++)
                Data.AssertClose(grads[k], expected[k]!.Select(v => c.Inputs[k].Role == Role.Param ? v + 3 : v).ToArray(), Tolerance, $"{backend} {c} d/d{c.Inputs[k].Name}");
            return;
        }

        StepCase steps = OpsTable.Steps(op, index);
        float[]?[] start = c.Inputs.Select(i => { var g = new float[i.Values.Length]; g.AsSpan().Fill(3f); return g; }).ToArray();
        float[] deviceY;
        float[]?[] deviceGrads;
        using (var s = new IlgpuSteps(backend == "ilgpu-gemm" ? GemmDevice.Value : Device.Value, op))
            (deviceY, deviceGrads) = steps.Run(s, [.. inputs.Select(i => (float[])i.Clone())], dy, start);
        Data.AssertClose(deviceY, Data.ToDouble(y), Tolerance, $"{backend} {c} forward");
        for (int k = 0; k < inputs.Length; k++)
            Data.AssertClose(deviceGrads[k], Data.ToDouble(grads[k]!), Tolerance, $"{backend} {c} d/d{c.Inputs[k].Name} ({c.Inputs[k].Role})");
    }

    /// <summary>The CPU kernels' forward, and their backward with every gradient starting at 3.</summary>
    private static (float[] Y, float[]?[] Grads) Cpu(OpCase c, float[][] inputs, float[] dy)
    {
        var y = new float[c.OutputLength];
        c.FastForward(inputs, y);
        float[]?[] grads = c.Inputs.Select(i => { var g = new float[i.Values.Length]; g.AsSpan().Fill(3f); return g; }).ToArray();
        c.FastBackward(inputs, (float[])y.Clone(), dy, grads);
        return (y, grads);
    }
}
