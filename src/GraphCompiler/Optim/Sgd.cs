// torch.optim.SGD for a model's parameters: momentum buffers allocated once, frozen parameters skipped.
using GraphCompiler.Backends.Cpu;
using GraphCompiler.Nn;

namespace GraphCompiler.Optim;

/// <summary>Stochastic gradient descent with PyTorch's semantics (momentum, dampening, Nesterov, weight decay).</summary>
public sealed class Sgd : IOptimizer
{
    private readonly Parameter[] _parameters;
    private readonly float[][] _momentum; // one buffer per parameter (Count), empty when momentum == 0
    private readonly bool[] _started; // PyTorch creates a momentum buffer on a parameter's first update, not the optimizer's

    public Sgd(IEnumerable<Parameter> parameters, float lr, float momentum = 0, float dampening = 0, float weightDecay = 0, bool nesterov = false)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (lr < 0) throw new ArgumentOutOfRangeException(nameof(lr), lr, "Learning rate must be non-negative.");
        if (momentum < 0) throw new ArgumentOutOfRangeException(nameof(momentum), momentum, "Momentum must be non-negative.");
        if (weightDecay < 0) throw new ArgumentOutOfRangeException(nameof(weightDecay), weightDecay, "Weight decay must be non-negative.");
        if (nesterov && (momentum <= 0 || dampening != 0))
            throw new ArgumentException("Nesterov momentum requires a momentum and zero dampening (as in PyTorch).", nameof(nesterov));
        _parameters = parameters.ToArray();
        _momentum = _parameters.Select(p => momentum != 0 ? new float[p.Count] : []).ToArray();
        _started = new bool[_parameters.Length];
        LearningRate = lr;
        Momentum = momentum;
        Dampening = dampening;
        WeightDecay = weightDecay;
        Nesterov = nesterov;
    }

    public float LearningRate { get; set; }

    public float Momentum { get; }

    public float Dampening { get; }

    public float WeightDecay { get; }

    public bool Nesterov { get; }

    public IReadOnlyList<Parameter> Parameters => _parameters;

    /// <summary>Updates every trainable parameter from its accumulated gradient.</summary>
    public void Step()
    {
        for (int i = 0; i < _parameters.Length; i++)
        {
            var p = _parameters[i];
            if (!p.RequiresGrad) continue;
            SgdKernels.Step(p.Data, p.Grad, _momentum[i], LearningRate, Momentum, Dampening, WeightDecay, Nesterov, firstStep: !_started[i]);
            _started[i] = true;
        }
    }

    /// <summary>Clears every parameter's gradient, as optimizer.zero_grad() does before the next backward.</summary>
    public void ZeroGrad()
    {
        foreach (var p in _parameters) p.ZeroGrad();
    }
}
