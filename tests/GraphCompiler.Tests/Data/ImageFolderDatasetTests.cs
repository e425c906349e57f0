// Tests of ImageFolderDataset on PNG and JPEG files the test writes: class and file order, decoded values, transforms and error reports.
using GraphCompiler.Data;
using StbImageWriteSharp;
using Xunit;
using WriteComponents = StbImageWriteSharp.ColorComponents;

namespace GraphCompiler.Tests.Data;

public class ImageFolderDatasetTests
{
    /// <summary>An HWC image with <paramref name="channels"/> channels whose bytes encode (seed, position).</summary>
    private static byte[] Pixels(int height, int width, int channels, int seed)
    {
        var data = new byte[height * width * channels];
        for (int i = 0; i < data.Length; i++) data[i] = (byte)(seed * 40 + i * 11);
        return data;
    }

    private static string WritePng(string path, byte[] pixels, int height, int width, WriteComponents components)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using FileStream stream = File.Create(path);
        new ImageWriter().WritePng(pixels, width, height, components, stream);
        return path;
    }

    /// <summary>A smooth image, which JPEG keeps within a few levels.</summary>
    private static byte[] Smooth(int height, int width)
    {
        var data = new byte[height * width * 3];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                for (int c = 0; c < 3; c++) data[(y * width + x) * 3 + c] = (byte)(60 + 8 * x + 5 * y + 30 * c);
        return data;
    }

    private static string WriteJpg(string path, byte[] pixels, int height, int width)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using FileStream stream = File.Create(path);
        new ImageWriter().WriteJpg(pixels, width, height, WriteComponents.RedGreenBlue, stream, 100);
        return path;
    }

    /// <summary>
    /// root/{dog, Cat, ant, bird}: ant has b.png, a.png, A.PNG, sub/c.png and a notes.txt; bird a JPEG; Cat a grey
    /// PNG; dog an RGBA PNG. Every image is 5x6.
    /// </summary>
    private static void Build(string root)
    {
        WritePng(Path.Combine(root, "ant", "b.png"), Pixels(5, 6, 3, 1), 5, 6, WriteComponents.RedGreenBlue);
        WritePng(Path.Combine(root, "ant", "a.png"), Pixels(5, 6, 3, 2), 5, 6, WriteComponents.RedGreenBlue);
        WritePng(Path.Combine(root, "ant", "A.PNG"), Pixels(5, 6, 3, 3), 5, 6, WriteComponents.RedGreenBlue);
        WritePng(Path.Combine(root, "ant", "sub", "c.png"), Pixels(5, 6, 3, 4), 5, 6, WriteComponents.RedGreenBlue);
        File.WriteAllText(Path.Combine(root, "ant", "notes.txt"), "not an image");
        WriteJpg(Path.Combine(root, "bird", "x.jpg"), Smooth(5, 6), 5, 6);
        WritePng(Path.Combine(root, "Cat", "g.png"), Pixels(5, 6, 1, 5), 5, 6, WriteComponents.Grey);
        WritePng(Path.Combine(root, "dog", "rgba.png"), Pixels(5, 6, 4, 6), 5, 6, WriteComponents.RedGreenBlueAlpha);
    }

    [Fact]
    public void Classes_and_files_are_in_torchvision_order()
    {
        using var tmp = new TempDir();
        Build(tmp.Path);
        var ds = new ImageFolderDataset(tmp.Path);
        // Python's sorted(): code point order, so upper case first.
        Assert.Equal(new[] { "Cat", "ant", "bird", "dog" }, ds.Classes);
        Assert.Equal(1, ds.ClassToIndex["ant"]);
        Assert.Equal(
            new[] { "Cat/g.png", "ant/A.PNG", "ant/a.png", "ant/b.png", "ant/sub/c.png", "bird/x.jpg", "dog/rgba.png" },
            ds.Samples.Select(s => Path.GetRelativePath(tmp.Path, s.Path).Replace('\\', '/')));
        Assert.Equal(new[] { 0, 1, 1, 1, 1, 2, 3 }, ds.Samples.Select(s => s.Label));
        Assert.Equal(7, ds.Count);
        Assert.Equal(4, ds.NumClasses);
        Assert.Equal(new[] { 3, 5, 6 }, ds.SampleShape);
    }

    [Fact]
    public void Png_pixels_decode_exactly_to_CHW_RGB()
    {
        using var tmp = new TempDir();
        Build(tmp.Path);
        var ds = new ImageFolderDataset(tmp.Path);
        var sample = new float[90];

        ds.Get(2, sample, out int label); // ant/a.png
        Assert.Equal(1, label);
        byte[] rgb = Pixels(5, 6, 3, 2);
        for (int c = 0; c < 3; c++)
            for (int p = 0; p < 30; p++) Assert.Equal(rgb[p * 3 + c] / 255f, sample[c * 30 + p]);

        ds.Get(0, sample, out label); // Cat/g.png: grey becomes three equal channels, as PIL's convert("RGB")
        Assert.Equal(0, label);
        byte[] grey = Pixels(5, 6, 1, 5);
        for (int c = 0; c < 3; c++)
            for (int p = 0; p < 30; p++) Assert.Equal(grey[p] / 255f, sample[c * 30 + p]);

        ds.Get(6, sample, out _); // dog/rgba.png: alpha dropped
        byte[] rgba = Pixels(5, 6, 4, 6);
        for (int c = 0; c < 3; c++)
            for (int p = 0; p < 30; p++) Assert.Equal(rgba[p * 4 + c] / 255f, sample[c * 30 + p]);
    }

    [Fact]
    public void Jpeg_decodes_close_to_the_encoded_image()
    {
        using var tmp = new TempDir();
        Build(tmp.Path);
        var ds = new ImageFolderDataset(tmp.Path);
        var sample = new float[90];
        ds.Get(5, sample, out int label);
        Assert.Equal(2, label);
        byte[] rgb = Smooth(5, 6);
        double worst = 0;
        for (int c = 0; c < 3; c++)
            for (int p = 0; p < 30; p++) worst = Math.Max(worst, Math.Abs(rgb[p * 3 + c] - sample[c * 30 + p] * 255));
        Assert.True(worst <= 12, $"JPEG pixel off by {worst} levels");
    }

    [Fact]
    public void Images_of_different_sizes_need_a_resize()
    {
        using var tmp = new TempDir();
        Build(tmp.Path);
        string odd = WritePng(Path.Combine(tmp.Path, "dog", "z_big.png"), Pixels(9, 7, 3, 7), 9, 7, WriteComponents.RedGreenBlue);
        var plain = new ImageFolderDataset(tmp.Path);
        var ex = Assert.Throws<InvalidDataException>(() => plain.Get(7, new float[90], out _));
        Assert.Contains(odd, ex.Message);
        Assert.Contains("7x9 image", ex.Message);
        Assert.Contains("Resize", ex.Message);

        var resized = new ImageFolderDataset(tmp.Path, new Compose(new ToTensor(), new Resize(8, 8), new Normalize([0.5f], [0.5f])));
        Assert.Equal(new[] { 3, 8, 8 }, resized.SampleShape);
        var a = new DataLoader(resized, 3, shuffle: true, seed: 4).Select(b => b.Images.Data.ToArray()).ToList();
        var b = new DataLoader(resized, 3, shuffle: true, seed: 4, numWorkers: 2).Select(b => b.Images.Data.ToArray()).ToList();
        Assert.Equal(3, a.Count);
        Assert.Equal(a, b);
    }

    [Fact]
    public void A_corrupt_image_is_reported_with_its_file()
    {
        using var tmp = new TempDir();
        Build(tmp.Path);
        string garbage = tmp.Write(Path.Combine("bird", "y_garbage.png"), Enumerable.Range(0, 200).Select(i => (byte)(i * 37)).ToArray());
        byte[] png = File.ReadAllBytes(Path.Combine(tmp.Path, "ant", "a.png"));
        string truncated = tmp.Write(Path.Combine("bird", "z_truncated.png"), png[..(png.Length / 2)]);
        var ds = new ImageFolderDataset(tmp.Path);
        int g = ds.Samples.Select(s => s.Path).ToList().IndexOf(garbage);
        int t = ds.Samples.Select(s => s.Path).ToList().IndexOf(truncated);
        var ex = Assert.Throws<InvalidDataException>(() => ds.Get(g, new float[90], out _));
        Assert.Contains($"file {garbage}: not a readable image (200 bytes): not PNG, JPEG, BMP, TGA or GIF.", ex.Message);
        ex = Assert.Throws<InvalidDataException>(() => ds.Get(t, new float[90], out _));
        Assert.Contains($"file {truncated}: PNG chunk 'IDAT' at byte offset ", ex.Message);
        Assert.Contains("past the end of the", ex.Message);
        // Through loader workers the same error arrives.
        var loader = new DataLoader(ds, 2, numWorkers: 2);
        Assert.Contains(garbage, Assert.Throws<InvalidDataException>(() => loader.Select(b => b.Count).ToList()).Message);
    }

    [Fact]
    public void An_empty_class_folder_or_root_is_named()
    {
        using var tmp = new TempDir();
        Build(tmp.Path);
        string empty = Path.Combine(tmp.Path, "eel");
        Directory.CreateDirectory(Path.Combine(empty, "nested"));
        File.WriteAllText(Path.Combine(empty, "readme.md"), "no images here");
        var ex = Assert.Throws<FileNotFoundException>(() => new ImageFolderDataset(tmp.Path));
        Assert.Contains($"class folder '{empty}' (class 'eel') holds no image files", ex.Message);

        using var bare = new TempDir();
        Assert.Contains("no class sub-folders", Assert.Throws<FileNotFoundException>(() => new ImageFolderDataset(bare.Path)).Message);
        Assert.Throws<DirectoryNotFoundException>(() => new ImageFolderDataset(Path.Combine(bare.Path, "missing")));
        Assert.Contains("starts from the pixel bytes",
            Assert.Throws<ArgumentException>(() => new ImageFolderDataset(tmp.Path, new Normalize([0f], [1f]))).Message);
    }
}
