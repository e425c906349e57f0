// CRC-32C (Castagnoli), the checksum TFRecord framing uses, with the SSE4.2 instruction where the CPU has it.
using System.Buffers.Binary;
using System.Runtime.Intrinsics.X86;

namespace GraphCompiler.IO.TensorBoard;

/// <summary>
/// CRC-32C (polynomial 0x1EDC6F41, reflected 0x82F63B78) and TFRecord's masked form of it. System.IO.Hashing offers
/// only CRC-32 (the zlib polynomial) and CRC-64, so this is computed here: 8 bytes per instruction with SSE4.2's
/// <c>crc32</c>, a byte-wise table otherwise; both give the same value.
/// </summary>
public static class Crc32C
{
    private const uint ReflectedPolynomial = 0x82F63B78u;

    /// <summary>The constant TFRecord adds after rotating, so a CRC over data that itself holds CRCs is not degenerate.</summary>
    private const uint MaskDelta = 0xA282EAD8u;

    private static readonly uint[] Table = BuildTable();

    /// <summary>The CRC-32C of <paramref name="data"/>; <c>Compute("123456789"u8)</c> is the standard check value 0xE3069283.</summary>
    public static uint Compute(ReadOnlySpan<byte> data) => ~Update(0xFFFFFFFFu, data);

    /// <summary>TFRecord's mask: rotate right by 15 and add a constant.</summary>
    public static uint Mask(uint crc) => ((crc >> 15) | (crc << 17)) + MaskDelta;

    /// <summary>The inverse of <see cref="Mask"/>.</summary>
    public static uint Unmask(uint masked)
    {
        uint rotated = masked - MaskDelta;
        return (rotated >> 17) | (rotated << 15);
    }

    /// <summary>The masked CRC-32C of <paramref name="data"/>, as stored in a TFRecord.</summary>
    public static uint ComputeMasked(ReadOnlySpan<byte> data) => Mask(Compute(data));

    /// <summary>The table-only path, exposed so tests can check it against the hardware one on any machine.</summary>
    internal static uint ComputeSoftware(ReadOnlySpan<byte> data) => ~UpdateSoftware(0xFFFFFFFFu, data);

    private static uint Update(uint crc, ReadOnlySpan<byte> data)
    {
        if (Sse42.X64.IsSupported)
        {
            ulong wide = crc;
            while (data.Length >= 8)
            {
                wide = Sse42.X64.Crc32(wide, BinaryPrimitives.ReadUInt64LittleEndian(data));
                data = data[8..];
            }
            crc = (uint)wide;
        }
        if (Sse42.IsSupported)
        {
            foreach (byte b in data) crc = Sse42.Crc32(crc, b);
            return crc;
        }
        return UpdateSoftware(crc, data);
    }

    private static uint UpdateSoftware(uint crc, ReadOnlySpan<byte> data)
    {
        uint[] table = Table;
        foreach (byte b in data) crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8);
        return crc;
    }

    private static uint[] BuildTable()
    {
        var table = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            uint c = i;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? (c >> 1) ^ ReflectedPolynomial : c >> 1;
            table[i] = c;
        }
        return table;
    }
}
