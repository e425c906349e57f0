// A process for the fault tests: saves checkpoints in a loop until killed (kill -9 tests), reads one idx file (heap-limit
// test), or asks for a device backend that this program does not deploy.
using GraphCompiler.IO;

// "device-backend <device>": this program references the runtime only, not the ILGPU backend; prints what finding the
// device's backend gives.
if (args is ["device-backend", var deviceName])
{
    try
    {
        Console.Out.WriteLine("found: " + GraphCompiler.DeviceBackends.For(GraphCompiler.Device.Parse(deviceName)).GetType().Name);
    }
    catch (InvalidOperationException e)
    {
        Console.Out.WriteLine("refused: " + e.Message);
    }
    Console.Out.WriteLine("auto: " + GraphCompiler.Device.Auto.Resolve());
    return;
}

// "read-idx <file>": reads an idx file and prints "loaded" or "rejected: <message>", for the test that runs the idx
// reproducers under a 1 GiB GC heap limit (DOTNET_GCHeapHardLimit), as a memory-limited container sets one.
if (args is ["read-idx", var idxFile])
{
    try
    {
        if (PeekRank(idxFile) == 1) GraphCompiler.Data.Idx.ReadLabels(idxFile);
        else GraphCompiler.Data.Idx.ReadImages(idxFile);
        Console.Out.WriteLine("loaded");
    }
    catch (InvalidDataException e)
    {
        Console.Out.WriteLine("rejected: " + e.Message);
    }
    return;
}

// args: <checkpoint path> <first iteration>. Every save holds 1M floats all equal to its iteration, and the iteration
// in its metadata, so a reader can tell a whole file from a torn one.
string path = args[0];
int iteration = int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture);
var values = new float[1 << 20];
Console.Out.WriteLine("ready");
Console.Out.Flush();
while (true)
{
    Array.Fill(values, iteration);
    SafeTensors.Write(path, [new("w", SafeTensor.FromFloat(values, values.Length))],
        new Dictionary<string, string> { ["iteration"] = iteration.ToString(System.Globalization.CultureInfo.InvariantCulture) });
    iteration++;
}

static int PeekRank(string file)
{
    using Stream raw = File.OpenRead(file);
    Stream s = raw.ReadByte() == 0x1f ? new System.IO.Compression.GZipStream(Reopen(raw), System.IO.Compression.CompressionMode.Decompress) : Reopen(raw);
    var head = new byte[4];
    return s.ReadAtLeast(head, 4, throwOnEndOfStream: false) == 4 ? head[3] : -1;
}

static Stream Reopen(Stream s)
{
    s.Position = 0;
    return s;
}
