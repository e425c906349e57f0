// Builds TensorBoard's HistogramProto from values the way torch.utils.tensorboard does, TensorFlow's default buckets included.
using GraphCompiler.IO.TensorBoard.Protos;

namespace GraphCompiler.IO.TensorBoard;

/// <summary>
/// Histogram summaries as PyTorch's <c>make_histogram</c> builds them: count the values into bins (numpy's
/// <c>histogram</c> rules: half-open bins, the last one closed), then keep only the span from the first to the last
/// non-empty bin plus one empty bin before it, storing each bin's right edge as its <c>bucket_limit</c>.
/// </summary>
public static class Histograms
{
    private static readonly double[] TensorFlowEdges = BuildTensorFlowEdges();

    /// <summary>
    /// TensorFlow's default bucket edges (PyTorch's <c>bins='tensorflow'</c>): ±1e-12 growing by ×1.1 up to 1e20, mirrored
    /// around 0, so relative resolution is 10% at every scale.
    /// </summary>
    public static IReadOnlyList<double> TensorFlowBucketEdges => TensorFlowEdges;

    /// <summary>
    /// A histogram of <paramref name="values"/>: TensorFlow's exponential buckets when <paramref name="bins"/> is null,
    /// otherwise that many equal-width bins between the minimum and maximum (numpy's <c>bins=int</c>).
    /// </summary>
    public static HistogramProto Build(ReadOnlySpan<float> values, int? bins = null)
    {
        var wide = new double[values.Length];
        for (int i = 0; i < values.Length; i++) wide[i] = values[i];
        return Build(wide, bins);
    }

    /// <inheritdoc cref="Build(ReadOnlySpan{float}, int?)"/>
    public static HistogramProto Build(ReadOnlySpan<double> values, int? bins = null)
    {
        if (values.IsEmpty) throw new ArgumentException("A histogram needs at least one value.", nameof(values));
        double min = double.PositiveInfinity, max = double.NegativeInfinity, sum = 0, sumSquares = 0;
        foreach (double v in values)
        {
            // Rejected rather than dropped: numpy would silently leave them out of every bin and the counts would no
            // longer add up to num, which hides the real problem (a diverged run).
            if (!double.IsFinite(v)) throw new ArgumentException($"A histogram value is {v}; only finite values can be binned.", nameof(values));
            min = Math.Min(min, v);
            max = Math.Max(max, v);
            sum += v;
            sumSquares += v * v;
        }
        double[] edges = bins is int n ? UniformEdges(min, max, n) : TensorFlowEdges;
        if (bins is null && (min < edges[0] || max > edges[^1]))
            throw new ArgumentException($"Histogram values span [{min}, {max}], beyond TensorFlow's buckets (±1e20).", nameof(values));

        long[] counts = new long[edges.Length - 1];
        foreach (double v in values) counts[BinOf(edges, v)]++;

        // The trimming of PyTorch's make_histogram: one empty bin before the first non-empty one (so TensorBoard sees
        // where the mass starts), through the last non-empty one; each count pairs with its bin's right edge.
        int first = Array.FindIndex(counts, c => c > 0);
        int last = Array.FindLastIndex(counts, c => c > 0);
        var proto = new HistogramProto { Min = min, Max = max, Num = values.Length, Sum = sum, SumSquares = sumSquares };
        if (first > 0)
        {
            for (int b = first - 1; b <= last; b++)
            {
                proto.BucketLimit.Add(edges[b + 1]);
                proto.Bucket.Add(counts[b]);
            }
        }
        else
        {
            // No bin before the first: the leading empty bucket ends at the lowest edge.
            proto.BucketLimit.Add(edges[0]);
            proto.Bucket.Add(0);
            for (int b = 0; b <= last; b++)
            {
                proto.BucketLimit.Add(edges[b + 1]);
                proto.Bucket.Add(counts[b]);
            }
        }
        return proto;
    }

    /// <summary>numpy's bin index: the bin whose [left, right) holds <paramref name="v"/>, the top edge belonging to the last bin.</summary>
    private static int BinOf(double[] edges, double v)
    {
        int bins = edges.Length - 1;
        if (v == edges[^1]) return bins - 1;
        int index = Array.BinarySearch(edges, v);
        // On an exact edge hit the value opens that bin; otherwise the complement is the first edge above it.
        int bin = index >= 0 ? index : ~index - 1;
        return Math.Clamp(bin, 0, bins - 1);
    }

    private static double[] UniformEdges(double min, double max, int bins)
    {
        if (bins <= 0) throw new ArgumentOutOfRangeException(nameof(bins), bins, "A histogram needs at least one bin.");
        // numpy widens a zero-width range to ±0.5 so the single value still lands in a bin.
        if (min == max) { min -= 0.5; max += 0.5; }
        var edges = new double[bins + 1];
        double step = (max - min) / bins;
        for (int i = 0; i < bins; i++) edges[i] = min + i * step;
        edges[bins] = max;
        return edges;
    }

    private static double[] BuildTensorFlowEdges()
    {
        // Repeated multiplication, exactly as PyTorch's SummaryWriter builds default_bins, so the edges match bit for bit.
        var positive = new List<double>();
        for (double v = 1e-12; v < 1e20; v *= 1.1) positive.Add(v);
        var edges = new double[positive.Count * 2 + 1];
        for (int i = 0; i < positive.Count; i++)
        {
            edges[positive.Count - 1 - i] = -positive[i];
            edges[positive.Count + 1 + i] = positive[i];
        }
        edges[positive.Count] = 0;
        return edges;
    }
}
