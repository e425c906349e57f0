// Opt-in detection of NaN and Inf in a training step (torch.autograd's anomaly mode, GradScaler's inf check): the error names the step and where.
using GraphCompiler.Nn;

namespace GraphCompiler.Training;

/// <summary>A NaN or infinity found by <see cref="Trainer.DetectAnomaly"/>: which step, and the first place it appeared.</summary>
public sealed class AnomalyException(long step, string location, string message) : ArithmeticException(message)
{
    /// <summary>The trainer's step (1 for the first forward-backward) in which the value appeared.</summary>
    public long Step { get; } = step;

    /// <summary>Where: "input", "output", "loss", or the parameter whose gradient (or value) is non-finite, e.g. "fc1.weight".</summary>
    public string Location { get; } = location;
}

/// <summary>
/// The checks <see cref="Trainer"/> runs when <see cref="Trainer.DetectAnomaly"/> is on. Off by default: each step then
/// also scans the input batch, the output, and every gradient once (one SIMD pass over memory the step has just touched;
/// the cost is measured in AnomalyDetectionTests and quoted in the README). The input is checked before the forward pass,
/// so a NaN pixel is reported before it reaches BatchNorm's running statistics; gradients are checked from the output
/// layer back, so the one named is the first that backward made non-finite.
/// </summary>
internal sealed class AnomalyDetector(ICompiledModel model)
{
    private readonly IReadOnlyList<Parameter> _backwardOrder = model.Parameters().Reverse().ToList();
    private long _step;

    public void BeforeForward(ReadOnlySpan<float> inputs, int count, int perSample)
    {
        _step++;
        int i = FirstNonFinite(inputs);
        if (i >= 0)
            throw new AnomalyException(_step, "input",
                $"step {_step}: the input batch holds {Describe(inputs[i])} at sample {i / perSample}, element {i % perSample}; no kernel ran and no state changed.");
        for (int p = 0; p < _backwardOrder.Count; p++)
        {
            Parameter parameter = _backwardOrder[p];
            int j = FirstNonFinite(parameter.Data);
            if (j >= 0)
                throw new AnomalyException(_step, parameter.Name,
                    $"step {_step}: parameter '{parameter.Name}' already holds {Describe(parameter.Data[j])} at element {j} before the forward pass (an earlier optimizer step or load put it there).");
        }
    }

    public void AfterBackward(ReadOnlySpan<float> output, float loss)
    {
        int o = FirstNonFinite(output);
        if (o >= 0)
            throw new AnomalyException(_step, "output",
                $"step {_step}: the model's output became {Describe(output[o])} at element {o} although the input and parameters are finite (overflow inside the forward pass).");
        if (!float.IsFinite(loss))
            throw new AnomalyException(_step, "loss", $"step {_step}: the loss is {Describe(loss)} although the output is finite.");
        foreach (Parameter p in _backwardOrder)
        {
            if (!p.RequiresGrad) continue;
            int g = FirstNonFinite(p.Grad);
            if (g >= 0)
                throw new AnomalyException(_step, p.Name,
                    $"step {_step}: the gradient of '{p.Name}' became {Describe(p.Grad[g])} at element {g} (the first non-finite gradient, going back from the output); the optimizer has not stepped.");
        }
    }

    /// <summary>
    /// The index of the first NaN or infinity, or -1. A float is non-finite exactly when its exponent bits are all ones,
    /// so one SIMD pass of AND-and-compare over the bits finds it, reading the values once.
    /// </summary>
    private static int FirstNonFinite(ReadOnlySpan<float> values)
    {
        ReadOnlySpan<int> bits = System.Runtime.InteropServices.MemoryMarshal.Cast<float, int>(values);
        var exponent = new System.Numerics.Vector<int>(0x7F800000);
        int width = System.Numerics.Vector<int>.Count, i = 0;
        for (; i <= bits.Length - width; i += width)
            if (System.Numerics.Vector.EqualsAny(new System.Numerics.Vector<int>(bits.Slice(i)) & exponent, exponent)) break;
        for (; i < bits.Length; i++)
            if ((bits[i] & 0x7F800000) == 0x7F800000) return i;
        return -1;
    }

    private static string Describe(float v) => float.IsNaN(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf";
}
