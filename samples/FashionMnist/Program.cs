// The main job: train the tutorial MLP on Fashion-MNIST with SGD (lr 0.01, batch 64) and report test accuracy and speed.
//
//   dotnet run -c Release --project samples/FashionMnist [-- --epochs 5 --data DIR --logdir runs/mlp --device cpu]
//   dotnet run -c Release --project samples/FashionMnist -- --summary    (the compiled model at the batch size, then exit)
//   dotnet run -c Release --project samples/FashionMnist -- --export-onnx mlp.onnx   (train, then write the model as ONNX)
//   mpirun -np 2 dotnet run -c Release --project samples/FashionMnist -- --distributed   (data-parallel over 2 processes)
//
// --device picks where training runs, as torch.device: cpu (the native SIMD backend, the default), ilgpu-cpu (ILGPU's
// CPU accelerator, an emulator that checks the GPU kernels: slow, pair it with --subset), cuda, cuda:N, or auto.
// Data comes from --data, else from Debian's dataset-fashion-mnist package if installed, else from the 10k/2k subset
// embedded in this program, so a fresh clone trains with no download. With --logdir, the training loss (every 20 steps)
// and each epoch's loss and test accuracy go to TensorBoard event files there (`tensorboard --logdir DIR` shows them).
using System.CommandLine;
using FashionMnist;
using GraphCompiler;
using GraphCompiler.Data;
using GraphCompiler.Diagnostics;
using GraphCompiler.Distributed;
using GraphCompiler.IO.Onnx;
using GraphCompiler.IO.TensorBoard;
using GraphCompiler.Nn;
using GraphCompiler.Optim;
using GraphCompiler.Training;

const string DebianDataset = "/usr/share/datasets/fashion-mnist";

var epochsOption = new Option<int>("--epochs") { Description = "Passes over the training set", DefaultValueFactory = _ => 5 };
var dataOption = new Option<string?>("--data") { Description = "Folder with the four Fashion-MNIST idx files (gzipped or not)" };
var batchOption = new Option<int>("--batch-size") { Description = "Samples per training step", DefaultValueFactory = _ => 64 };
var lrOption = new Option<float>("--lr") { Description = "SGD learning rate", DefaultValueFactory = _ => 0.01f };
var seedOption = new Option<ulong>("--seed") { Description = "Seed of initialisation and shuffling", DefaultValueFactory = _ => 0UL };
var logdirOption = new Option<string?>("--logdir") { Description = "Write TensorBoard event files (train/loss, test/accuracy) to this folder" };
var summaryOption = new Option<bool>("--summary") { Description = "Print the compiled model (layers, kernels, parameters, FLOPs, memory) at the batch size and exit" };
var deviceOption = new Option<string>("--device") { Description = $"Where training runs: {Device.Spellings}", DefaultValueFactory = _ => "cpu" };
var anomalyOption = new Option<bool>("--detect-anomaly")
{
    Description = "Check every step for NaN and infinity (input, parameters, output, loss, gradients) and stop naming the first one, as torch.autograd.set_detect_anomaly; CPU only",
};
var exportOption = new Option<string?>("--export-onnx") { Description = "After training, write the model as ONNX (opset 17, inference mode, batch dimension N) to this file" };
var subsetOption = new Option<bool>("--subset") { Description = "Train on the embedded 10k/2k subset even when the full data set is installed (a quick run)" };
var distributedOption = new Option<bool>("--distributed")
{
    Description = "Data-parallel training on the processes mpirun started (--batch-size is split over them; alone, a group of one)",
};

var root = new RootCommand("Train the tutorial MLP (784-128-64-10) on Fashion-MNIST with a compiled, shape-checked graph.")
{
    epochsOption, dataOption, batchOption, lrOption, seedOption, logdirOption, deviceOption, subsetOption, summaryOption, distributedOption, anomalyOption,
    exportOption,
};
root.SetAction(parse =>
{
    if (!parse.GetValue(distributedOption) || parse.GetValue(summaryOption)) return Train(parse, null);
    // Data parallelism: each process mpirun started trains on its share of every batch. A rank that fails tells the
    // others before its group is closed, so they stop with an error naming it instead of waiting for its collectives.
    using ProcessGroup group = ProcessGroup.Init();
    try
    {
        return Train(parse, group);
    }
    catch (Exception e) when (group.ReportFailure(e))
    {
        throw; // not reached: ReportFailure returns false, so the exception goes on to the handler below
    }
});

