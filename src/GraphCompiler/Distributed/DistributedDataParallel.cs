// PyTorch's DistributedDataParallel for a compiled model on the CPU or a device: same start on every rank, gradients averaged in buckets.
using System.Diagnostics;
using GraphCompiler.Nn;
using GraphCompiler.Optim;
using GraphCompiler.Training;

namespace GraphCompiler.Distributed;

/// <summary>What the gradient all-reduce cost so far: totals over <see cref="Steps"/> synchronised steps.</summary>
/// <param name="Steps">Steps whose gradients were all-reduced.</param>
/// <param name="ComputeSeconds">Forward, loss and backward (including the hook's copies into the buckets).</param>
/// <param name="ExposedSeconds">Time after the backward spent waiting for all-reduces and averaging: what the overlap did not hide.</param>
/// <param name="AllReduceSeconds">Each bucket's all-reduce from its start to its completion, summed.</param>
public sealed record AllReduceStats(long Steps, double ComputeSeconds, double ExposedSeconds, double AllReduceSeconds);

/// <summary>
/// Data-parallel training of one compiled model, like <c>torch.nn.parallel.DistributedDataParallel</c>: each rank trains
/// a replica on its own shard of every batch (<see cref="Data.DistributedSampler"/>), and the replicas stay equal because
/// <list type="bullet">
/// <item>rank 0's parameters and buffers are broadcast when it is created;</item>
/// <item>after each backward every gradient is the average over the ranks, so each optimizer takes the same step.</item>
/// </list>
/// The averaging is an all-reduce per <see cref="GradientBucket"/> of the <see cref="Plan"/>, fixed before the first step
/// from the static schedule. The generated backward reports each layer whose parameter gradients are final
/// (<see cref="ModelWorkspace.ParamGradsReady"/>); a bucket's all-reduce starts as soon as its last layer reports, on the
/// process group's communication thread, while the backward goes on with the layers below.
/// <para>
/// Composes as PyTorch's does: inside <see cref="NoSync"/> a backward only accumulates locally (gradient accumulation's
/// micro-steps; the next synchronised backward all-reduces the accumulated sum); frozen parameters are not sent; any
/// optimizer and LR schedule steps on the averaged gradients; BatchNorm keeps per-rank batch statistics (its running
/// statistics are broadcast at the start only, as with DDP's default). Changing which parameters train after the plan
/// was made is an error (as in PyTorch): make a new instance.
/// </para>
/// <para>
/// On a device (the ILGPU backend: <c>cuda:{LocalRank}</c> for each rank, or ILGPU's CPU accelerator) the host's
/// parameters are broadcast first and then copied to each rank's device; after the device backward every gradient is
/// copied to the host, all-reduced in the same buckets, and the averages copied back before the optimizer step runs on
/// the device (<see cref="OptimizerStep"/>). There the all-reduces start only after the backward: the device's launches
/// are asynchronous and its gradients are not on the host while the backward runs, so the overlap is given up.
/// </para>
/// </summary>
public sealed class DistributedDataParallel : ITrainer
{
    private readonly ICompiledModel _model;
    private readonly Trainer? _trainer;
    private readonly IDeviceTrainer? _deviceTrainer;
    private readonly IOptimizer _optimizer;
    private readonly float[][] _buffers;
    private readonly CollectiveRequest?[] _requests;
    private readonly int[] _pending;
    private readonly Dictionary<string, int> _layerBucket = [];
    private readonly Dictionary<string, int> _expected = [];
    private readonly Dictionary<string, int> _fired = [];
    private readonly (Parameter Parameter, bool RequiresGrad)[] _trainability;
    private readonly Action<string> _onReady;
    private int _noSync;
    private long _started;
    private long _steps;
    private double _compute, _exposed, _allReduce;

