// Shared helpers for the data tests: temp directories, hand-built idx files and a dataset whose samples encode their index.
using System.Buffers.Binary;
using System.IO.Compression;
using GraphCompiler.Data;

namespace GraphCompiler.Tests.Data;

/// <summary>A fresh directory under the system temp folder, deleted when the test ends.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "gc-data-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public string Write(string name, byte[] bytes)
    {
        string path = File(name);
        System.IO.File.WriteAllBytes(path, bytes);
        return path;
    }

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); }
        catch (IOException) { /* best effort: a leftover temp folder must not fail a test */ }
    }
}

internal static class IdxBytes
{
    /// <summary>An idx file: big-endian magic, one u32 per dimension, then the payload as given (which tests may make wrong on purpose).</summary>
    public static byte[] Make(int magic, int[] dims, byte[] payload)
    {
        var bytes = new byte[4 + 4 * dims.Length + payload.Length];
        BinaryPrimitives.WriteInt32BigEndian(bytes, magic);
        for (int i = 0; i < dims.Length; i++) BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4 + 4 * i), dims[i]);
        payload.CopyTo(bytes, 4 + 4 * dims.Length);
        return bytes;
    }

    public static byte[] Images(int count, int rows, int cols, Func<int, byte>? pixel = null)
    {
        var payload = new byte[count * rows * cols];
        for (int i = 0; i < payload.Length; i++) payload[i] = pixel?.Invoke(i) ?? (byte)(i * 7);
        return Make(Idx.ImagesMagic, [count, rows, cols], payload);
    }

    public static byte[] Labels(params byte[] labels) => Make(Idx.LabelsMagic, [labels.Length], labels);

    public static byte[] Gzip(byte[] data)
    {
        var output = new MemoryStream();
        using (var gz = new GZipStream(output, CompressionLevel.Optimal, leaveOpen: true)) gz.Write(data);
        return output.ToArray();
    }

    public static byte[] Gunzip(string path)
    {
        using var gz = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
        var output = new MemoryStream();
        gz.CopyTo(output);
        return output.ToArray();
    }
}

/// <summary>A synthetic dataset whose sample <c>i</c> holds <c>i * 1000 + j</c> at element <c>j</c> and label <c>i % 10</c>, so a batch shows exactly where it came from.</summary>
internal sealed class IndexDataset(int count, params int[] shape) : IDataset
{
    public int Count => count;

    public int[] SampleShape => (int[])shape.Clone();

    public int NumClasses => 10;

    public int Gets { get; private set; }

    public void Get(int index, Span<float> sample, out int label)
    {
        Gets++;
        for (int j = 0; j < sample.Length; j++) sample[j] = index * 1000 + j;
        label = index % 10;
    }

    public override string ToString() => $"IndexDataset({count})";
}

internal static class SubsetFiles
{
    /// <summary>The Fashion-MNIST subset the test project links from samples/FashionMnist/data into its output folder.</summary>
    public static string Directory => Path.Combine(AppContext.BaseDirectory, "Data", "fashion");
}
