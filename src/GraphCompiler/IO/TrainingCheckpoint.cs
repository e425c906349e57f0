// Resumable training checkpoints: model, optimizer state, schedule, RNG states and epoch in one safetensors file, validated whole before any of it is loaded.
using System.Globalization;
using GraphCompiler.Data;
using GraphCompiler.Nn;
using GraphCompiler.Optim;
using GraphCompiler.Optim.Schedulers;

namespace GraphCompiler.IO;

/// <summary>What a checkpoint recorded besides the tensors it restored: its epoch and the caller's metadata.</summary>
public sealed record TrainingCheckpointInfo(int Epoch, IReadOnlyDictionary<string, string> Metadata);

/// <summary>
/// A resumable training checkpoint, written as one safetensors file:
/// <list type="bullet">
/// <item>the model's parameters under their state_dict names (F32), and all its buffers (<see cref="ICompiledModel.Buffers"/>:
/// running statistics F32, counters such as <c>num_batches_tracked</c> and dropout steps I64), persistent or not;</item>
/// <item>the optimizer's state as PyTorch's <c>optimizer.state_dict()</c> flattened: <c>optimizer.state.&lt;i&gt;.momentum_buffer</c>
/// (SGD), <c>optimizer.state.&lt;i&gt;.step</c> (I64), <c>.exp_avg</c>, <c>.exp_avg_sq</c>, <c>.max_exp_avg_sq</c> (Adam, AdamW), where
/// <c>i</c> numbers the parameters across groups in order; each group's options as F64
/// <c>optimizer.param_groups.&lt;g&gt;.lr</c>, <c>.betas</c>, … and its parameter indices as I64 <c>.params</c>;</item>
/// <item>the scheduler's state as F64 <c>scheduler.&lt;key&gt;</c> (see <see cref="LRScheduler.GetState"/>);</item>
/// <item>RNG states as I64 <c>rng.&lt;name&gt;</c> (the four 32-bit words), the loader's next epoch as I64 <c>loader.epoch</c>;</item>
/// <item>in <c>__metadata__</c>: <c>format</c>, <c>optimizer</c> (its PyTorch class name), <c>scheduler</c>, <c>epoch</c>, and the caller's entries.</item>
/// </list>
/// Saving goes through a temporary file renamed over the target (<see cref="SafeTensors.Write(string, IEnumerable{KeyValuePair{string, SafeTensor}}, IReadOnlyDictionary{string, string}?)"/>),
/// so a failed save leaves any earlier checkpoint intact. Loading parses and checks the whole file against the
/// model, optimizer, scheduler, RNGs and loader first — names, shapes, dtypes, optimizer type, group count — and
/// copies nothing unless all of it fits; every failure is an <see cref="InvalidDataException"/> whose message starts
/// with <c>file &lt;path&gt;:</c> and names the entry.
/// </summary>
public static class TrainingCheckpoint
{
    /// <summary>The <c>format</c> metadata value this version writes and reads.</summary>
    public const string Format = "GraphCompiler.TrainingCheckpoint/1";

    private const string OptimizerState = "optimizer.state.";
    private const string OptimizerGroups = "optimizer.param_groups.";
    private const string SchedulerPrefix = "scheduler.";
    private const string RngPrefix = "rng.";
    private const string LoaderEpoch = "loader.epoch";
    private static readonly string[] Reserved = ["format", "optimizer", "scheduler", "epoch"];
    private static readonly string[] NonParameterPrefixes = ["optimizer.", SchedulerPrefix, RngPrefix, "loader."];

