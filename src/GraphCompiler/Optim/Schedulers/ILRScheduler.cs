// What a training loop needs from any learning-rate schedule: step it once per epoch or batch, read the rates it set.
namespace GraphCompiler.Optim.Schedulers;

/// <summary>A learning-rate schedule attached to an optimizer (PyTorch's <c>lr_scheduler</c> protocol).</summary>
public interface ILRScheduler
{
    Optimizer Optimizer { get; }

    /// <summary>Advances one step and writes every parameter group's learning rate.</summary>
    void Step();

    /// <summary>The rates of the last step, one per group (PyTorch's <c>get_last_lr()</c>).</summary>
    IReadOnlyList<double> LastLearningRates { get; }
}
