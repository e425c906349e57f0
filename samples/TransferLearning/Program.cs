// Transfer learning in two phases, as the PyTorch fine-tuning tutorial does it:
//   1. train a small CNN on Fashion-MNIST classes 0–4 and save its feature layers (state_dict names, safetensors);
//   2. a fresh model loads those features, freezes them, and trains only a new head on classes 5–9.
//
//   dotnet run -c Release --project samples/TransferLearning [-- --epochs 2 --data DIR --device cpu]
//   dotnet run -c Release --project samples/TransferLearning -- --summary    (both phases' models at batch 64, then exit)
//   dotnet run -c Release --project samples/TransferLearning -- --export-onnx smallcnn.onnx   (the phase-2 model as ONNX)
//
// --device picks where both phases train (cpu, ilgpu-cpu, cuda, cuda:N, auto). Both phases use Adam, on every device.
using System.CommandLine;
using GraphCompiler;
using GraphCompiler.Data;
using GraphCompiler.Diagnostics;
using GraphCompiler.IO;
using GraphCompiler.IO.Onnx;
using GraphCompiler.Nn;
using GraphCompiler.Optim;
using GraphCompiler.Training;
using TransferLearning;

const string DebianDataset = "/usr/share/datasets/fashion-mnist";
const int BatchSize = 64;

var epochsOption = new Option<int>("--epochs") { Description = "Epochs of each phase", DefaultValueFactory = _ => 2 };
var dataOption = new Option<string?>("--data") { Description = "Folder with the four Fashion-MNIST idx files" };
var featuresOption = new Option<string>("--features") { Description = "Where phase 1 saves the features", DefaultValueFactory = _ => "features.safetensors" };
var summaryOption = new Option<bool>("--summary") { Description = "Print both phases' compiled models (phase 2 with its frozen features) and exit" };
var exportOption = new Option<string?>("--export-onnx") { Description = "After phase 2, write its model (frozen features and new head) as ONNX (opset 17, inference mode, batch dimension N) to this file" };
var deviceOption = new Option<string>("--device") { Description = $"Where training runs: {Device.Spellings}", DefaultValueFactory = _ => "cpu" };
var root = new RootCommand("Train features on Fashion-MNIST classes 0–4, then freeze them and train a new head on classes 5–9.")
{
    epochsOption, dataOption, featuresOption, deviceOption, summaryOption, exportOption,
};
root.SetAction(parse =>
{
    if (parse.GetValue(summaryOption))
    {
        Console.WriteLine("phase 1 (all layers train):");
        Console.Write(new SmallCnn(seed: 1).Summarize(BatchSize, Loss.CrossEntropy));
        Console.WriteLine("phase 2 (features frozen, head trains):");
        Console.Write(FreezeFeatures(new SmallCnn(seed: 2)).Summarize(BatchSize, Loss.CrossEntropy));
        return 0;
    }
    int epochs = parse.GetValue(epochsOption);
    if (parse.GetValue(exportOption) is { } exportPath) OnnxExport.CheckTarget(exportPath); // before training, not after
    Device device = Device.Parse(parse.GetValue(deviceOption)!).Resolve();
    string featuresPath = parse.GetValue(featuresOption)!;
    string? directory = parse.GetValue(dataOption) ?? (File.Exists(Path.Combine(DebianDataset, "train-images-idx3-ubyte.gz")) ? DebianDataset : null);
    var transform = new Compose(new ToTensor(), new Normalize([0.5f], [0.5f]));
    MnistDataset Load(bool train) => directory is null
        ? MnistDataset.FromEmbeddedResources(typeof(SmallCnn).Assembly, "FashionMnist.", train, transform)
        : MnistDataset.Load(directory, train, transform);
    MnistDataset train = Load(true), test = Load(false);
    Console.WriteLine($"data: {directory ?? "embedded subset"}  train {train.Count}  test {test.Count}");

    // Phase 1: everything trains, on T-shirt, Trouser, Pullover, Dress, Coat.
    var first = new SmallCnn(seed: 1);
    FitResult a = Train(first, new ClassSubset(train, 0, 5), new ClassSubset(test, 0, 5), "phase 1 (classes 0-4, all layers)");
    var features = StateDict.Save(first).Where(kv => !kv.Key.StartsWith("head.", StringComparison.Ordinal));
    SafeTensors.Write(featuresPath, features, new Dictionary<string, string> { ["source"] = "SmallCnn trained on Fashion-MNIST classes 0-4" });
    Console.WriteLine($"saved {string.Join(", ", features.Select(kv => kv.Key))} to {featuresPath}");

    // Phase 2: a new model loads the features (strict: false, its head stays freshly initialised), freezes them, and
    // trains only the head on Sandal, Shirt, Sneaker, Bag, Ankle boot.
    var second = new SmallCnn(seed: 2);
    StateDict.Load(second, SafeTensors.Read(featuresPath), strict: false);
    FreezeFeatures(second);
    float[] frozenBefore = (float[])second.Conv1.Weight.Data.Clone();
    FitResult b = Train(second, new ClassSubset(train, 5, 5), new ClassSubset(test, 5, 5), "phase 2 (classes 5-9, head only)");
    bool unchanged = frozenBefore.AsSpan().SequenceEqual(second.Conv1.Weight.Data);
    Console.WriteLine($"frozen features unchanged: {unchanged}");
    if (parse.GetValue(exportOption) is { } onnxPath)
    {
        second.ExportOnnx(onnxPath);
        Console.WriteLine($"onnx: {onnxPath}");
    }
    Console.WriteLine(FormattableString.Invariant(
        $"result: phase1_test_accuracy={a.TestAccuracy:F4} phase2_test_accuracy={b.TestAccuracy:F4} epochs={epochs} train_seconds={a.TrainSeconds + b.TrainSeconds:F2}"));
    return unchanged ? 0 : 1;

    FitResult Train(SmallCnn model, IDataset trainSet, IDataset testSet, string title)
    {
        Console.WriteLine($"{title}: {trainSet.Count} training images");
        Optimizer optimizer = new Adam(model.Parameters(), lr: 1e-3);
        using ITrainer trainer = Trainer.Create(model, Loss.CrossEntropy, optimizer, BatchSize, device);
        return Fit.Run(model, trainer, new DataLoader(trainSet, BatchSize, shuffle: true, seed: 0), testSet, epochs, Console.Out);
    }
});
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

// Everything below the head stops learning (PyTorch's requires_grad_(False)).
static SmallCnn FreezeFeatures(SmallCnn model)
{
    model.Conv1.RequiresGrad(false);
    model.Conv2.RequiresGrad(false);
    model.Fc1.RequiresGrad(false);
    return model;
}
