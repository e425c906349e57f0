// Entry point of the FashionMnist sample; for now it loads the data and times a pass of the DataLoader (training comes with the model).
using System.Diagnostics;
using FashionMnist;
using GraphCompiler.Data;

string? directory = args.Length > 0 ? args[0] : null;
MnistDataset train = FashionMnistData.Load(train: true, directory);
MnistDataset test = FashionMnistData.Load(train: false, directory);
Console.WriteLine($"train: {train}");
Console.WriteLine($"test:  {test}");
int[] counts = train.ClassCounts();
for (int c = 0; c < counts.Length; c++)
    Console.WriteLine($"  {c} {FashionMnistData.ClassNames[c],-12} {counts[c],6}");

var loader = new DataLoader(train, batchSize: 64, shuffle: true, seed: 1);
for (int epoch = 0; epoch < 3; epoch++)
{
    var watch = Stopwatch.StartNew();
    long samples = 0;
    double sum = 0;
    foreach (Batch batch in loader)
    {
        samples += batch.Count;
        sum += batch.Images.Data[0];
    }
    watch.Stop();
    Console.WriteLine($"epoch {epoch}: {loader.Count} batches, {samples} samples in {watch.Elapsed.TotalMilliseconds:F1} ms ({samples / watch.Elapsed.TotalSeconds:F0} samples/s); checksum {sum:F3}");
}
