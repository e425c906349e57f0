// Train the tutorial CifarNet (three conv blocks, two linear layers) on CIFAR-10, or on generated 32x32 colour images.
//
//   dotnet run -c Release --project samples/Cifar [-- --epochs 1 --data cifar-10-batches-bin --logdir runs/cifar --device cpu]
//   dotnet run -c Release --project samples/Cifar -- --summary    (the compiled model at the batch size, then exit)
//   dotnet run -c Release --project samples/Cifar -- --export-onnx cifarnet.onnx   (train, then write the model as ONNX)
//
// --device picks where training runs, as torch.device: cpu (the native SIMD backend, the default), ilgpu-cpu (ILGPU's
// CPU accelerator, an emulator for checking the GPU kernels: very slow, use a small --train-size), cuda, cuda:N, or
// auto. The optimizer is Adam by default, on every device (--optimizer sgd for SGD with momentum 0.9).
//
// With --data (the folder of CIFAR-10's binary version: data_batch_1.bin … test_batch.bin) the training images are
// augmented as in the PyTorch tutorial (random crop with 4 pixels of padding, horizontal flip) and normalized; without
// it, generated striped images stand in, so a fresh clone runs with no download.
//
// With --logdir, the training loss (every 20 steps), each epoch's loss and test accuracy, and a grid of the first
// training images go to TensorBoard event files there.
using System.CommandLine;
using Cifar;
using GraphCompiler;
using GraphCompiler.Data;
using GraphCompiler.Diagnostics;
using GraphCompiler.IO;
using GraphCompiler.IO.Onnx;
using GraphCompiler.IO.TensorBoard;
using GraphCompiler.Nn;
using GraphCompiler.Optim;
using GraphCompiler.Training;

var epochsOption = new Option<int>("--epochs") { Description = "Passes over the training set", DefaultValueFactory = _ => 1 };
var trainSizeOption = new Option<int>("--train-size") { Description = "Generated training images", DefaultValueFactory = _ => 5000 };
var batchOption = new Option<int>("--batch-size") { Description = "Samples per training step", DefaultValueFactory = _ => 64 };
var seedOption = new Option<ulong>("--seed") { Description = "Seed of data, initialisation and shuffling", DefaultValueFactory = _ => 0UL };
var logdirOption = new Option<string?>("--logdir") { Description = "Write TensorBoard event files (train/loss, test/accuracy) to this folder" };
var dataOption = new Option<string?>("--data") { Description = "Folder with CIFAR-10's binary batches (data_batch_1.bin … test_batch.bin)" };
var workersOption = new Option<int>("--workers") { Description = "Data loader worker threads", DefaultValueFactory = _ => 0 };
var lrOption = new Option<double?>("--lr") { Description = "Learning rate (default 1e-3 for Adam, 0.01 for SGD)" };
var deviceOption = new Option<string>("--device") { Description = $"Where training runs: {Device.Spellings}", DefaultValueFactory = _ => "cpu" };
var optimizerOption = new Option<string?>("--optimizer") { Description = "adam (the default) or sgd (momentum 0.9)" };
var summaryOption = new Option<bool>("--summary") { Description = "Print the compiled model (layers, kernels, parameters, FLOPs, memory) at the batch size and exit" };
var exportOption = new Option<string?>("--export-onnx") { Description = "After training, write the model as ONNX (opset 17, inference mode, batch dimension N) to this file" };
var checkpointOption = new Option<string?>("--checkpoint")
{
    Description = "Save model, optimizer state and epoch here after every epoch; resume from it when it already exists",
};

