// One data-parallel scenario per run, started by the tests under mpirun (or alone, as the one-process baseline), reporting by lines and files.
//
//   mpirun -np 2 dotnet GraphCompiler.Distributed.Runner.dll train --model mlp --optimizer sgd --steps 20 --global-batch 64 [--device ilgpu-cpu] --out DIR
//   dotnet GraphCompiler.Distributed.Runner.dll train ... (one process: the baseline at the global batch)
//   mpirun -np 2 dotnet GraphCompiler.Distributed.Runner.dll collectives | fit --epochs 2 --checkpoint FILE --out DIR | evaluate --out DIR | fault --mode throw|kill|hang --at-step 5 | bench --model cifar
using System.Diagnostics;
using System.Globalization;
using Cifar;
using FashionMnist;
using GraphCompiler;
using GraphCompiler.Data;
using GraphCompiler.Distributed;
using GraphCompiler.IO;
using GraphCompiler.Nn;
using GraphCompiler.Optim;
using GraphCompiler.Tests.Models;
using GraphCompiler.Training;

CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
var options = Options.Parse(args);
using ProcessGroup group = ProcessGroup.Init();
try
{
    switch (options.Scenario)
    {
        case "collectives": Collectives(group); break;
        case "train": Train(group, options); break;
        case "fault": Fault(group, options); break;
        case "bench": Bench(group, options); break;
        case "fit": FitScenario(group, options); break;
        case "evaluate": EvaluateScenario(options); break;
        default: throw new ArgumentException($"unknown scenario '{options.Scenario}' (collectives, train, fit, evaluate, fault, bench)");
    }
    return 0;
}
catch (Exception e)
{
    group.ReportFailure(e);
    Console.Error.WriteLine($"[rank {group.Rank}] error: {e.Message}");
    return 1;
}

// Sums, broadcasts and a barrier, with values that show which rank contributed what.
static void Collectives(ProcessGroup group)
{
    float[] floats = [group.Rank + 1, 10 * (group.Rank + 1)];
    group.AllReduceSum(floats);
    double[] doubles = [0.5 * (group.Rank + 1)];
    group.AllReduceSum(doubles);
    long[] longs = [1L << (40 + group.Rank)];
    group.AllReduceSum(longs);
    float[] broadcast = [group.Rank == group.WorldSize - 1 ? 42.5f : -1f, group.Rank];
    group.Broadcast(broadcast, root: group.WorldSize - 1);
    float[] bucket = GC.AllocateArray<float>(1 << 20, pinned: true);
    bucket.AsSpan().Fill(group.Rank + 1);
    CollectiveRequest request = group.StartAllReduceSum(bucket, bucket.Length, "big all-reduce");
    request.Wait();
    group.Barrier();
    Console.WriteLine($"rank {group.Rank} of {group.WorldSize} (local {group.LocalRank}, {group.Backend}): floats {floats[0]} {floats[1]} doubles {doubles[0]} longs {longs[0]} broadcast {broadcast[0]} {broadcast[1]} bucket {bucket[0]} {bucket[^1]}");
}

