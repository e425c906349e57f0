// Map-style datasets (PyTorch's Dataset) and MNIST/Fashion-MNIST backed by idx files, streams or embedded resources.
using System.Reflection;
using System.Runtime.Intrinsics.X86;

namespace GraphCompiler.Data;

/// <summary>
/// A map-style dataset: a fixed number of labelled samples, each fetched by index into a caller-owned
/// span, so a <see cref="DataLoader"/> can write straight into its batch buffer.
/// </summary>
public interface IDataset
{
    int Count { get; }

    /// <summary>Shape of one sample, without the batch dimension (e.g. [1, 28, 28]).</summary>
    int[] SampleShape { get; }

    int NumClasses { get; }

    /// <summary>Writes sample <paramref name="index"/> into <paramref name="sample"/> (exactly the sample's element count).</summary>
    void Get(int index, Span<float> sample, out int label);

    /// <summary>
    /// <see cref="Get(int, Span{float}, out int)"/> with the caller's <see cref="SampleContext"/>: random transforms
    /// draw from <c>context.Rng</c> (the loader has called <see cref="SampleContext.BeginSample"/> for this index) and
    /// scratch comes from the context. Must be safe to call from several threads at once, each with its own context.
    /// Datasets without random transforms need not implement it.
    /// </summary>
    void Get(int index, Span<float> sample, out int label, SampleContext context) => Get(index, sample, out label);
}

/// <summary>
/// Optional fast path for a <see cref="DataLoader"/>: fill a whole batch at once. A dataset implements it when
/// it can do better than one <see cref="IDataset.Get"/> per sample, e.g. prefetch the next samples' memory.
/// The result must equal calling <see cref="IDataset.Get"/> for each index in turn.
/// </summary>
public interface IBatchDataset : IDataset
{
    /// <summary>Sample <c>indices[k]</c> goes to <c>samples[k * sampleSize ..]</c> and its label to <c>labels[k]</c>.</summary>
    void GetBatch(ReadOnlySpan<int> indices, Span<float> samples, Span<int> labels);

    /// <summary><see cref="GetBatch(ReadOnlySpan{int}, Span{float}, Span{int})"/> with a context; the dataset calls <see cref="SampleContext.BeginSample"/> for each index.</summary>
    void GetBatch(ReadOnlySpan<int> indices, Span<float> samples, Span<int> labels, SampleContext context) => GetBatch(indices, samples, labels);
}

/// <summary>
/// MNIST-format data (MNIST, Fashion-MNIST): u8 images [n, rows, cols] with u8 labels. The raw bytes stay in
/// memory (47 MB for 60k images, a quarter of the float size) and are converted per sample as batches are
/// built, through <see cref="Transform"/>. Samples have shape [1, rows, cols].
/// </summary>
public sealed class MnistDataset : IBatchDataset
{
    private readonly byte[] _pixels;
    private readonly byte[] _labels;
    private readonly int[] _shape;
    private Transform _transform;
    private int[] _sampleShape;
    private int _sampleSize;

