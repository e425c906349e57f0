// The per-parameter state of Adam and AdamW (PyTorch's state[p]): step count and moment buffers, read-only to callers.
namespace GraphCompiler.Optim;

/// <summary>
/// One parameter's Adam state, created on its first update and reused for good: <c>step</c>, <c>exp_avg</c>,
/// <c>exp_avg_sq</c> and, with AMSGrad, <c>max_exp_avg_sq</c>. Exposed read-only for inspection and checkpoints.
/// </summary>
public sealed class AdamState
{
    internal AdamState(int count)
    {
        ExpAvgBuffer = new float[count];
        ExpAvgSqBuffer = new float[count];
    }

    /// <summary>Updates applied so far (PyTorch's <c>state['step']</c>).</summary>
    public long Step { get; internal set; }

    /// <summary>The first-moment running average m.</summary>
    public ReadOnlySpan<float> ExpAvg => ExpAvgBuffer;

    /// <summary>The second-moment running average v.</summary>
    public ReadOnlySpan<float> ExpAvgSq => ExpAvgSqBuffer;

    /// <summary>AMSGrad's running maximum of v; empty unless the parameter's group uses AMSGrad.</summary>
    public ReadOnlySpan<float> MaxExpAvgSq => MaxExpAvgSqBuffer;

    internal float[] ExpAvgBuffer { get; }

    internal float[] ExpAvgSqBuffer { get; }

    // Created when AMSGrad is first on for this parameter (PyTorch creates it with the rest when amsgrad is set).
    internal float[] MaxExpAvgSqBuffer { get; set; } = [];
}
