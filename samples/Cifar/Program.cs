// Train the tutorial CifarNet (three conv blocks, two linear layers) on generated 32x32 colour images.
//
//   dotnet run -c Release --project samples/Cifar [-- --epochs 1 --train-size 5000 --logdir runs/cifar]
//
// With --logdir, the training loss (every 20 steps), each epoch's loss and test accuracy, and a grid of the first
// training images go to TensorBoard event files there.
using System.CommandLine;
using Cifar;
using GraphCompiler.Data;
using GraphCompiler.IO.TensorBoard;
using GraphCompiler.Nn;
using GraphCompiler.Optim;
using GraphCompiler.Training;

var epochsOption = new Option<int>("--epochs") { Description = "Passes over the training set", DefaultValueFactory = _ => 1 };
var trainSizeOption = new Option<int>("--train-size") { Description = "Generated training images", DefaultValueFactory = _ => 5000 };
var batchOption = new Option<int>("--batch-size") { Description = "Samples per training step", DefaultValueFactory = _ => 64 };
var seedOption = new Option<ulong>("--seed") { Description = "Seed of data, initialisation and shuffling", DefaultValueFactory = _ => 0UL };
var logdirOption = new Option<string?>("--logdir") { Description = "Write TensorBoard event files (train/loss, test/accuracy) to this folder" };

var root = new RootCommand("Train CifarNet on generated CIFAR-10-shaped images with a compiled, shape-checked graph.")
{
    epochsOption, trainSizeOption, batchOption, seedOption, logdirOption,
};
root.SetAction(parse =>
{
    int batchSize = parse.GetValue(batchOption);
    ulong seed = parse.GetValue(seedOption);
    var train = new SyntheticImages(parse.GetValue(trainSizeOption), seed);
    var test = new SyntheticImages(1000, seed + 1);
    Console.WriteLine($"data: generated stripes, train {train.Count}, test {test.Count}, [3, 32, 32], 10 classes");

    var model = new CifarNet(seed);
    Console.WriteLine($"model: CifarNet, {model.Parameters().Sum(p => p.Count):N0} parameters");
    foreach (var row in CifarNet.Summary)
        Console.WriteLine($"  {row.Name,-10} {row.Description,-20} [N, {string.Join(", ", row.OutputShape)}]");

    // Cross-entropy on logits, SGD with momentum; the loss is printed every 20 steps to show it falling.
    var trainer = new Trainer(model, Loss.CrossEntropy, new Sgd(model.Parameters(), lr: 0.01f, momentum: 0.9f), batchSize);
    var loader = new DataLoader(train, batchSize, shuffle: true, seed: seed);

    string? logdir = parse.GetValue(logdirOption);
    SummaryWriter? board = logdir is null ? null : new SummaryWriter(logdir);
    if (board is not null) Console.WriteLine($"tensorboard: {board.FilePath}");
    board?.AddImages("train/images", FirstImages(train, 16), step: 0);
    // A bar on a terminal, nothing when piped; the step lines go through it so they print above the bar.
    ProgressReporter progress = ProgressReporter.For(Console.Out);
    FitResult result = Fit.Run(model, trainer, loader, test, parse.GetValue(epochsOption), Console.Out,
        onStep: (step, loss) =>
        {
            if (step % 20 != 0) return;
            progress.WriteLine(Console.Out, $"  step {step,4}  loss {loss:F4}");
            board?.AddScalar("train/loss", loss, step);
        },
        onEpoch: e =>
        {
            board?.AddScalar("train/epoch_loss", e.Loss, e.Epoch);
            board?.AddScalar("test/accuracy", e.TestAccuracy, e.Epoch);
        }, progress);
    // Closed before the result line, so the files are complete once a caller sees it.
    board?.Dispose();
    Console.WriteLine(result.ResultLine);
    return 0;
});
// Bad input (a missing folder, a truncated or corrupt file) ends with its message, not a stack trace.
try
{
    return root.Parse(args).Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException or ArgumentException)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 1;
}

// The first n training images as one [n, 3, 32, 32] batch, stretched to [0, 1] for display (the generated pixels are
// centred on 0, with noise).
static GraphCompiler.Tensor FirstImages(IDataset data, int n)
{
    n = Math.Min(n, data.Count);
    int size = 3 * 32 * 32;
    var pixels = new float[n * size];
    for (int i = 0; i < n; i++) data.Get(i, pixels.AsSpan(i * size, size), out _);
    float min = pixels.Min(), max = pixels.Max();
    for (int i = 0; i < pixels.Length; i++) pixels[i] = (pixels[i] - min) / Math.Max(max - min, 1e-6f);
    return new GraphCompiler.Tensor(pixels, [n, 3, 32, 32]);
}
