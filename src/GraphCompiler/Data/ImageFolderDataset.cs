// torchvision's ImageFolder: one sub-folder per class, images (PNG, JPEG, BMP, TGA, GIF) decoded to RGB by ImageDecoder.

namespace GraphCompiler.Data;

/// <summary>
/// Like <c>torchvision.datasets.ImageFolder(root, transform)</c>: every sub-folder of <see cref="Root"/> is a class,
/// classes are numbered in sorted (ordinal) order of their names, and each class holds the image files found
/// anywhere below its folder, in sorted path order, as torchvision walks them. Images are decoded on each
/// <see cref="Get(int, Span{float}, out int, SampleContext)"/> (so a shuffled epoch reads from disk; workers
/// overlap that), converted to RGB like torchvision's default loader, and handed to <see cref="Transform"/> as
/// [3, H, W] bytes. Decoding allocates the file's bytes and the decoded image per sample.
/// <para>
/// A batch needs one sample shape, so the transform must give every image the same shape: with images of
/// different sizes, use <see cref="Resize"/>(h, w) or a crop. <see cref="SampleShape"/> comes from the first image;
/// an image that the transform turns into another shape is an error naming the file.
/// </para>
/// </summary>
public sealed class ImageFolderDataset : IDataset
{
    /// <summary>File extensions (lower case) that count as images; other files are skipped, as torchvision skips them.</summary>
    public static IReadOnlyList<string> Extensions { get; } = [".png", ".jpg", ".jpeg", ".bmp", ".tga", ".gif"];

    private readonly (string Path, int Label)[] _samples;
    private readonly Transform _transform;
    private readonly int[] _sampleShape;
    private readonly int _sampleSize;

    /// <param name="root">The folder whose sub-folders are the classes.</param>
    /// <param name="transform">Applied to each decoded [3, H, W] byte image; <see cref="ToTensor"/> when null.</param>
    /// <param name="maxPixels">
    /// The largest image (width x height, from its header) that is decoded; larger ones are an error naming the file,
    /// before any pixel is read. PIL's limit by default (<see cref="ImageDecoder.DefaultMaxPixels"/>).
    /// </param>
    public ImageFolderDataset(string root, Transform? transform = null, long maxPixels = ImageDecoder.DefaultMaxPixels)
    {
        ArgumentException.ThrowIfNullOrEmpty(root);
        if (!Directory.Exists(root)) throw new DirectoryNotFoundException($"image folder '{Path.GetFullPath(root)}' does not exist.");
        transform ??= new ToTensor();
        if (!transform.ConsumesBytes)
            throw new ArgumentException($"{transform.GetType().Name} works on floats; ImageFolderDataset needs a transform that starts from the pixel bytes, such as new Compose(new ToTensor(), ...).", nameof(transform));
        if (maxPixels < 1 || maxPixels > Array.MaxLength / 3)
            throw new ArgumentOutOfRangeException(nameof(maxPixels), maxPixels, $"The pixel limit must be in [1, {Array.MaxLength / 3}] (three bytes per pixel in one array).");
        Root = root;
        _transform = transform;
        MaxPixels = maxPixels;

        string[] classes = Directory.GetDirectories(root).Select(Path.GetFileName).OfType<string>().ToArray();
        // Python's sorted() compares code points; ordinal comparison is the C# equivalent (not culture order).
        Array.Sort(classes, StringComparer.Ordinal);
        if (classes.Length == 0)
            throw new FileNotFoundException($"image folder '{Path.GetFullPath(root)}' has no class sub-folders; ImageFolder expects root/<class>/<image>.");
        Classes = classes;
        ClassToIndex = classes.Select((c, i) => (c, i)).ToDictionary(p => p.c, p => p.i, StringComparer.Ordinal);

        var samples = new List<(string, int)>();
        for (int label = 0; label < classes.Length; label++)
        {
            string folder = Path.Combine(root, classes[label]);
            int before = samples.Count;
            // torchvision: for root, _, files in sorted(os.walk(folder)): for f in sorted(files).
            var folders = new List<string> { folder };
            folders.AddRange(Directory.GetDirectories(folder, "*", SearchOption.AllDirectories));
            folders.Sort(StringComparer.Ordinal);
            foreach (string dir in folders)
            {
                string[] files = Directory.GetFiles(dir).Where(IsImage).ToArray();
                Array.Sort(files, StringComparer.Ordinal);
                foreach (string file in files) samples.Add((file, label));
            }
            if (samples.Count == before)
                throw new FileNotFoundException(
                    $"class folder '{Path.GetFullPath(folder)}' (class '{classes[label]}') holds no image files; supported extensions are {string.Join(", ", Extensions)}. Remove the folder or add images.");
        }
        _samples = [.. samples];

        (int h, int w) = Probe(_samples[0].Path);
        _sampleShape = _transform.OutputShape([3, h, w]);
        _sampleSize = Transform.SizeOf(_sampleShape);
    }

