// Train the tutorial CifarNet (three conv blocks, two linear layers) on generated 32x32 colour images.
//
//   dotnet run -c Release --project samples/Cifar [-- --epochs 1 --train-size 5000]
using System.CommandLine;
using Cifar;
using GraphCompiler.Data;
using GraphCompiler.Nn;
using GraphCompiler.Optim;
using GraphCompiler.Training;

var epochsOption = new Option<int>("--epochs") { Description = "Passes over the training set", DefaultValueFactory = _ => 1 };
var trainSizeOption = new Option<int>("--train-size") { Description = "Generated training images", DefaultValueFactory = _ => 5000 };
var batchOption = new Option<int>("--batch-size") { Description = "Samples per training step", DefaultValueFactory = _ => 64 };
var seedOption = new Option<ulong>("--seed") { Description = "Seed of data, initialisation and shuffling", DefaultValueFactory = _ => 0UL };

var root = new RootCommand("Train CifarNet on generated CIFAR-10-shaped images with a compiled, shape-checked graph.")
{
    epochsOption, trainSizeOption, batchOption, seedOption,
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
    FitResult result = Fit.Run(model, trainer, loader, test, parse.GetValue(epochsOption), Console.Out,
        onStep: (step, loss) => { if (step % 20 == 0) Console.WriteLine($"  step {step,4}  loss {loss:F4}"); });
    Console.WriteLine(result.ResultLine);
    return 0;
});
return root.Parse(args).Invoke();
