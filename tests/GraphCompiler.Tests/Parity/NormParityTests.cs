// BatchNorm1d/2d and LayerNorm layers against PyTorch 1.13: outputs, every gradient and the running statistics over
// several training steps, then eval mode (tests/reference/make_norm_reference.py → Reference/Norms.safetensors).
using GraphCompiler.IO;
using GraphCompiler.Nn;
using Xunit;
using KernelData = GraphCompiler.Tests.Kernels.Data;

namespace GraphCompiler.Tests.Parity;

public class NormParityTests
{
    private const double Tolerance = 1e-4;
    private const int Steps = 3;

    private static readonly Lazy<IReadOnlyDictionary<string, SafeTensor>> Reference =
        new(() => SafeTensors.Read(Path.Combine(AppContext.BaseDirectory, "Reference", "Norms.safetensors")));

    // The script's BN_CASES, by name: the layer as PyTorch built it.
    private static readonly string[] BatchNormNames = ["bn1d_nc", "bn1d_nc_cumulative_noaffine", "bn1d_ncl", "bn2d", "bn2d_noaffine", "bn2d_notrack"];

    public static TheoryData<string> BatchNormCases => new(BatchNormNames);

    private static BatchNorm MakeBatchNorm(string name) => name switch
    {
        "bn1d_nc" => new BatchNorm1d(name, 5),
        "bn1d_nc_cumulative_noaffine" => new BatchNorm1d(name, 5, affine: false, momentum: null),
        "bn1d_ncl" => new BatchNorm1d(name, 4),
        "bn2d" => new BatchNorm2d(name, 3, eps: 1e-3f, momentum: 0.3f),
        "bn2d_noaffine" => new BatchNorm2d(name, 3, affine: false),
        "bn2d_notrack" => new BatchNorm2d(name, 3, trackRunningStats: false),
        _ => throw new ArgumentException(name),
    };

    [Theory]
    [MemberData(nameof(BatchNormCases))]
    public void BatchNorm_matches_PyTorch_over_training_steps_and_in_eval_mode(string name)
    {
        var r = Reference.Value;
        BatchNorm bn = MakeBatchNorm(name);
        if (bn.Affine)
        {
            r[name + ".weight"].AsFloat().CopyTo(bn.Weight!.Data, 0);
            r[name + ".bias"].AsFloat().CopyTo(bn.Bias!.Data, 0);
        }
        for (int s = 0; s < Steps; s++)
        {
            string p = $"{name}.train.{s}";
            RunBatchNormStep(bn, r, p, training: true);
            if (bn.TrackRunningStats)
            {
                Close(bn.RunningMean!.Data, r[p + ".running_mean"], p + ".running_mean");
                Close(bn.RunningVar!.Data, r[p + ".running_var"], p + ".running_var");
                Assert.Equal(r[p + ".num_batches_tracked"].AsInt64()[0], bn.NumBatchesTracked!.Int64Data[0]);
            }
        }
        RunBatchNormStep(bn, r, name + ".eval", training: false);
        if (bn.TrackRunningStats) Assert.Equal(Steps, bn.NumBatchesTracked!.Int64Data[0]); // eval mode counts nothing
    }

    private static void RunBatchNormStep(BatchNorm bn, IReadOnlyDictionary<string, SafeTensor> r, string p, bool training)
    {
        SafeTensor input = r[p + ".input"];
        int n = input.Shape[0], c = input.Shape[1], spatial = input.Count / (n * c);
        Assert.Equal(bn.NumFeatures, c);
        float[] x = input.AsFloat(), y = new float[x.Length], dx = new float[x.Length], mean = new float[c], invStd = new float[c];
        foreach (Parameter q in bn.Parameters()) q.ZeroGrad();
        bn.Forward(x, y, mean, invStd, n, spatial, training);
        bn.Backward(r[p + ".dy"].AsFloat(), x, mean, invStd, dx, n, spatial, training);
        Close(y, r[p + ".output"], p + ".output");
        Close(dx, r[p + ".grad.input"], p + ".grad.input");
        if (bn.Affine)
        {
            Close(bn.Weight!.Grad, r[p + ".grad.weight"], p + ".grad.weight");
            Close(bn.Bias!.Grad, r[p + ".grad.bias"], p + ".grad.bias");
        }
    }

    private static readonly string[] LayerNormNames = ["ln_last", "ln_chw", "ln_hw_noaffine", "ln_eps"];

    public static TheoryData<string> LayerNormCases => new(LayerNormNames);

    [Theory]
    [MemberData(nameof(LayerNormCases))]
    public void LayerNorm_matches_PyTorch(string name)
    {
        var r = Reference.Value;
        LayerNorm ln = name switch
        {
            "ln_last" => new LayerNorm(name, [10]),
            "ln_chw" => new LayerNorm(name, [3, 4, 5]),
            "ln_hw_noaffine" => new LayerNorm(name, [4, 5], elementwiseAffine: false),
            "ln_eps" => new LayerNorm(name, [7], eps: 1e-3f),
            _ => throw new ArgumentException(name),
        };
        if (ln.ElementwiseAffine)
        {
            r[name + ".weight"].AsFloat().CopyTo(ln.Weight!.Data, 0);
            r[name + ".bias"].AsFloat().CopyTo(ln.Bias!.Data, 0);
        }
        float[] x = r[name + ".input"].AsFloat(), y = new float[x.Length], dx = new float[x.Length];
        int rows = x.Length / ln.Size;
        float[] mean = new float[rows], invStd = new float[rows];
        ln.Forward(x, y, mean, invStd, rows);
        ln.Backward(r[name + ".dy"].AsFloat(), x, mean, invStd, dx, rows);
        Close(y, r[name + ".output"], name + ".output");
        Close(dx, r[name + ".grad.input"], name + ".grad.input");
        if (ln.ElementwiseAffine)
        {
            Close(ln.Weight!.Grad, r[name + ".grad.weight"], name + ".grad.weight");
            Close(ln.Bias!.Grad, r[name + ".grad.bias"], name + ".grad.bias");
        }
    }

    [Fact]
    public void The_reference_covers_every_case_and_nothing_else()
    {
        // Each case's tensors are read by the tests above; a name here without a test (or the reverse) is a stale table.
        var names = Reference.Value.Keys.Select(k => k.Split('.')[0]).Where(k => k != "seq").ToHashSet();
        var cases = BatchNormNames.Concat(LayerNormNames).ToHashSet();
        Assert.Equal(cases.Order(), names.Order());
    }

    private static void Close(float[] actual, SafeTensor expected, string what) =>
        KernelData.AssertClose(actual, expected.AsDouble(), Tolerance, what);
}
