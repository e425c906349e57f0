// Trains Model on the Fashion-MNIST subset embedded in this program, then saves its state_dict for PyTorch.
//
//   dotnet run -c Release [-- EPOCHS]
using GraphCompiler.Data;
using GraphCompiler.IO;
using GraphCompiler.Nn;
using GraphCompiler.Optim;
using GraphCompiler.Training;
using GraphCompilerApp;

int epochs = args.Length > 0 ? int.Parse(args[0]) : EPOCHS_DEFAULT;

// 1. Data: pixels to [0, 1], then normalized to [-1, 1], as the PyTorch tutorial's transforms do.
var transform = new Compose(new ToTensor(), new Normalize([0.5f], [0.5f]));
MnistDataset train = MnistDataset.FromEmbeddedResources(typeof(Model).Assembly, "FashionMnist.", train: true, transform);
MnistDataset test = MnistDataset.FromEmbeddedResources(typeof(Model).Assembly, "FashionMnist.", train: false, transform);
var loader = new DataLoader(train, batchSize: 64, shuffle: true, dropLast: true, seed: 0);

// 2. Model: its shapes were checked and its Forward/Backward generated when this project was built.
var model = new Model(seed: 0);

// 3. Training: NLL loss on the log-probabilities, SGD with momentum, one line per epoch.
var sgd = new Sgd(model.Parameters(), lr: 0.01f, momentum: 0.9f);
using var trainer = new Trainer(model, Loss.Nll, sgd, batchSize: 64);
FitResult result = Fit.Run(model, trainer, loader, test, epochs, Console.Out);
Console.WriteLine(result.ResultLine);

// 4. The weights under PyTorch's state_dict names; in Python: model.load_state_dict(safetensors.torch.load_file(...)).
StateDict.Save("model.safetensors", model);