    private static bool IsImage(string path) => Extensions.Contains(Path.GetExtension(path).ToLowerInvariant());

    /// <summary>The folder the classes are read from.</summary>
    public string Root { get; }

    /// <summary>Class names, sorted; a sample's label indexes this list.</summary>
    public IReadOnlyList<string> Classes { get; }

    public IReadOnlyDictionary<string, int> ClassToIndex { get; }

    /// <summary>Every sample's file and label, in dataset order (torchvision's <c>samples</c>).</summary>
    public IReadOnlyList<(string Path, int Label)> Samples => _samples;

    public Transform Transform => _transform;

    public int Count => _samples.Length;

    public int[] SampleShape => (int[])_sampleShape.Clone();

    public int NumClasses => Classes.Count;

    /// <summary>The largest image, in pixels from its header, this dataset decodes.</summary>
    public long MaxPixels { get; }

    /// <summary>Height and width from the image header alone (checked against <see cref="MaxPixels"/>).</summary>
    private (int H, int W) Probe(string path) => ImageDecoder.Probe(ReadFile(path), path, MaxPixels);

    private static byte[] ReadFile(string path)
    {
        try
        {
            return File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"file {path}: cannot read image: {e.Message}", e);
        }
    }

    /// <summary>Decodes image <paramref name="index"/> to RGB; returns its bytes in HWC order with its size.</summary>
    public (byte[] Rgb, int Height, int Width) Decode(int index)
    {
        CheckIndex(index);
        string path = _samples[index].Path;
        return ImageDecoder.Decode(ReadFile(path), path, MaxPixels);
    }

    /// <summary>Sample <paramref name="index"/> as epoch 0 of a seed-0 loader would build it.</summary>
    public void Get(int index, Span<float> sample, out int label)
    {
        SampleContext context = SampleContext.ForCurrentThread();
        context.BeginSample(index);
        Get(index, sample, out label, context);
    }

    public void Get(int index, Span<float> sample, out int label, SampleContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (sample.Length != _sampleSize)
            throw new ArgumentException($"ImageFolderDataset samples have {_sampleSize} elements ([{string.Join(", ", _sampleShape)}]) but the span holds {sample.Length}.", nameof(sample));
        (byte[] rgb, int h, int w) = Decode(index);
        Span<int> shape = [3, h, w];
        Span<int> output = stackalloc int[3];
        _transform.OutputShape(shape, output);
        if (!output.SequenceEqual(_sampleShape))
            throw new InvalidDataException(
                $"file {_samples[index].Path}: a {w}x{h} image, which {_transform} turns into [{string.Join(", ", output.ToArray())}], but this dataset's samples are " +
                $"[{string.Join(", ", _sampleShape)}] (set by the first image, {_samples[0].Path}); give the transform a Resize(h, w) or a crop so every image comes out the same size.");
        var mark = context.Mark();
        try
        {
            // The decoder gives HWC; transforms take CHW, as torchvision's ToTensor produces.
            int plane = h * w;
            Span<byte> chw = context.RentBytes(3 * plane);
            for (int p = 0, s = 0; p < plane; p++, s += 3)
            {
                chw[p] = rgb[s];
                chw[plane + p] = rgb[s + 1];
                chw[2 * plane + p] = rgb[s + 2];
            }
            _transform.Apply(chw, shape, sample, context);
        }
        finally
        {
            context.Release(mark);
        }
        label = _samples[index].Label;
    }

    private void CheckIndex(int index)
    {
        if ((uint)index >= (uint)Count)
            throw new ArgumentOutOfRangeException(nameof(index), index, $"dataset has {Count} samples.");
    }

    public override string ToString() => $"ImageFolderDataset({Count} x [{string.Join(", ", _sampleShape)}], {Classes.Count} classes, {Root})";
}
