// What a training loop needs from a trainer on any device: a step on a batch, and the host model made current.
namespace GraphCompiler.Training;

/// <summary>
/// A training step of one model with one loss and optimizer: <see cref="Trainer"/> on the native CPU backend,
/// the ILGPU backend's <c>IlgpuTrainer</c> on an ILGPU device. <see cref="Trainer.Create"/> picks one for a <see cref="Device"/>.
/// </summary>
public interface ITrainer : IDisposable
{
    /// <summary>The device the steps run on (never <see cref="DeviceType.Auto"/>).</summary>
    Device Device { get; }

    /// <summary>One step (zero grads, forward, loss, backward, optimizer) on <paramref name="count"/> samples; returns the mean loss.</summary>
    float Step(ReadOnlySpan<float> inputs, ReadOnlySpan<int> targets, int count);

    /// <summary>One step on a batch tensor of shape (count, ...InputShape).</summary>
    float Step(Tensor inputs, ReadOnlySpan<int> targets) => Step(inputs.Data, targets, inputs.Shape[0]);

    /// <summary>
    /// Makes the host model current: a device trainer copies its parameters (and optimizer state) back, so evaluation,
    /// checkpoints and <c>state_dict</c> saving see the trained values. Nothing to do on the CPU.
    /// </summary>
    void Synchronize();
}
