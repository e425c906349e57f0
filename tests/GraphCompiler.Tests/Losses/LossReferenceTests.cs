// Every loss and option against PyTorch 1.13's values and gradients (Reference/losses.safetensors, made by tests/reference/make_loss_reference.py).
using System.Text.Json;
using GraphCompiler.IO;
using GraphCompiler.Nn;
using KernelData = GraphCompiler.Tests.Kernels.Data;
using Xunit;

namespace GraphCompiler.Tests.Losses;

public class LossReferenceTests
{
    // |ours − torch| ≤ 1e-5·(|torch| + max|torch| of the tensor): relative, with the tensor's scale as the floor for entries
    // that cancel to near zero (KernelData.AssertClose). The torch values are float64 computations on our float32 inputs.
    private const double Tolerance = 1e-5;

    private static readonly Lazy<SafeTensorFile> File = new(() =>
        SafeTensors.ReadWithMetadata(Path.Combine(AppContext.BaseDirectory, "Reference", "losses.safetensors")));

    public static IEnumerable<object[]> Cases() => File.Value.Metadata["cases"].Split(',').Select(c => new object[] { c });

    [Fact]
    public void TheFileCoversEveryLossAndOption()
    {
        var options = Cases().Select(c => Options((string)c[0])).ToList();
        Assert.Equal(54, options.Count);
        string[] losses = ["cross_entropy", "nll_loss", "mse_loss", "l1_loss", "smooth_l1_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits"];
        foreach (string loss in losses)
            foreach (string reduction in new[] { "mean", "sum", "none" })
                Assert.Contains(options, o => o.GetProperty("loss").GetString() == loss && o.GetProperty("reduction").GetString() == reduction);
        Assert.Contains(Cases(), c => ((string)c[0]).StartsWith("ce_smooth_weight_ignore", StringComparison.Ordinal));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void LossAndGradientMatchPyTorch(string name)
    {
        JsonElement o = Options(name);
        var tensors = File.Value.Tensors;
        SafeTensor input = tensors[name + ".input"];
        float[] x = input.AsFloat();
        double[] expectedLoss = tensors[name + ".loss"].AsDouble();
        double[] expectedGrad = tensors[name + ".grad"].AsDouble();
        Loss loss = Build(o, tensors, name);
        Assert.Equal(o.GetProperty("loss").GetString(), loss.Name);
        var grad = new float[x.Length];
        grad.AsSpan().Fill(float.NaN); // every element must be written
        float value;
        float[] perElement;
        if (loss.TakesClassTargets)
        {
            int[] shape = input.ShapeArray();
            int n = shape[0], c = shape[1], inner = shape.Skip(2).Aggregate(1, (a, b) => a * b);
            int[] targets = tensors[name + ".target"].AsInt32();
            perElement = new float[n * inner];
            value = loss.Compute(x, targets, grad, perElement, n, c, inner);
        }
        else
        {
            float[] targets = tensors[name + ".target"].AsFloat();
            perElement = new float[x.Length];
            value = loss.Compute(x, targets, grad, perElement);
        }
        if (loss.Reduction == Reduction.None)
        {
            KernelData.AssertClose(perElement, expectedLoss, Tolerance, $"{name} per-element losses");
            KernelData.AssertClose([value], [expectedLoss.Sum()], Tolerance, $"{name} sum of the per-element losses");
        }
        else KernelData.AssertClose([value], expectedLoss, Tolerance, $"{name} loss");
        KernelData.AssertClose(grad, expectedGrad, Tolerance, $"{name} gradient");
    }

    private static JsonElement Options(string name) => JsonDocument.Parse(File.Value.Metadata[name]).RootElement;

    private static Loss Build(JsonElement o, IReadOnlyDictionary<string, SafeTensor> tensors, string name)
    {
        float[]? Tensor(string suffix) => tensors.TryGetValue(name + suffix, out var t) ? t.AsFloat() : null;
        float Number(string key, float fallback) => o.TryGetProperty(key, out var v) ? v.GetSingle() : fallback;
        Reduction reduction = o.GetProperty("reduction").GetString() switch
        {
            "mean" => Reduction.Mean,
            "sum" => Reduction.Sum,
            "none" => Reduction.None,
            var r => throw new InvalidDataException($"{name}: unknown reduction {r}"),
        };
        int ignoreIndex = o.TryGetProperty("ignore_index", out var ii) ? ii.GetInt32() : -100;
        return o.GetProperty("loss").GetString() switch
        {
            "cross_entropy" => new CrossEntropyLoss(Tensor(".weight"), ignoreIndex, Number("label_smoothing", 0f), reduction),
            "nll_loss" => new NllLoss(Tensor(".weight"), ignoreIndex, reduction),
            "mse_loss" => new MseLoss(reduction),
            "l1_loss" => new L1Loss(reduction),
            "smooth_l1_loss" => new SmoothL1Loss(Number("beta", 1f), reduction),
            "binary_cross_entropy" => new BceLoss(Tensor(".weight"), reduction),
            "binary_cross_entropy_with_logits" => new BceWithLogitsLoss(Tensor(".weight"), Tensor(".pos_weight"), reduction),
            var l => throw new InvalidDataException($"{name}: unknown loss {l}"),
        };
    }
}
