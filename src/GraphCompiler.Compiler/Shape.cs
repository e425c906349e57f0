// Tensor shapes known at build time; the batch dimension stays symbolic (N) and every other dimension is a number.
using System;
using System.Linq;

namespace GraphCompiler.Compiler
{
    /// <summary>A shape such as [N,64,4,4]. <see cref="Batch"/> (-1) marks the symbolic batch dimension.</summary>
    public readonly struct Shape : IEquatable<Shape>
    {
        public const int Batch = -1;

        private readonly EquatableArray<int> _dims;

        public Shape(params int[] dims) => _dims = new EquatableArray<int>(dims);

        public int Rank => _dims.Count;

        public int this[int axis] => _dims[axis];

        public int[] ToArray() => _dims.ToArray();

        /// <summary>Elements per sample: the product of every dimension after the batch dimension.</summary>
        public int PerSample
        {
            get
            {
                int count = 1;
                for (int i = 1; i < Rank; i++) count = checked(count * _dims[i]);
                return count;
            }
        }

        /// <summary>The dimensions after the batch dimension.</summary>
        public int[] SampleDims => _dims.Skip(1).ToArray();

        public static bool TryParse(string text, out Shape shape, out string error)
        {
            shape = default;
            string[] parts = (text ?? "").Split(',');
            var dims = new int[parts.Length];
            for (int i = 0; i < parts.Length; i++)
            {
                string p = parts[i].Trim();
                if (i == 0)
                {
                    if (p != "N")
                    {
                        error = $"the first dimension must be the batch symbol N, got '{p}'";
                        return false;
                    }
                    dims[i] = Batch;
                    continue;
                }
                if (!int.TryParse(p, out int d) || d <= 0)
                {
                    error = $"dimension {i} must be a positive integer, got '{p}'";
                    return false;
                }
                dims[i] = d;
            }
            if (parts.Length < 2 || dims[0] != Batch)
            {
                error = "expected 'N' followed by at least one positive dimension, e.g. \"N,1,28,28\"";
                return false;
            }
            shape = new Shape(dims);
            error = "";
            return true;
        }

        public bool Equals(Shape other) => _dims.Equals(other._dims);

        public override bool Equals(object? obj) => obj is Shape other && Equals(other);

        public override int GetHashCode() => _dims.GetHashCode();

        /// <summary>PyTorch-like text, e.g. <c>[N,64,4,4]</c>.</summary>
        public override string ToString() => "[" + string.Join(",", _dims.Select(d => d == Batch ? "N" : d.ToString())) + "]";

        /// <summary>Shape comment text in llm.c style, e.g. <c>(N, 64, 4, 4)</c>.</summary>
        public string Comment => "(" + string.Join(", ", _dims.Select(d => d == Batch ? "N" : d.ToString())) + ")";
    }
}
