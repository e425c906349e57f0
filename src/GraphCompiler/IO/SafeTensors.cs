// Reads and writes the safetensors format (PyTorch/Hugging Face's flat tensor file), validating every header field on read and writing atomically.
using System.Buffers.Binary;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace GraphCompiler.IO;

/// <summary>The tensors and the <c>__metadata__</c> strings of one safetensors file.</summary>
public sealed class SafeTensorFile
{
    public SafeTensorFile(IReadOnlyDictionary<string, SafeTensor> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        Tensors = tensors;
        Metadata = metadata;
    }

    /// <summary>Tensors by name, in the order the header lists them.</summary>
    public IReadOnlyDictionary<string, SafeTensor> Tensors { get; }

    /// <summary>The header's <c>__metadata__</c> object; empty when the file has none.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }
}

/// <summary>
/// The safetensors format: an 8-byte little-endian header length N, N bytes of UTF-8 JSON
/// (<c>{"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ..., "__metadata__": {"k": "v"}}</c>),
/// then the little-endian tensor bytes, offsets relative to the end of the header.
/// Supported dtypes: F32, F64, I32, I64. Every read failure is an <see cref="InvalidDataException"/> whose
/// message starts with <c>file &lt;name&gt;:</c> and says what is wrong.
/// </summary>
public static class SafeTensors
{
    /// <summary>Largest header accepted, as in the reference implementation (guards against absurd lengths).</summary>
    public const int MaxHeaderBytes = 100_000_000;

    private const string MetadataKey = "__metadata__";

    /// <summary>Tests set this (per async flow) to throw after the header is written, simulating a write that dies half-way.</summary>
    internal static readonly AsyncLocal<Action?> FaultAfterHeaderForTests = new();

    public static IReadOnlyDictionary<string, SafeTensor> Read(string path) => ReadWithMetadata(path).Tensors;

    public static IReadOnlyDictionary<string, SafeTensor> Read(Stream s, string displayName) => ReadWithMetadata(s, displayName).Tensors;