    /// <summary>
    /// Wraps a <see cref="Trainer"/> for <paramref name="model"/> (the arguments as for it) in data-parallel training over
    /// <paramref name="group"/>, with buckets of at least <paramref name="bucketCapMB"/> MB. This is a collective: every
    /// rank must create it, and each rank's parameters and buffers become rank 0's. On a <paramref name="device"/> other
    /// than the CPU each rank opens its own (<see cref="DeviceFor"/>) through the device's backend.
    /// </summary>
    public DistributedDataParallel(ICompiledModel model, Loss loss, IOptimizer optimizer, int batchSize, ProcessGroup group,
        double bucketCapMB = BucketPlan.DefaultCapMB, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(optimizer);
        ArgumentNullException.ThrowIfNull(group);
        _model = model;
        _optimizer = optimizer;
        Group = group;
        Device = DeviceFor(device ?? Device.Cpu, group);
        // The host parameters become rank 0's before a device trainer copies them to its device.
        BroadcastState();
        Plan = BucketPlan.Build(model, bucketCapMB);
        _buffers = [.. Plan.Buckets.Select(b => GC.AllocateArray<float>(b.Count, pinned: true))];
        _requests = new CollectiveRequest?[Plan.Buckets.Count];
        _pending = new int[Plan.Buckets.Count];
        foreach (GradientBucket bucket in Plan.Buckets)
            foreach (string layer in bucket.Layers) _layerBucket[layer] = bucket.Index;
        foreach (Compiler.KernelStep step in model.Schedule.Backward)
            if (step.ParamsOf is { } layer && _layerBucket.ContainsKey(layer))
                _expected[layer] = _expected.GetValueOrDefault(layer) + 1;
        _trainability = [.. model.Parameters().Select(p => (p, p.RequiresGrad))];
        // Last, so that nothing above can fail with a device trainer (and its device memory) left undisposed.
        if (Device.Type == DeviceType.Cpu) _trainer = new Trainer(model, loss, optimizer, batchSize);
        else
        {
            ITrainer created = DeviceBackends.For(Device).CreateTrainer(model, loss, optimizer, batchSize, Device);
            _deviceTrainer = created as IDeviceTrainer;
            if (_deviceTrainer is null)
            {
                created.Dispose();
                throw new NotSupportedException($"The trainer for device '{Device}' ({created.GetType().Name}) cannot stage its gradients to the host, which data-parallel training needs.");
            }
        }
        _onReady = OnParamGradsReady;
    }

    public ProcessGroup Group { get; }

    /// <summary>The gradient buckets, fixed at construction; <c>Plan.ToString()</c> prints them.</summary>
    public BucketPlan Plan { get; }

    /// <summary>
    /// Whether the all-reduces start during the backward (true) or only after it (for measuring what overlap hides). On a
    /// device they always start after it.
    /// </summary>
    public bool Overlap { get; set; } = true;

    /// <summary>The wrapped single-process CPU trainer, whose workspace the model runs in (an error on a device: see <see cref="Inner"/>).</summary>
    public Trainer Trainer => _trainer ?? throw new InvalidOperationException($"This DistributedDataParallel trains on {Device}, not with the CPU Trainer; see Inner.");

    /// <summary>The wrapped single-process trainer: the CPU <see cref="Training.Trainer"/> or the device's.</summary>
    public ITrainer Inner => (ITrainer?)_trainer ?? _deviceTrainer!;

    /// <summary>Where this rank trains: the CPU (MPI moves host memory), or its own device, whose gradients are staged through the host.</summary>
    public Device Device { get; }

    /// <summary>
    /// The device rank <paramref name="group"/>.Rank trains on when <paramref name="requested"/> is asked for: a CUDA
    /// device becomes the rank's local one, <c>cuda:{LocalRank}</c> (one GPU per process, as torchrun's LOCAL_RANK is
    /// used); <see cref="Device.Auto"/> is that when CUDA devices exist, else the CPU; the CPU and ILGPU's CPU
    /// accelerator stay as they are.
    /// </summary>
    public static Device DeviceFor(Device requested, ProcessGroup group)
    {
        ArgumentNullException.ThrowIfNull(requested);
        ArgumentNullException.ThrowIfNull(group);
        Device resolved = requested.Resolve();
        return resolved.Type == DeviceType.Cuda ? Device.Cuda(group.LocalRank) : resolved;
    }

    /// <summary>The cost of the all-reduces so far.</summary>
    public AllReduceStats Stats => new(_steps, _compute, _exposed, _allReduce);

    /// <summary>Starts counting <see cref="Stats"/> afresh (after warm-up steps, say).</summary>
    public void ResetStats() => (_steps, _compute, _exposed, _allReduce) = (0, 0, 0, 0);

    /// <summary>
    /// Until the returned scope is disposed, backward passes accumulate gradients locally without all-reduce, as PyTorch's
    /// <c>ddp.no_sync()</c>: run the first k − 1 micro-batches of an accumulated batch inside it and the last outside.
    /// </summary>
    public IDisposable NoSync()
    {
        _noSync++;
        return new Scope(this);
    }

    /// <summary>One data-parallel step: forward, loss, backward with averaged gradients, optimizer step. Returns this rank's loss.</summary>
    public float Step(ReadOnlySpan<float> inputs, ReadOnlySpan<int> targets, int count)
    {
        float loss = ForwardBackward(inputs, targets, count);
        OptimizerStep();
        return loss;
    }