var root = new RootCommand("Train CifarNet on generated CIFAR-10-shaped images with a compiled, shape-checked graph.")
{
    epochsOption, trainSizeOption, batchOption, seedOption, logdirOption, dataOption, workersOption, lrOption, deviceOption, optimizerOption,
    checkpointOption, summaryOption, exportOption,
};
root.SetAction(parse =>
{
    int batchSize = parse.GetValue(batchOption);
    ulong seed = parse.GetValue(seedOption);
    if (parse.GetValue(summaryOption))
    {
        Console.Write(new CifarNet(seed).Summarize(batchSize, Loss.CrossEntropy));
        return 0;
    }
    if (parse.GetValue(exportOption) is { } exportPath) OnnxExport.CheckTarget(exportPath); // before training, not after
    Device device = Device.Parse(parse.GetValue(deviceOption)!).Resolve();
    string? dataDir = parse.GetValue(dataOption);
    IDataset train, test;
    if (dataDir is not null)
    {
        // torchvision's CIFAR-10 recipe; the crop and flip run on the bytes, before ToTensor.
        float[] mean = [0.4914f, 0.4822f, 0.4465f], std = [0.2470f, 0.2435f, 0.2616f];
        train = Cifar10Dataset.Load(dataDir, train: true,
            new Compose(new RandomCrop(32, padding: 4), new RandomHorizontalFlip(), new ToTensor(), new Normalize(mean, std)));
        test = Cifar10Dataset.Load(dataDir, train: false, new Compose(new ToTensor(), new Normalize(mean, std)));
        Console.WriteLine($"data: CIFAR-10 from {dataDir}, train {train.Count} (random crop + flip), test {test.Count}");
    }
    else
    {
        train = new SyntheticImages(parse.GetValue(trainSizeOption), seed);
        test = new SyntheticImages(1000, seed + 1);
        Console.WriteLine($"data: generated stripes, train {train.Count}, test {test.Count}, [3, 32, 32], 10 classes");
    }

    var model = new CifarNet(seed);
    Console.WriteLine($"model: CifarNet, {model.Parameters().Sum(p => p.Count):N0} parameters");
    foreach (var row in CifarNet.Summary)
        Console.WriteLine($"  {row.Name,-10} {row.Description,-20} [N, {string.Join(", ", row.OutputShape)}]");

    // Cross-entropy on logits, Adam (SGD on ILGPU devices); the loss is printed every 20 steps to show it falling.
    Optimizer optimizer = CreateOptimizer(parse.GetValue(optimizerOption), model, parse.GetValue(lrOption));
    var loader = new DataLoader(train, batchSize, shuffle: true, seed: seed, numWorkers: parse.GetValue(workersOption));

    // A checkpoint holds everything a resumed run needs to continue exactly where this one stopped. It is loaded before
    // the trainer is made, because a device trainer copies the parameters to the device when it is created.
    string? checkpoint = parse.GetValue(checkpointOption);
    int startEpoch = 0;
    if (checkpoint is not null && File.Exists(checkpoint))
    {
        startEpoch = TrainingCheckpoint.Load(checkpoint, model, optimizer, scheduler: null, loader: loader).Epoch;
        Console.WriteLine($"resumed from {checkpoint} after epoch {startEpoch}");
    }
    using ITrainer trainer = Trainer.Create(model, Loss.CrossEntropy, optimizer, batchSize, device);
    Console.WriteLine($"device: {trainer.Device}  optimizer: {optimizer.Name}");

    string? logdir = parse.GetValue(logdirOption);
    SummaryWriter? board = logdir is null ? null : new SummaryWriter(logdir);
    if (board is not null) Console.WriteLine($"tensorboard: {board.FilePath}");
    board?.AddImages("train/images", FirstImages(train, 16), step: 0);
    // A bar on a terminal, nothing when piped; the step lines go through it so they print above the bar.
    ProgressReporter progress = ProgressReporter.For(Console.Out);
    FitResult result = Fit.Run(model, trainer, loader, test, parse.GetValue(epochsOption), Console.Out,
        onStep: (step, loss) =>
        {
            if (step % 20 != 0 && step != 1) return;
            progress.WriteLine(Console.Out, $"  step {step,4}  loss {loss:F4}");
            board?.AddScalar("train/loss", loss, step);
        },
        onEpoch: e =>
        {
            board?.AddScalar("train/epoch_loss", e.Loss, e.Epoch);
            board?.AddScalar("test/accuracy", e.TestAccuracy, e.Epoch);
            if (checkpoint is not null) TrainingCheckpoint.Save(checkpoint, model, optimizer, scheduler: null, e.Epoch, loader: loader);
        },
        startEpoch: startEpoch, progress: progress);
    // Closed before the result line, so the files are complete once a caller sees it.
    board?.Dispose();
    // The trained model for ONNX Runtime and other tools.
    if (parse.GetValue(exportOption) is { } onnxPath)
    {
        model.ExportOnnx(onnxPath);
        Console.WriteLine($"onnx: {onnxPath}");
    }
    Console.WriteLine(result.ResultLine);
    return 0;
});
// Bad input (a missing folder, a truncated or corrupt file) ends with its message, not a stack trace.
try
{
    return root.Parse(args).Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException or ArgumentException
    or FormatException or NotSupportedException or InvalidOperationException)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 1;
}

// Adam by default, as the PyTorch tutorial's variant this sample follows; every device has its kernels.
static Optimizer CreateOptimizer(string? name, CifarNet model, double? lr) =>
    (name ?? "adam").ToLowerInvariant() switch
    {
        "adam" => new Adam(model.Parameters(), lr: lr ?? 1e-3),
        "sgd" => new Sgd(model.Parameters(), lr: lr ?? 0.01, momentum: 0.9),
        var other => throw new ArgumentException($"Unknown optimizer '{other}'; expected adam or sgd."),
    };

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