int Train(ParseResult parse, ProcessGroup? group)
{
    int epochs = parse.GetValue(epochsOption);
    int batchSize = parse.GetValue(batchOption);
    ulong seed = parse.GetValue(seedOption);
    if (parse.GetValue(summaryOption))
    {
        Console.Write(new Mlp(seed).Summarize(batchSize, Loss.Nll));
        if (parse.GetValue(distributedOption)) Console.Write(BucketPlan.Build(new Mlp(seed)));
        return 0;
    }
    // Only rank 0 prints; the others' output would repeat it.
    if (group is { IsMain: false }) Console.SetOut(TextWriter.Null);
    if (group is not null && batchSize % group.WorldSize != 0)
        throw new ArgumentException($"--batch-size {batchSize} does not split evenly over {group.WorldSize} processes.");
    if (parse.GetValue(exportOption) is { } exportPath) OnnxExport.CheckTarget(exportPath); // before training, not after
    Device device = Device.Parse(parse.GetValue(deviceOption)!);
    string? directory = parse.GetValue(dataOption)
        ?? (!parse.GetValue(subsetOption) && File.Exists(Path.Combine(DebianDataset, "train-images-idx3-ubyte.gz")) ? DebianDataset : null);

    // 1. Data: pixels scaled to [0, 1], then normalized to [-1, 1], as the PyTorch tutorial's transforms do.
    MnistDataset train = FashionMnistData.Load(train: true, directory);
    MnistDataset test = FashionMnistData.Load(train: false, directory);
    Console.WriteLine($"data: {(directory ?? "embedded subset")}  train {train.Count}  test {test.Count}");
    // Full batches only, as the PyTorch peer's loop (../shared/peers/torch_baseline.py) steps over 937 batches of 64.
    // Distributed, each rank loads its share (a DistributedSampler) of every batch of --batch-size samples.
    var loader = group is null
        ? new DataLoader(train, batchSize, shuffle: true, dropLast: true, seed: seed)
        : new DataLoader(train, batchSize / group.WorldSize, dropLast: true, seed: seed, sampler: new DistributedSampler(train, group, seed: seed));

    // 2. Model: its shapes were checked and its Forward/Backward generated at build time.
    var model = new Mlp(seed);
    Console.WriteLine($"model: Mlp, {model.Parameters().Sum(p => p.Count):N0} parameters");
    foreach (var row in Mlp.Summary)
        Console.WriteLine($"  {row.Name,-10} {row.Description,-20} [N, {string.Join(", ", row.OutputShape)}]");

    // 3. Training: NLL loss on the log-probabilities, plain SGD, on the chosen device; buffers are allocated once here.
    //    A device trainer copies the parameters back before each evaluation, which runs on the CPU.
    //    Distributed: rank 0's parameters are broadcast, and gradients are averaged over the ranks during the backward;
    //    on a device each rank uses its own (cuda:LOCAL_RANK, or ILGPU's CPU accelerator) and stages gradients via the host.
    var sgd = new Sgd(model.Parameters(), lr: parse.GetValue(lrOption));
    using ITrainer trainer = group is null ? Trainer.Create(model, Loss.Nll, sgd, batchSize, device)
        : new DistributedDataParallel(model, Loss.Nll, sgd, batchSize / group.WorldSize, group, device: device);
    if (parse.GetValue(anomalyOption))
    {
        if (trainer is not Trainer cpu) throw new ArgumentException("--detect-anomaly runs on the CPU trainer (--device cpu, not --distributed) for now.");
        cpu.DetectAnomaly = true;
    }
    Console.WriteLine($"device: {trainer.Device}{(group is null ? "" : $", {group.WorldSize} processes over {group.Backend}, batch {batchSize / group.WorldSize} each")}");

    // 4. Logging: TensorBoard scalars when --logdir is given.
    string? logdir = parse.GetValue(logdirOption);
    SummaryWriter? board = logdir is null || group is { IsMain: false } ? null : new SummaryWriter(logdir); // rank 0 logs for all
    if (board is not null) Console.WriteLine($"tensorboard: {board.FilePath}");
    FitResult result = Fit.Run(model, trainer, loader, test, epochs, Console.Out,
        onStep: (step, loss) => { if (step % 20 == 0) board?.AddScalar("train/loss", loss, step); },
        onEpoch: e =>
        {
            board?.AddScalar("train/epoch_loss", e.Loss, e.Epoch);
            board?.AddScalar("test/accuracy", e.TestAccuracy, e.Epoch);
        });
    // Closed before the result line, so the files are complete once a caller sees it.
    board?.Dispose();
    // The trained model for ONNX Runtime and other tools; rank 0 writes it for all (every rank holds the same parameters).
    if (parse.GetValue(exportOption) is { } onnxPath && group is not { IsMain: false })
    {
        model.ExportOnnx(onnxPath);
        Console.WriteLine($"onnx: {onnxPath}");
    }
    Console.WriteLine(result.ResultLine);
    return 0;
}
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