// Trains a model for a number of steps on generated data, with each rank's share of every global batch, and saves
// each rank's parameters: the tests compare them with a one-process run at the global batch, and across ranks.
static void Train(ProcessGroup group, Options o)
{
    ICompiledModel model = NewModel(o.Model);
    if (o.Freeze is { } frozen) ((Module)model.GetType().GetProperty(frozen)!.GetValue(model)!).RequiresGrad(false);
    // Rank 0's initial values must win: other ranks start from different values to show that the broadcast works.
    if (group.Rank > 0) foreach (Parameter p in model.Parameters()) p.Data.AsSpan().Fill(0.25f);
    if (group.Rank > 0) foreach (ModelBuffer b in model.Buffers()) { b.Data.AsSpan().Fill(7f); b.Int64Data.AsSpan().Fill(7); }
    IOptimizer optimizer = o.Optimizer == "adam" ? new Adam(model.Parameters(), lr: o.Lr ?? 1e-3) : new Sgd(model.Parameters(), lr: o.Lr ?? 0.01, momentum: o.Momentum);
    if (o.GlobalBatch % (group.WorldSize * o.Accumulate) != 0)
        throw new ArgumentException($"global batch {o.GlobalBatch} does not split into {group.WorldSize} ranks × {o.Accumulate} micro-batches");
    int micro = o.GlobalBatch / group.WorldSize / o.Accumulate;
    var data = new GeneratedImages(Math.Max(1, o.Steps) * o.GlobalBatch, model.InputShape, model.OutputShape[0], seed: 11);
    var sampler = new DistributedSampler(data, group, shuffle: true, seed: 5);
    var loader = new DataLoader(data, micro, sampler: sampler);
    // --device ilgpu-cpu (or cuda): each rank trains on its own device, and the gradients are staged through the host.
    using var ddp = new DistributedDataParallel(model, o.Model == "mlp" ? Loss.Nll : Loss.CrossEntropy, optimizer, micro, group, o.BucketMB,
        Device.Parse(o.Device));
    ddp.Overlap = !o.NoOverlap;
    if (group.IsMain) Console.WriteLine($"device: {ddp.Device}");
    if (group.IsMain) Console.Write(ddp.Plan);
    int step = 0, k = 0;
    float loss = 0;
    foreach (Batch batch in o.EmulateRanks > 1 || o.Steps == 0 ? Enumerable.Empty<Batch>() : loader)
    {
        // The first k − 1 micro-batches accumulate locally, as with PyTorch's no_sync(); the last one all-reduces.
        bool last = ++k == o.Accumulate;
        using (last ? null : ddp.NoSync())
            loss = ddp.ForwardBackward(batch.Images.Data, batch.Labels, batch.Count, zeroGrad: k == 1, lossScale: 1f / o.Accumulate);
        if (!last) continue;
        ddp.OptimizerStep();
        k = 0;
        step++;
    }
    if (o.EmulateRanks > 1)
    {
        // One process doing what the ranks do, in turn: each rank's share of a step is a micro-batch, accumulated with
        // loss scale 1 / ranks. This separates the data-parallel mechanics from float summation order (see the tests).
        if (group.WorldSize != 1) throw new ArgumentException("--emulate-ranks runs in one process");
        model = NewModel(o.Model);
        if (o.Freeze is { } f) ((Module)model.GetType().GetProperty(f)!.GetValue(model)!).RequiresGrad(false);
        optimizer = o.Optimizer == "adam" ? new Adam(model.Parameters(), lr: o.Lr ?? 1e-3) : new Sgd(model.Parameters(), lr: o.Lr ?? 0.01, momentum: o.Momentum);
        int share = o.GlobalBatch / o.EmulateRanks;
        var trainer = new Trainer(model, o.Model == "mlp" ? Loss.Nll : Loss.CrossEntropy, optimizer, share);
        // Each share summed from zero and then added, as the all-reduce adds the ranks' sums (--fused-shares: the kernels
        // continue their sums from the accumulated gradient instead).
        trainer.BlockwiseAccumulation = !o.FusedShares;
        var loaders = Enumerable.Range(0, o.EmulateRanks)
            .Select(r => new DataLoader(data, share, sampler: new DistributedSampler(data.Count, o.EmulateRanks, r, shuffle: true, seed: 5)).GetEnumerator()).ToList();
        for (step = 0; loaders.All(l => l.MoveNext()); step++)
        {
            for (int r = 0; r < loaders.Count; r++)
            {
                Batch b = loaders[r].Current;
                loss = trainer.ForwardBackward(b.Images.Data, b.Labels, b.Count, zeroGrad: r == 0, lossScale: 1f / o.EmulateRanks);
            }
            optimizer.Step();
        }
    }
    ddp.Synchronize(); // a device's parameters back to the host model
    Directory.CreateDirectory(o.Out!);
    StateDict.Save(Path.Combine(o.Out!, $"rank{group.Rank}.safetensors"), model);
    Console.WriteLine($"rank {group.Rank}: steps {step} last_loss {loss:F6} all_reduced_steps {ddp.Stats.Steps}");
}

// The models the scenarios train: the samples' Mlp and CifarNet, and NormNet for BatchNorm's per-rank statistics.
static ICompiledModel NewModel(string name) => name switch
{
    "cifar" => new CifarNet(seed: 3),
    "norm" => new NormNet(seed: 3),
    _ => new Mlp(seed: 3),
};

