// Tests of ToTensor, Normalize and Compose: exact values, vector/scalar agreement, per-channel statistics and misuse.
using GraphCompiler.Data;
using Xunit;

namespace GraphCompiler.Tests.Data;

public class TransformTests
{
    [Fact]
    public void ToTensor_convert_matches_scalar_division_at_every_length()
    {
        // Lengths around the vector width exercise the vector body and the scalar tail.
        for (int n = 0; n <= 200; n++)
        {
            byte[] src = Enumerable.Range(0, n).Select(i => (byte)(i * 37 + 11)).ToArray();
            var dst = new float[n + 3];
            dst[n] = 42f;
            ToTensor.Convert(src, dst);
            for (int i = 0; i < n; i++) Assert.Equal(src[i] / 255f, dst[i]);
            Assert.Equal(42f, dst[n]); // writes nothing past the source length
        }
    }

    [Fact]
    public void Lookup_matches_the_scalar_gather_at_every_length()
    {
        float[] table = Enumerable.Range(0, 256).Select(b => b * 0.5f - 3f).ToArray();
        for (int n = 0; n <= 100; n++)
        {
            byte[] src = Enumerable.Range(0, n).Select(i => (byte)(255 - i * 13)).ToArray();
            var dst = new float[n + 1];
            dst[n] = 42f;
            ToTensor.Lookup(src, dst, table);
            for (int i = 0; i < n; i++) Assert.Equal(table[src[i]], dst[i]);
            Assert.Equal(42f, dst[n]);
        }
        Assert.Throws<ArgumentException>(() => ToTensor.Lookup([1], new float[1], new float[255]));
    }

    [Fact]
    public void Fused_ToTensor_Normalize_is_bit_identical_to_the_two_steps()
    {
        // Compose fuses exactly [ToTensor, Normalize]; running the steps one by one must give the same bits.
        var rng = new Rng(5);
        byte[] pixels = new byte[3 * 17 * 19];
        for (int i = 0; i < pixels.Length; i++) pixels[i] = (byte)rng.NextInt(256);
        int[] shape = [3, 17, 19];
        var normalize = new Normalize([0.4914f, 0.4822f, 0.4465f], [0.247f, 0.243f, 0.261f]);

        var fused = new float[pixels.Length];
        new Compose(new ToTensor(), normalize).Apply(pixels, fused, shape);
        var stepwise = new float[pixels.Length];
        new ToTensor().Apply(pixels, stepwise, shape);
        normalize.Apply(stepwise, shape);
        Assert.Equal(stepwise.Select(BitConverter.SingleToInt32Bits), fused.Select(BitConverter.SingleToInt32Bits));
    }

    [Fact]
    public void Normalize_is_per_channel_on_CHW()
    {
        var norm = new Normalize([0.485f, 0.456f, 0.406f], [0.229f, 0.224f, 0.225f]);
        float[] x = Enumerable.Range(0, 3 * 2 * 2).Select(i => i / 12f).ToArray();
        float[] expected = x.Select((v, i) => (v - norm.Mean[i / 4]) / norm.Std[i / 4]).ToArray();
        norm.Apply(x, [3, 2, 2]);
        Assert.Equal(expected, x);
    }

    [Fact]
    public void Single_mean_and_std_broadcast_to_all_channels()
    {
        float[] x = [0f, 0.25f, 0.5f, 1f];
        new Normalize([0.5f], [0.5f]).Apply(x, [2, 1, 2]);
        Assert.Equal(new[] { -1f, -0.5f, 0f, 1f }, x);
    }

    [Fact]
    public void Normalize_rejects_bad_arguments()
    {
        Assert.Contains("2 means but 1 standard deviations", Assert.Throws<ArgumentException>(() => new Normalize([0f, 0f], [1f])).Message);
        Assert.Contains("std[1] is 0", Assert.Throws<ArgumentException>(() => new Normalize([0f, 0f], [1f, 0f])).Message);
        Assert.Contains("at least one", Assert.Throws<ArgumentException>(() => new Normalize([], [])).Message);
        var norm = new Normalize([0f, 0f], [1f, 1f]);
        Assert.Contains("2 means/stds but the sample has 3 channels", Assert.Throws<ArgumentException>(() => norm.Apply(new float[3], [3, 1, 1])).Message);
        Assert.Contains("needs 4", Assert.Throws<ArgumentException>(() => norm.Apply(new float[3], [2, 1, 2])).Message);
    }

    [Fact]
    public void Compose_runs_in_order_and_checks_the_order()
    {
        var compose = new Compose(new ToTensor(), new Normalize([0.5f], [0.5f]), new Normalize([1f], [2f]));
        var dst = new float[2];
        compose.Apply([0, 255], dst, [1, 1, 2]);
        Assert.Equal(new[] { (-1f - 1f) / 2f, (1f - 1f) / 2f }, dst);
        Assert.Equal("Compose(ToTensor(), Normalize(mean=(0.5), std=(0.5)), Normalize(mean=(1), std=(2)))", compose.ToString());

        Assert.Contains("start with ToTensor()", Assert.Throws<ArgumentException>(() => new Compose(new Normalize([0f], [1f]))).Message);
        Assert.Contains("only the first step", Assert.Throws<ArgumentException>(() => new Compose(new ToTensor(), new ToTensor())).Message);
        Assert.Contains("put ToTensor() before it", Assert.Throws<InvalidOperationException>(() => new Normalize([0f], [1f]).Apply([1], new float[1], [1, 1, 1])).Message);
    }
}
