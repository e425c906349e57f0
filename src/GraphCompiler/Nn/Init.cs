// PyTorch's default parameter initialisation for Linear and Conv2d, drawn from our seeded generator.
namespace GraphCompiler.Nn;

public static class Init
{
    /// <summary>
    /// <c>kaiming_uniform_(w, a=√5)</c>, PyTorch's default for Linear and Conv2d weights: gain √(2/(1+a²)) = √(1/3),
    /// so the bound is gain·√(3/fan_in) = 1/√fan_in.
    /// </summary>
    public static void KaimingUniform(Span<float> weight, int fanIn, Rng rng, float a = 2.2360679774997896f)
    {
        float gain = MathF.Sqrt(2f / (1f + a * a));
        float bound = gain * MathF.Sqrt(3f / fanIn);
        Uniform(weight, -bound, bound, rng);
    }

    /// <summary>PyTorch's default bias: uniform in ±1/√fan_in.</summary>
    public static void BiasUniform(Span<float> bias, int fanIn, Rng rng)
    {
        float bound = fanIn > 0 ? 1f / MathF.Sqrt(fanIn) : 0f;
        Uniform(bias, -bound, bound, rng);
    }

    public static void Uniform(Span<float> values, float low, float high, Rng rng)
    {
        for (int i = 0; i < values.Length; i++) values[i] = rng.Uniform(low, high);
    }
}
