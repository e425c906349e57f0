// Entry point: `dotnet run -c Release --project benchmarks/GraphCompiler.Benchmarks -- --filter '*'` (BenchmarkDotNet switches),
// or `-- alternate [pairs]` for fused against unfused CifarNet steps alternated in one process (FusionAlternating).
using BenchmarkDotNet.Running;
using GraphCompiler.Benchmarks;

if (args.Length > 0 && args[0] == "alternate")
{
    FusionAlternating.Run(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 200, Console.Out);
    return;
}
BenchmarkSwitcher.FromAssembly(typeof(TrainStepBenchmarks).Assembly).Run(args);
