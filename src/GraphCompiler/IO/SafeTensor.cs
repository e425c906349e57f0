// One tensor as stored in a safetensors file: its element type, shape and values, with conversions to what the runtime uses.
using System.Runtime.InteropServices;

namespace GraphCompiler.IO;

/// <summary>The element types GraphCompiler reads and writes in safetensors files (names as the format spells them).</summary>
public enum SafeTensorDType
{
    F32,
    F64,
    I32,
    I64,
}

/// <summary>
/// An immutable tensor read from or written to a safetensors file: dtype, shape (row-major) and values.
/// The <c>As…</c> methods return fresh arrays, so callers may modify what they get.
/// </summary>
public sealed class SafeTensor
{
    private readonly int[] _shape;
    private readonly Array _data; // float[], double[], int[] or long[] according to DType

    private SafeTensor(SafeTensorDType dtype, int[] shape, Array data)
    {
        DType = dtype;
        _shape = shape;
        _data = data;
    }

    public SafeTensorDType DType { get; }

    /// <summary>The shape, outermost dimension first; empty for a scalar.</summary>
    public IReadOnlyList<int> Shape => _shape;

    /// <summary>Number of elements (1 for a scalar of shape []).</summary>
    public int Count => _data.Length;

    /// <summary>The shape as PyTorch prints it, e.g. <c>[32, 3, 5, 5]</c>.</summary>
    public string ShapeText => FormatShape(_shape);

    /// <summary>Bytes per element of <paramref name="dtype"/>.</summary>
    public static int ElementSize(SafeTensorDType dtype) => dtype switch
    {
        SafeTensorDType.F32 or SafeTensorDType.I32 => 4,
        SafeTensorDType.F64 or SafeTensorDType.I64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Unknown safetensors dtype."),
    };

    public static SafeTensor FromFloat(ReadOnlySpan<float> data, params int[] shape) =>
        new(SafeTensorDType.F32, CheckShape(shape, data.Length), data.ToArray());

    public static SafeTensor FromDouble(ReadOnlySpan<double> data, params int[] shape) =>
        new(SafeTensorDType.F64, CheckShape(shape, data.Length), data.ToArray());

    public static SafeTensor FromInt32(ReadOnlySpan<int> data, params int[] shape) =>
        new(SafeTensorDType.I32, CheckShape(shape, data.Length), data.ToArray());

    public static SafeTensor FromInt64(ReadOnlySpan<long> data, params int[] shape) =>
        new(SafeTensorDType.I64, CheckShape(shape, data.Length), data.ToArray());

    /// <summary>An F32 safetensor holding a copy of <paramref name="tensor"/>.</summary>
    public static SafeTensor FromTensor(Tensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        return FromFloat(tensor.Data, tensor.Shape);
    }

    /// <summary>The values as float32: F32 copied, F64 rounded to nearest, integers converted (exact up to 2^24).</summary>
    public float[] AsFloat()
    {
        switch (_data)
        {
            case float[] f: return (float[])f.Clone();
            case double[] d: { var r = new float[d.Length]; for (int i = 0; i < d.Length; i++) r[i] = (float)d[i]; return r; }
            case int[] n: { var r = new float[n.Length]; for (int i = 0; i < n.Length; i++) r[i] = n[i]; return r; }
            case long[] l: { var r = new float[l.Length]; for (int i = 0; i < l.Length; i++) r[i] = l[i]; return r; }
            default: throw new InvalidOperationException("Unreachable: unknown storage.");
        }
    }

    /// <summary>The values as float64 (exact for F32, F64 and I32; I64 rounded beyond 2^53).</summary>
    public double[] AsDouble()
    {
        switch (_data)
        {
            case float[] f: { var r = new double[f.Length]; for (int i = 0; i < f.Length; i++) r[i] = f[i]; return r; }
            case double[] d: return (double[])d.Clone();
            case int[] n: { var r = new double[n.Length]; for (int i = 0; i < n.Length; i++) r[i] = n[i]; return r; }
            case long[] l: { var r = new double[l.Length]; for (int i = 0; i < l.Length; i++) r[i] = l[i]; return r; }
            default: throw new InvalidOperationException("Unreachable: unknown storage.");
        }
    }