// Fit.Run with data-parallel training for --epochs epochs, resuming from --checkpoint when it exists: rank 0 writes the
// checkpoint after each epoch, every rank loads it. Rank 0 prints the epoch lines and the result; the parameters are saved.
static void FitScenario(ProcessGroup group, Options o)
{
    var model = new Mlp(seed: 3);
    var adam = new Adam(model.Parameters(), lr: 1e-3);
    var train = new GeneratedImages(10 * o.GlobalBatch, Mlp.InputShape, 10, seed: 11);
    var test = new GeneratedImages(501, Mlp.InputShape, 10, seed: 12, signal: 0.015f); // odd: the ranks' evaluation shares differ in size; a faint signal, so accuracy is neither 0 nor 1
    int micro = o.GlobalBatch / group.WorldSize;
    var loader = new DataLoader(train, micro, sampler: new DistributedSampler(train, group, seed: 5));
    using var ddp = new DistributedDataParallel(model, Loss.Nll, adam, micro, group);
    int start = o.Checkpoint is { } resume && File.Exists(resume) ? TrainingCheckpoint.Load(resume, model, adam, null, loader: loader).Epoch : 0;
    FitResult result = Fit.Run(model, ddp, loader, test, o.Epochs, Console.Out, startEpoch: start, onEpoch: e =>
    {
        if (o.Checkpoint is not null && group.IsMain) TrainingCheckpoint.Save(o.Checkpoint, model, adam, null, e.Epoch, loader: loader);
        group.Barrier("checkpoint written"); // no rank goes on (or exits, and is restarted to resume) before the file is complete
    });
    if (group.IsMain) Console.WriteLine(result.ResultLine);
    Directory.CreateDirectory(o.Out!);
    StateDict.Save(Path.Combine(o.Out!, $"rank{group.Rank}.safetensors"), model);
}

// The test accuracy of saved parameters in one process: what the ranks' all-reduced accuracy must equal.
static void EvaluateScenario(Options o)
{
    var model = new Mlp(seed: 0);
    StateDict.Load(Path.Combine(o.Out!, "rank0.safetensors"), model);
    var test = new GeneratedImages(501, Mlp.InputShape, 10, seed: 12, signal: 0.015f);
    Console.WriteLine(FormattableString.Invariant($"test_accuracy={Evaluation.Accuracy(model, test):F4}"));
}

// Trains until rank 1 fails at the given step, by throwing, by killing its own process or by hanging; the others must stop.
static void Fault(ProcessGroup group, Options o)
{
    var model = new Mlp(seed: 1);
    var data = new GeneratedImages(64 * 100_000, Mlp.InputShape, 10, seed: 1);
    var loader = new DataLoader(data, 32, sampler: new DistributedSampler(data, group, seed: 1));
    using var ddp = new DistributedDataParallel(model, Loss.Nll, new Sgd(model.Parameters(), lr: 0.01), 32, group);
    int step = 0;
    var watch = Stopwatch.StartNew();
    foreach (Batch batch in loader)
    {
        if (++step == o.AtStep && group.Rank == 1)
        {
            Console.Error.WriteLine($"[rank 1] injecting a fault ({o.Mode}) at step {step}");
            if (o.Mode == "kill") Process.GetCurrentProcess().Kill();
            // Alive but stuck: only the peers' collective watchdog can end the job.
            if (o.Mode == "hang") Thread.Sleep(Timeout.Infinite);
            throw new InvalidOperationException($"injected fault at step {step}");
        }
        ddp.Step(batch.Images, batch.Labels);
    }
    Console.WriteLine($"rank {group.Rank}: finished {step} steps in {watch.Elapsed.TotalSeconds:F1} s without a fault");
}

