// Gradient clipping with PyTorch's semantics: clip_grad_norm_ (with its 1e-6 epsilon) and clip_grad_value_.
using System.Numerics.Tensors;

namespace GraphCompiler.Nn;

/// <summary>
/// <c>torch.nn.utils.clip_grad_norm_</c> and <c>clip_grad_value_</c> over parameters' accumulated gradients.
/// Frozen parameters (<see cref="Parameter.RequiresGrad"/> false) are left out, as PyTorch leaves out parameters
/// whose grad is None.
/// </summary>
public static class GradClip
{
    /// <summary>
    /// Scales all gradients together so that their combined <paramref name="normType"/>-norm is at most
    /// <paramref name="maxNorm"/>: <c>clip_coef = maxNorm / (total_norm + 1e-6)</c>, applied only when below 1.
    /// Returns the total norm before clipping. <paramref name="normType"/> is any p &gt; 0 or
    /// <see cref="float.PositiveInfinity"/> (the largest magnitude). With <paramref name="errorIfNonfinite"/> (PyTorch's
    /// <c>error_if_nonfinite</c>), a NaN or infinite total norm throws an <see cref="ArithmeticException"/> naming the first
    /// parameter with a non-finite gradient and leaves every gradient as it is; otherwise the NaN norm is returned and
    /// the gradients become NaN, as in PyTorch.
    /// </summary>
    public static float ClipGradNorm(IEnumerable<Parameter> parameters, float maxNorm, float normType = 2, bool errorIfNonfinite = false)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (!(maxNorm >= 0)) throw new ArgumentOutOfRangeException(nameof(maxNorm), maxNorm, "max_norm must be non-negative.");
        if (!(normType > 0)) throw new ArgumentOutOfRangeException(nameof(normType), normType, "norm_type must be positive (or +infinity).");
        var grads = parameters.Where(p => p.RequiresGrad).Select(p => p.Grad).ToList();
        if (grads.Count == 0) return 0f;

        // Per-tensor reductions in SIMD float (as PyTorch reduces each gradient), combined across tensors in double.
        double total;
        if (float.IsPositiveInfinity(normType))
        {
            total = 0;
            foreach (var g in grads)
                if (g.Length > 0) total = Math.Max(total, Math.Abs(TensorPrimitives.MaxMagnitude(g)));
        }
        else if (normType == 2)
        {
            double sum = 0;
            foreach (var g in grads) sum += TensorPrimitives.SumOfSquares(g);
            total = Math.Sqrt(sum);
        }
        else if (normType == 1)
        {
            total = 0;
            foreach (var g in grads) total += TensorPrimitives.SumOfMagnitudes(g);
        }
        else
        {
            double sum = 0;
            foreach (var g in grads)
                foreach (float x in g) sum += Math.Pow(Math.Abs(x), normType); // rare norms: exactness over speed
            total = Math.Pow(sum, 1.0 / normType);
        }

        float totalNorm = (float)total;
        if (errorIfNonfinite && !float.IsFinite(totalNorm))
        {
            Parameter? bad = parameters.Where(p => p.RequiresGrad).FirstOrDefault(p => p.Grad.Any(g => !float.IsFinite(g)));
            throw new ArithmeticException(
                $"clip_grad_norm: the total norm of order {normType} of the gradients is {totalNorm}, so they cannot be clipped" +
                (bad is null ? " (the norm overflowed)." : $"; the first non-finite gradient is that of '{bad.Name}'. The gradients are left as they were."));
        }
        // PyTorch evaluates max_norm / (total + 1e-6) in float32 as reciprocal then multiply.
        float coef = maxNorm * (1f / (totalNorm + 1e-6f));
        if (coef < 1f)
            foreach (var g in grads) TensorPrimitives.Multiply(g, coef, g);
        return totalNorm;
    }

    /// <summary>Clamps every gradient element into [−<paramref name="clipValue"/>, <paramref name="clipValue"/>].</summary>
    public static void ClipGradValue(IEnumerable<Parameter> parameters, float clipValue)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (!(clipValue >= 0)) throw new ArgumentOutOfRangeException(nameof(clipValue), clipValue, "clip_value must be non-negative.");
        foreach (var p in parameters)
        {
            if (!p.RequiresGrad) continue;
            TensorPrimitives.Min(p.Grad, clipValue, p.Grad);
            TensorPrimitives.Max(p.Grad, -clipValue, p.Grad);
        }
    }
}