    /// <summary>
    /// The optimizer's step on the averaged gradients: <c>optimizer.Step()</c> on the CPU, the optimizer kernel on a
    /// device (whose parameters and gradients are the ones that train). Call it after a synchronised
    /// <see cref="ForwardBackward(ReadOnlySpan{float}, ReadOnlySpan{int}, int, bool, float)"/>.
    /// </summary>
    public void OptimizerStep()
    {
        if (_deviceTrainer is { } device) device.OptimizerStep();
        else _optimizer.Step();
    }

    /// <summary>One data-parallel step on a batch tensor of shape (count, ...InputShape).</summary>
    public float Step(Tensor inputs, ReadOnlySpan<int> targets)
    {
        BatchChecks.InputTensor("DistributedDataParallel.Step", _model, inputs);
        return Step(inputs.Data, targets, inputs.Shape[0]);
    }

    /// <summary><see cref="Step(ReadOnlySpan{float}, ReadOnlySpan{int}, int)"/> with float targets shaped like the output.</summary>
    public float Step(ReadOnlySpan<float> inputs, ReadOnlySpan<float> targets, int count)
    {
        float loss = ForwardBackward(inputs, targets, count);
        OptimizerStep();
        return loss;
    }

    /// <summary>
    /// <see cref="Trainer.ForwardBackward(ReadOnlySpan{float}, ReadOnlySpan{int}, int, bool, float)"/>, after which the
    /// gradients are averaged over the ranks (not inside <see cref="NoSync"/>). Returns this rank's loss.
    /// </summary>
    public float ForwardBackward(ReadOnlySpan<float> inputs, ReadOnlySpan<int> targets, int count, bool zeroGrad = true, float lossScale = 1f)
    {
        bool sync = Begin();
        try
        {
            float loss = _trainer is { } cpu ? cpu.ForwardBackward(inputs, targets, count, zeroGrad, lossScale)
                : _deviceTrainer!.ForwardBackward(inputs, targets, count, zeroGrad, lossScale);
            if (sync) Finish();
            return loss;
        }
        catch (Exception e) when (Group.ReportFailure(e))
        {
            throw;
        }
        finally
        {
            _trainer?.Workspace.ParamGradsReady = null;
        }
    }

    /// <summary>The float-target form of <see cref="ForwardBackward(ReadOnlySpan{float}, ReadOnlySpan{int}, int, bool, float)"/>.</summary>
    public float ForwardBackward(ReadOnlySpan<float> inputs, ReadOnlySpan<float> targets, int count, bool zeroGrad = true, float lossScale = 1f)
    {
        bool sync = Begin();
        try
        {
            float loss = _trainer is { } cpu ? cpu.ForwardBackward(inputs, targets, count, zeroGrad, lossScale)
                : _deviceTrainer!.ForwardBackward(inputs, targets, count, zeroGrad, lossScale);
            if (sync) Finish();
            return loss;
        }
        catch (Exception e) when (Group.ReportFailure(e))
        {
            throw;
        }
        finally
        {
            _trainer?.Workspace.ParamGradsReady = null;
        }
    }

    /// <summary>
    /// The sums over the ranks of one epoch's loss total (each batch's loss × its size) and sample count, so the epoch's
    /// mean loss is that of the whole data set.
    /// </summary>
    public (double LossSum, long Samples) AllReduceEpoch(double lossSum, long samples)
    {
        Span<double> totals = [lossSum, samples];
        Group.AllReduceSum(totals, "all-reduce of the epoch's loss");
        return (totals[0], (long)totals[1]);
    }

    /// <summary>
    /// The accuracy on all of <paramref name="test"/>: rank r evaluates samples r, r + ranks, … (no padding, so none is
    /// counted twice) and the correct counts are summed over the ranks. On a device its parameters are copied back first.
    /// </summary>
    public float Accuracy(Data.IDataset test, ProgressReporter? progress = null, string label = "eval")
    {
        ArgumentNullException.ThrowIfNull(test);
        _deviceTrainer?.Synchronize(); // the host model evaluates: a device's parameters first
        var shard = new StridedShard(test, Group.Rank, Group.WorldSize);
        // Accuracy is a float fraction of at most 2^24 samples, so the product rounds back to the exact count.
        long correct = shard.Count == 0 ? 0 : (long)Math.Round((double)Evaluation.Accuracy(_model, shard, progress: progress, label: label) * shard.Count);
        Span<long> counts = [correct];
        Group.AllReduceSum(counts, "all-reduce of the test accuracy");
        return (float)counts[0] / test.Count;
    }

    /// <summary>On the CPU nothing to copy (the model's parameters are the ones that train); on a device its parameters and optimizer state are copied back to the host.</summary>
    public void Synchronize() => _deviceTrainer?.Synchronize();