    /// <summary>The values of an integer tensor as int32; I64 values outside the int32 range throw.</summary>
    public int[] AsInt32()
    {
        switch (_data)
        {
            case int[] n: return (int[])n.Clone();
            case long[] l:
            {
                var r = new int[l.Length];
                for (int i = 0; i < l.Length; i++)
                {
                    if (l[i] is < int.MinValue or > int.MaxValue)
                        throw new OverflowException($"I64 tensor element {i} = {l[i]} does not fit in int32.");
                    r[i] = (int)l[i];
                }
                return r;
            }
            default: throw new InvalidOperationException($"AsInt32 needs an integer tensor (I32 or I64), this one is {DType}.");
        }
    }

    /// <summary>The values of an integer tensor as int64.</summary>
    public long[] AsInt64()
    {
        switch (_data)
        {
            case long[] l: return (long[])l.Clone();
            case int[] n: { var r = new long[n.Length]; for (int i = 0; i < n.Length; i++) r[i] = n[i]; return r; }
            default: throw new InvalidOperationException($"AsInt64 needs an integer tensor (I32 or I64), this one is {DType}.");
        }
    }

    /// <summary>A float32 runtime tensor with this shape (see <see cref="AsFloat"/> for the conversion).</summary>
    public Tensor ToTensor() => new(AsFloat(), _shape);

    /// <summary>Copies this tensor's shape (callers may keep or modify it).</summary>
    public int[] ShapeArray() => (int[])_shape.Clone();

    /// <summary>The raw little-endian bytes, as they are stored in the file.</summary>
    internal byte[] ToLittleEndianBytes()
    {
        byte[] bytes = _data switch
        {
            float[] f => MemoryMarshal.AsBytes(f.AsSpan()).ToArray(),
            double[] d => MemoryMarshal.AsBytes(d.AsSpan()).ToArray(),
            int[] n => MemoryMarshal.AsBytes(n.AsSpan()).ToArray(),
            long[] l => MemoryMarshal.AsBytes(l.AsSpan()).ToArray(),
            _ => throw new InvalidOperationException("Unreachable: unknown storage."),
        };
        if (!BitConverter.IsLittleEndian) ReverseElements(bytes, ElementSize(DType));
        return bytes;
    }

    /// <summary>Builds a tensor from little-endian bytes whose length the caller has already checked.</summary>
    internal static SafeTensor FromLittleEndianBytes(SafeTensorDType dtype, int[] shape, ReadOnlySpan<byte> bytes)
    {
        int size = ElementSize(dtype);
        int count = bytes.Length / size;
        Array data = dtype switch
        {
            SafeTensorDType.F32 => new float[count],
            SafeTensorDType.F64 => new double[count],
            SafeTensorDType.I32 => new int[count],
            SafeTensorDType.I64 => new long[count],
            _ => throw new ArgumentOutOfRangeException(nameof(dtype)),
        };
        Span<byte> destination = data switch
        {
            float[] f => MemoryMarshal.AsBytes(f.AsSpan()),
            double[] d => MemoryMarshal.AsBytes(d.AsSpan()),
            int[] n => MemoryMarshal.AsBytes(n.AsSpan()),
            long[] l => MemoryMarshal.AsBytes(l.AsSpan()),
            _ => throw new InvalidOperationException("Unreachable: unknown storage."),
        };
        bytes.CopyTo(destination); // a byte copy: no alignment requirement on the source
        if (!BitConverter.IsLittleEndian) ReverseElements(destination, size);
        return new SafeTensor(dtype, shape, data);
    }

    internal static string FormatShape(IReadOnlyList<int> shape) => "[" + string.Join(", ", shape) + "]";

    private static void ReverseElements(Span<byte> bytes, int size)
    {
        for (int i = 0; i + size <= bytes.Length; i += size) bytes.Slice(i, size).Reverse();
    }

    private static int[] CheckShape(int[] shape, int count)
    {
        ArgumentNullException.ThrowIfNull(shape);
        long product = 1;
        foreach (int d in shape)
        {
            if (d < 0) throw new ArgumentException($"Negative dimension in shape {FormatShape(shape)}.", nameof(shape));
            product *= d;
            if (product > Array.MaxLength) throw new ArgumentException($"Shape {FormatShape(shape)} has too many elements.", nameof(shape));
        }
        if (product != count)
            throw new ArgumentException($"Shape {FormatShape(shape)} needs {product} elements but {count} were given.", nameof(shape));
        return (int[])shape.Clone();
    }

    public override string ToString() => $"SafeTensor({DType}, {ShapeText})";
}
