// The static shape of a broadcasting element-wise op, reduced once to the fewest loops: runs of contiguous output, each
// reading either a run or one repeated element of each operand.
namespace GraphCompiler.Backends.Cpu;

/// <summary>
/// A NumPy broadcast of two operands over their per-sample dims (the batch is shared). Built from
/// <c>(rank, out dims…, a dims…, b dims…)</c> with a and b right-aligned to the rank (leading ones), as the generator
/// emits it. Dims of size 1 in the output are dropped and neighbouring dims that broadcast alike are merged, so
/// <c>(N,64,8,8) + (N,64,1,1)</c> becomes 64 rows of 64 elements, where b repeats one element per row.
/// </summary>
public sealed class BroadcastGeometry
{
    private readonly int[] _sizes;    // outer loop sizes, outermost first (the innermost run is Inner)
    private readonly int[] _aStrides; // per outer loop, in elements of a (0: broadcast)
    private readonly int[] _bStrides;

    public BroadcastGeometry(params int[] packed)
    {
        if (packed is null || packed.Length < 1 || packed[0] < 0 || packed.Length != 1 + 3 * packed[0])
            throw new ArgumentException("A broadcast geometry is (rank, out dims, a dims, b dims) with rank dims each.", nameof(packed));
        int rank = packed[0];
        int[] y = packed[1..(1 + rank)], a = packed[(1 + rank)..(1 + 2 * rank)], b = packed[(1 + 2 * rank)..];
        for (int i = 0; i < rank; i++)
        {
            if (y[i] <= 0 || (a[i] != y[i] && a[i] != 1) || (b[i] != y[i] && b[i] != 1) || (a[i] != y[i] && b[i] != y[i]))
                throw new ArgumentException($"Dim {i + 1} does not broadcast: output {y[i]}, a {a[i]}, b {b[i]}.", nameof(packed));
        }
        APerSample = Product(a);
        BPerSample = Product(b);
        YPerSample = Product(y);
        IsSame = APerSample == YPerSample && BPerSample == YPerSample;

        // (size, a stride, b stride) per output dim of size > 1, innermost last; contiguous strides, 0 where broadcast.
        var dims = new List<(int Size, int A, int B)>();
        int sa = 1, sb = 1;
        for (int i = rank - 1; i >= 0; i--)
        {
            if (y[i] > 1) dims.Insert(0, (y[i], a[i] == 1 ? 0 : sa, b[i] == 1 ? 0 : sb));
            sa *= a[i];
            sb *= b[i];
        }
        if (dims.Count == 0) dims.Add((1, 1, 1));
        // Merge an outer dim into the inner one when both operands step through them as one (or both repeat).
        for (int i = dims.Count - 2; i >= 0; i--)
        {
            var (outer, inner) = (dims[i], dims[i + 1]);
            if (outer.A == inner.A * inner.Size && outer.B == inner.B * inner.Size)
            {
                dims[i] = (outer.Size * inner.Size, inner.A, inner.B);
                dims.RemoveAt(i + 1);
            }
        }
        Inner = dims[^1].Size;
        AInner = dims[^1].A;
        BInner = dims[^1].B;
        _sizes = dims.Take(dims.Count - 1).Select(d => d.Size).ToArray();
        _aStrides = dims.Take(dims.Count - 1).Select(d => d.A).ToArray();
        _bStrides = dims.Take(dims.Count - 1).Select(d => d.B).ToArray();
        Rows = Product(_sizes);
    }

    private BroadcastGeometry(BroadcastGeometry g)
    {
        (_sizes, _aStrides, _bStrides) = (g._sizes, g._bStrides, g._aStrides);
        (APerSample, BPerSample, YPerSample, IsSame) = (g.BPerSample, g.APerSample, g.YPerSample, g.IsSame);
        (Inner, AInner, BInner, Rows) = (g.Inner, g.BInner, g.AInner, g.Rows);
    }

    public int APerSample { get; }

    public int BPerSample { get; }

    public int YPerSample { get; }

    /// <summary>Whether both operands have the output's shape (no broadcasting: one flat loop).</summary>
    public bool IsSame { get; }

    /// <summary>Length of each contiguous output run.</summary>
    public int Inner { get; }

    /// <summary>1 when a run reads a run of a, 0 when it repeats one element of a.</summary>
    public int AInner { get; }

    public int BInner { get; }

    /// <summary>Runs per sample.</summary>
    public int Rows { get; }

    /// <summary>The same broadcast with the operands swapped (b's view as the first operand), for the right operand's VJP.</summary>
    public BroadcastGeometry Swapped => _swapped ??= new BroadcastGeometry(this);

    private BroadcastGeometry? _swapped;

    /// <summary>Where run <paramref name="row"/> of a sample starts in a and in b.</summary>
    public (int A, int B) Offsets(int row)
    {
        int a = 0, b = 0;
        for (int d = _sizes.Length - 1; d >= 0; d--)
        {
            int i = row % _sizes[d];
            row /= _sizes[d];
            a += i * _aStrides[d];
            b += i * _bStrides[d];
        }
        return (a, b);
    }

    /// <summary>The broadcast of two per-sample shapes by NumPy's rules, or null when they do not broadcast.</summary>
    public static BroadcastGeometry? Of(int[] a, int[] b)
    {
        int rank = Math.Max(a.Length, b.Length);
        int[] x = Align(a, rank), y = Align(b, rank), dims = new int[rank];
        for (int i = 0; i < rank; i++)
        {
            if (x[i] != y[i] && x[i] != 1 && y[i] != 1) return null;
            dims[i] = Math.Max(x[i], y[i]);
        }
        return new BroadcastGeometry([rank, .. dims, .. x, .. y]);
    }

    /// <summary>The output's per-sample dims.</summary>
    public static int[] OutputDims(int[] a, int[] b)
    {
        int rank = Math.Max(a.Length, b.Length);
        int[] x = Align(a, rank), y = Align(b, rank);
        return x.Zip(y, Math.Max).ToArray();
    }

    private static int[] Align(int[] dims, int rank) => [.. Enumerable.Repeat(1, rank - dims.Length), .. dims];

    private static int Product(int[] dims)
    {
        int p = 1;
        foreach (int d in dims) p = checked(p * d);
        return p;
    }

    public override string ToString() => $"BroadcastGeometry(rows {Rows} × {Inner}, a {(AInner == 1 ? "run" : "repeat")}, b {(BInner == 1 ? "run" : "repeat")})";
}
