// Generated 32x32 colour images in 10 classes (no download needed): each class is an oriented, coloured stripe pattern.
using GraphCompiler;
using GraphCompiler.Data;

namespace Cifar;

/// <summary>
/// A CIFAR-10-shaped dataset made on the fly: class c draws stripes at angle c·18° in its own colour, with a random
/// phase, a random brightness and per-pixel noise, so a CNN has to learn orientation and colour, not memorise pixels.
/// Every sample depends only on (seed, index); all are drawn once, up front, so training time is training time.
/// </summary>
public sealed class SyntheticImages : IDataset
{
    private const int PerSample = 3 * 32 * 32;
    private readonly ulong _seed;
    private readonly float[] _pixels;
    private readonly int[] _labels;

    public SyntheticImages(int count, ulong seed)
    {
        Count = count;
        _seed = seed;
        _pixels = new float[count * PerSample];
        _labels = new int[count];
        Parallel.For(0, count, i => Draw(i, _pixels.AsSpan(i * PerSample, PerSample), out _labels[i]));
    }

    public int Count { get; }

    public int[] SampleShape => [3, 32, 32];

    public int NumClasses => 10;

    public void Get(int index, Span<float> sample, out int label)
    {
        _pixels.AsSpan(index * PerSample, PerSample).CopyTo(sample);
        label = _labels[index];
    }

    private void Draw(int index, Span<float> sample, out int label)
    {
        var rng = new Rng(_seed * 1_000_003UL + (ulong)index);
        label = rng.NextInt(10);
        float angle = label * MathF.PI / 10f;
        float fx = MathF.Cos(angle) * 0.6f, fy = MathF.Sin(angle) * 0.6f;
        float phase = rng.Uniform(0, 2 * MathF.PI), brightness = rng.Uniform(0.6f, 1.2f);
        Span<float> colour = [0.3f + 0.7f * ((label * 37) % 10) / 9f, 0.3f + 0.7f * ((label * 53 + 3) % 10) / 9f, 0.3f + 0.7f * ((label * 71 + 6) % 10) / 9f];
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 32; y++)
                for (int x = 0; x < 32; x++)
                {
                    float stripe = MathF.Sin(fx * x + fy * y + phase);
                    sample[(c * 32 + y) * 32 + x] = brightness * colour[c] * stripe + 1.5f * rng.Normal();
                }
    }
}