    /// <summary>
    /// Writes a checkpoint of everything needed to resume after <paramref name="epoch"/> completed epochs.
    /// <paramref name="rngs"/> are named generators whose state is saved; <paramref name="loader"/>'s
    /// <see cref="DataLoader.Epoch"/> is saved so the next epoch's shuffle order is the one an uninterrupted run would draw.
    /// </summary>
    public static void Save(string path, ICompiledModel model, Optimizer optimizer, ILRScheduler? scheduler, int epoch,
        IReadOnlyDictionary<string, Rng>? rngs = null, DataLoader? loader = null, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(optimizer);
        ArgumentOutOfRangeException.ThrowIfNegative(epoch);
        if (scheduler is not null && !ReferenceEquals(scheduler.Optimizer, optimizer))
            throw new ArgumentException("The scheduler belongs to another optimizer than the one being saved.", nameof(scheduler));
        var tensors = new List<KeyValuePair<string, SafeTensor>>();
        foreach (Parameter p in model.Parameters())
        {
            if (IsNonParameter(p.Name))
                throw new ArgumentException($"Parameter name '{p.Name}' collides with a checkpoint section prefix.", nameof(model));
            tensors.Add(new(p.Name, SafeTensor.FromFloat(p.Data, p.Shape)));
        }
        foreach (ModelBuffer b in model.Buffers())
        {
            if (IsNonParameter(b.Name))
                throw new ArgumentException($"Buffer name '{b.Name}' collides with a checkpoint section prefix.", nameof(model));
            tensors.Add(new(b.Name, StateDict.ToSafeTensor(b)));
        }

        int flat = 0;
        for (int g = 0; g < optimizer.ParamGroups.Count; g++)
        {
            ParamGroup group = optimizer.ParamGroups[g];
            string gp = $"{OptimizerGroups}{g}.";
            var indices = new long[group.Parameters.Count];
            for (int i = 0; i < group.Parameters.Count; i++, flat++)
            {
                indices[i] = flat;
                Parameter p = group.Parameters[i];
                string sp = $"{OptimizerState}{flat}.";
                switch (optimizer)
                {
                    case Sgd sgd when sgd.GetMomentumBuffer(g, i) is { } buffer:
                        tensors.Add(new(sp + "momentum_buffer", SafeTensor.FromFloat(buffer, p.Shape)));
                        break;
                    case AdamBase adam when adam.GetState(g, i) is { } state:
                        tensors.Add(new(sp + "step", SafeTensor.FromInt64([state.Step], 1)));
                        tensors.Add(new(sp + "exp_avg", SafeTensor.FromFloat(state.ExpAvg, p.Shape)));
                        tensors.Add(new(sp + "exp_avg_sq", SafeTensor.FromFloat(state.ExpAvgSq, p.Shape)));
                        if (state.MaxExpAvgSq.Length > 0)
                            tensors.Add(new(sp + "max_exp_avg_sq", SafeTensor.FromFloat(state.MaxExpAvgSq, p.Shape)));
                        break;
                }
            }
            tensors.Add(new(gp + "params", SafeTensor.FromInt64(indices, indices.Length)));
            foreach (var (key, values) in GroupOptions(group))
                tensors.Add(new(gp + key, SafeTensor.FromDouble(values, values.Length)));
        }

        if (scheduler is not null)
            foreach (var (key, values) in SchedulerState(scheduler))
                tensors.Add(new(SchedulerPrefix + key, SafeTensor.FromDouble(values, values.Length)));
        if (rngs is not null)
            foreach (var (name, rng) in rngs)
            {
                ArgumentNullException.ThrowIfNull(rng, nameof(rngs));
                var (a, b, c, d) = rng.State;
                tensors.Add(new(RngPrefix + name, SafeTensor.FromInt64([a, b, c, d], 4)));
            }
        if (loader is not null) tensors.Add(new(LoaderEpoch, SafeTensor.FromInt64([loader.Epoch], 1)));

        var meta = new Dictionary<string, string>();
        if (metadata is not null)
            foreach (var (k, v) in metadata)
            {
                if (Reserved.Contains(k)) throw new ArgumentException($"Metadata key '{k}' is reserved by the checkpoint format.", nameof(metadata));
                meta[k] = v;
            }
        meta["format"] = Format;
        meta["optimizer"] = optimizer.Name;
        meta["scheduler"] = scheduler?.GetType().Name ?? "";
        meta["epoch"] = epoch.ToString(CultureInfo.InvariantCulture);
        SafeTensors.Write(path, tensors, meta);
    }

