// Where the FashionMnist sample gets its data: the embedded 10k/2k subset, or a directory holding the full dataset.
using GraphCompiler.Data;

namespace FashionMnist;

public static class FashionMnistData
{
    public static readonly string[] ClassNames =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    /// <summary>
    /// The split from <paramref name="directory"/> (e.g. /usr/share/datasets/fashion-mnist) if given, otherwise
    /// the subset embedded in this assembly, normalized to [-1, 1] as the PyTorch tutorial does.
    /// </summary>
    public static MnistDataset Load(bool train, string? directory = null)
    {
        var transform = new Compose(new ToTensor(), new Normalize([0.5f], [0.5f]));
        return directory is null
            ? MnistDataset.FromEmbeddedResources(typeof(FashionMnistData).Assembly, "FashionMnist.", train, transform)
            : MnistDataset.Load(directory, train, transform);
    }
}
