// Saves checkpoints to one path in a loop until killed, so tests can kill -9 it mid-save and check what survives.
using GraphCompiler.IO;

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
