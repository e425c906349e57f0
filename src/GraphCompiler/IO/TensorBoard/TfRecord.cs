// TFRecord framing, the container of TensorBoard event files: length, masked CRC of the length, data, masked CRC of the data.
using System.Buffers.Binary;

namespace GraphCompiler.IO.TensorBoard;

/// <summary>One record read back from a TFRecord file, with the byte offset of its header in that file.</summary>
public readonly record struct TfRecord(long Offset, byte[] Data);

/// <summary>
/// Writes and reads TFRecord framing: <c>uint64 length</c> (little endian), <c>uint32 masked_crc32c(length bytes)</c>,
/// <c>data</c>, <c>uint32 masked_crc32c(data)</c>. Reading verifies both checksums of every record.
/// </summary>
public static class TfRecordFormat
{
    /// <summary>Bytes of framing before the data: the length and its checksum.</summary>
    public const int HeaderSize = 12;

    /// <summary>Bytes of framing after the data: its checksum.</summary>
    public const int FooterSize = 4;

    /// <summary>Writes one framed record. The whole record goes out in one call so a buffered stream keeps it contiguous.</summary>
    public static void Write(Stream stream, ReadOnlySpan<byte> data)
    {
        byte[] frame = new byte[HeaderSize + data.Length + FooterSize];
        Frame(data, frame);
        stream.Write(frame);
    }

    /// <summary>Frames <paramref name="data"/> into <paramref name="destination"/> (at least <c>data.Length + 16</c> bytes).</summary>
    public static void Frame(ReadOnlySpan<byte> data, Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(destination, (ulong)data.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[8..], Crc32C.ComputeMasked(destination[..8]));
        data.CopyTo(destination[HeaderSize..]);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[(HeaderSize + data.Length)..], Crc32C.ComputeMasked(data));
    }

    /// <summary>
    /// Reads every record of <paramref name="stream"/>, verifying both checksums. A mismatch or a record cut short throws
    /// <see cref="InvalidDataException"/> naming <paramref name="name"/> and the byte offset of the bad record.
    /// </summary>
    public static IEnumerable<TfRecord> Read(Stream stream, string name)
    {
        byte[] header = new byte[HeaderSize];
        byte[] footer = new byte[FooterSize];
        long offset = 0;
        while (true)
        {
            int got = stream.ReadAtLeast(header, HeaderSize, throwOnEndOfStream: false);
            if (got == 0) yield break;
            if (got < HeaderSize)
                throw Bad(name, offset, $"truncated record header ({got} of {HeaderSize} bytes)");
            ulong length = BinaryPrimitives.ReadUInt64LittleEndian(header);
            uint lengthCrc = BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(8));
            uint expectedLengthCrc = Crc32C.ComputeMasked(header.AsSpan(0, 8));
            if (lengthCrc != expectedLengthCrc)
                throw Bad(name, offset, $"length checksum mismatch (stored 0x{lengthCrc:X8}, computed 0x{expectedLengthCrc:X8})");
            if (length > (ulong)Array.MaxLength)
                throw Bad(name, offset, $"record length {length} is larger than this reader supports ({Array.MaxLength} bytes)");
            // A valid length CRC only proves the 8 length bytes are intact, not that the data exists: read against the claim.
            byte[] data = BoundedRead.ReadUpTo(stream, (long)length, out long gotData);
            if (gotData < (long)length)
                throw Bad(name, offset, $"truncated record data ({gotData} of {length} bytes)");
            got = stream.ReadAtLeast(footer, FooterSize, throwOnEndOfStream: false);
            if (got < FooterSize)
                throw Bad(name, offset, $"truncated record footer ({got} of {FooterSize} bytes)");
            uint dataCrc = BinaryPrimitives.ReadUInt32LittleEndian(footer);
            uint expectedDataCrc = Crc32C.ComputeMasked(data);
            if (dataCrc != expectedDataCrc)
                throw Bad(name, offset, $"data checksum mismatch (stored 0x{dataCrc:X8}, computed 0x{expectedDataCrc:X8})");
            yield return new TfRecord(offset, data);
            offset += HeaderSize + data.Length + FooterSize;
        }
    }

    private static InvalidDataException Bad(string name, long offset, string what) =>
        new($"{name}: corrupt TFRecord at byte offset {offset}: {what}.");
}
