// Deterministic mutations of valid files (bit flips, truncations, boundary values in header fields, spliced tokens) for the reader fuzz suite.
using System.Buffers.Binary;

namespace GraphCompiler.Tests.Fuzz;

/// <summary>
/// Turns a valid seed file into a hostile one, reproducibly: input <c>i</c> of a run with seed <c>s</c> is always the
/// same bytes, so a failure report (reader, seed, index) is a reproducer. The operators are the ones that broke the
/// readers in the issue: single bit flips, truncation, a header field set to a boundary value (0, 1, 2^30, 2^31−1,
/// Array.MaxLength, −1, in either byte order), inserted and deleted blocks, and format tokens spliced in (invalid
/// UTF-8 and lone surrogates for JSON, chunk names for PNG …). Headers get more than their share: that is where lengths live.
/// </summary>
internal static class Mutator
{
    private static readonly ulong[] Boundaries =
    [
        0, 1, 2, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 1 << 20, 1 << 30, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF,
        (ulong)Array.MaxLength, 0x7FFFFFFFFFFFFFFF, ulong.MaxValue, 16384, 16383, 65535, 32768,
    ];

    /// <summary>One mutated input: 1 to 4 operators applied to a seed picked by the generator.</summary>
    public static byte[] Mutate(Random rng, IReadOnlyList<byte[]> seeds, IReadOnlyList<byte[]> tokens, int headerBytes)
    {
        byte[] data = seeds[rng.Next(seeds.Count)];
        int ops = 1 + rng.Next(4);
        for (int i = 0; i < ops; i++) data = Apply(rng, data, tokens, headerBytes);
        return data;
    }

    private static byte[] Apply(Random rng, byte[] data, IReadOnlyList<byte[]> tokens, int headerBytes)
    {
        // Positions favour the header: half of all edits land in its first headerBytes bytes.
        int Pos(int length) => length == 0 ? 0 : rng.Next(2) == 0 ? rng.Next(Math.Min(length, Math.Max(1, headerBytes))) : rng.Next(length);
        var list = new List<byte>(data);
        switch (rng.Next(9))
        {
            case 0: // bit flips
            {
                if (data.Length == 0) break;
                var copy = (byte[])data.Clone();
                int flips = 1 + rng.Next(3);
                for (int f = 0; f < flips; f++) copy[Pos(copy.Length)] ^= (byte)(1 << rng.Next(8));
                return copy;
            }
            case 1: // truncation
                return data.Length == 0 ? data : data[..rng.Next(data.Length)];
            case 2: // a header field set to a boundary value, 2, 4 or 8 bytes, little or big endian
            {
                int width = rng.Next(3) switch { 0 => 2, 1 => 4, _ => 8 };
                if (data.Length < width) break;
                var copy = (byte[])data.Clone();
                int at = Math.Min(Pos(copy.Length), copy.Length - width);
                ulong value = Boundaries[rng.Next(Boundaries.Length)];
                if (rng.Next(4) == 0) value -= (ulong)rng.Next(3);
                Span<byte> field = copy.AsSpan(at, width);
                bool big = rng.Next(2) == 0;
                switch (width)
                {
                    case 2: if (big) BinaryPrimitives.WriteUInt16BigEndian(field, (ushort)value); else BinaryPrimitives.WriteUInt16LittleEndian(field, (ushort)value); break;
                    case 4: if (big) BinaryPrimitives.WriteUInt32BigEndian(field, (uint)value); else BinaryPrimitives.WriteUInt32LittleEndian(field, (uint)value); break;
                    default: if (big) BinaryPrimitives.WriteUInt64BigEndian(field, value); else BinaryPrimitives.WriteUInt64LittleEndian(field, value); break;
                }
                return copy;
            }
            case 3: // random byte values
            {
                if (data.Length == 0) break;
                var copy = (byte[])data.Clone();
                int n = 1 + rng.Next(8);
                for (int k = 0; k < n; k++) copy[Pos(copy.Length)] = (byte)rng.Next(256);
                return copy;
            }
            case 4: // delete a block
            {
                if (data.Length < 2) break;
                int at = Pos(data.Length);
                int n = 1 + rng.Next(Math.Min(64, data.Length - at));
                list.RemoveRange(at, Math.Min(n, list.Count - at));
                return [.. list];
            }
            case 5: // insert random bytes
            {
                int at = Pos(data.Length + 1);
                var block = new byte[1 + rng.Next(32)];
                rng.NextBytes(block);
                list.InsertRange(Math.Min(at, list.Count), block);
                return [.. list];
            }
            case 6: // duplicate a block (repeated chunks, records, segments)
            {
                if (data.Length == 0) break;
                int at = rng.Next(data.Length);
                int n = 1 + rng.Next(Math.Min(256, data.Length - at));
                list.InsertRange(rng.Next(list.Count + 1), data.AsSpan(at, n).ToArray());
                return [.. list];
            }
            case 7: // splice a format token in, replacing or inserting
            {
                if (tokens.Count == 0) break;
                byte[] token = tokens[rng.Next(tokens.Count)];
                int at = Pos(data.Length + 1);
                if (rng.Next(2) == 0 && at + token.Length <= data.Length)
                {
                    var copy = (byte[])data.Clone();
                    token.CopyTo(copy, at);
                    return copy;
                }
                list.InsertRange(Math.Min(at, list.Count), token);
                return [.. list];
            }
            default: // extend with a tail (trailing garbage, a second record)
            {
                var tail = new byte[1 + rng.Next(64)];
                rng.NextBytes(tail);
                return [.. data, .. tail];
            }
        }
        return data;
    }
}