// Times data-parallel steps: compute, all-reduce and the part of it the backward did not hide.
static void Bench(ProcessGroup group, Options o)
{
    ICompiledModel model = o.Model == "cifar" ? new CifarNet(seed: 1) : new Mlp(seed: 1);
    int batch = o.GlobalBatch / group.WorldSize;
    var data = new GeneratedImages(batch * 8, model.InputShape, model.OutputShape[0], seed: 1);
    float[] images = new float[batch * data.SampleShape.Aggregate(1, (a, b) => a * b)];
    int[] labels = new int[batch];
    for (int i = 0; i < batch; i++) data.Get(i, images.AsSpan(i * images.Length / batch, images.Length / batch), out labels[i]);
    using var ddp = new DistributedDataParallel(model, o.Model == "cifar" ? Loss.CrossEntropy : Loss.Nll, new Sgd(model.Parameters(), lr: 0.001), batch, group, o.BucketMB);
    ddp.Overlap = !o.NoOverlap;
    for (int i = 0; i < 5; i++) ddp.Step(images, labels, batch);
    ddp.ResetStats();
    var watch = Stopwatch.StartNew();
    for (int i = 0; i < o.Steps; i++) ddp.Step(images, labels, batch);
    double total = watch.Elapsed.TotalSeconds;
    AllReduceStats s = ddp.Stats;
    double steps = Math.Max(1, s.Steps);
    // The same bytes all-reduced with nothing else running: the communication's own cost, after a barrier so that
    // neither rank waits for the other to finish computing.
    float[] gradients = GC.AllocateArray<float>((int)ddp.Plan.Count, pinned: true);
    double alone = 0;
    for (int i = 0; i < 50 && group.WorldSize > 1; i++)
    {
        group.Barrier();
        long start = Stopwatch.GetTimestamp();
        group.StartAllReduceSum(gradients, gradients.Length, "timed all-reduce").Wait();
        alone += Stopwatch.GetElapsedTime(start).TotalSeconds / 50;
    }
    if (group.IsMain)
        Console.WriteLine(FormattableString.Invariant(
            $"bench {o.Model} ranks {group.WorldSize} threads {Environment.ProcessorCount} simd {(System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated ? "Vector512" : "Vector256")} batch/rank {batch} overlap {!o.NoOverlap} buckets {ddp.Plan.Buckets.Count}: step {1000 * total / o.Steps:F2} ms, compute {1000 * s.ComputeSeconds / steps:F2} ms, all-reduce {1000 * s.AllReduceSeconds / steps:F2} ms, exposed {1000 * s.ExposedSeconds / steps:F2} ms, all-reduce alone {1000 * alone:F3} ms, {o.GlobalBatch * o.Steps / total:F0} samples/s"));
}

/// <summary>The runner's command line: a scenario and --name value pairs.</summary>
internal sealed record Options(string Scenario, string Model, string Optimizer, int Steps, int GlobalBatch, int Accumulate, string? Freeze,
    string? Out, double BucketMB, bool NoOverlap, string Mode, int AtStep, int EmulateRanks, double? Lr, double Momentum, int Epochs, string? Checkpoint,
    string Device, bool FusedShares)
{
    public static Options Parse(string[] args)
    {
        if (args.Length == 0) throw new ArgumentException("usage: runner collectives|train|fault|bench [--name value]…");
        var named = new Dictionary<string, string>();
        for (int i = 1; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal)) throw new ArgumentException($"unexpected argument '{args[i]}'");
            bool flag = i + 1 >= args.Length || args[i + 1].StartsWith("--", StringComparison.Ordinal);
            named[args[i][2..]] = flag ? "true" : args[++i];
        }
        string Get(string name, string fallback) => named.GetValueOrDefault(name, fallback);
        return new Options(args[0], Get("model", "mlp"), Get("optimizer", "sgd"), int.Parse(Get("steps", "20"), CultureInfo.InvariantCulture),
            int.Parse(Get("global-batch", "64"), CultureInfo.InvariantCulture), int.Parse(Get("accumulate", "1"), CultureInfo.InvariantCulture),
            named.GetValueOrDefault("freeze"), named.GetValueOrDefault("out"), double.Parse(Get("bucket-mb", "25"), CultureInfo.InvariantCulture),
            named.ContainsKey("no-overlap"), Get("mode", "throw"), int.Parse(Get("at-step", "5"), CultureInfo.InvariantCulture),
            int.Parse(Get("emulate-ranks", "1"), CultureInfo.InvariantCulture),
            named.TryGetValue("lr", out string? lr) ? double.Parse(lr, CultureInfo.InvariantCulture) : null,
            double.Parse(Get("momentum", "0"), CultureInfo.InvariantCulture), int.Parse(Get("epochs", "2"), CultureInfo.InvariantCulture),
            named.GetValueOrDefault("checkpoint"), Get("device", "cpu"), named.ContainsKey("fused-shares"));
    }
}

/// <summary>Images (a wave per class plus noise) and labels drawn from a generator keyed by the sample's index: the same on every rank.</summary>
internal sealed class GeneratedImages(int count, int[] shape, int classes, ulong seed, float signal = 0.6f) : IDataset
{
    public int Count => count;

    public int[] SampleShape => shape;

    public int NumClasses => classes;

    public void Get(int index, Span<float> sample, out int label)
    {
        var rng = new Rng(seed * 1_000_003UL + (ulong)index);
        label = rng.NextInt(classes);
        // A class-dependent wave plus noise: learnable, so gradients are signal rather than cancelling noise.
        for (int i = 0; i < sample.Length; i++) sample[i] = signal * MathF.Sin((label + 1) * 0.37f * i) + rng.Uniform(-0.4f, 0.4f);
    }
}
