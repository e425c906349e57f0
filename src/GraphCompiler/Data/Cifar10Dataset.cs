// CIFAR-10 from its binary distribution (data_batch_1..5.bin, test_batch.bin: 1 label byte + 3072 CHW pixel bytes per record).
namespace GraphCompiler.Data;

/// <summary>
/// CIFAR-10's "binary version": each file is a run of 3073-byte records, one label byte (0..9) then a 32x32 RGB
/// image stored channel by channel (1024 red, 1024 green, 1024 blue bytes, rows top to bottom), which is already
/// CHW. The raw bytes stay in memory (150 MB for the 50k training images) and go through <see cref="Transform"/>
/// per sample; samples have shape [3, 32, 32] unless the transform resizes or crops.
/// </summary>
public sealed class Cifar10Dataset : ByteImageDataset
{
    public const int Channels = 3, Rows = 32, Columns = 32;

    /// <summary>Bytes of one image (3 x 32 x 32).</summary>
    public const int ImageBytes = Channels * Rows * Columns;

    /// <summary>Bytes of one record: the label, then the image.</summary>
    public const int RecordBytes = 1 + ImageBytes;

    /// <summary>The class names in label order, as <c>batches.meta.txt</c> lists them.</summary>
    public static IReadOnlyList<string> DefaultClasses { get; } =
        ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

    private Cifar10Dataset(byte[] pixels, byte[] labels, IReadOnlyList<string> sources, IReadOnlyList<string> classes, Transform? transform)
        : base(pixels, labels, [Channels, Rows, Columns], numClasses: 10, transform)
    {
        Sources = sources;
        Classes = classes;
    }

    /// <summary>The file names of a split, in the order <see cref="Load"/> reads them.</summary>
    public static IReadOnlyList<string> FileNames(bool train) =>
        train ? ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"] : ["test_batch.bin"];

    /// <summary>
    /// Loads the training (<c>data_batch_1..5.bin</c>) or test (<c>test_batch.bin</c>) split from
    /// <paramref name="directory"/>, or from its <c>cifar-10-batches-bin</c> sub-folder (how the tarball unpacks).
    /// Class names come from <c>batches.meta.txt</c> when present.
    /// </summary>
    public static Cifar10Dataset Load(string directory, bool train, Transform? transform = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (!Directory.Exists(directory))
            throw new DirectoryNotFoundException($"CIFAR-10 data directory '{Path.GetFullPath(directory)}' does not exist.");
        IReadOnlyList<string> names = FileNames(train);
        string dir = directory;
        string nested = Path.Combine(directory, "cifar-10-batches-bin");
        if (!File.Exists(Path.Combine(dir, names[0])) && Directory.Exists(nested)) dir = nested;
        var paths = new List<string>();
        foreach (string name in names)
        {
            string path = Path.Combine(dir, name);
            if (!File.Exists(path))
                throw new FileNotFoundException(
                    $"CIFAR-10 {(train ? "training" : "test")} file '{Path.GetFullPath(path)}' not found; the split needs {string.Join(", ", names)} in '{Path.GetFullPath(dir)}'.", path);
            paths.Add(path);
        }
        return FromFiles(paths, transform, ReadClasses(Path.Combine(dir, "batches.meta.txt")));
    }

    /// <summary>Loads records from any list of CIFAR-10 binary files, concatenated in the given order.</summary>
    public static Cifar10Dataset FromFiles(IReadOnlyList<string> paths, Transform? transform = null, IReadOnlyList<string>? classes = null)
    {
        ArgumentNullException.ThrowIfNull(paths);
        if (paths.Count == 0) throw new ArgumentException("FromFiles needs at least one file.", nameof(paths));
        classes ??= DefaultClasses;
        if (classes.Count != 10) throw new ArgumentException($"CIFAR-10 has 10 classes; {classes.Count} names were given.", nameof(classes));
        long total = 0;
        var lengths = new long[paths.Count];
        for (int f = 0; f < paths.Count; f++)
        {
            lengths[f] = CheckLength(paths[f]);
            total += lengths[f] / RecordBytes;
        }
        if (total * ImageBytes > Array.MaxLength)
            throw new InvalidDataException($"{total} CIFAR-10 records are more than one array can hold ({Array.MaxLength / ImageBytes}).");
        var pixels = new byte[total * ImageBytes];
        var labels = new byte[total];
        long next = 0;
        var record = new byte[RecordBytes];
        for (int f = 0; f < paths.Count; f++)
        {
            string path = paths[f];
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 20);
            long records = lengths[f] / RecordBytes;
            for (long r = 0; r < records; r++)
            {
                int got = stream.ReadAtLeast(record, RecordBytes, throwOnEndOfStream: false);
                // The length was checked up front; a file that shrinks while being read is reported the same way.
                if (got < RecordBytes) throw Truncated(path, r, r * RecordBytes + got, got);
                byte label = record[0];
                if (label > 9)
                    throw new InvalidDataException(
                        $"file {path}: record {r} (byte offset {r * RecordBytes}) has label {label}, which is not a CIFAR-10 class 0..9; is this the binary version of CIFAR-10 (not CIFAR-100 or the Python pickles)?");
                labels[next] = label;
                record.AsSpan(1).CopyTo(pixels.AsSpan((int)(next * ImageBytes), ImageBytes));
                next++;
            }
        }
        return new Cifar10Dataset(pixels, labels, [.. paths], classes, transform);
    }

    /// <summary>The file's length, which must be a positive whole number of records.</summary>
    private static long CheckLength(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var info = new FileInfo(path);
        if (!info.Exists) throw new FileNotFoundException($"CIFAR-10 file '{Path.GetFullPath(path)}' not found.", path);
        long length = info.Length;
        if (length == 0) throw new InvalidDataException($"file {path}: empty; a CIFAR-10 batch holds records of {RecordBytes} bytes.");
        long whole = length / RecordBytes;
        int rest = (int)(length % RecordBytes);
        if (rest != 0) throw Truncated(path, whole, length, rest);
        return length;
    }

    private static InvalidDataException Truncated(string path, long record, long fileLength, int bytesPresent) =>
        new($"file {path}: truncated: record {record} starts at byte offset {record * RecordBytes} but the file ends at offset {fileLength}, " +
            $"{bytesPresent} of the record's {RecordBytes} bytes (1 label + {ImageBytes} pixels); the file should be a whole number of records (incomplete download?).");

    private static IReadOnlyList<string> ReadClasses(string metaPath)
    {
        if (!File.Exists(metaPath)) return DefaultClasses;
        string[] names = File.ReadAllLines(metaPath).Select(l => l.Trim()).Where(l => l.Length > 0).ToArray();
        // A meta file that does not list ten names is not CIFAR-10's; fall back rather than mislabel.
        return names.Length == 10 ? names : DefaultClasses;
    }

    /// <summary>Class names in label order.</summary>
    public IReadOnlyList<string> Classes { get; }

    /// <summary>The files the records came from, in order.</summary>
    public IReadOnlyList<string> Sources { get; }

    public override string ToString() => $"Cifar10Dataset({Count} x [{SampleShapeText}], {string.Join(", ", Sources.Select(Path.GetFileName))})";
}
