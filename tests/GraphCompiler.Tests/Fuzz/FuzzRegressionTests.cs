// Every checked-in reproducer (tests/fuzz/regressions/<reader>/<case>) is rejected cleanly, with the message it deserves.
using Xunit;

namespace GraphCompiler.Tests.Fuzz;

/// <summary>
/// The minimal inputs of issue 13 (made by tests/fuzz/make_regressions.py) and the ones the fuzz suite found, each run
/// through its reader under the fuzz harness: rejected with an InvalidDataException naming the file, within the
/// watchdog, allocating no more than the reader's allowance. Each also names what must appear in the message, so a
/// reader cannot pass by failing for some other reason.
/// </summary>
public sealed class FuzzRegressionTests
{
    private static string Folder => Path.Combine(AppContext.BaseDirectory, "Fuzz", "regressions");

    /// <summary>What each reproducer's error must say.</summary>
    private static readonly Dictionary<string, string> Expected = new(StringComparer.Ordinal)
    {
        ["idx/idx3-2e9-images-no-data.idx"] = "header declares 2000000000 images of 1x1 (2000000000 bytes from offset 16) but only 0 bytes follow",
        ["idx/idx1-array-maxlength-labels.idx"] = "header declares 2147483591 labels (2147483591 bytes from offset 8) but only 0 bytes follow",
        ["idx/idx3-zero-images-huge-rows.idx"] = "one item of 4611686014132420609 bytes is more than one array can hold",
        ["idx-gzip/gzip-1e6-images-28x28-header-only.idx.gz"] = "header declares 1000000 images of 28x28 (784000000 bytes from offset 16) but only 0 bytes follow; the gzip stream ended early",
        ["tensorboard/record-length-2pow31-1.tfevents"] = "corrupt TFRecord at byte offset 0: record length 2147483647 is larger than this reader supports (2147483591 bytes)",
        ["tensorboard/record-length-2pow30.tfevents"] = "corrupt TFRecord at byte offset 0: truncated record data (0 of 1073741824 bytes)",
        ["safetensors/name-invalid-utf8.safetensors"] = "header name at byte offset 40 is not valid text (invalid UTF-8 or a lone surrogate escape)",
        ["safetensors/dtype-invalid-utf8.safetensors"] = "header string at byte offset 53 is not valid text",
        ["safetensors/field-invalid-utf8.safetensors"] = "header name at byte offset 59 is not valid text",
        ["safetensors/metadata-invalid-utf8.safetensors"] = "header string at byte offset 34 is not valid text",
        ["safetensors/name-lone-surrogate.safetensors"] = "header name at byte offset 40 is not valid text",
        ["safetensors/metadata-key-lone-surrogate.safetensors"] = "header name at byte offset 25 is not valid text",
        ["state-dict/name-invalid-utf8.safetensors"] = "header name at byte offset 40 is not valid text",
        ["checkpoint/metadata-lone-surrogate.safetensors"] = "header name at byte offset 25 is not valid text",
        ["image-folder/png-16384x65536-header.png"] = "the header declares a 16384x65536 image (1,073,741,824 pixels), above the limit of 65,536 pixels",
        ["image-folder/png-idat-length-1gib.png"] = "PNG chunk 'IDAT' at byte offset 33 declares 1073741824 bytes, past the end of the 69-byte file",
        ["image-folder/png-chunk-length-bogus.png"] = "PNG chunk 'tEXt' at byte offset 33 declares 4294967280 bytes, past the end of the 57-byte file",
        ["image-folder/gif-screen-16383x16383.gif"] = "the header declares a 16383x16383 image (268,402,689 pixels), above the limit",
        ["image-folder/jpeg-app0-length-32768.jpg"] = "not a readable image",
        ["image-folder/bmp-17x16711693.bmp"] = "not a readable image header (730 bytes): The input bmp '17x16711693' is bigger then the max allowed size",
        ["image-folder/bmp-palette-offset-2gb.bmp"] = "BMP header field bfOffBits (offset 10) = 1996488829 points past the end of the 200-byte file",
        ["image-folder/png-interlaced-spin.png"] = "PNG image data (IDAT) is not a valid zlib stream",
    };

    public static TheoryData<string> Cases => [.. Expected.Keys];

    [Theory]
    [MemberData(nameof(Cases))]
    public void Reproducer_is_rejected_cleanly(string name)
    {
        string reader = name[..name.IndexOf('/')];
        byte[] bytes = File.ReadAllBytes(Path.Combine(Folder, name));
        using FuzzTarget target = FuzzTargets.All[reader]();
        FuzzReport report = FuzzHarness.Run(target, [() => bytes], seed: 0);
        Assert.True(report.Unexpected.Count == 0, string.Join("\n", report.Unexpected));
        Assert.Equal(1, report.Rejected);
        Assert.True(report.FirstRejection?.Contains(Expected[name], StringComparison.Ordinal) == true, $"expected \"{Expected[name]}\" in: {report.FirstRejection}");
    }

    [Fact]
    public void Every_checked_in_reproducer_has_an_expected_message()
    {
        var files = Directory.GetFiles(Folder, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(Folder, f).Replace('\\', '/')).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(Expected.Keys.Order(StringComparer.Ordinal), files);
    }
}