    /// <summary>Releases a device trainer; the group stays open: the caller made it and disposes it.</summary>
    public void Dispose()
    {
        _trainer?.Workspace.ParamGradsReady = null;
        _deviceTrainer?.Dispose();
    }

    /// <summary>Rank 0's parameters and buffers to every rank, so every replica starts equal (DDP's constructor does the same).</summary>
    private void BroadcastState()
    {
        foreach (Parameter p in _model.Parameters()) Group.Broadcast(p.Data, 0, $"broadcast of {p.Name}");
        foreach (ModelBuffer b in _model.Buffers())
        {
            if (b.DType == BufferDType.Float32) Group.Broadcast(b.Data, 0, $"broadcast of {b.Name}");
            else Group.Broadcast(b.Int64Data, 0, $"broadcast of {b.Name}");
        }
    }

    private bool Begin()
    {
        bool sync = _noSync == 0 && Group.WorldSize > 1;
        if (!sync) return false;
        foreach ((Parameter p, bool requiresGrad) in _trainability)
            if (p.RequiresGrad != requiresGrad)
                throw new InvalidOperationException(
                    $"{p.Name} was {(requiresGrad ? "trainable" : "frozen")} when the gradient buckets were planned and is now {(p.RequiresGrad ? "trainable" : "frozen")}; every rank must send the same gradients, so create a new DistributedDataParallel after freezing or unfreezing.");
        foreach (string layer in _expected.Keys) _fired[layer] = 0;
        for (int b = 0; b < _pending.Length; b++)
        {
            _pending[b] = Plan.Buckets[b].Layers.Count;
            _requests[b] = null;
        }
        _started = Stopwatch.GetTimestamp();
        if (Overlap && _trainer is { } cpu) cpu.Workspace.ParamGradsReady = _onReady;
        return true;
    }

    private void OnParamGradsReady(string layer)
    {
        if (!_layerBucket.TryGetValue(layer, out int bucket)) return;
        int fired = _fired[layer] + 1;
        _fired[layer] = fired;
        if (fired == _expected[layer] && --_pending[bucket] == 0) Launch(bucket);
    }

    private void Launch(int bucket)
    {
        float[] buffer = _buffers[bucket];
        int offset = 0;
        foreach (Parameter p in Plan.Buckets[bucket].Parameters)
        {
            p.Grad.CopyTo(buffer, offset);
            offset += p.Count;
        }
        _requests[bucket] = Group.StartAllReduceSum(buffer, buffer.Length, $"all-reduce of gradient bucket {bucket}");
    }

    /// <summary>Waits for every bucket (starting any whose layers did not report), then writes the averages back.</summary>
    private void Finish()
    {
        // A device's gradients reach the host once its backward is done (the copy waits for its kernels).
        _deviceTrainer?.CopyGradientsToHost();
        long backwardDone = Stopwatch.GetTimestamp();
        float scale = 1f / Group.WorldSize;
        for (int b = 0; b < _requests.Length; b++)
            if (_requests[b] is null) Launch(b);
        for (int b = 0; b < _requests.Length; b++)
        {
            CollectiveRequest request = _requests[b]!;
            request.Wait();
            _allReduce += request.Seconds;
            float[] buffer = _buffers[b];
            int offset = 0;
            foreach (Parameter p in Plan.Buckets[b].Parameters)
            {
                System.Numerics.Tensors.TensorPrimitives.Multiply(buffer.AsSpan(offset, p.Count), scale, p.Grad);
                offset += p.Count;
            }
        }
        _deviceTrainer?.CopyGradientsToDevice();
        long end = Stopwatch.GetTimestamp();
        _steps++;
        _compute += (backwardDone - _started) / (double)Stopwatch.Frequency;
        _exposed += (end - backwardDone) / (double)Stopwatch.Frequency;
    }

    private sealed class Scope(DistributedDataParallel owner) : IDisposable
    {
        private bool _disposed;

        public void Dispose()
        {
            if (_disposed) return;
            _disposed = true;
            owner._noSync--;
        }
    }
}

/// <summary>Samples <c>offset, offset + stride, …</c> of a dataset: one rank's share of an evaluation.</summary>
internal sealed class StridedShard(Data.IDataset data, int offset, int stride) : Data.IDataset
{
    public int Count { get; } = data.Count > offset ? (data.Count - offset + stride - 1) / stride : 0;

    public int[] SampleShape => data.SampleShape;

    public int NumClasses => data.NumClasses;

    public void Get(int index, Span<float> sample, out int label) => data.Get(offset + index * stride, sample, out label);

    public void Get(int index, Span<float> sample, out int label, Data.SampleContext context) =>
        data.Get(offset + index * stride, sample, out label, context);

    public override string ToString() => $"samples {offset}, {offset + stride}, … of {data}";
}
