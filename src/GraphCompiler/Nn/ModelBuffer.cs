// A model's non-learnable state tensor (PyTorch's register_buffer): running statistics, batch counters, RNG positions.
namespace GraphCompiler.Nn;

/// <summary>The element type of a <see cref="ModelBuffer"/>.</summary>
public enum BufferDType
{
    /// <summary>float32 values in <see cref="ModelBuffer.Data"/>.</summary>
    Float32,

    /// <summary>int64 values in <see cref="ModelBuffer.Int64Data"/> (PyTorch's <c>num_batches_tracked</c>).</summary>
    Int64,
}

/// <summary>
/// A named tensor a model keeps besides its parameters — PyTorch's buffers, e.g. <c>bn1.running_mean</c> (float32) and
/// <c>bn1.num_batches_tracked</c> (int64, shape []). Optimizers never see it; checkpoints save it. A non-<see cref="Persistent"/>
/// buffer is left out of the <c>state_dict</c> (as with PyTorch's <c>persistent=False</c>) but kept in training checkpoints.
/// The arrays are allocated once and never replaced, so compiled code may hold on to them.
/// </summary>
public sealed class ModelBuffer
{
    private ModelBuffer(string name, int[] shape, BufferDType dtype, bool persistent)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        Name = name;
        Shape = (int[])shape.Clone();
        int count = 1;
        foreach (int d in shape)
        {
            if (d < 0) throw new ArgumentException($"Buffer '{name}': negative dimension in shape [{string.Join(", ", shape)}].", nameof(shape));
            count = checked(count * d);
        }
        DType = dtype;
        Persistent = persistent;
        Data = dtype == BufferDType.Float32 ? new float[count] : [];
        Int64Data = dtype == BufferDType.Int64 ? new long[count] : [];
    }

    /// <summary>A float32 buffer of zeros.</summary>
    public static ModelBuffer Float32(string name, int[] shape, bool persistent = true) => new(name, shape, BufferDType.Float32, persistent);

    /// <summary>An int64 buffer of zeros; shape [] for a scalar.</summary>
    public static ModelBuffer Int64(string name, int[] shape, bool persistent = true) => new(name, shape, BufferDType.Int64, persistent);

    /// <summary>The name PyTorch's <c>state_dict</c> uses, e.g. <c>bn1.running_var</c>.</summary>
    public string Name { get; }

    /// <summary>The shape; empty for a scalar (0-d) buffer.</summary>
    public int[] Shape { get; }

    public BufferDType DType { get; }

    /// <summary>Whether the buffer belongs in the <c>state_dict</c>.</summary>
    public bool Persistent { get; }

    /// <summary>The values of a <see cref="BufferDType.Float32"/> buffer (empty otherwise).</summary>
    public float[] Data { get; }

    /// <summary>The values of an <see cref="BufferDType.Int64"/> buffer (empty otherwise).</summary>
    public long[] Int64Data { get; }

    public int Count => DType == BufferDType.Float32 ? Data.Length : Int64Data.Length;

    public string ShapeText => "[" + string.Join(", ", Shape) + "]";

    public override string ToString() => $"{Name} {ShapeText} {DType}";
}
