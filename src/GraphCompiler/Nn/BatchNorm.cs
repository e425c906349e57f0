// Batch normalisation layers (BatchNorm1d, BatchNorm2d) as torch.nn holds them: affine parameters, running statistics and
// the batch counter under PyTorch's state_dict names, and the mode-dependent forward and backward.
using GraphCompiler.Backends.Cpu;

namespace GraphCompiler.Nn;

/// <summary>
/// PyTorch's <c>_BatchNorm</c>: normalises each of <see cref="NumFeatures"/> channels over the batch (and the spatial
/// positions). Parameters <c>weight</c> (ones) and <c>bias</c> (zeros) when <see cref="Affine"/>; buffers
/// <c>running_mean</c> (zeros), <c>running_var</c> (ones) and int64 <c>num_batches_tracked</c> when
/// <see cref="TrackRunningStats"/>. In training mode it uses the batch's statistics and updates the running ones; in eval
/// mode it uses the running ones (or, without them, the batch's, as PyTorch does).
/// </summary>
public abstract class BatchNorm : Module
{
    protected BatchNorm(string name, int numFeatures, float eps, float? momentum, bool affine, bool trackRunningStats, Rng? rng)
    {
        _ = rng; // deterministic initialisation: ones and zeros
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (numFeatures <= 0) throw new ArgumentOutOfRangeException(nameof(numFeatures), numFeatures, $"{GetType().Name} '{name}' needs a positive number of features.");
        if (!(eps > 0)) throw new ArgumentOutOfRangeException(nameof(eps), eps, $"{GetType().Name} '{name}': eps must be positive.");
        if (momentum is float m && !(m >= 0 && m <= 1)) throw new ArgumentOutOfRangeException(nameof(momentum), momentum, $"{GetType().Name} '{name}': momentum must be in [0, 1] (or null for a cumulative average).");
        Name = name;
        NumFeatures = numFeatures;
        Eps = eps;
        Momentum = momentum;
        if (affine)
        {
            Weight = new Parameter(name + ".weight", [numFeatures]);
            Weight.Data.AsSpan().Fill(1f);
            Bias = new Parameter(name + ".bias", [numFeatures]);
        }
        if (trackRunningStats)
        {
            RunningMean = ModelBuffer.Float32(name + ".running_mean", [numFeatures]);
            RunningVar = ModelBuffer.Float32(name + ".running_var", [numFeatures]);
            RunningVar.Data.AsSpan().Fill(1f);
            NumBatchesTracked = ModelBuffer.Int64(name + ".num_batches_tracked", []);
        }
        Register(Weight, Bias);
    }

    /// <summary>The state_dict prefix, e.g. <c>bn1</c>.</summary>
    public override string Name { get; }

    public int NumFeatures { get; }

    public float Eps { get; }

    /// <summary>The running-average factor; null for a cumulative average (factor 1/num_batches_tracked).</summary>
    public float? Momentum { get; }

    public bool Affine => Weight is not null;

    public bool TrackRunningStats => RunningMean is not null;

    /// <summary>(num_features), ones at first; null without <see cref="Affine"/>.</summary>
    public Parameter? Weight { get; }

    /// <summary>(num_features), zeros at first; null without <see cref="Affine"/>.</summary>
    public Parameter? Bias { get; }

    /// <summary>(num_features), zeros at first; null without <see cref="TrackRunningStats"/>.</summary>
    public ModelBuffer? RunningMean { get; }

    /// <summary>(num_features), ones at first; null without <see cref="TrackRunningStats"/>.</summary>
    public ModelBuffer? RunningVar { get; }

    /// <summary>int64 scalar counting training batches; null without <see cref="TrackRunningStats"/>.</summary>
    public ModelBuffer? NumBatchesTracked { get; }

    /// <summary>The buffers in PyTorch's order: running_mean, running_var, num_batches_tracked.</summary>
    public IEnumerable<ModelBuffer> Buffers()
    {
        if (RunningMean is not null) yield return RunningMean;
        if (RunningVar is not null) yield return RunningVar;
        if (NumBatchesTracked is not null) yield return NumBatchesTracked;
    }

    /// <summary>
    /// Training mode (PyTorch's <c>module.training</c>, true at first): batch statistics, running statistics updated. The
    /// model's <c>Train()</c>/<c>Eval()</c> set it on every layer.
    /// </summary>
    public bool Training { get; set; } = true;

    /// <summary>Whether a pass in the given mode normalises with the batch's statistics (PyTorch's <c>bn_training</c>).</summary>
    public bool UsesBatchStatistics(bool training) => training || !TrackRunningStats;

