// A dense float32 tensor in row-major (NCHW) layout: the value type users hand to and get from models.
namespace GraphCompiler;

/// <summary>A dense, row-major float32 tensor. Shapes follow PyTorch's order (N, C, H, W).</summary>
public sealed partial class Tensor
{
    public Tensor(int[] shape) : this(new float[Numel(shape)], shape)
    {
    }

    public Tensor(float[] data, int[] shape)
    {
        long count = Numel(shape);
        if (data.Length != count)
            throw new ArgumentException($"Tensor data has {data.Length} elements but shape [{string.Join(", ", shape)}] needs {count}.");
        Data = data;
        Shape = (int[])shape.Clone();
    }

    public float[] Data { get; }

    public int[] Shape { get; }

    public int Rank => Shape.Length;

    public int Count => Data.Length;

    public float this[params int[] index]
    {
        get => Data[Offset(index)];
        set => Data[Offset(index)] = value;
    }

    private int Offset(int[] index)
    {
        if (index.Length != Shape.Length)
            throw new ArgumentException($"Index of rank {index.Length} for a tensor of rank {Shape.Length}.");
        int offset = 0;
        for (int i = 0; i < index.Length; i++)
        {
            if ((uint)index[i] >= (uint)Shape[i])
                throw new IndexOutOfRangeException($"Index {index[i]} out of range for dimension {i} of size {Shape[i]}.");
            offset = offset * Shape[i] + index[i];
        }
        return offset;
    }

    public static int Numel(int[] shape)
    {
        int count = 1;
        foreach (int d in shape)
        {
            if (d < 0) throw new ArgumentException($"Negative dimension in shape [{string.Join(", ", shape)}].");
            count = checked(count * d);
        }
        return count;
    }

    public override string ToString() => $"Tensor[{string.Join(", ", Shape)}]";
}
