// The calls a PyTorch user makes on a model without a trainer: zero_grad, and loss.backward() leaving each parameter's grad filled.
using GraphCompiler.Nn;
using GraphCompiler.Training;

namespace GraphCompiler;

/// <summary>
/// <c>model.ZeroGrad()</c> and <c>model.Backward(inputs, targets, loss)</c> for any compiled model: PyTorch's
/// <c>model.zero_grad()</c> and <c>loss_fn(model(x), y).backward()</c>, with no optimizer. The gradients land in each
/// <see cref="Parameter.Grad"/>, where an optimizer, gradient clipping or your own code reads them.
/// </summary>
public static class ModelCalls
{
    /// <summary>Sets every parameter's gradient to zero (PyTorch's <c>model.zero_grad()</c>), frozen ones included.</summary>
    public static void ZeroGrad(this ICompiledModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        IReadOnlyList<Parameter> parameters = model.Parameters();
        for (int i = 0; i < parameters.Count; i++) parameters[i].ZeroGrad();
    }

    /// <summary>
    /// Forward pass of <paramref name="inputs"/> (N, ...InputShape) in the model's current mode, <paramref name="loss"/>
    /// against one class index per sample (and position, for outputs (C, d1…)), and the backward pass: each trainable
    /// parameter's gradient is <b>added</b> to its <see cref="Parameter.Grad"/>, as PyTorch's <c>loss.backward()</c>
    /// accumulates (call <see cref="ZeroGrad"/> first for the gradient of this batch alone). Returns the loss. The batch
    /// runs whole, through a training workspace the model keeps and grows to the largest batch seen; BatchNorm's running
    /// statistics and the dropout step move as in a training step. Gradients equal those of a <see cref="Trainer"/> step
    /// before its optimizer update.
    /// </summary>
    public static float Backward(this ICompiledModel model, Tensor inputs, ReadOnlySpan<int> targets, Loss loss)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(loss);
        BatchChecks.InputTensor("Backward", model, inputs);
        CheckLoss(loss, classTargets: true);
        int n = inputs.Shape[0];
        if (n < 1) throw new ArgumentException($"Backward: the batch is empty (shape [{string.Join(", ", inputs.Shape)}]).", nameof(inputs));
        (int classes, int inner) = BatchChecks.ClassLayout("Backward", model, loss);
        BatchChecks.ClassTargets("Backward", loss, targets, n, classes, inner);
        return ModelRunner.Of(model).Backward(inputs, targets, loss, classes, inner);
    }

    /// <summary>
    /// <see cref="Backward(ICompiledModel, Tensor, ReadOnlySpan{int}, Loss)"/> for a loss over float targets shaped like
    /// the outputs, (N, ...OutputShape) (MSE, L1, SmoothL1, BCE, BCEWithLogits).
    /// </summary>
    public static float Backward(this ICompiledModel model, Tensor inputs, Tensor targets, Loss loss)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(loss);
        BatchChecks.InputTensor("Backward", model, inputs);
        CheckLoss(loss, classTargets: false);
        if (inputs.Shape[0] < 1) throw new ArgumentException($"Backward: the batch is empty (shape [{string.Join(", ", inputs.Shape)}]).", nameof(inputs));
        BatchChecks.TargetTensor("Backward", model, inputs, targets);
        return ModelRunner.Of(model).Backward(inputs, targets.Data, loss);
    }

    private static void CheckLoss(Loss loss, bool classTargets)
    {
        if (loss.Reduction == Reduction.None)
            throw new ArgumentException($"Backward: {loss.Name} with reduction none gives per-element losses, not a scalar to differentiate; use reduction mean or sum.", nameof(loss));
        if (loss.TakesClassTargets != classTargets)
            throw new ArgumentException(classTargets
                ? $"Backward: {loss.Name} takes float targets shaped like the output; pass them as a Tensor."
                : $"Backward: {loss.Name} takes class-index (int) targets; pass them as an int array.", "targets");
    }
}
