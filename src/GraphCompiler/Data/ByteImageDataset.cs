// What MNIST and CIFAR-10 share: u8 images and labels held in memory, turned into float samples by a byte-level transform.
namespace GraphCompiler.Data;

/// <summary>
/// A dataset of same-shaped u8 images (CHW) with u8 labels, all in memory. Each sample goes through
/// <see cref="Transform"/> when it is read, so random augmentation draws anew every epoch.
/// </summary>
public abstract class ByteImageDataset : IDataset
{
    private readonly byte[] _pixels;
    private readonly byte[] _labels;
    private readonly int[] _pixelShape;
    private readonly int _pixelCount;
    private Transform _transform;
    private int[] _sampleShape;
    private int _sampleSize;

    /// <param name="pixels">Every image's bytes, one after another, each of shape <paramref name="pixelShape"/>.</param>
    /// <param name="labels">One class index per image, already checked against <paramref name="numClasses"/>.</param>
    protected ByteImageDataset(byte[] pixels, byte[] labels, int[] pixelShape, int numClasses, Transform? transform)
    {
        _pixels = pixels;
        _labels = labels;
        _pixelShape = pixelShape;
        _pixelCount = Transform.SizeOf(pixelShape);
        NumClasses = numClasses;
        _transform = CheckTransform(transform ?? new ToTensor());
        _sampleShape = _transform.OutputShape(pixelShape);
        _sampleSize = Transform.SizeOf(_sampleShape);
    }

    public int Count => _labels.Length;

    /// <summary>The transform's output shape for one stored image: the image's shape unless it resizes or crops.</summary>
    public int[] SampleShape => (int[])_sampleShape.Clone();

    public int NumClasses { get; }

    /// <summary>Turns a sample's bytes into floats; <see cref="ToTensor"/> by default. Must start by consuming bytes; set it between epochs.</summary>
    public Transform Transform
    {
        get => _transform;
        set
        {
            Transform t = CheckTransform(value);
            int[] shape = t.OutputShape(_pixelShape);
            _transform = t;
            _sampleShape = shape;
            _sampleSize = Transform.SizeOf(shape);
        }
    }

    private Transform CheckTransform(Transform value)
    {
        ArgumentNullException.ThrowIfNull(value, nameof(Transform));
        if (!value.ConsumesBytes)
            throw new ArgumentException($"{value.GetType().Name} works on floats; {GetType().Name} needs a transform that starts from the pixel bytes, such as new Compose(new ToTensor(), ...).", nameof(Transform));
        return value;
    }

    /// <summary>The stored bytes of sample <paramref name="index"/>, untransformed.</summary>
    public ReadOnlySpan<byte> RawImage(int index)
    {
        CheckIndex(index);
        return _pixels.AsSpan(index * _pixelCount, _pixelCount);
    }

    public int Label(int index)
    {
        CheckIndex(index);
        return _labels[index];
    }

    /// <summary>How many samples carry each label; a quick check that a subset is not lopsided.</summary>
    public int[] ClassCounts()
    {
        var counts = new int[NumClasses];
        foreach (byte l in _labels) counts[l]++;
        return counts;
    }

    /// <summary>Sample <paramref name="index"/> as epoch 0 of a seed-0 loader would build it (see <see cref="SampleContext.ForCurrentThread"/>).</summary>
    public void Get(int index, Span<float> sample, out int label)
    {
        SampleContext context = SampleContext.ForCurrentThread();
        context.BeginSample(index);
        Get(index, sample, out label, context);
    }

    public void Get(int index, Span<float> sample, out int label, SampleContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        ReadOnlySpan<byte> pixels = RawImage(index);
        if (sample.Length != _sampleSize)
            throw new ArgumentException($"{GetType().Name} samples have {_sampleSize} elements ([{string.Join(", ", _sampleShape)}]) but the span holds {sample.Length}.", nameof(sample));
        _transform.Apply(pixels, _pixelShape, sample, context);
        label = _labels[index];
    }

    /// <summary>Elements of one transformed sample.</summary>
    protected int SampleSize => _sampleSize;

    /// <summary>Writes sample <paramref name="index"/> (checked by the caller) into <paramref name="sample"/> without re-checking sizes.</summary>
    protected int Transformed(int index, Span<float> sample, SampleContext context)
    {
        _transform.Apply(_pixels.AsSpan(index * _pixelCount, _pixelCount), _pixelShape, sample, context);
        return _labels[index];
    }

    /// <summary>The first byte of image <paramref name="index"/>, for cache prefetching.</summary>
    protected ref byte PixelsOf(int index) => ref _pixels[index * _pixelCount];

    protected int PixelCount => _pixelCount;

    protected void CheckIndex(int index)
    {
        if ((uint)index >= (uint)Count)
            throw new ArgumentOutOfRangeException(nameof(index), index, $"dataset has {Count} samples.");
    }

    protected string SampleShapeText => string.Join(", ", _sampleShape);
}