    /// <summary>
    /// Restores a checkpoint written by <see cref="Save"/> into freshly built (or partly trained) objects of the same
    /// configuration: parameters, optimizer state (created where the optimizer has none yet) and group options,
    /// scheduler state, the named RNGs' states and the loader's epoch. Everything is checked before anything is copied.
    /// Returns the saved epoch and the caller's metadata.
    /// </summary>
    public static TrainingCheckpointInfo Load(string path, ICompiledModel model, Optimizer optimizer, ILRScheduler? scheduler,
        IReadOnlyDictionary<string, Rng>? rngs = null, DataLoader? loader = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(optimizer);
        SafeTensorFile file = SafeTensors.ReadWithMetadata(path); // parse errors already name the file
        var t = file.Tensors;
        var m = file.Metadata;
        var apply = new List<Action>();
        var used = new HashSet<string>(StringComparer.Ordinal);

        // ---- metadata
        string format = Meta(m, "format", path);
        if (format != Format) throw Bad(path, $"metadata 'format' is '{format}', expected '{Format}'");
        string savedOptimizer = Meta(m, "optimizer", path);
        if (savedOptimizer != optimizer.Name)
            throw Bad(path, $"optimizer type mismatch: the checkpoint holds {savedOptimizer} state, but the optimizer is {optimizer.Name}");
        string savedScheduler = Meta(m, "scheduler", path);
        string givenScheduler = scheduler?.GetType().Name ?? "";
        if (savedScheduler != givenScheduler)
            throw Bad(path, $"scheduler mismatch: the checkpoint holds {(savedScheduler.Length == 0 ? "no scheduler" : savedScheduler)} state, but {(givenScheduler.Length == 0 ? "no scheduler was" : givenScheduler + " was")} given");
        if (!int.TryParse(Meta(m, "epoch", path), NumberStyles.None, CultureInfo.InvariantCulture, out int epoch))
            throw Bad(path, $"metadata 'epoch' is '{m["epoch"]}', not a non-negative integer");

        // ---- model parameters (F32, exact names and shapes)
        var parameters = model.Parameters();
        var missing = new List<string>();
        foreach (Parameter p in parameters)
        {
            if (!t.TryGetValue(p.Name, out SafeTensor? s)) { missing.Add(p.Name); continue; }
            CheckFloat(path, p.Name, s, p.Shape);
            used.Add(p.Name);
            float[] values = s.AsFloat();
            apply.Add(() => values.CopyTo(p.Data, 0));
        }
        if (missing.Count > 0) throw Bad(path, $"missing model parameter(s) of {model.GetType().Name}: {string.Join(", ", missing)}");

        // ---- model buffers (running statistics F32, counters I64), persistent or not: a resumed run needs them all
        foreach (ModelBuffer b in model.Buffers())
        {
            if (!t.TryGetValue(b.Name, out SafeTensor? s)) { missing.Add(b.Name); continue; }
            var dtype = b.DType == BufferDType.Float32 ? SafeTensorDType.F32 : SafeTensorDType.I64;
            if (s.DType != dtype) throw Bad(path, $"entry '{b.Name}' is {s.DType}, expected {dtype}");
            if (!s.Shape.SequenceEqual(b.Shape))
                throw Bad(path, $"entry '{b.Name}' has shape {s.ShapeText}, expected {b.ShapeText}");
            used.Add(b.Name);
            if (b.DType == BufferDType.Float32)
            {
                float[] values = s.AsFloat();
                apply.Add(() => values.CopyTo(b.Data, 0));
            }
            else
            {
                long[] values = s.AsInt64();
                apply.Add(() => values.CopyTo(b.Int64Data, 0));
            }
        }
        if (missing.Count > 0) throw Bad(path, $"missing model buffer(s) of {model.GetType().Name}: {string.Join(", ", missing)}");

        // ---- optimizer groups and state
        int savedGroups = 0;
        while (t.ContainsKey($"{OptimizerGroups}{savedGroups}.params")) savedGroups++;
        if (savedGroups != optimizer.ParamGroups.Count)
            throw Bad(path, $"parameter group count mismatch: the checkpoint has {savedGroups} optimizer group(s), the {optimizer.Name} optimizer has {optimizer.ParamGroups.Count}");
        int flat = 0;
        for (int g = 0; g < optimizer.ParamGroups.Count; g++)
        {
            ParamGroup group = optimizer.ParamGroups[g];
            string gp = $"{OptimizerGroups}{g}.";
            long[] indices = Get(t, gp + "params", path, used, SafeTensorDType.I64).AsInt64();
            if (indices.Length != group.Parameters.Count || indices.Where((v, i) => v != flat + i).Any())
                throw Bad(path, $"entry '{gp}params' lists {indices.Length} parameter(s) [{string.Join(", ", indices.Take(8))}{(indices.Length > 8 ? ", …" : "")}], but group {g} has {group.Parameters.Count} starting at index {flat}");
            var options = new Dictionary<string, double[]>();
            foreach (var (key, expected) in GroupOptions(group))
            {
                double[] values = Get(t, gp + key, path, used, SafeTensorDType.F64).AsDouble();
                if (values.Length != expected.Length)
                    throw Bad(path, $"entry '{gp}{key}' has {values.Length} value(s), expected {expected.Length}");
                options[key] = values;
            }
            CheckGroupOptions(path, gp, options);
            apply.Add(() => SetGroupOptions(group, options));

            for (int i = 0; i < group.Parameters.Count; i++, flat++)
            {
                Parameter p = group.Parameters[i];
                string sp = $"{OptimizerState}{flat}.";
                int gi = g, ii = i;
                switch (optimizer)
                {
                    case Sgd sgd:
                    {
                        // PyTorch keeps no buffer for a parameter never updated with momentum; its absence is state too.
                        float[]? buffer = null;
                        if (t.TryGetValue(sp + "momentum_buffer", out var s))
                        {
                            CheckFloat(path, sp + "momentum_buffer", s, p.Shape);
                            used.Add(sp + "momentum_buffer");
                            buffer = s.AsFloat();
                            CheckState(path, sp + "momentum_buffer", buffer, nonNegative: false);
                        }
                        else if (options["momentum"][0] != 0 && p.RequiresGrad && ReachedByUpdates(t))
                            throw Bad(path, $"missing optimizer entry '{sp}momentum_buffer' for parameter '{p.Name}' (group {g} uses momentum and the checkpoint has state for other parameters)");
                        apply.Add(() => sgd.SetMomentumBuffer(gi, ii, buffer));
                        break;
                    }
                    case AdamBase adam:
                    {
                        bool any = t.Keys.Any(k => k.StartsWith(sp, StringComparison.Ordinal));
                        if (!any)
                        {
                            if (ReachedByUpdates(t) && p.RequiresGrad)
                                throw Bad(path, $"missing optimizer state '{sp}step', '{sp}exp_avg', '{sp}exp_avg_sq' for parameter '{p.Name}' (the checkpoint has state for other parameters)");
                            apply.Add(() => adam.SetState(gi, ii, null));
                            break;
                        }
                        long[] step = Get(t, sp + "step", path, used, SafeTensorDType.I64).AsInt64();
                        if (step.Length != 1 || step[0] < 1)
                            throw Bad(path, $"entry '{sp}step' must hold one positive step count, got [{string.Join(", ", step)}]");
                        float[] expAvg = GetFloat(t, sp + "exp_avg", path, used, p.Shape);
                        float[] expAvgSq = GetFloat(t, sp + "exp_avg_sq", path, used, p.Shape);
                        float[]? maxSq = null;
                        if (options["amsgrad"][0] != 0) maxSq = GetFloat(t, sp + "max_exp_avg_sq", path, used, p.Shape);
                        else if (t.ContainsKey(sp + "max_exp_avg_sq")) maxSq = GetFloat(t, sp + "max_exp_avg_sq", path, used, p.Shape);
                        CheckState(path, sp + "exp_avg", expAvg, nonNegative: false);
                        CheckState(path, sp + "exp_avg_sq", expAvgSq, nonNegative: true);
                        if (maxSq is not null) CheckState(path, sp + "max_exp_avg_sq", maxSq, nonNegative: true);
                        int count = p.Count;
                        apply.Add(() =>
                        {
                            var state = new AdamState(count) { Step = step[0] };
                            expAvg.CopyTo(state.ExpAvgBuffer, 0);
                            expAvgSq.CopyTo(state.ExpAvgSqBuffer, 0);
                            if (maxSq is not null) state.MaxExpAvgSqBuffer = maxSq;
                            adam.SetState(gi, ii, state);
                        });
                        break;
                    }
                    default:
                        throw new NotSupportedException($"Checkpoints of {optimizer.Name} optimizers are not supported.");
                }
            }
        }

        // ---- scheduler
        if (scheduler is not null)
        {
            var state = new Dictionary<string, double[]>();
            foreach (string key in t.Keys.Where(k => k.StartsWith(SchedulerPrefix, StringComparison.Ordinal)))
                state[key[SchedulerPrefix.Length..]] = Get(t, key, path, used, SafeTensorDType.F64).AsDouble();
            try
            {
                switch (scheduler)
                {
                    case LRScheduler s: s.CheckState(state); apply.Add(() => s.SetState(state)); break;
                    case SequentialLR s: s.CheckState(state); apply.Add(() => s.SetState(state)); break;
                    default: throw new NotSupportedException($"Checkpoints of {scheduler.GetType().Name} schedulers are not supported.");
                }
            }
            catch (ArgumentException e)
            {
                throw Bad(path, $"scheduler entries ('{SchedulerPrefix}…'): {e.Message}");
            }
        }

        // ---- RNGs and loader
        if (rngs is not null)
            foreach (var (name, rng) in rngs)
            {
                long[] words = Get(t, RngPrefix + name, path, used, SafeTensorDType.I64).AsInt64();
                if (words.Length != 4 || words.Any(w => w is < 0 or > uint.MaxValue) || words.All(w => w == 0))
                    throw Bad(path, $"entry '{RngPrefix}{name}' is not an RNG state (four non-zero 32-bit words)");
                apply.Add(() => rng.State = ((uint)words[0], (uint)words[1], (uint)words[2], (uint)words[3]));
            }
        if (loader is not null)
        {
            long[] e = Get(t, LoaderEpoch, path, used, SafeTensorDType.I64).AsInt64();
            if (e.Length != 1 || e[0] is < 0 or > int.MaxValue) throw Bad(path, $"entry '{LoaderEpoch}' is not an epoch number");
            apply.Add(() => loader.Epoch = (int)e[0]);
        }

        // ---- nothing left over that this configuration would silently ignore
        var unexpected = t.Keys.Where(k => !used.Contains(k)
            && !(k.StartsWith(RngPrefix, StringComparison.Ordinal) && rngs is null)
            && !(k == LoaderEpoch && loader is null)).Order(StringComparer.Ordinal).ToList();
        if (unexpected.Count > 0)
            throw Bad(path, $"unexpected entr{(unexpected.Count == 1 ? "y" : "ies")} for this model and optimizer: {string.Join(", ", unexpected.Take(10))}{(unexpected.Count > 10 ? ", …" : "")}");

        foreach (var a in apply) a();
        var userMeta = m.Where(kv => !Reserved.Contains(kv.Key)).ToDictionary(kv => kv.Key, kv => kv.Value);
        return new TrainingCheckpointInfo(epoch, userMeta);
    }

