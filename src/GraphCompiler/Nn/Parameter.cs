// A learnable tensor of a model: its PyTorch state_dict name, shape, values and accumulated gradient.
namespace GraphCompiler.Nn;

/// <summary>
/// One learnable tensor. <see cref="Data"/> and <see cref="Grad"/> are allocated once and never replaced,
/// so compiled code and optimizers may hold on to them.
/// </summary>
public sealed class Parameter
{
    public Parameter(string name, int[] shape)
    {
        Name = name;
        Shape = (int[])shape.Clone();
        int count = 1;
        foreach (int d in shape) count = checked(count * d);
        Data = new float[count];
        Grad = new float[count];
    }

    /// <summary>The name PyTorch's <c>state_dict</c> uses, e.g. <c>conv1.weight</c>.</summary>
    public string Name { get; }

    public int[] Shape { get; }

    public float[] Data { get; }

    /// <summary>Accumulated gradient; backward adds into it, <see cref="ZeroGrad"/> clears it.</summary>
    public float[] Grad { get; }

    /// <summary>False freezes the parameter: optimizers leave it alone.</summary>
    public bool RequiresGrad { get; set; } = true;

    public int Count => Data.Length;

    public void ZeroGrad() => Array.Clear(Grad);

    public string ShapeText => "[" + string.Join(", ", Shape) + "]";

    /// <summary>Copies values in, checking the element count and shape.</summary>
    public void CopyFrom(ReadOnlySpan<float> values, int[] shape)
    {
        if (!shape.AsSpan().SequenceEqual(Shape))
            throw new ArgumentException($"Parameter '{Name}': expected shape {ShapeText} but got [{string.Join(", ", shape)}].");
        values.CopyTo(Data);
    }

    public override string ToString() => $"{Name} {ShapeText}";
}
