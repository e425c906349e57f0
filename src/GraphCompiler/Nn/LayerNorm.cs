// A layer normalisation layer as torch.nn.LayerNorm holds it: normalized_shape, eps and the element-wise affine parameters.
using GraphCompiler.Backends.Cpu;

namespace GraphCompiler.Nn;

/// <summary>
/// <c>torch.nn.LayerNorm</c>: normalises over the trailing <see cref="NormalizedShape"/> dimensions of each sample, the
/// same in training and eval mode. Parameters <c>weight</c> (ones) and <c>bias</c> (zeros), of shape normalized_shape,
/// when <see cref="ElementwiseAffine"/>.
/// </summary>
public sealed class LayerNorm : Module
{
    public LayerNorm(string name, int[] normalizedShape, float eps = 1e-5f, bool elementwiseAffine = true)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(normalizedShape);
        if (normalizedShape.Length == 0 || normalizedShape.Any(d => d <= 0))
            throw new ArgumentException($"LayerNorm '{name}' needs a non-empty normalized_shape of positive sizes, got [{string.Join(", ", normalizedShape)}].", nameof(normalizedShape));
        if (!(eps > 0)) throw new ArgumentOutOfRangeException(nameof(eps), eps, $"LayerNorm '{name}': eps must be positive.");
        Name = name;
        NormalizedShape = (int[])normalizedShape.Clone();
        Size = normalizedShape.Aggregate(1, (a, d) => checked(a * d));
        Eps = eps;
        if (elementwiseAffine)
        {
            Weight = new Parameter(name + ".weight", NormalizedShape);
            Weight.Data.AsSpan().Fill(1f);
            Bias = new Parameter(name + ".bias", NormalizedShape);
        }
        Register(Weight, Bias);
    }

    /// <summary>
    /// The layer over the last dimension, of size <paramref name="normalizedShape"/> (PyTorch's <c>LayerNorm(int)</c>), as
    /// generated code constructs it; <paramref name="rng"/> is not drawn from (weight ones, bias zeros).
    /// </summary>
    public LayerNorm(string name, int normalizedShape, float eps = 1e-5f, bool elementwiseAffine = true, Rng? rng = null)
        : this(name, [normalizedShape], eps, elementwiseAffine)
    {
        _ = rng;
    }

    public override string Name { get; }

    /// <summary>The trailing dimensions normalised together.</summary>
    public int[] NormalizedShape { get; }

    /// <summary>The number of values normalised together: the product of <see cref="NormalizedShape"/>.</summary>
    public int Size { get; }

    public float Eps { get; }

    public bool ElementwiseAffine => Weight is not null;

    /// <summary>normalized_shape, ones at first; null without <see cref="ElementwiseAffine"/>.</summary>
    public Parameter? Weight { get; }

    /// <summary>normalized_shape, zeros at first; null without <see cref="ElementwiseAffine"/>.</summary>
    public Parameter? Bias { get; }

    /// <summary>Normalises x (rows, <see cref="Size"/>) into y, writing each row's mean and 1/σ (rows) for <see cref="Backward"/>. y may be x.</summary>
    public void Forward(ReadOnlySpan<float> x, Span<float> y, Span<float> mean, Span<float> invStd, int rows) =>
        LayerNormKernels.Forward(x, Weight is null ? default : Weight.Data, Bias is null ? default : Bias.Data, y, mean, invStd, rows, Size, Eps);

    /// <summary>The input gradient alone: dx overwritten (may be dy).</summary>
    public void BackwardInput(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> mean, ReadOnlySpan<float> invStd, Span<float> dx, int rows) =>
        LayerNormKernels.Backward(dy, x, Weight is null ? default : Weight.Data, mean, invStd, dx, default, default, rows, Size);

    /// <summary>The parameter gradients alone, accumulated into those that require them.</summary>
    public void BackwardParams(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> mean, ReadOnlySpan<float> invStd, int rows) =>
        Backward(dy, x, mean, invStd, default, rows);

    /// <summary>Overwrites dx (unless empty; may be dy) and accumulates into the gradients of the parameters that require them.</summary>
    public void Backward(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> mean, ReadOnlySpan<float> invStd, Span<float> dx, int rows)
    {
        Span<float> dw = Weight is { RequiresGrad: true } ? Weight.Grad : default, db = Bias is { RequiresGrad: true } ? Bias.Grad : default;
        LayerNormKernels.Backward(dy, x, Weight is null ? default : Weight.Data, mean, invStd, dx, dw, db, rows, Size);
    }

    public override string ToString() =>
        $"LayerNorm(({string.Join(", ", NormalizedShape)}{(NormalizedShape.Length == 1 ? "," : "")}), eps={Eps.ToString("G", System.Globalization.CultureInfo.InvariantCulture)}, elementwise_affine={(ElementwiseAffine ? "True" : "False")})";
}