    // Whether any parameter has saved state: then every trainable parameter should (all take the same steps).
    private static bool ReachedByUpdates(IReadOnlyDictionary<string, SafeTensor> t) =>
        t.Keys.Any(k => k.StartsWith(OptimizerState, StringComparison.Ordinal));

    private static IEnumerable<(string Key, double[] Values)> SchedulerState(ILRScheduler scheduler) => scheduler switch
    {
        LRScheduler s => s.GetState().Select(kv => (kv.Key, kv.Value)),
        SequentialLR s => s.GetState().Select(kv => (kv.Key, kv.Value)),
        _ => throw new NotSupportedException($"Checkpoints of {scheduler.GetType().Name} schedulers are not supported."),
    };

    // A group's options as PyTorch names them; booleans as 0/1 and a missing initial_lr as an empty tensor.
    private static IEnumerable<(string Key, double[] Values)> GroupOptions(ParamGroup group)
    {
        yield return ("lr", [group.LearningRate]);
        yield return ("initial_lr", group.InitialLearningRate is { } i ? [i] : []);
        yield return ("weight_decay", [group.WeightDecay]);
        if (group.Momentum is { } momentum)
        {
            yield return ("momentum", [momentum]);
            yield return ("dampening", [group.Dampening!.Value]);
            yield return ("nesterov", [group.Nesterov!.Value ? 1 : 0]);
        }
        if (group.Betas is { } betas)
        {
            yield return ("betas", [betas.Beta1, betas.Beta2]);
            yield return ("eps", [group.Eps!.Value]);
            yield return ("amsgrad", [group.Amsgrad!.Value ? 1 : 0]);
        }
    }

