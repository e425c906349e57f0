// Tests for the safetensors reader/writer: round trips, the checked-in PyTorch reference files, and every corruption the reader must reject.
using System.Buffers.Binary;
using System.Text;
using GraphCompiler.IO;
using Xunit;

namespace GraphCompiler.Tests.IO;

public sealed class SafeTensorsTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "gc-safetensors-" + Guid.NewGuid().ToString("N"));

    public SafeTensorsTests() => Directory.CreateDirectory(_dir);

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private static string ReferencePath(string model) => Path.Combine(AppContext.BaseDirectory, "Reference", model + ".safetensors");

    // ------------------------------------------------------------------ round trip

    private static KeyValuePair<string, SafeTensor>[] Sample() =>
    [
        new("w", SafeTensor.FromFloat([1.5f, -0f, float.NaN, float.PositiveInfinity, float.Epsilon, -3.25f], 2, 3)),
        new("scalar", SafeTensor.FromFloat([42f])),
        new("empty", SafeTensor.FromFloat([], 0, 3)),
        new("d", SafeTensor.FromDouble([Math.PI, -1e300, double.NegativeInfinity], 3)),
        new("i", SafeTensor.FromInt32([int.MinValue, 0, int.MaxValue, 7], 2, 2)),
        new("l", SafeTensor.FromInt64([long.MinValue, long.MaxValue, -1], 3, 1)),
        new("a", SafeTensor.FromFloat([9f], 1)),
    ];

    private static void AssertSameAsSample(IReadOnlyDictionary<string, SafeTensor> read)
    {
        var expected = Sample();
        Assert.Equal(expected.Select(p => p.Key), read.Keys); // order preserved
        foreach (var (name, e) in expected)
        {
            SafeTensor a = read[name];
            Assert.Equal(e.DType, a.DType);
            Assert.Equal(e.Shape, a.Shape);
            switch (e.DType)
            {
                case SafeTensorDType.F32:
                    Assert.Equal(e.AsFloat().Select(BitConverter.SingleToInt32Bits), a.AsFloat().Select(BitConverter.SingleToInt32Bits));
                    break;
                case SafeTensorDType.F64:
                    Assert.Equal(e.AsDouble().Select(BitConverter.DoubleToInt64Bits), a.AsDouble().Select(BitConverter.DoubleToInt64Bits));
                    break;
                default:
                    Assert.Equal(e.AsInt64(), a.AsInt64());
                    break;
            }
        }
    }

    [Fact]
    public void RoundTrip_AllDTypes_PreservesBitsShapesOrderAndMetadata()
    {
        string path = Path.Combine(_dir, "sample.safetensors");
        var metadata = new Dictionary<string, string> { ["format"] = "pt", ["note"] = "ünïcode + \"quotes\"\nnewline" };
        SafeTensors.Write(path, Sample(), metadata);

        SafeTensorFile file = SafeTensors.ReadWithMetadata(path);
        AssertSameAsSample(file.Tensors);
        Assert.Equal(metadata, file.Metadata);
        Assert.Empty(file.Tensors["scalar"].Shape);
        Assert.Equal(1, file.Tensors["scalar"].Count);
        Assert.Equal(0, file.Tensors["empty"].Count);
    }

    [Fact]
    public void Write_PadsHeaderToMultipleOf8_AndLeavesNoTemporaryFile()
    {
        string path = Path.Combine(_dir, "pad.safetensors");
        SafeTensors.Write(path, Sample());
        byte[] bytes = File.ReadAllBytes(path);
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        Assert.Equal(0UL, n % 8);
        Assert.Equal((byte)'{', bytes[8]);
        Assert.Equal([path], Directory.GetFiles(_dir));
        Assert.Empty(SafeTensors.ReadWithMetadata(path).Metadata);
    }

    [Fact]
    public void Write_OverwritesAtomically_AndInvalidInputLeavesExistingFileUntouched()
    {
        string path = Path.Combine(_dir, "over.safetensors");
        SafeTensors.Write(path, [new("x", SafeTensor.FromFloat([1f, 2f], 2))]);
        byte[] before = File.ReadAllBytes(path);

        var ex = Assert.Throws<ArgumentException>(() => SafeTensors.Write(path,
            [new("x", SafeTensor.FromFloat([3f], 1)), new("x", SafeTensor.FromFloat([4f], 1))]));
        Assert.Contains("'x' appears twice", ex.Message);
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Throws<ArgumentException>(() => SafeTensors.Write(path, [new("__metadata__", SafeTensor.FromFloat([3f], 1))]));
        Assert.Equal(before, File.ReadAllBytes(path));

        SafeTensors.Write(path, [new("y", SafeTensor.FromInt32([5, 6, 7], 3))]);
        var read = SafeTensors.Read(path);
        Assert.Equal(["y"], read.Keys);
        Assert.Equal([5, 6, 7], read["y"].AsInt32());
        Assert.Equal([path], Directory.GetFiles(_dir));
    }

    [Fact]
    public void Read_FromNonSeekableStream()
    {
        using var ms = new MemoryStream();
        SafeTensors.Write(ms, Sample());
        using var stream = new NonSeekable(ms.ToArray());
        AssertSameAsSample(SafeTensors.Read(stream, "pipe"));
    }

    [Fact]
    public void Conversions_FollowDTypes()
    {
        var i64 = SafeTensor.FromInt64([3, -4], 2);
        Assert.Equal([3, -4], i64.AsInt32());
        Assert.Equal([3f, -4f], i64.AsFloat());
        Assert.Throws<OverflowException>(() => SafeTensor.FromInt64([1L << 40], 1).AsInt32());
        Assert.Throws<InvalidOperationException>(() => SafeTensor.FromFloat([1f], 1).AsInt32());
        Assert.Equal([0.1f], SafeTensor.FromDouble([0.1], 1).AsFloat());
        Assert.Throws<ArgumentException>(() => SafeTensor.FromFloat([1f, 2f], 3));

        var t = new Tensor([1f, 2f, 3f, 4f, 5f, 6f], [2, 3]);
        var st = SafeTensor.FromTensor(t);
        t.Data[0] = 99f; // the safetensor holds a copy
        Tensor back = st.ToTensor();
        Assert.Equal([2, 3], back.Shape);
        Assert.Equal([1f, 2f, 3f, 4f, 5f, 6f], back.Data);
    }

    // ------------------------------------------------------------------ reference files (tests/reference/make_reference.py)

    private static void AssertBits(uint bits, float actual) => Assert.Equal(BitConverter.UInt32BitsToSingle(bits), actual);

    public static TheoryData<string, string[], int[]> ReferenceModels => new()
    {
        { "Mlp", ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"], [8, 1, 28, 28] },
        { "CifarNet", ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "conv3.weight", "conv3.bias", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"], [4, 3, 32, 32] },
        { "StridedNet", ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc1.weight", "fc1.bias"], [4, 1, 16, 16] },
    };

    [Theory]
    [MemberData(nameof(ReferenceModels))]
    public void ReferenceFile_HasEveryTensorWithConsistentShapes(string model, string[] parameters, int[] inputShape)
    {
        SafeTensorFile file = SafeTensors.ReadWithMetadata(ReferencePath(model));
        var t = file.Tensors;

        var expected = new List<string>(parameters) { "input", "target", "output", "loss" };
        expected.AddRange(parameters.Select(p => "grad." + p));
        expected.Add("grad.input");
        expected.AddRange(parameters.Select(p => "sgd1." + p));
        expected.AddRange(["f64.output", "f64.loss"]);
        Assert.Equal(expected, t.Keys);

        int n = inputShape[0];
        Assert.Equal(inputShape, t["input"].Shape);
        Assert.Equal(inputShape, t["grad.input"].Shape);
        Assert.Equal(SafeTensorDType.I32, t["target"].DType);
        Assert.Equal([n], t["target"].Shape);
        Assert.All(t["target"].AsInt32(), c => Assert.InRange(c, 0, 9));
        Assert.Equal([n, 10], t["output"].Shape);
        Assert.Equal([1], t["loss"].Shape);
        Assert.Equal(SafeTensorDType.F64, t["f64.output"].DType);
        Assert.Equal(SafeTensorDType.F64, t["f64.loss"].DType);
        foreach (string p in parameters)
        {
            Assert.Equal(SafeTensorDType.F32, t[p].DType);
            Assert.Equal(t[p].Shape, t["grad." + p].Shape);
            Assert.Equal(t[p].Shape, t["sgd1." + p].Shape);
            // one plain SGD step, lr 0.1
            float[] w = t[p].AsFloat(), g = t["grad." + p].AsFloat(), s = t["sgd1." + p].AsFloat();
            for (int i = 0; i < w.Length; i++) Assert.True(Math.Abs(w[i] - 0.1f * g[i] - s[i]) <= 1e-7f, $"{p}[{i}]");
        }
        Assert.Equal(string.Join(",", parameters), file.Metadata["parameters"]);
        Assert.Equal("1.13.0a0", file.Metadata["torch_version"]);
        Assert.StartsWith(model + ": input [N,", file.Metadata["architecture"]);
        Assert.Equal(model, file.Metadata["model"]);

        // float32 and float64 losses agree far inside the parity tolerance
        Assert.Equal(t["f64.loss"].AsDouble()[0], t["loss"].AsFloat()[0], 1e-6);
    }

    [Fact]
    public void ReferenceFile_Mlp_ExactValues()
    {
        var t = SafeTensors.Read(ReferencePath("Mlp"));
        Assert.Equal([128, 784], t["fc1.weight"].Shape);
        Assert.Equal([10, 64], t["fc3.weight"].Shape);
        float[] b = t["fc1.bias"].AsFloat();
        Assert.Equal(-0.025041752f, b[0]);
        Assert.Equal(0.007067608f, b[1]);
        Assert.Equal(0.011473945f, b[2]);
        AssertBits(0xBCCD245C, b[0]);
        AssertBits(0x3BE79765, b[1]);
        AssertBits(0x3C3BFD37, b[2]);
        AssertBits(0x3C96C055, t["fc1.weight"].AsFloat()[0]);
        AssertBits(0x4001B051, t["input"].AsFloat()[0]);
        Assert.Equal([2, 3, 6, 3, 5, 3, 5, 1], t["target"].AsInt32());
        Assert.Equal(2.2666652f, t["loss"].AsFloat()[0]);
        Assert.Equal(2.2666651230138237, t["f64.loss"].AsDouble()[0]);
        AssertBits(0xC01D47C6, t["output"].AsFloat()[0]);

        // log_softmax rows: probabilities sum to 1
        float[] o = t["output"].AsFloat();
        for (int r = 0; r < 8; r++)
            Assert.Equal(1.0, Enumerable.Range(0, 10).Sum(c => Math.Exp(o[r * 10 + c])), 1e-5);
    }

    [Fact]
    public void ReferenceFile_CifarNet_ExactValues()
    {
        var t = SafeTensors.Read(ReferencePath("CifarNet"));
        Assert.Equal([32, 3, 5, 5], t["conv1.weight"].Shape);
        Assert.Equal([64, 32, 5, 5], t["conv3.weight"].Shape);
        Assert.Equal([64, 1024], t["fc1.weight"].Shape);
        float[] b = t["conv1.bias"].AsFloat();
        Assert.Equal(-0.047970515f, b[0]);
        Assert.Equal(-0.009753759f, b[1]);
        Assert.Equal(-0.11256134f, b[2]);
        AssertBits(0xBD447CBB, b[0]);
        AssertBits(0xBC1FCE3B, b[1]);
        AssertBits(0xBDE6868F, b[2]);
        AssertBits(0x3CD8FCB7, t["conv1.weight"].AsFloat()[0]);
        AssertBits(0xBDE235FA, t["input"].AsFloat()[0]);
        Assert.Equal([4, 8, 2, 7], t["target"].AsInt32());
        AssertBits(0x4011D62D, t["loss"].AsFloat()[0]);
        AssertBits(0x3D3644E5, t["output"].AsFloat()[0]);
    }

    [Fact]
    public void ReferenceFile_StridedNet_ExactValues()
    {
        var t = SafeTensors.Read(ReferencePath("StridedNet"));
        Assert.Equal([8, 1, 3, 3], t["conv1.weight"].Shape);
        Assert.Equal([16, 8, 3, 3], t["conv2.weight"].Shape);
        Assert.Equal([10, 144], t["fc1.weight"].Shape);
        float[] b = t["conv1.bias"].AsFloat();
        Assert.Equal(-0.1512067f, b[0]);
        Assert.Equal(0.0049707494f, b[1]);
        Assert.Equal(0.2048237f, b[2]);
        AssertBits(0xBE1AD5EE, b[0]);
        Assert.Equal([7, 3, 4, 0], t["target"].AsInt32());
        AssertBits(0x401AB757, t["loss"].AsFloat()[0]);
        AssertBits(0xBD32B104, t["output"].AsFloat()[0]);
    }

    [Theory]
    [InlineData("Mlp")]
    [InlineData("CifarNet")]
    [InlineData("StridedNet")]
    public void ReferenceFile_RewrittenByUs_IsByteIdenticalToPythonsFile(string model)
    {
        string source = ReferencePath(model);
        SafeTensorFile file = SafeTensors.ReadWithMetadata(source);
        string copy = Path.Combine(_dir, model + ".safetensors");
        SafeTensors.Write(copy, file.Tensors, file.Metadata);
        Assert.Equal(File.ReadAllBytes(source), File.ReadAllBytes(copy));
    }

    // ------------------------------------------------------------------ corruption

    private string Craft(string header, int dataBytes, string name = "bad.safetensors") =>
        Craft(Encoding.UTF8.GetBytes(header), new byte[dataBytes], name);

    private string Craft(byte[] header, byte[] data, string name = "bad.safetensors", ulong? declaredLength = null)
    {
        string path = Path.Combine(_dir, name);
        var bytes = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, declaredLength ?? (ulong)header.Length);
        header.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + header.Length);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static void AssertRejected(string path, string problem)
    {
        var ex = Assert.Throws<InvalidDataException>(() => SafeTensors.Read(path));
        Assert.Equal($"file {path}: {problem}", ex.Message);
    }

    [Fact]
    public void Corrupt_ShapeDoesNotMatchByteCount()
    {
        string path = Craft("""{"fc1.weight":{"dtype":"F32","shape":[64,1024],"data_offsets":[0,1000]}}""", 1000);
        AssertRejected(path, "tensor 'fc1.weight' declares shape [64, 1024] F32 (262144 bytes) but data_offsets span 1000 bytes");
    }

    [Fact]
    public void Corrupt_TooShortForLengthPrefix()
    {
        string path = Path.Combine(_dir, "short.safetensors");
        File.WriteAllBytes(path, [1, 2, 3]);
        AssertRejected(path, "3 bytes is too short for a safetensors file (it starts with an 8-byte header length)");
    }

    [Fact]
    public void Corrupt_HeaderLengthLargerThanFile()
    {
        string path = Craft(Encoding.UTF8.GetBytes("{}      "), [], declaredLength: 1_000_000);
        AssertRejected(path, "header length 1000000 is larger than the file (8 bytes follow the 8-byte length)");

        string huge = Craft(Encoding.UTF8.GetBytes("{}      "), [], "huge.safetensors", declaredLength: ulong.MaxValue);
        AssertRejected(huge, "header length 18446744073709551615 is larger than the file (8 bytes follow the 8-byte length)");
    }

    [Fact]
    public void Corrupt_HeaderLengthLargerThanNonSeekableStream()
    {
        var bytes = new byte[8 + 4];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, 100);
        using var stream = new NonSeekable(bytes);
        var ex = Assert.Throws<InvalidDataException>(() => SafeTensors.Read(stream, "pipe"));
        Assert.Equal("file pipe: header length 100 is larger than the file (4 bytes follow the 8-byte length)", ex.Message);
    }

    [Fact]
    public void Corrupt_BadJson()
    {
        var ex = Assert.Throws<InvalidDataException>(() => SafeTensors.Read(Craft("""{"a":{"dtype":"F32",""", 0)));
        Assert.StartsWith($"file {Path.Combine(_dir, "bad.safetensors")}: header is not valid JSON: ", ex.Message);
        Assert.IsAssignableFrom<System.Text.Json.JsonException>(ex.InnerException);

        var bom = Assert.Throws<InvalidDataException>(() => SafeTensors.Read(Craft([0xFF, 0xFE, 0x7B, 0x7D], [], "utf.safetensors")));
        Assert.Contains("header is not valid JSON", bom.Message);

        AssertRejected(Craft("[1,2]", 0, "array.safetensors"), "header must be a JSON object, found an array");
    }

    [Fact]
    public void Corrupt_UnknownDType()
    {
        AssertRejected(Craft("""{"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}""", 4),
            "tensor 'h' has unsupported dtype 'F16' (supported: F32, F64, I32, I64)");
    }

    [Fact]
    public void Corrupt_OffsetsOutOfRange()
    {
        AssertRejected(Craft("""{"a":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}}""", 16),
            "tensor 'a' data_offsets [8, 24] run past the end of the data (16 bytes follow the header)");
        AssertRejected(Craft("""{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}}""", 16, "reversed.safetensors"),
            "tensor 'a' data_offsets [8, 4] end before begin");
        AssertRejected(Craft("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}""", 16, "negative.safetensors"),
            "tensor 'a' data_offsets element 0 (-4) is not a non-negative integer");
        AssertRejected(Craft("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}}""", 4, "one.safetensors"),
            "tensor 'a' data_offsets must be an array [begin, end], found [0]");
    }

    [Fact]
    public void Corrupt_OverlappingTensors()
    {
        AssertRejected(Craft("""{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"I32","shape":[2],"data_offsets":[8,16]}}""", 16),
            "tensors 'a' [0, 16) and 'b' [8, 16) overlap");
    }

    [Fact]
    public void Corrupt_DataNotCovered()
    {
        AssertRejected(Craft("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[12,16]}}""", 16),
            "data bytes [8, 12) are not covered by any tensor (gap before 'b')");
        AssertRejected(Craft("""{"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}""", 12, "trailing.safetensors"),
            "data bytes [8, 12) are not covered by any tensor (4 trailing bytes)");
    }

    [Fact]
    public void Corrupt_MalformedEntries()
    {
        AssertRejected(Craft("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", 8, "dup.safetensors"),
            "header names 'a' twice");
        AssertRejected(Craft("""{"a":{"dtype":"F32","data_offsets":[0,4]}}""", 4, "noshape.safetensors"),
            "tensor 'a' has no 'shape'");
        AssertRejected(Craft("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}}""", 4, "extra.safetensors"),
            "tensor 'a' has unknown field 'x' (expected dtype, shape, data_offsets)");
        AssertRejected(Craft("""{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}""", 4, "negdim.safetensors"),
            "tensor 'a' shape element 0 (-1) is not a non-negative 32-bit integer");
        AssertRejected(Craft("""{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}""", 4, "fracdim.safetensors"),
            "tensor 'a' shape element 0 (1.5) is not a non-negative 32-bit integer");
        AssertRejected(Craft("""{"a":[1,2]}""", 0, "notobj.safetensors"),
            "tensor 'a' must be described by an object, found an array");
        AssertRejected(Craft("""{"a":{"dtype":7,"shape":[1],"data_offsets":[0,4]}}""", 4, "numdtype.safetensors"),
            "tensor 'a' dtype must be a string, found a number");
        AssertRejected(Craft("""{"a":{"dtype":"F32","shape":[65536,65536,65536],"data_offsets":[0,4]}}""", 4, "hugeshape.safetensors"),
            "tensor 'a' declares shape [65536, 65536, 65536], too many elements for one array");
    }

    [Fact]
    public void Corrupt_Metadata()
    {
        AssertRejected(Craft("""{"__metadata__":{"k":1}}""", 0, "metanum.safetensors"),
            "'__metadata__' value for 'k' must be a string, found a number");
        AssertRejected(Craft("""{"__metadata__":"x"}""", 0, "metastr.safetensors"),
            "'__metadata__' must be an object of strings, found a string");
    }

    [Fact]
    public void Read_MissingFile_ThrowsFileNotFound()
    {
        Assert.Throws<FileNotFoundException>(() => SafeTensors.Read(Path.Combine(_dir, "absent.safetensors")));
    }

    /// <summary>A read-only stream that cannot seek, like a pipe or a network stream.</summary>
    private sealed class NonSeekable(byte[] bytes) : Stream
    {
        private readonly MemoryStream _inner = new(bytes);
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => _inner.Read(buffer, offset, Math.Min(count, 3)); // short reads on purpose
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
