// ONNX TensorProto values as .NET arrays: float, double, int64, int32, uint8 and bool, from raw_data or the typed fields.
using System.Buffers.Binary;
using Google.Protobuf;
using GraphCompiler.Tests.Onnx.Protos;

namespace GraphCompiler.Tests.Onnx;

/// <summary>A dense tensor read from an ONNX <c>.pb</c>: its name, element type, dims and values (float[], double[], long[], int[], byte[] or bool[]).</summary>
public sealed class OnnxTensor
{
    public OnnxTensor(string name, TensorProto.Types.DataType type, int[] shape, Array values)
    {
        Name = name;
        Type = type;
        Shape = shape;
        Values = values;
        if (values.Length != Count)
            throw new InvalidDataException($"ONNX tensor '{name}': {values.Length} values for shape [{string.Join(", ", shape)}].");
    }

    public string Name { get; }

    public TensorProto.Types.DataType Type { get; }

    public int[] Shape { get; }

    public Array Values { get; }

    public int Count => Shape.Aggregate(1, (a, d) => checked(a * d));

    public string ShapeText => $"[{string.Join(", ", Shape)}]";

    /// <summary>Float or double values as float (the CPU kernels' type).</summary>
    public float[] AsFloat() => Values switch
    {
        float[] f => f,
        double[] d => Array.ConvertAll(d, v => (float)v),
        _ => throw new InvalidOperationException($"ONNX tensor '{Name}' is {Type}, not a floating-point tensor."),
    };

    /// <summary>Integer values as int32, each checked to fit.</summary>
    public int[] AsInt32() => Values switch
    {
        int[] i => i,
        long[] l => Array.ConvertAll(l, v => checked((int)v)),
        _ => throw new InvalidOperationException($"ONNX tensor '{Name}' is {Type}, not an integer tensor."),
    };

    /// <summary>Reads a serialized TensorProto (a test case's <c>input_N.pb</c> / <c>output_N.pb</c>).</summary>
    public static OnnxTensor Read(string path)
    {
        TensorProto proto = Parse(path, TensorProto.Parser);
        try
        {
            return FromProto(proto);
        }
        catch (Exception e) when (e is InvalidDataException or NotSupportedException)
        {
            throw new InvalidDataException($"file {path}: {e.Message}", e);
        }
    }

    /// <summary>
    /// Parses a whole protobuf file from memory: every length inside it is then checked against bytes that exist, so
    /// a damaged length cannot make the parser allocate more than the file. Damage is an InvalidDataException naming
    /// the file (protobuf reports the field in its message).
    /// </summary>
    public static T Parse<T>(string path, MessageParser<T> parser) where T : IMessage<T>
    {
        byte[] bytes = File.ReadAllBytes(path);
        try
        {
            return parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new InvalidDataException($"file {path}: not a valid {typeof(T).Name} ({bytes.Length} bytes): {e.Message}", e);
        }
    }

    /// <summary>
    /// The values of <paramref name="proto"/>: raw_data (little-endian, fixed width, bool one byte each) when present,
    /// otherwise the typed field the ONNX spec assigns to its data type (float_data, double_data, int64_data, or int32_data
    /// for int32, uint8 and bool).
    /// </summary>
    public static OnnxTensor FromProto(TensorProto proto)
    {
        var type = (TensorProto.Types.DataType)proto.DataType;
        var shape = new int[proto.Dims.Count];
        long count = 1;
        for (int i = 0; i < shape.Length; i++)
        {
            long d = proto.Dims[i];
            if (d < 0 || d > int.MaxValue || (count *= d) > Array.MaxLength)
                throw new InvalidDataException($"tensor '{proto.Name}' field dims [{string.Join(", ", proto.Dims)}]: dimension {i} ({d}) is negative or the shape holds more elements than an array can");
            shape[i] = (int)d;
        }
        ReadOnlySpan<byte> raw = proto.RawData.Span;
        bool hasRaw = !proto.RawData.IsEmpty || count == 0;
        Array values = type switch
        {
            TensorProto.Types.DataType.Float => hasRaw ? Raw(raw, count, 4, (b, i) => BinaryPrimitives.ReadSingleLittleEndian(b[(i * 4)..])) : proto.FloatData.ToArray(),
            TensorProto.Types.DataType.Double => hasRaw ? Raw(raw, count, 8, (b, i) => BinaryPrimitives.ReadDoubleLittleEndian(b[(i * 8)..])) : proto.DoubleData.ToArray(),
            TensorProto.Types.DataType.Int64 => hasRaw ? Raw(raw, count, 8, (b, i) => BinaryPrimitives.ReadInt64LittleEndian(b[(i * 8)..])) : proto.Int64Data.ToArray(),
            TensorProto.Types.DataType.Int32 => hasRaw ? Raw(raw, count, 4, (b, i) => BinaryPrimitives.ReadInt32LittleEndian(b[(i * 4)..])) : proto.Int32Data.ToArray(),
            TensorProto.Types.DataType.Uint8 => hasRaw ? Raw(raw, count, 1, (b, i) => b[i]) : proto.Int32Data.Select(v => v is >= 0 and <= 255 ? (byte)v
                : throw new InvalidDataException($"tensor '{proto.Name}' field int32_data holds {v}, not a uint8")).ToArray(),
            TensorProto.Types.DataType.Bool => hasRaw ? Raw(raw, count, 1, (b, i) => b[i] != 0) : proto.Int32Data.Select(v => v != 0).ToArray(),
            _ => throw new NotSupportedException($"tensor '{proto.Name}' has ONNX data type {type}, which the reader does not support."),
        };
        return new OnnxTensor(proto.Name, type, shape, values);
    }

    private delegate T Element<T>(ReadOnlySpan<byte> bytes, int index);

    private static T[] Raw<T>(ReadOnlySpan<byte> raw, long count, int size, Element<T> read)
    {
        if (raw.Length != count * size)
            throw new InvalidDataException($"field raw_data holds {raw.Length} bytes but {count} elements of {size} bytes need {(long)count * size}.");
        var values = new T[count];
        for (int i = 0; i < count; i++) values[i] = read(raw, i);
        return values;
    }
}