    // The same checks the optimizer's constructor and the group's setters make, so a loaded file cannot hold what code
    // could not set (lr = -inf, momentum 2, eps = inf), and so that applying the options later cannot throw half-way.
    private static void CheckGroupOptions(string path, string prefix, Dictionary<string, double[]> o)
    {
        void Require(string key, Action<double> check, int index = 0)
        {
            try
            {
                check(o[key][index]);
            }
            catch (ArgumentException e)
            {
                throw Bad(path, $"entry '{prefix}{key}' = [{string.Join(", ", o[key].Select(v => v.ToString("R", CultureInfo.InvariantCulture)))}]: {FirstLine(e.Message)}");
            }
        }
        void Flag(string key)
        {
            if (o[key][0] is not (0 or 1)) throw Bad(path, $"entry '{prefix}{key}' = [{o[key][0].ToString("R", CultureInfo.InvariantCulture)}] must be 0 or 1");
        }
        Require("lr", ParamGroup.CheckLr);
        if (o["initial_lr"].Length == 1) Require("initial_lr", ParamGroup.CheckLr);
        Require("weight_decay", v => ParamGroup.CheckNonNegative(v, "weight_decay"));
        if (o.ContainsKey("momentum"))
        {
            Require("momentum", ParamGroup.CheckMomentum);
            Require("dampening", ParamGroup.CheckDampening);
            Flag("nesterov");
            if (o["nesterov"][0] != 0 && !(o["momentum"][0] > 0 && o["dampening"][0] == 0))
                throw Bad(path, $"entry '{prefix}nesterov' = [1] needs a momentum and zero dampening");
        }
        if (o.ContainsKey("betas"))
        {
            Require("betas", b => ParamGroup.CheckBetas((b, 0)), 0);
            Require("betas", b => ParamGroup.CheckBetas((0, b)), 1);
            Require("eps", v => ParamGroup.CheckNonNegative(v, "eps"));
            Flag("amsgrad");
        }
    }

