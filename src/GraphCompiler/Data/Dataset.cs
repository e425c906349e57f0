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
public sealed class MnistDataset : ByteImageDataset, IBatchDataset
{
    /// <summary>Pairs images with labels; fails if the counts differ or a label is not a class index.</summary>
    public MnistDataset(IdxImages images, IdxLabels labels, Transform? transform = null, int numClasses = 10)
        : base(images?.Pixels!, CheckedLabels(images, labels, numClasses), [1, images!.Rows, images.Columns], numClasses, transform)
    {
        Rows = images.Rows;
        Columns = images.Columns;
        ImagesSource = images.Source;
        LabelsSource = labels.Source;
    }

    private static byte[] CheckedLabels(IdxImages? images, IdxLabels? labels, int numClasses)
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
        return l;
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

    public int Rows { get; }

    public int Columns { get; }

    public string ImagesSource { get; }

    public string LabelsSource { get; }

    public void GetBatch(ReadOnlySpan<int> indices, Span<float> samples, Span<int> labels) =>
        GetBatch(indices, samples, labels, SampleContext.ForCurrentThread());

    public void GetBatch(ReadOnlySpan<int> indices, Span<float> samples, Span<int> labels, SampleContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        int size = SampleSize;
        if (samples.Length != indices.Length * size || labels.Length != indices.Length)
            throw new ArgumentException(
                $"a batch of {indices.Length} needs {indices.Length * size} sample floats and {indices.Length} labels; got {samples.Length} and {labels.Length}.");
        foreach (int index in indices) CheckIndex(index);
        // A shuffled epoch reads images from random places in tens of megabytes, and each one would
        // otherwise start with a cache miss; asking for the next image early overlaps that wait with
        // converting the current one.
        const int Ahead = 2;
        for (int k = 0; k < Math.Min(Ahead, indices.Length); k++) Prefetch(indices[k]);
        for (int k = 0; k < indices.Length; k++)
        {
            if (k + Ahead < indices.Length) Prefetch(indices[k + Ahead]);
            int index = indices[k];
            context.BeginSample(index);
            labels[k] = Transformed(index, samples.Slice(k * size, size), context);
        }
    }

    private unsafe void Prefetch(int index)
    {
        if (!Sse.IsSupported) return;
        int size = PixelCount;
        fixed (byte* p = &PixelsOf(index))
        {
            for (int offset = 0; offset < size; offset += 64) Sse.Prefetch0(p + offset);
            Sse.Prefetch0(p + size - 1);
        }
    }

    public override string ToString() => $"MnistDataset({Count} x [{SampleShapeText}], {ImagesSource})";
}
