// Entry point: `dotnet run -c Release --project benchmarks/GraphCompiler.Benchmarks -- --filter '*'` (BenchmarkDotNet switches).
using BenchmarkDotNet.Running;

BenchmarkSwitcher.FromAssembly(typeof(GraphCompiler.Benchmarks.TrainStepBenchmarks).Assembly).Run(args);
