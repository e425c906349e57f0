// The gradient buckets of data-parallel training, fixed at build time from the order in which the static backward finishes each layer's gradients.
using System.Globalization;
using System.Text;
using GraphCompiler.Nn;

namespace GraphCompiler.Distributed;

/// <summary>
/// One bucket: the trainable parameters of consecutive layers in the order their gradients become final, all-reduced
/// as one message once <see cref="ReadyAfterStep"/> (an index into the schedule's backward steps) has run.
/// </summary>
public sealed record GradientBucket(int Index, IReadOnlyList<string> Layers, IReadOnlyList<Parameter> Parameters, int Count, int ReadyAfterStep)
{
    public long Bytes => Count * (long)sizeof(float);
}

/// <summary>
/// Which gradients travel together, as PyTorch's DDP buckets them (<c>bucket_cap_mb</c>, default 25 MB), but known before
/// the first step: the schedule's backward (<see cref="ICompiledModel.Schedule"/>) lists, in execution order, the steps
/// that add each layer's parameter gradients (<c>ParamsOf</c>); a layer's gradients are final after its last such step
/// (a layer applied twice has two). Layers are taken in that order and packed greedily: a bucket is closed once it
/// holds at least the cap, so a bucket is never split inside a layer and the last one may be small. Frozen layers and
/// parameters (<see cref="Parameter.RequiresGrad"/> false) are left out: their gradients are never sent.
/// </summary>
public sealed class BucketPlan
{
    /// <summary>PyTorch's default <c>bucket_cap_mb</c>.</summary>
    public const double DefaultCapMB = 25;

    private BucketPlan(string model, long capBytes, IReadOnlyList<GradientBucket> buckets, IReadOnlyList<string> stepComments)
    {
        Model = model;
        CapBytes = capBytes;
        Buckets = buckets;
        _stepComments = stepComments;
    }

    private readonly IReadOnlyList<string> _stepComments;

    public string Model { get; }

    public long CapBytes { get; }

    /// <summary>In the order they become ready, which is the order every rank all-reduces them in.</summary>
    public IReadOnlyList<GradientBucket> Buckets { get; }

    /// <summary>Gradients sent per step, in floats.</summary>
    public long Count => Buckets.Sum(b => (long)b.Count);

    /// <summary>The plan for <paramref name="model"/>'s trainable parameters now, with buckets of at least <paramref name="capMB"/> MB (10^6 bytes).</summary>
    public static BucketPlan Build(ICompiledModel model, double capMB = DefaultCapMB)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (!(capMB > 0)) throw new ArgumentOutOfRangeException(nameof(capMB), capMB, "The bucket cap must be a positive number of MB.");
        long capBytes = (long)Math.Ceiling(capMB * 1e6);
        Compiler.Schedule schedule = model.Schedule;
        var steps = schedule.Backward.ToList();
        // The last backward step that adds to each layer's parameter gradients: from then on they are final.
        var last = new Dictionary<string, int>();
        for (int i = 0; i < steps.Count; i++)
            if (steps[i].ParamsOf is { } layer) last[layer] = i;
        var buckets = new List<GradientBucket>();
        var layers = new List<string>();
        var parameters = new List<Parameter>();
        int count = 0, readyAfter = -1;
        foreach ((string layer, int step) in last.OrderBy(p => p.Value))
        {
            Parameter[] trainable = [.. ParametersOf(model, layer).Where(p => p.RequiresGrad)];
            if (trainable.Length == 0) continue;
            layers.Add(layer);
            parameters.AddRange(trainable);
            count += trainable.Sum(p => p.Count);
            readyAfter = step;
            if (count * (long)sizeof(float) >= capBytes) Close();
        }
        if (layers.Count > 0) Close();
        return new BucketPlan(model.GetType().Name, capBytes, buckets, [.. steps.Select(s => s.Comment)]);

        void Close()
        {
            buckets.Add(new GradientBucket(buckets.Count, [.. layers], [.. parameters], count, readyAfter));
            layers.Clear();
            parameters.Clear();
            count = 0;
        }
    }

    /// <summary>The parameters of the layer property <paramref name="layer"/> (e.g. <c>Fc1</c> or <c>Blocks[2]</c>) of <paramref name="model"/>.</summary>
    internal static IReadOnlyList<Parameter> ParametersOf(ICompiledModel model, string layer)
    {
        if (Module.Find(model, layer) is Module module) return module.Parameters();
        throw new InvalidOperationException($"The schedule of {model.GetType().Name} names layer '{layer}', which is not a layer property of the model.");
    }

    /// <summary>
    /// The plan as the summary prints it: one line per bucket with its size, the backward step after which it is
    /// all-reduced and the parameters in it.
    /// </summary>
    public override string ToString()
    {
        var text = new StringBuilder();
        IFormatProvider c = CultureInfo.InvariantCulture;
        text.AppendLine(string.Format(c, "Gradient buckets of {0} (all-reduced during the backward, cap {1:0.##} MB): {2}, {3:N0} gradients ({4:0.00} MB) per step",
            Model, CapBytes / 1e6, Buckets.Count, Count, Count * 4 / 1e6));
        foreach (GradientBucket b in Buckets)
        {
            text.AppendLine(string.Format(c, "  bucket {0}: {1:N0} floats ({2:0.000} MB), sent after backward step {3} of {4} ({5})",
                b.Index, b.Count, b.Bytes / 1e6, b.ReadyAfterStep + 1, _stepComments.Count, _stepComments[b.ReadyAfterStep]));
            text.AppendLine("    " + string.Join(", ", b.Parameters.Select(p => p.Name)));
        }
        return text.ToString();
    }
}
