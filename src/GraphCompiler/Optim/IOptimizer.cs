// What a training step needs from an optimizer: apply the accumulated gradients, then clear them.
namespace GraphCompiler.Optim;

public interface IOptimizer
{
    float LearningRate { get; set; }

    /// <summary>Updates every parameter from its accumulated gradient.</summary>
    void Step();

    /// <summary>Clears every parameter's gradient (PyTorch's <c>zero_grad</c>).</summary>
    void ZeroGrad();
}
