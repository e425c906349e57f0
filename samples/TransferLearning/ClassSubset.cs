// The samples of some classes of a dataset, relabelled 0..k-1: "classes 5–9" becomes a 5-way problem of its own.
using GraphCompiler.Data;

namespace TransferLearning;

public sealed class ClassSubset : IDataset
{
    private readonly IDataset _source;
    private readonly int[] _indices;
    private readonly int _first;

    /// <summary>Keeps the samples whose label is in [first, first + count), relabelled to label − first.</summary>
    public ClassSubset(IDataset source, int first, int count)
    {
        _source = source;
        _first = first;
        NumClasses = count;
        var keep = new List<int>();
        var scratch = new float[source.SampleShape.Aggregate(1, (a, b) => a * b)];
        for (int i = 0; i < source.Count; i++)
        {
            source.Get(i, scratch, out int label);
            if (label >= first && label < first + count) keep.Add(i);
        }
        _indices = [.. keep];
    }

    public int Count => _indices.Length;

    public int[] SampleShape => _source.SampleShape;

    public int NumClasses { get; }

    public void Get(int index, Span<float> sample, out int label)
    {
        _source.Get(_indices[index], sample, out int original);
        label = original - _first;
    }
}
