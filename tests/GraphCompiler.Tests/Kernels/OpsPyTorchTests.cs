// The CPU kernels against PyTorch 1.13 on single ops with every option: outputs and gradients from
// tests/reference/make_ops_reference.py (Reference/ops.safetensors), within 1e-4 of each tensor's scale.
using System.Text.Json;
using GraphCompiler.Backends.Cpu;
using GraphCompiler.IO;
using Xunit;
using GraphCompiler.Compiler;

namespace GraphCompiler.Tests.Kernels;

public class OpsPyTorchTests
{
    private static readonly Lazy<SafeTensorFile> File =
        new(() => SafeTensors.ReadWithMetadata(Path.Combine(AppContext.BaseDirectory, "Reference", "ops.safetensors")));

    private static IEnumerable<JsonElement> AllCases() => JsonDocument.Parse(File.Value.Metadata["cases"]).RootElement.EnumerateArray();

    public static TheoryData<string> Cases()
    {
        var data = new TheoryData<string>();
        foreach (var c in AllCases()) data.Add(c.GetProperty("name").GetString()!);
        return data;
    }

    [Fact]
    public void EveryOptionIsCovered()
    {
        var ops = AllCases().Select(c => c.GetProperty("op").GetString()).ToHashSet();
        Assert.Equal(["conv2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "leaky_relu", "sigmoid", "tanh", "gelu", "silu", "softmax", "log_softmax"], ops);
        Assert.Equal(39, AllCases().Count());
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void ForwardAndBackwardMatchPyTorch(string name)
    {
        JsonElement c = AllCases().Single(e => e.GetProperty("name").GetString() == name);
        JsonElement a = c.GetProperty("args");
        float[] T(string key) => File.Value.Tensors[$"{name}.{key}"].AsFloat();
        int[] Shape(string key) => File.Value.Tensors[$"{name}.{key}"].ShapeArray();
        float[] x = T("x"), dy = T("dy"), yRef = T("y"), dxRef = T("dx");
        int[] s = Shape("x");
        float[] y = new float[yRef.Length], dx = new float[x.Length];
        y.AsSpan().Fill(float.NaN);
        switch (c.GetProperty("op").GetString())
        {
            case "conv2d":
            {
                int[] k = Ints(a, "kernel"), st = Ints(a, "stride"), p = Ints(a, "pads"), d = Ints(a, "dilation");
                int groups = a.GetProperty("groups").GetInt32();
                bool bias = a.GetProperty("bias").GetBoolean();
                int[] ys = Shape("y");
                var g = new Conv2dGeometry(s[1], ys[1], s[2], s[3], k[0], k[1], st[0], st[1], p[0], p[1], p[2], p[3], d[0], d[1], groups);
                Assert.Equal((ys[2], ys[3]), (g.OutH, g.OutW));
                float[] w = T("w"), b = bias ? T("b") : [];
                float[] dw = new float[w.Length], db = new float[b.Length];
                Conv2dKernels.Forward(x, w, b, y, g, s[0]);
                Conv2dKernels.BackwardInput(dy, w, dx, g, s[0]);
                Conv2dKernels.BackwardParams(dy, x, dw, db, g, s[0]);
                Close($"{name} dw", T("dw"), dw);
                if (bias) Close($"{name} db", T("db"), db);
                break;
            }
            case "max_pool2d":
            {
                var g = Pool(a, s, countIncludePad: true);
                var argmax = new int[y.Length];
                MaxPool2dKernels.Forward(x, y, argmax, g, s[0]);
                MaxPool2dKernels.Backward(dy, argmax, dx, g, s[0]);
                break;
            }
            case "avg_pool2d":
            {
                var g = Pool(a, s, a.GetProperty("count_include_pad").GetBoolean());
                AvgPool2dKernels.Forward(x, y, g, s[0]);
                AvgPool2dKernels.Backward(dy, dx, g, s[0]);
                break;
            }
            case "adaptive_avg_pool2d":
            {
                int[] o = Ints(a, "output");
                var g = new AdaptivePool2dGeometry(s[1], s[2], s[3], o[0], o[1]);
                AdaptiveAvgPool2dKernels.Forward(x, y, g, s[0]);
                AdaptiveAvgPool2dKernels.Backward(dy, dx, g, s[0]);
                break;
            }
            case "leaky_relu":
            {
                var act = Elementwise.LeakyRelu(a.GetProperty("negative_slope").GetSingle());
                ElementwiseKernels.Forward(x, y, act);
                ElementwiseKernels.Backward(act.DerivativeFromOutput ? y : x, dy, dx, act);
                break;
            }
            case "sigmoid" or "tanh":
            {
                var act = c.GetProperty("op").GetString() == "tanh" ? Elementwise.Tanh : Elementwise.Sigmoid;
                ElementwiseKernels.Forward(x, y, act);
                ElementwiseKernels.Backward(y, dy, dx, act);
                break;
            }
            case "gelu":
            {
                bool tanh = a.GetProperty("approximate").GetString() == "tanh";
                ElementwiseKernels.Forward(x, y, Elementwise.Gelu(tanh));
                ElementwiseKernels.Backward(x, dy, dx, Elementwise.Gelu(tanh));
                break;
            }
            case "silu":
                ElementwiseKernels.Forward(x, y, Elementwise.Silu);
                ElementwiseKernels.Backward(x, dy, dx, Elementwise.Silu);
                break;
            case "softmax" or "log_softmax":
            {
                int dim = a.GetProperty("dim").GetInt32();
                if (dim < 0) dim += s.Length;
                int outer = s.Take(dim).Aggregate(1, (p, v) => p * v), inner = s.Skip(dim + 1).Aggregate(1, (p, v) => p * v);
                if (c.GetProperty("op").GetString() == "softmax")
                {
                    SoftmaxKernels.Forward(x, y, outer, s[dim], inner);
                    SoftmaxKernels.Backward(y, dy, dx, outer, s[dim], inner);
                }
                else
                {
                    LogSoftmaxKernels.Forward(x, y, outer, s[dim], inner);
                    LogSoftmaxKernels.Backward(y, dy, dx, outer, s[dim], inner);
                }
                break;
            }
            default:
                throw new InvalidOperationException($"No kernel for op '{c.GetProperty("op")}' in case {name}.");
        }
        Close($"{name} y", yRef, y);
        Close($"{name} dx", dxRef, dx);
    }

    private static Pool2dGeometry Pool(JsonElement a, int[] s, bool countIncludePad)
    {
        int[] k = Ints(a, "kernel"), st = Ints(a, "stride"), p = Ints(a, "padding");
        int[] d = a.TryGetProperty("dilation", out _) ? Ints(a, "dilation") : [1, 1];
        return new Pool2dGeometry(s[1], s[2], s[3], k[0], k[1], st[0], st[1], p[0], p[1], p[0], p[1], d[0], d[1],
            a.GetProperty("ceil_mode").GetBoolean() ? 1 : 0, countIncludePad ? 1 : 0);
    }

    private static int[] Ints(JsonElement a, string key) => a.GetProperty(key).EnumerateArray().Select(e => e.GetInt32()).ToArray();

    /// <summary>max|a − ref| ≤ 1e-4 · max|ref| (see tests/reference/README.md for why per-tensor scale).</summary>
    private static void Close(string what, float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        double scale = expected.Max(v => Math.Abs((double)v));
        for (int i = 0; i < expected.Length; i++)
        {
            double diff = Math.Abs((double)actual[i] - expected[i]);
            if (!(diff <= 1e-4 * scale))
                Assert.Fail($"{what}[{i}]: expected {expected[i]:R}, got {actual[i]:R} (|diff| {diff:E2}, tensor max {scale:E2})");
        }
    }
}
