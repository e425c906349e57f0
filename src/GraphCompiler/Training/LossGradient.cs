// The loss of a forward pass and its gradient written where the generated Backward starts, shared by every CPU entry point that trains.
using GraphCompiler.Nn;

namespace GraphCompiler.Training;

/// <summary>
/// Computes a loss on a workspace's live batch and writes dLoss/doutput into <see cref="ModelWorkspace.OutputGrad"/> or,
/// when the schedule fuses the loss with a final LogSoftmax, dLoss/dlogits into <see cref="ModelWorkspace.LogitsGrad"/>
/// (setting <see cref="ModelWorkspace.LossGradAtLogits"/>). <see cref="Trainer"/> and the optimizer-free
/// <c>model.Backward</c> use it, so both give the same gradients. Callers check the batch first (<see cref="BatchChecks"/>).
/// </summary>
internal static class LossGradient
{
    /// <summary>A class-index loss over outputs (count, classes, inner); returns the loss.</summary>
    public static float OfClassTargets(ICompiledModel model, Loss loss, ModelWorkspace ws, ReadOnlySpan<int> targets, int classes, int inner)
    {
        int count = ws.Count;
        int size = count * classes * inner;
        targets = targets[..(count * inner)];
        // The schedule's loss fusion (a LogSoftmax over classes read by an NLL loss): one kernel gives the gradient at the
        // logits (softmax − onehot) / N.
        float value = 0;
        ws.LossGradAtLogits = ws.LogitsGrad is not null && model.Schedule.LossAtLogits(loss.Name)
            && loss.TryComputeAtLogits(ws.Output.AsSpan(0, size), targets, ws.LogitsGrad.AsSpan(0, size), count, classes, out value);
        if (!ws.LossGradAtLogits)
            value = loss.Compute(ws.Output.AsSpan(0, size), targets, ws.OutputGrad.AsSpan(0, size), [], count, classes, inner);
        return value;
    }

    /// <summary>A loss over float targets shaped like the output; returns the loss.</summary>
    public static float OfFloatTargets(Loss loss, ModelWorkspace ws, ReadOnlySpan<float> targets)
    {
        int size = ws.Count * ws.OutputPerSample;
        ws.LossGradAtLogits = false;
        return loss.Compute(ws.Output.AsSpan(0, size), targets[..size], ws.OutputGrad.AsSpan(0, size));
    }

    /// <summary>Multiplies the loss gradient by <paramref name="lossScale"/> (gradient accumulation, loss scaling).</summary>
    public static void Scale(ModelWorkspace ws, float lossScale)
    {
        if (lossScale == 1f) return;
        int size = ws.Count * ws.OutputPerSample;
        Span<float> grad = (ws.LossGradAtLogits ? ws.LogitsGrad! : ws.OutputGrad).AsSpan(0, size);
        System.Numerics.Tensors.TensorPrimitives.Multiply(grad, lossScale, grad);
    }
}