    /// <summary>Pairs images with labels; fails if the counts differ or a label is not a class index.</summary>
    public MnistDataset(IdxImages images, IdxLabels labels, Transform? transform = null, int numClasses = 10)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(labels);
        if (numClasses is < 1 or > 256) throw new ArgumentOutOfRangeException(nameof(numClasses), numClasses, "u8 labels allow 1 to 256 classes.");
        if (images.Count != labels.Count)
            throw new InvalidDataException(
                $"images/labels count mismatch: images file {images.Source} holds {images.Count} images but labels file {labels.Source} holds {labels.Count} labels.");
        byte[] l = labels.Labels;
        for (int i = 0; i < l.Length; i++)
        {
            if (l[i] >= numClasses)
                throw new InvalidDataException(
                    $"file {labels.Source}: label {l[i]} of sample {i} (at offset {8 + i}) is not a class index in 0..{numClasses - 1}.");
        }
        _pixels = images.Pixels;
        _labels = l;
        _shape = [1, images.Rows, images.Columns];
        Count = images.Count;
        NumClasses = numClasses;
        ImagesSource = images.Source;
        LabelsSource = labels.Source;
        _transform = CheckTransform(transform ?? new ToTensor());
        (_sampleShape, _sampleSize) = SampleShapeOf(_transform);
    }

    /// <summary>The file names <see cref="Load"/> accepts for a split, in the order it tries them.</summary>
    public static IReadOnlyList<string> FileNames(bool train, bool images)
    {
        string stem = (train ? "train" : "t10k") + (images ? "-images" : "-labels");
        string kind = images ? "idx3-ubyte" : "idx1-ubyte";
        // The dash form is what the MNIST site and torchvision use; the dot form is how some
        // mirrors and Windows unzippers spell it.
        return [$"{stem}-{kind}", $"{stem}-{kind}.gz", $"{stem}.{kind}", $"{stem}.{kind}.gz"];
    }

    /// <summary>
    /// Loads the training (<c>train-*</c>) or test (<c>t10k-*</c>) split from <paramref name="directory"/>,
    /// gzipped or not, e.g. <c>/usr/share/datasets/fashion-mnist</c> or torchvision's <c>FashionMNIST/raw</c>.
    /// </summary>
    public static MnistDataset Load(string directory, bool train, Transform? transform = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (!Directory.Exists(directory))
            throw new DirectoryNotFoundException($"MNIST data directory '{Path.GetFullPath(directory)}' does not exist.");
        string images = Find(directory, train, images: true);
        string labels = Find(directory, train, images: false);
        return new MnistDataset(Idx.ReadImages(images), Idx.ReadLabels(labels), transform);
    }

    private static string Find(string directory, bool train, bool images)
    {
        IReadOnlyList<string> names = FileNames(train, images);
        foreach (string name in names)
        {
            string path = Path.Combine(directory, name);
            if (File.Exists(path)) return path;
        }
        throw new FileNotFoundException(
            $"MNIST {(train ? "training" : "test")} {(images ? "images" : "labels")} not found in '{Path.GetFullPath(directory)}': looked for {string.Join(", ", names)}.");
    }

    /// <summary>Loads from a pair of idx files (any names, gzipped or not).</summary>
    public static MnistDataset FromFiles(string imagesPath, string labelsPath, Transform? transform = null) =>
        new(Idx.ReadImages(imagesPath), Idx.ReadLabels(labelsPath), transform);

    /// <summary>Loads from streams (gzipped or not); the names are what error messages call them. The streams are not disposed.</summary>
    public static MnistDataset FromStreams(Stream images, string imagesName, Stream labels, string labelsName, Transform? transform = null) =>
        new(Idx.ReadImages(images, imagesName), Idx.ReadLabels(labels, labelsName), transform);

    /// <summary>
    /// Loads a split embedded in <paramref name="assembly"/> as resources named <c>{prefix}train-images-idx3-ubyte.gz</c> etc.
    /// (any of the <see cref="FileNames"/> spellings), which is how the samples ship their default data.
    /// </summary>
    public static MnistDataset FromEmbeddedResources(Assembly assembly, string prefix, bool train, Transform? transform = null)
    {
        ArgumentNullException.ThrowIfNull(assembly);
        ArgumentNullException.ThrowIfNull(prefix);
        string[] present = assembly.GetManifestResourceNames();
        string Resource(bool images)
        {
            IReadOnlyList<string> names = FileNames(train, images);
            foreach (string name in names)
            {
                if (Array.IndexOf(present, prefix + name) >= 0) return prefix + name;
            }
            throw new FileNotFoundException(
                $"Assembly {assembly.GetName().Name} has no resource for the MNIST {(train ? "training" : "test")} {(images ? "images" : "labels")}: " +
                $"looked for {string.Join(", ", names.Select(n => prefix + n))}; it has {(present.Length == 0 ? "no resources" : string.Join(", ", present))}.");
        }
        string imagesName = Resource(images: true), labelsName = Resource(images: false);
        using Stream imageStream = assembly.GetManifestResourceStream(imagesName)!;
        using Stream labelStream = assembly.GetManifestResourceStream(labelsName)!;
        return FromStreams(imageStream, $"resource {imagesName}", labelStream, $"resource {labelsName}", transform);
    }

    public int Count { get; }

    /// <summary>The transform's output shape for a [1, rows, cols] image: [1, rows, cols] unless it resizes or crops.</summary>
    public int[] SampleShape => (int[])_sampleShape.Clone();

    public int NumClasses { get; }

    public int Rows => _shape[1];

    public int Columns => _shape[2];

    public string ImagesSource { get; }

    public string LabelsSource { get; }

    /// <summary>Turns a sample's bytes into floats; <see cref="ToTensor"/> by default. Must start by consuming bytes.</summary>
    public Transform Transform
    {
        get => _transform;
        set
        {
            Transform checkedValue = CheckTransform(value);
            (int[] shape, int size) = SampleShapeOf(checkedValue);
            // One assignment order that a concurrent reader can tolerate is not worth promising: set it between epochs.
            _transform = checkedValue;
            _sampleShape = shape;
            _sampleSize = size;
        }
    }

    private (int[] Shape, int Size) SampleShapeOf(Transform transform)
    {
        int[] shape = transform.OutputShape(_shape);
        return (shape, Transform.SizeOf(shape));
    }

    private static Transform CheckTransform(Transform value)
    {
        ArgumentNullException.ThrowIfNull(value, nameof(Transform));
        if (!value.ConsumesBytes)
            throw new ArgumentException($"{value.GetType().Name} works on floats; MnistDataset needs a transform that starts from the pixel bytes, such as new Compose(new ToTensor(), ...).", nameof(Transform));
        return value;
    }

    /// <summary>The stored pixels of sample <paramref name="index"/>, untransformed.</summary>
    public ReadOnlySpan<byte> RawImage(int index)
    {
        CheckIndex(index);
        int size = _shape[1] * _shape[2];
        return _pixels.AsSpan(index * size, size);
    }

    public int Label(int index)
    {
        CheckIndex(index);
        return _labels[index];
    }

    /// <summary>How many samples carry each label; a quick check that a subset is not lopsided.</summary>
    public int[] ClassCounts()
    {
        var counts = new int[NumClasses];
        foreach (byte l in _labels) counts[l]++;
        return counts;
    }

    /// <summary>Sample <paramref name="index"/> as epoch 0 of a seed-0 loader would build it (see <see cref="SampleContext.ForCurrentThread"/>).</summary>
    public void Get(int index, Span<float> sample, out int label)
    {
        SampleContext context = SampleContext.ForCurrentThread();
        context.BeginSample(index);
        Get(index, sample, out label, context);
    }

    public void Get(int index, Span<float> sample, out int label, SampleContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        ReadOnlySpan<byte> pixels = RawImage(index);
        if (sample.Length != _sampleSize)
            throw new ArgumentException($"MnistDataset samples have {_sampleSize} elements ([{string.Join(", ", _sampleShape)}]) but the span holds {sample.Length}.", nameof(sample));
        _transform.Apply(pixels, _shape, sample, context);
        label = _labels[index];
    }

    public void GetBatch(ReadOnlySpan<int> indices, Span<float> samples, Span<int> labels) =>
        GetBatch(indices, samples, labels, SampleContext.ForCurrentThread());

    public void GetBatch(ReadOnlySpan<int> indices, Span<float> samples, Span<int> labels, SampleContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        int pixelCount = _shape[1] * _shape[2];
        int size = _sampleSize;
        if (samples.Length != indices.Length * size || labels.Length != indices.Length)
            throw new ArgumentException(
                $"a batch of {indices.Length} needs {indices.Length * size} sample floats and {indices.Length} labels; got {samples.Length} and {labels.Length}.");
        foreach (int index in indices) CheckIndex(index);
        // A shuffled epoch reads images from random places in tens of megabytes, and each one would
        // otherwise start with a cache miss; asking for the next image early overlaps that wait with
        // converting the current one.
        const int Ahead = 2;
        for (int k = 0; k < Math.Min(Ahead, indices.Length); k++) Prefetch(indices[k], pixelCount);
        for (int k = 0; k < indices.Length; k++)
        {
            if (k + Ahead < indices.Length) Prefetch(indices[k + Ahead], pixelCount);
            int index = indices[k];
            context.BeginSample(index);
            _transform.Apply(_pixels.AsSpan(index * pixelCount, pixelCount), _shape, samples.Slice(k * size, size), context);
            labels[k] = _labels[index];
        }
    }

    private unsafe void Prefetch(int index, int size)
    {
        if (!Sse.IsSupported) return;
        fixed (byte* p = &_pixels[index * size])
        {
            for (int offset = 0; offset < size; offset += 64) Sse.Prefetch0(p + offset);
            Sse.Prefetch0(p + size - 1);
        }
    }

    private void CheckIndex(int index)
    {
        if ((uint)index >= (uint)Count)
            throw new ArgumentOutOfRangeException(nameof(index), index, $"dataset has {Count} samples.");
    }

    public override string ToString() => $"MnistDataset({Count} x [{string.Join(", ", _sampleShape)}], {ImagesSource})";
}
