// Builds the Summary protos for each kind of TensorBoard data, laid out as torch.utils.tensorboard lays them out.
using Google.Protobuf;
using GraphCompiler.IO.TensorBoard.Protos;

namespace GraphCompiler.IO.TensorBoard;

/// <summary>The Summary message of each kind of value a <see cref="SummaryWriter"/> logs.</summary>
public static class Summaries
{
    /// <summary>A scalar as a <c>simple_value</c>, the form TensorBoard's scalar dashboard reads.</summary>
    public static Summary Scalar(string tag, float value) =>
        new() { Value = { new Summary.Types.Value { Tag = CheckTag(tag), SimpleValue = value } } };

    /// <summary>An image summary holding PNG bytes, with colorspace = channel count (1 grey, 3 RGB, 4 RGBA).</summary>
    public static Summary Image(string tag, HwcImage image) => new()
    {
        Value =
        {
            new Summary.Types.Value
            {
                Tag = CheckTag(tag),
                Image = new Summary.Types.Image
                {
                    Height = image.Height,
                    Width = image.Width,
                    Colorspace = image.Channels,
                    EncodedImageString = ByteString.CopyFrom(Images.EncodePng(image)),
                },
            },
        },
    };

    /// <summary>A histogram summary of the values (see <see cref="Histograms.Build(ReadOnlySpan{float}, int?)"/>).</summary>
    public static Summary Histogram(string tag, ReadOnlySpan<float> values, int? bins = null) =>
        new() { Value = { new Summary.Types.Value { Tag = CheckTag(tag), Histo = Histograms.Build(values, bins) } } };

    /// <summary>
    /// Text as PyTorch writes it: tag suffixed with <c>/text_summary</c>, a one-element DT_STRING tensor of UTF-8 bytes,
    /// and plugin metadata naming the "text" plugin (its content, TextPluginData version 0, serializes to no bytes).
    /// </summary>
    public static Summary Text(string tag, string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var tensor = new TensorProto
        {
            Dtype = DataType.DtString,
            TensorShape = new TensorShapeProto { Dim = { new TensorShapeProto.Types.Dim { Size = 1 } } },
            StringVal = { ByteString.CopyFromUtf8(text) },
        };
        return new Summary
        {
            Value =
            {
                new Summary.Types.Value
                {
                    Tag = CheckTag(tag) + "/text_summary",
                    Metadata = new SummaryMetadata { PluginData = new SummaryMetadata.Types.PluginData { PluginName = "text", Content = ByteString.Empty } },
                    Tensor = tensor,
                },
            },
        };
    }

    private static string CheckTag(string tag)
    {
        if (string.IsNullOrEmpty(tag)) throw new ArgumentException("A summary needs a non-empty tag.", nameof(tag));
        return tag;
    }
}