    public static SafeTensorFile ReadWithMetadata(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16);
        return ReadWithMetadata(stream, path);
    }

    /// <summary>Reads a safetensors file from the stream's current position to its end; the stream is not disposed.</summary>
    public static SafeTensorFile ReadWithMetadata(Stream s, string displayName)
    {
        ArgumentNullException.ThrowIfNull(s);
        ArgumentNullException.ThrowIfNull(displayName);
        string file = displayName;

        Span<byte> prefix = stackalloc byte[8];
        int got = s.ReadAtLeast(prefix, 8, throwOnEndOfStream: false);
        if (got < 8)
            throw Bad(file, $"{got} bytes is too short for a safetensors file (it starts with an 8-byte header length)");
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);

        long? remaining = s.CanSeek ? s.Length - s.Position : null;
        if (remaining is long r && headerLength > (ulong)r)
            throw Bad(file, $"header length {headerLength} is larger than the file ({r} bytes follow the 8-byte length)");
        if (headerLength > MaxHeaderBytes)
            throw Bad(file, $"header length {headerLength} exceeds the {MaxHeaderBytes}-byte limit");

        var header = new byte[(int)headerLength];
        got = s.ReadAtLeast(header, header.Length, throwOnEndOfStream: false);
        if (got < header.Length)
            throw Bad(file, $"header length {headerLength} is larger than the file ({got} bytes follow the 8-byte length)");

        byte[] data = ReadRest(s, file, remaining is long rr ? rr - header.Length : null);

        CheckHeaderText(header, file);
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(header);
        }
        catch (JsonException e)
        {
            throw Bad(file, $"header is not valid JSON: {e.Message}", e);
        }

        using (doc)
        {
            return Parse(doc.RootElement, data, file);
        }
    }

    /// <summary>
    /// Writes <paramref name="tensors"/> (in the given order) and optional metadata to <paramref name="path"/>, through a
    /// temporary file in the same directory that replaces the target only once complete and fsynced, after which the
    /// directory is fsynced too (<see cref="AtomicFile"/>). Temporary files of earlier saves that were killed are removed.
    /// </summary>
    public static void Write(string path, IEnumerable<KeyValuePair<string, SafeTensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(tensors);
        var list = Validate(tensors, metadata); // fail before touching the disk
        AtomicFile.Write(path, stream => WriteValidated(stream, list, metadata));
    }

    /// <summary>Writes a complete safetensors file to <paramref name="destination"/> (left open).</summary>
    public static void Write(Stream destination, IEnumerable<KeyValuePair<string, SafeTensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(destination);
        ArgumentNullException.ThrowIfNull(tensors);
        WriteValidated(destination, Validate(tensors, metadata), metadata);
    }

    // ------------------------------------------------------------------ reading

    private static byte[] ReadRest(Stream s, string file, long? known)
    {
        if (known is long n)
        {
            if (n > Array.MaxLength) throw Bad(file, $"{n} bytes of tensor data is more than one array can hold");
            var data = new byte[n];
            int got = s.ReadAtLeast(data, data.Length, throwOnEndOfStream: false);
            if (got < data.Length) throw Bad(file, $"stream ended after {got} of {n} data bytes");
            return data;
        }
        using var buffer = new MemoryStream();
        s.CopyTo(buffer);
        return buffer.ToArray();
    }

    /// <summary>
    /// Walks the header once as tokens and decodes every name and string, so that bad text is reported here with its
    /// byte offset. System.Text.Json parses invalid UTF-8 or a lone surrogate escape (<c>"\uD800"</c>) without
    /// complaint and only fails when the string is read, with an InvalidOperationException that names neither the
    /// file nor the place.
    /// </summary>
    private static void CheckHeaderText(byte[] header, string file)
    {
        var reader = new Utf8JsonReader(header);
        try
        {
            while (reader.Read())
            {
                if (reader.TokenType is not (JsonTokenType.String or JsonTokenType.PropertyName)) continue;
                try
                {
                    reader.GetString();
                }
                catch (InvalidOperationException e)
                {
                    string what = reader.TokenType == JsonTokenType.PropertyName ? "name" : "string";
                    throw Bad(file, $"header {what} at byte offset {8 + reader.TokenStartIndex} is not valid text (invalid UTF-8 or a lone surrogate escape)", e);
                }
            }
        }
        catch (JsonException e)
        {
            throw Bad(file, $"header is not valid JSON: {e.Message} (file byte offset {8 + reader.BytesConsumed} or just after)", e);
        }
    }

    private readonly record struct Entry(string Name, SafeTensorDType DType, int[] Shape, long Begin, long End);

    private static SafeTensorFile Parse(JsonElement root, byte[] data, string file)
    {
        if (root.ValueKind != JsonValueKind.Object)
            throw Bad(file, $"header must be a JSON object, found {Kind(root)}");

        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var entries = new List<Entry>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (JsonProperty property in root.EnumerateObject())
        {
            if (!seen.Add(property.Name))
                throw Bad(file, $"header names '{property.Name}' twice");
            if (property.Name == MetadataKey)
                ReadMetadata(property.Value, metadata, file);
            else
                entries.Add(ReadEntry(property.Name, property.Value, data.LongLength, file));
        }

        CheckCoverage(entries, data.LongLength, file);

        var tensors = new Dictionary<string, SafeTensor>(entries.Count, StringComparer.Ordinal);
        foreach (Entry e in entries)
            tensors.Add(e.Name, SafeTensor.FromLittleEndianBytes(e.DType, e.Shape, data.AsSpan((int)e.Begin, (int)(e.End - e.Begin))));
        return new SafeTensorFile(tensors, metadata);
    }

    private static void ReadMetadata(JsonElement value, Dictionary<string, string> metadata, string file)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw Bad(file, $"'{MetadataKey}' must be an object of strings, found {Kind(value)}");
        foreach (JsonProperty p in value.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.String)
                throw Bad(file, $"'{MetadataKey}' value for '{p.Name}' must be a string, found {Kind(p.Value)}");
            if (!metadata.TryAdd(p.Name, p.Value.GetString()!))
                throw Bad(file, $"'{MetadataKey}' names '{p.Name}' twice");
        }
    }

    private static Entry ReadEntry(string name, JsonElement value, long dataLength, string file)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw Bad(file, $"tensor '{name}' must be described by an object, found {Kind(value)}");

        JsonElement? dtypeElement = null, shapeElement = null, offsetsElement = null;
        foreach (JsonProperty p in value.EnumerateObject())
        {
            switch (p.Name)
            {
                case "dtype" when dtypeElement is null: dtypeElement = p.Value; break;
                case "shape" when shapeElement is null: shapeElement = p.Value; break;
                case "data_offsets" when offsetsElement is null: offsetsElement = p.Value; break;
                case "dtype" or "shape" or "data_offsets": throw Bad(file, $"tensor '{name}' has field '{p.Name}' twice");
                default: throw Bad(file, $"tensor '{name}' has unknown field '{p.Name}' (expected dtype, shape, data_offsets)");
            }
        }
        if (dtypeElement is not JsonElement dt) throw Bad(file, $"tensor '{name}' has no 'dtype'");
        if (shapeElement is not JsonElement sh) throw Bad(file, $"tensor '{name}' has no 'shape'");
        if (offsetsElement is not JsonElement of) throw Bad(file, $"tensor '{name}' has no 'data_offsets'");

        if (dt.ValueKind != JsonValueKind.String)
            throw Bad(file, $"tensor '{name}' dtype must be a string, found {Kind(dt)}");
        string dtypeText = dt.GetString()!;
        SafeTensorDType dtype = dtypeText switch
        {
            "F32" => SafeTensorDType.F32,
            "F64" => SafeTensorDType.F64,
            "I32" => SafeTensorDType.I32,
            "I64" => SafeTensorDType.I64,
            _ => throw Bad(file, $"tensor '{name}' has unsupported dtype '{dtypeText}' (supported: F32, F64, I32, I64)"),
        };

        if (sh.ValueKind != JsonValueKind.Array)
            throw Bad(file, $"tensor '{name}' shape must be an array, found {Kind(sh)}");
        var shape = new int[sh.GetArrayLength()];
        int i = 0;
        foreach (JsonElement d in sh.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt32(out int dim) || dim < 0)
                throw Bad(file, $"tensor '{name}' shape element {i} ({d.GetRawText()}) is not a non-negative 32-bit integer");
            shape[i++] = dim;
        }

        if (of.ValueKind != JsonValueKind.Array || of.GetArrayLength() != 2)
            throw Bad(file, $"tensor '{name}' data_offsets must be an array [begin, end], found {of.GetRawText()}");
        var offsets = new long[2];
        i = 0;
        foreach (JsonElement o in of.EnumerateArray())
        {
            if (o.ValueKind != JsonValueKind.Number || !o.TryGetInt64(out long v) || v < 0)
                throw Bad(file, $"tensor '{name}' data_offsets element {i} ({o.GetRawText()}) is not a non-negative integer");
            offsets[i++] = v;
        }
        long begin = offsets[0], end = offsets[1];
        if (end < begin)
            throw Bad(file, $"tensor '{name}' data_offsets [{begin}, {end}] end before begin");

        int size = SafeTensor.ElementSize(dtype);
        long count = 1;
        foreach (int d in shape)
        {
            count *= d;
            if (count > Array.MaxLength)
                throw Bad(file, $"tensor '{name}' declares shape {SafeTensor.FormatShape(shape)}, too many elements for one array");
        }
        long bytes = count * size;
        if (end - begin != bytes)
            throw Bad(file, $"tensor '{name}' declares shape {SafeTensor.FormatShape(shape)} {dtypeText} ({bytes} bytes) but data_offsets span {end - begin} bytes");
        if (end > dataLength)
            throw Bad(file, $"tensor '{name}' data_offsets [{begin}, {end}] run past the end of the data ({dataLength} bytes follow the header)");
        return new Entry(name, dtype, shape, begin, end);
    }

    /// <summary>The tensors must tile the data exactly: sorted by offset, each starts where the previous ended, the last ends at the end.</summary>
    private static void CheckCoverage(List<Entry> entries, long dataLength, string file)
    {
        var sorted = entries.OrderBy(e => e.Begin).ThenBy(e => e.End).ToList();
        long position = 0;
        Entry? previous = null;
        foreach (Entry e in sorted)
        {
            if (e.Begin < position && previous is Entry p)
                throw Bad(file, $"tensors '{p.Name}' [{p.Begin}, {p.End}) and '{e.Name}' [{e.Begin}, {e.End}) overlap");
            if (e.Begin > position)
                throw Bad(file, $"data bytes [{position}, {e.Begin}) are not covered by any tensor (gap before '{e.Name}')");
            position = e.End;
            previous = e;
        }
        if (position != dataLength)
            throw Bad(file, $"data bytes [{position}, {dataLength}) are not covered by any tensor ({dataLength - position} trailing bytes)");
    }

    // ------------------------------------------------------------------ writing

    private static List<KeyValuePair<string, SafeTensor>> Validate(IEnumerable<KeyValuePair<string, SafeTensor>> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        var list = tensors.ToList();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, tensor) in list)
        {
            if (string.IsNullOrEmpty(name)) throw new ArgumentException("A tensor name is null or empty.", nameof(tensors));
            if (name == MetadataKey) throw new ArgumentException($"'{MetadataKey}' is reserved and cannot name a tensor.", nameof(tensors));
            if (tensor is null) throw new ArgumentException($"Tensor '{name}' is null.", nameof(tensors));
            if (!names.Add(name)) throw new ArgumentException($"Tensor name '{name}' appears twice.", nameof(tensors));
        }
        if (metadata is not null)
        {
            foreach (var (key, value) in metadata)
            {
                if (value is null) throw new ArgumentException($"Metadata value for '{key}' is null.", nameof(metadata));
            }
        }
        return list;
    }

    private static void WriteValidated(Stream destination, List<KeyValuePair<string, SafeTensor>> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        var blobs = new List<byte[]>(tensors.Count);
        using var json = new MemoryStream();
        using (var writer = new Utf8JsonWriter(json, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            writer.WriteStartObject();
            if (metadata is not null)
            {
                writer.WriteStartObject(MetadataKey);
                foreach (var (key, value) in metadata) writer.WriteString(key, value);
                writer.WriteEndObject();
            }
            long offset = 0;
            foreach (var (name, tensor) in tensors)
            {
                byte[] bytes = tensor.ToLittleEndianBytes();
                blobs.Add(bytes);
                writer.WriteStartObject(name);
                writer.WriteString("dtype", tensor.DType.ToString());
                writer.WriteStartArray("shape");
                foreach (int d in tensor.Shape) writer.WriteNumberValue(d);
                writer.WriteEndArray();
                writer.WriteStartArray("data_offsets");
                writer.WriteNumberValue(offset);
                writer.WriteNumberValue(offset + bytes.Length);
                writer.WriteEndArray();
                writer.WriteEndObject();
                offset += bytes.Length;
            }
            writer.WriteEndObject();
        }

        int padding = (int)((8 - json.Length % 8) % 8);
        for (int i = 0; i < padding; i++) json.WriteByte((byte)' ');

        Span<byte> prefix = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)json.Length);
        destination.Write(prefix);
        json.Position = 0;
        json.CopyTo(destination);
        FaultAfterHeaderForTests.Value?.Invoke(); // lets tests fail a write half-way (header out, data not)
        foreach (byte[] blob in blobs) destination.Write(blob);
    }

    // ------------------------------------------------------------------ helpers

    private static string Kind(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => e.ValueKind.ToString(),
    };

    private static InvalidDataException Bad(string file, string problem, Exception? inner = null) =>
        new($"file {file}: {problem}", inner);
}