    /// <summary><see cref="Forward(ReadOnlySpan{float}, Span{float}, Span{float}, Span{float}, int, int, bool)"/> in the layer's own <see cref="Training"/> mode (what generated code calls).</summary>
    public void Forward(ReadOnlySpan<float> x, Span<float> y, Span<float> mean, Span<float> invStd, int n, int spatial) =>
        Forward(x, y, mean, invStd, n, spatial, Training);

    /// <summary>The input gradient alone (dx overwritten, may be dy), in the layer's own <see cref="Training"/> mode.</summary>
    public void BackwardInput(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> mean, ReadOnlySpan<float> invStd, Span<float> dx, int n, int spatial) =>
        BatchNormKernels.Backward(dy, x, Weight is null ? default : Weight.Data, mean, invStd, dx, default, default, n, NumFeatures, spatial, UsesBatchStatistics(Training));

    /// <summary>The parameter gradients alone (accumulated into those that require them), in the layer's own <see cref="Training"/> mode.</summary>
    public void BackwardParams(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> mean, ReadOnlySpan<float> invStd, int n, int spatial) =>
        Backward(dy, x, mean, invStd, default, n, spatial, Training);

    /// <summary>
    /// Normalises x (n, num_features, spatial) into y in the given mode, writing the statistics it used to
    /// <paramref name="mean"/>/<paramref name="invStd"/> (num_features) for <see cref="Backward"/>. In training mode with
    /// running statistics, counts the batch and updates them. y may be x.
    /// </summary>
    public void Forward(ReadOnlySpan<float> x, Span<float> y, Span<float> mean, Span<float> invStd, int n, int spatial, bool training)
    {
        ReadOnlySpan<float> w = Weight is null ? default : Weight.Data, b = Bias is null ? default : Bias.Data;
        if (!UsesBatchStatistics(training))
        {
            BatchNormKernels.ForwardInference(x, w, b, RunningMean!.Data, RunningVar!.Data, y, mean, invStd, n, NumFeatures, spatial, Eps);
            return;
        }
        float factor = 0f;
        Span<float> runMean = default, runVar = default;
        if (training && TrackRunningStats)
        {
            long batches = ++NumBatchesTracked!.Int64Data[0];
            factor = Momentum ?? (float)(1.0 / batches);
            runMean = RunningMean!.Data;
            runVar = RunningVar!.Data;
        }
        BatchNormKernels.ForwardTraining(x, w, b, y, mean, invStd, runMean, runVar, n, NumFeatures, spatial, Eps, factor);
    }

    /// <summary>
    /// The VJP of a <see cref="Forward"/> in the same mode: overwrites dx (unless empty; may be dy) and accumulates into the
    /// gradients of the parameters that require them.
    /// </summary>
    public void Backward(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> mean, ReadOnlySpan<float> invStd, Span<float> dx,
        int n, int spatial, bool training)
    {
        Span<float> dw = Weight is { RequiresGrad: true } ? Weight.Grad : default, db = Bias is { RequiresGrad: true } ? Bias.Grad : default;
        BatchNormKernels.Backward(dy, x, Weight is null ? default : Weight.Data, mean, invStd, dx, dw, db, n, NumFeatures, spatial, UsesBatchStatistics(training));
    }

    public override string ToString() =>
        $"{GetType().Name}({NumFeatures}, eps={Eps.ToString("G", System.Globalization.CultureInfo.InvariantCulture)}, momentum={(Momentum is float m ? m.ToString("G", System.Globalization.CultureInfo.InvariantCulture) : "None")}, affine={(Affine ? "True" : "False")}, track_running_stats={(TrackRunningStats ? "True" : "False")})";
}

/// <summary>
/// <c>torch.nn.BatchNorm1d</c>: input (N, C) or (N, C, L). <paramref name="rng"/> is accepted so generated code constructs
/// every layer alike; nothing is drawn (PyTorch starts the weight at ones and the bias at zeros).
/// </summary>
public sealed class BatchNorm1d(string name, int numFeatures, float eps = 1e-5f, float? momentum = 0.1f, bool affine = true, bool trackRunningStats = true, Rng? rng = null)
    : BatchNorm(name, numFeatures, eps, momentum, affine, trackRunningStats, rng);

/// <summary><c>torch.nn.BatchNorm2d</c>: input (N, C, H, W). <paramref name="rng"/> is accepted so generated code constructs every layer alike; nothing is drawn.</summary>
public sealed class BatchNorm2d(string name, int numFeatures, float eps = 1e-5f, float? momentum = 0.1f, bool affine = true, bool trackRunningStats = true, Rng? rng = null)
    : BatchNorm(name, numFeatures, eps, momentum, affine, trackRunningStats, rng);