    private static string FirstLine(string message) => message.Split('\n')[0].Trim();

    /// <summary>Optimizer state must be finite, and second moments non-negative: one NaN or negative exp_avg_sq makes every later step NaN.</summary>
    private static void CheckState(string path, string key, float[] values, bool nonNegative)
    {
        for (int i = 0; i < values.Length; i++)
        {
            float v = values[i];
            if (!float.IsFinite(v) || (nonNegative && v < 0))
                throw Bad(path, $"entry '{key}' element {i} is {v.ToString("R", CultureInfo.InvariantCulture)}; optimizer state must be finite{(nonNegative ? " and non-negative" : "")}");
        }
    }

    private static void SetGroupOptions(ParamGroup group, Dictionary<string, double[]> o)
    {
        group.SetScheduledLearningRate(o["lr"][0]);
        group.InitialLearningRate = o["initial_lr"] is [var i] ? i : null;
        group.WeightDecay = o["weight_decay"][0];
        if (o.TryGetValue("momentum", out var mom))
        {
            // Nesterov's check reads the other two options, so clear it before changing them.
            group.Nesterov = false;
            group.Momentum = mom[0];
            group.Dampening = o["dampening"][0];
            group.Nesterov = o["nesterov"][0] != 0;
        }
        if (o.TryGetValue("betas", out var b))
        {
            group.Betas = (b[0], b[1]);
            group.Eps = o["eps"][0];
            group.Amsgrad = o["amsgrad"][0] != 0;
        }
    }

    private static bool IsNonParameter(string name) => NonParameterPrefixes.Any(p => name.StartsWith(p, StringComparison.Ordinal));

    private static string Meta(IReadOnlyDictionary<string, string> m, string key, string path) =>
        m.TryGetValue(key, out var v) ? v : throw Bad(path, $"metadata has no '{key}' entry; is this a training checkpoint (written by TrainingCheckpoint.Save)?");

    private static SafeTensor Get(IReadOnlyDictionary<string, SafeTensor> t, string key, string path, HashSet<string> used, SafeTensorDType dtype)
    {
        if (!t.TryGetValue(key, out var s)) throw Bad(path, $"missing entry '{key}'");
        if (s.DType != dtype) throw Bad(path, $"entry '{key}' is {s.DType}, expected {dtype}");
        used.Add(key);
        return s;
    }

    private static float[] GetFloat(IReadOnlyDictionary<string, SafeTensor> t, string key, string path, HashSet<string> used, int[] shape)
    {
        if (!t.TryGetValue(key, out var s)) throw Bad(path, $"missing entry '{key}'");
        CheckFloat(path, key, s, shape);
        used.Add(key);
        return s.AsFloat();
    }

    private static void CheckFloat(string path, string key, SafeTensor s, int[] shape)
    {
        if (s.DType != SafeTensorDType.F32) throw Bad(path, $"entry '{key}' is {s.DType}, expected F32");
        if (!s.Shape.SequenceEqual(shape))
            throw Bad(path, $"entry '{key}' has shape {s.ShapeText}, expected {SafeTensor.FormatShape(shape)}");
    }

    private static InvalidDataException Bad(string path, string message) => new($"file {path}: {message}");
}
