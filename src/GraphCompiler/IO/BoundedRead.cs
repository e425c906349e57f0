// Reads a length a file header declares without trusting it: memory grows with the bytes that actually arrive.
namespace GraphCompiler.IO;

/// <summary>
/// Readers call this instead of <c>new byte[declaredLength]</c>. A header is only a claim; a 16-byte file that declares
/// 2 GB must fail with "only 0 bytes follow", not with a 2 GB allocation (or an OutOfMemoryException, or a SIGSEGV
/// under a container's heap limit). The buffer starts small and doubles while data keeps coming, so the peak is about
/// twice the bytes present plus <see cref="FirstChunk"/>, whatever the header says. A seekable stream tells its
/// remaining length up front, so a claim it cannot back is refused before anything is allocated.
/// </summary>
internal static class BoundedRead
{
    /// <summary>The first allocation for a claim that the stream cannot confirm in advance (a gzip or network stream).</summary>
    internal const int FirstChunk = 1 << 16;

    /// <summary>
    /// Reads <paramref name="length"/> bytes, or as many as the stream holds if fewer: the result is exactly
    /// <paramref name="length"/> long when <paramref name="got"/> equals it, and is otherwise only a partial buffer
    /// that the caller reports (with <paramref name="got"/>) and discards.
    /// </summary>
    internal static byte[] ReadUpTo(Stream stream, long length, out long got)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (length > Array.MaxLength) throw new ArgumentOutOfRangeException(nameof(length), length, "more than one array can hold");
        if (stream.CanSeek)
        {
            long remaining = Math.Max(0, stream.Length - stream.Position);
            if (remaining < length)
            {
                // Not enough bytes: say how many there are without reading (or allocating) any of them.
                got = remaining;
                stream.Seek(0, SeekOrigin.End);
                return [];
            }
            var exact = new byte[length];
            got = stream.ReadAtLeast(exact, exact.Length, throwOnEndOfStream: false);
            return exact;
        }

        var buffer = new byte[Math.Min(length, FirstChunk)];
        long filled = 0;
        while (true)
        {
            int n = stream.ReadAtLeast(buffer.AsSpan((int)filled), buffer.Length - (int)filled, throwOnEndOfStream: false);
            filled += n;
            if (filled < buffer.Length || buffer.Length == length) break;
            // The stream has backed every byte so far; only now is a larger buffer justified.
            Array.Resize(ref buffer, (int)Math.Min(length, 2L * buffer.Length));
        }
        got = filled;
        return buffer;
    }
}
