// Opt-in detection of NaN and Inf in a training step (torch.autograd's anomaly mode, GradScaler's inf check): the error names the step and where.
using GraphCompiler.Compiler;
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
    private readonly IReadOnlyList<KernelStep> _forwardSteps = SafeSchedule(model)?.Forward ?? (IReadOnlyList<KernelStep>)[];
    private readonly HashSet<string> _intact = IntactAfterForward(SafeSchedule(model));

    private static Schedule? SafeSchedule(ICompiledModel model)
    {
        try { return model.Schedule; }
        catch (NotSupportedException) { return null; } // a hand-built model has no schedule: no layer can be named
    }

    /// <summary>
    /// The forward values still in memory when the forward pass ends (training plan): a value is lost when a buffer that
    /// shares its memory is first written by a later forward step. Dedicated buffers (input, output) are never shared.
    /// </summary>
    private static HashSet<string> IntactAfterForward(Schedule? s)
    {
        var intact = new HashSet<string>();
        if (s is null) return intact;
        int forward = s.Forward.Count;
        foreach (string d in MemoryPlanner.Dedicated(s)) intact.Add(d);
        foreach (Placement p in s.TrainingPlan.Placements)
        {
            bool lost = s.TrainingPlan.Placements.Any(q => q != p && q.IsIndex == p.IsIndex && q.First > p.First && q.First < forward
                && q.Offset < p.Offset + p.Size && p.Offset < q.Offset + q.Size);
            if (!lost) intact.Add(p.Buffer);
        }
        return intact;
    }
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

    /// <summary>
    /// Right after the forward pass, before the loss and backward can overwrite anything: when the output is not finite,
    /// the first layer (in schedule order) whose output is, named by its step (<c>Conv2: …</c>), so an overflow inside the
    /// network is placed where it happened. Values whose memory a later forward step reused cannot be read and are skipped.
    /// </summary>
    public void AfterForward(ModelWorkspace ws)
    {
        if (FirstNonFinite(ws.Output.AsSpan(0, ws.Count * ws.OutputPerSample)) < 0) return;
        foreach (KernelStep step in _forwardSteps)
        {
            foreach (Buf b in step.Buffers())
            {
                if (b.IsIndex || !_intact.Contains(b.Name)) continue;
                ReadOnlySpan<float> value = ws.Value(b.Name);
                int i = FirstNonFinite(value);
                if (i < 0) continue;
                string layer = step.Comment.Split(':')[0];
                throw new AnomalyException(_step, layer,
                    $"step {_step}: the forward pass first became non-finite at {layer} ({step.Comment}): {b.Name} holds {Describe(value[i])} " +
                    $"at sample {i / b.PerSample}, element {i % b.PerSample}, although the input and parameters are finite.");
            }
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
