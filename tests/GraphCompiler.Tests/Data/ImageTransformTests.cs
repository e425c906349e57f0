// Tests of Resize, CenterCrop, Normalize against torchvision's outputs, and of RandomCrop, RandomHorizontalFlip and Compose's byte stage.
using GraphCompiler.Data;
using GraphCompiler.IO;
using Xunit;

namespace GraphCompiler.Tests.Data;

public class ImageTransformTests
{
    private static readonly Lazy<IReadOnlyDictionary<string, SafeTensor>> Reference =
        new(() => SafeTensors.Read(Path.Combine(AppContext.BaseDirectory, "Reference", "Transforms.safetensors")));

    private static float[] Input => Reference.Value["input"].AsFloat();

    private static readonly int[] InputShape = [3, 13, 17];

    private static byte[] InputBytes => Reference.Value["input_bytes"].AsInt32().Select(v => (byte)v).ToArray();

    private static float[] Run(Transform t, float[] source, int[] shape, SampleContext? context = null)
    {
        var output = new float[Transform.SizeOf(t.OutputShape(shape))];
        t.Apply(source, shape, output, context ?? new SampleContext());
        return output;
    }

    private static void Close(float[] expected, float[] actual, float tolerance)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            if (!(Math.Abs(expected[i] - actual[i]) <= tolerance))
                Assert.Fail($"element {i}: expected {expected[i]}, got {actual[i]} (difference {Math.Abs(expected[i] - actual[i])}, tolerance {tolerance})");
        }
    }

    [Theory]
    [InlineData(32, 40)] // upscale
    [InlineData(26, 34)] // exactly 2x
    [InlineData(5, 7)] // downscale
    [InlineData(20, 11)] // non-integer ratios, up in height and down in width
    [InlineData(9, 30)] // down in height, up in width
    [InlineData(13, 17)] // identity
    [InlineData(1, 1)]
    [InlineData(7, 17)] // one axis unchanged
    public void Resize_matches_torch_interpolate_bilinear(int height, int width)
    {
        SafeTensor expected = Reference.Value[$"resize.{height}x{width}"];
        var resize = new Resize(height, width);
        Assert.Equal(new[] { 3, height, width }, resize.OutputShape(InputShape));
        Assert.Equal(expected.Shape, resize.OutputShape(InputShape));
        Close(expected.AsFloat(), Run(resize, Input, InputShape), 1e-5f);
    }

    [Fact]
    public void Resize_in_a_compose_after_ToTensor_matches_torch()
    {
        var compose = new Compose(new ToTensor(), new Resize(20, 11));
        int[] shape = compose.OutputShape(InputShape);
        Assert.Equal(new[] { 3, 20, 11 }, shape);
        var sample = new float[3 * 20 * 11];
        compose.Apply(InputBytes, InputShape, sample, new SampleContext());
        Close(Reference.Value["resize.20x11"].AsFloat(), sample, 1e-5f);
    }

    [Fact]
    public void Resize_of_the_shorter_side_keeps_the_aspect_ratio_like_torchvision()
    {
        // torchvision: new_long = int(size * long / short).
        Assert.Equal(new[] { 3, 10, 13 }, new Resize(10).OutputShape(InputShape)); // 10 * 17 / 13 = 13.07
        Assert.Equal(new[] { 1, 37, 24 }, new Resize(24).OutputShape([1, 50, 32])); // 24 * 50 / 32 = 37.5
        Assert.Equal(new[] { 1, 8, 8 }, new Resize(8).OutputShape([1, 5, 5]));
    }

    [Fact]
    public void Normalize_matches_torchvision()
    {
        var normalize = new Normalize([0.4914f, 0.4822f, 0.4465f], [0.247f, 0.243f, 0.261f]);
        Close(Reference.Value["normalize"].AsFloat(), Run(normalize, Input, InputShape), 1e-5f);
        // The fused byte path gives the same values.
        var fused = new float[Input.Length];
        new Compose(new ToTensor(), normalize).Apply(InputBytes, InputShape, fused, new SampleContext());
        Close(Reference.Value["normalize"].AsFloat(), fused, 1e-5f);
    }

    [Theory]
    [InlineData(8, 8)] // margins 2.5 and 4.5: Python rounds half to even
    [InlineData(13, 10)]
    [InlineData(4, 15)]
    [InlineData(16, 20)] // larger than the image: zero padding
    public void CenterCrop_matches_torchvision_exactly(int height, int width)
    {
        SafeTensor expected = Reference.Value[$"center_crop.{height}x{width}"];
        var crop = new CenterCrop(height, width);
        Assert.Equal(expected.Shape, crop.OutputShape(InputShape));
        Assert.Equal(expected.AsFloat(), Run(crop, Input, InputShape));
        // Before ToTensor (on bytes) it gives the same result.
        var sample = new float[height * width * 3];
        new Compose(crop, new ToTensor()).Apply(InputBytes, InputShape, sample, new SampleContext());
        Assert.Equal(expected.AsFloat(), sample);
    }

    private static float[] Ramp(int n) => Enumerable.Range(0, n).Select(i => (float)(i + 1)).ToArray();

    [Fact]
    public void RandomCrop_takes_every_window_of_the_padded_image_and_pads_with_fill()
    {
        // A 1x4x4 image padded by 1 gives 6x6; a 4x4 crop has 3x3 possible origins.
        int[] shape = [1, 4, 4];
        float[] image = Ramp(16);
        var crop = new RandomCrop(4, padding: 1, fill: -1f);
        var seen = new HashSet<(int, int)>();
        var context = new SampleContext(seed: 3);
        for (int index = 0; index < 400; index++)
        {
            context.BeginSample(index);
            float[] output = Run(crop, image, shape, context);
            // Recover the window origin from where the image's first element landed, then check every element.
            int found = -1;
            for (int top = -1; top <= 1 && found < 0; top++)
            {
                for (int left = -1; left <= 1 && found < 0; left++)
                {
                    bool match = true;
                    for (int y = 0; y < 4 && match; y++)
                    {
                        for (int x = 0; x < 4 && match; x++)
                        {
                            int sy = y + top, sx = x + left;
                            float want = sy is >= 0 and < 4 && sx is >= 0 and < 4 ? image[sy * 4 + sx] : -1f;
                            match = output[y * 4 + x] == want;
                        }
                    }
                    if (match)
                    {
                        found = 1;
                        seen.Add((top, left));
                    }
                }
            }
            Assert.True(found > 0, $"sample {index}: the output is not a window of the padded image");
        }
        Assert.Equal(9, seen.Count);
    }

    [Fact]
    public void RandomCrop_is_a_function_of_the_sample_seed()
    {
        int[] shape = [3, 8, 8];
        float[] image = Ramp(3 * 64);
        var crop = new RandomCrop(6, padding: 2);
        var a = new SampleContext(seed: 1, epoch: 2);
        var b = new SampleContext(seed: 1, epoch: 2);
        a.BeginSample(5);
        Run(crop, image, shape, a); // a has drawn already; reseeding must erase that
        a.BeginSample(7);
        b.BeginSample(7);
        Assert.Equal(Run(crop, image, shape, b), Run(crop, image, shape, a));
        // Different epochs give different crops for most samples.
        int differ = 0;
        for (int i = 0; i < 50; i++)
        {
            var e0 = new SampleContext(1, 0);
            var e1 = new SampleContext(1, 1);
            e0.BeginSample(i);
            e1.BeginSample(i);
            if (!Run(crop, image, shape, e0).SequenceEqual(Run(crop, image, shape, e1))) differ++;
        }
        Assert.True(differ > 30, $"only {differ} of 50 samples changed crop between epochs");
    }

    [Fact]
    public void RandomCrop_pad_if_needed_and_misuse()
    {
        var crop = new RandomCrop(6, 5, padding: null, padIfNeeded: true);
        Assert.Equal(new[] { 1, 6, 5 }, crop.OutputShape([1, 4, 3]));
        float[] output = Run(crop, Ramp(12), [1, 4, 3]);
        Assert.Equal(30, output.Length);
        Assert.Equal(12, output.Count(v => v != 0f)); // the whole image fits and lands somewhere in the window

        Assert.Contains("larger than the input image size (4, 3)",
            Assert.Throws<ArgumentException>(() => new RandomCrop(6).OutputShape([1, 4, 3])).Message);
        Assert.Contains("1, 2 or 4 values", Assert.Throws<ArgumentException>(() => new RandomCrop(4, 4, [1, 2, 3])).Message);
        // A fractional fill cannot be a byte: clear error when the crop runs before ToTensor.
        var compose = new Compose(new RandomCrop(4, padding: 1, fill: 0.5f), new ToTensor());
        var ex = Assert.Throws<InvalidOperationException>(() => compose.Apply(new byte[16], [1, 4, 4], new float[16], new SampleContext()));
        Assert.Contains("whole number in 0..255", ex.Message);
    }

    [Fact]
    public void RandomHorizontalFlip_flips_with_probability_p()
    {
        int[] shape = [2, 3, 4];
        float[] image = Ramp(24);
        float[] mirrored = new float[24];
        for (int r = 0; r < 6; r++)
            for (int x = 0; x < 4; x++) mirrored[r * 4 + x] = image[r * 4 + 3 - x];

        Assert.Equal(mirrored, Run(new RandomHorizontalFlip(1f), image, shape));
        Assert.Equal(image, Run(new RandomHorizontalFlip(0f), image, shape));

        var flip = new RandomHorizontalFlip(0.3f);
        var context = new SampleContext(seed: 8);
        int flipped = 0;
        for (int i = 0; i < 2000; i++)
        {
            context.BeginSample(i);
            float[] output = Run(flip, image, shape, context);
            if (output.SequenceEqual(mirrored)) flipped++;
            else Assert.Equal(image, output);
        }
        Assert.InRange(flipped, 520, 680); // 600 expected; 4 standard deviations either side
        Assert.Throws<ArgumentOutOfRangeException>(() => new RandomHorizontalFlip(1.5f));
    }

    [Fact]
    public void Geometric_steps_on_bytes_before_ToTensor_equal_the_same_steps_on_floats_after()
    {
        // torchvision's CIFAR recipe puts RandomCrop and RandomHorizontalFlip before ToTensor; the result must be the same.
        int[] shape = [3, 13, 17];
        var normalize = new Normalize([0.5f, 0.4f, 0.3f], [0.2f, 0.25f, 0.3f]);
        var bytesFirst = new Compose(new RandomCrop(12, padding: 3), new RandomHorizontalFlip(), new ToTensor(), normalize);
        var floatsFirst = new Compose(new ToTensor(), new RandomCrop(12, padding: 3), new RandomHorizontalFlip(), normalize);
        Assert.Equal(new[] { 3, 12, 12 }, bytesFirst.OutputShape(shape));
        for (int i = 0; i < 20; i++)
        {
            var a = new SampleContext(4, 1);
            var b = new SampleContext(4, 1);
            a.BeginSample(i);
            b.BeginSample(i);
            var x = new float[3 * 144];
            var y = new float[3 * 144];
            bytesFirst.Apply(InputBytes, shape, x, a);
            floatsFirst.Apply(InputBytes, shape, y, b);
            Assert.Equal(y, x);
        }
    }

    [Fact]
    public void Compose_rejects_float_steps_before_ToTensor_and_pipelines_without_it()
    {
        Assert.Contains("comes before step 2 (ToTensor)",
            Assert.Throws<ArgumentException>(() => new Compose(new RandomCrop(4), new Resize(4, 4), new ToTensor())).Message);
        Assert.Contains("no step that converts",
            Assert.Throws<ArgumentException>(() => new Compose(new RandomCrop(4), new RandomHorizontalFlip())).Message);
        Assert.Contains("put it after ToTensor()",
            Assert.Throws<InvalidOperationException>(() => new Resize(2, 2).Apply(new byte[4], [1, 2, 2], new byte[4], new SampleContext())).Message);
        Assert.Contains("does not run in place", Assert.Throws<InvalidOperationException>(() => new Resize(2, 2).Apply(new float[4], [1, 2, 2])).Message);
    }

    [Fact]
    public void Compose_reuses_context_scratch_and_leaves_it_balanced()
    {
        var compose = new Compose(new RandomCrop(10, padding: 2), new ToTensor(), new Resize(16, 16), new RandomHorizontalFlip(), new CenterCrop(12));
        var context = new SampleContext();
        var sample = new float[3 * 144];
        byte[] pixels = InputBytes;
        // Warm up on enough samples that both flip branches and every code path have run (and been compiled).
        for (int i = 0; i < 50; i++)
        {
            context.BeginSample(i);
            compose.Apply(pixels, InputShape, sample, context);
        }
        Assert.Equal((0, 0), context.Mark());
        // The least of three rounds, so a one-off allocation by the runtime (tiering a method up) cannot fail the test.
        long least = long.MaxValue;
        for (int round = 0; round < 3; round++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 100; i++)
            {
                context.BeginSample(50 + round * 100 + i);
                compose.Apply(pixels, InputShape, sample, context);
            }
            least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        Assert.Equal(0, least);
    }
}
