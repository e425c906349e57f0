// Moves a compiled model's parameters and buffers to and from named tensors and safetensors files under PyTorch's
// state_dict names, checking every name, shape and dtype before anything is copied.
using GraphCompiler.Nn;

namespace GraphCompiler.IO;

/// <summary>What a non-strict <see cref="StateDict.Load(ICompiledModel, IReadOnlyDictionary{string, SafeTensor}, bool, string[])"/> skipped, as PyTorch's <c>load_state_dict</c> returns it.</summary>
public sealed record StateDictLoadResult(IReadOnlyList<string> MissingKeys, IReadOnlyList<string> UnexpectedKeys);

/// <summary>
/// PyTorch's <c>model.state_dict()</c> / <c>load_state_dict()</c> for compiled models: every parameter (F32) and every
/// persistent buffer (<see cref="ModelBuffer.Persistent"/>; F32, or I64 for <c>num_batches_tracked</c>) under its
/// state_dict name, e.g. <c>layer1.0.bn1.running_mean</c>. Files are safetensors, as PyTorch's <c>safetensors.torch.save_file</c>
/// writes them.
/// </summary>
public static class StateDict
{
    /// <summary>The model's parameters, then its persistent buffers, by state_dict name, as safetensors-ready tensors (copies).</summary>
    public static Dictionary<string, SafeTensor> Save(ICompiledModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var tensors = new Dictionary<string, SafeTensor>(StringComparer.Ordinal);
        foreach (var (name, tensor) in Entries(model)) tensors.Add(name, tensor);
        return tensors;
    }

    /// <summary>
    /// Writes the state_dict to <paramref name="path"/> as safetensors, through a temporary file renamed over the target,
    /// so a failed save leaves any earlier file intact.
    /// </summary>
    public static void Save(string path, ICompiledModel model, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(model);
        SafeTensors.Write(path, Entries(model), metadata);
    }

    /// <summary>Reads a safetensors state_dict from <paramref name="path"/> and loads it as <see cref="Load(ICompiledModel, IReadOnlyDictionary{string, SafeTensor}, bool, string[])"/> does.</summary>
    public static StateDictLoadResult Load(string path, ICompiledModel model, bool strict = true)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(model);
        var tensors = SafeTensors.Read(path); // parse errors name the file
        try
        {
            return Load(model, tensors, strict);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"file {path}: {e.Message}", e);
        }
    }

    /// <summary>
    /// Copies every parameter and persistent buffer of <paramref name="model"/> from <paramref name="tensors"/>. Each entry
    /// must have the model's shape and dtype (F32 for parameters and float buffers, I64 for int64 buffers); with
    /// <paramref name="strict"/> (PyTorch's default) every name must also match both ways. All problems — missing,
    /// unexpected, mis-shaped and mis-typed entries — are reported together in one <see cref="InvalidDataException"/>,
    /// and nothing is copied unless everything checks out. With <c>strict: false</c> missing and unexpected names are
    /// returned instead (mis-shaped and mis-typed entries are still errors). Entries under <paramref name="ignorePrefixes"/>
    /// (e.g. "grad.") are neither loaded nor unexpected.
    /// </summary>
    public static StateDictLoadResult Load(ICompiledModel model, IReadOnlyDictionary<string, SafeTensor> tensors, bool strict = true, params string[] ignorePrefixes)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tensors);
        var missing = new List<string>();
        var misShaped = new List<string>();
        var misTyped = new List<string>();
        var copies = new List<Action>();
        var known = new HashSet<string>(StringComparer.Ordinal);

        void Check(string name, int[] shape, SafeTensorDType dtype, Action<SafeTensor> copy)
        {
            known.Add(name);
            if (!tensors.TryGetValue(name, out SafeTensor? t)) missing.Add(name);
            else if (!t.Shape.SequenceEqual(shape)) misShaped.Add($"{name}: expected {SafeTensor.FormatShape(shape)}, got {t.ShapeText}");
            else if (t.DType != dtype) misTyped.Add($"{name}: expected {dtype}, got {t.DType}");
            else copies.Add(() => copy(t));
        }

        foreach (Parameter p in model.Parameters())
            Check(p.Name, p.Shape, SafeTensorDType.F32, t => t.AsFloat().CopyTo(p.Data, 0));
        foreach (ModelBuffer b in model.Buffers())
        {
            if (!b.Persistent) continue;
            if (b.DType == BufferDType.Float32) Check(b.Name, b.Shape, SafeTensorDType.F32, t => t.AsFloat().CopyTo(b.Data, 0));
            else Check(b.Name, b.Shape, SafeTensorDType.I64, t => t.AsInt64().CopyTo(b.Int64Data, 0));
        }
        var unexpected = tensors.Keys.Where(k => !known.Contains(k) && !ignorePrefixes.Any(p => k.StartsWith(p, StringComparison.Ordinal)))
            .Order(StringComparer.Ordinal).ToList();

        if (misShaped.Count > 0 || misTyped.Count > 0 || (strict && (missing.Count > 0 || unexpected.Count > 0)))
        {
            var lines = new List<string> { $"Error(s) in loading state_dict for {model.GetType().Name}:" };
            if (strict && missing.Count > 0) lines.Add("  Missing key(s): " + string.Join(", ", missing));
            if (strict && unexpected.Count > 0) lines.Add("  Unexpected key(s): " + string.Join(", ", unexpected));
            lines.AddRange(misShaped.Select(m => "  Size mismatch for " + m));
            lines.AddRange(misTyped.Select(m => "  Dtype mismatch for " + m));
            throw new InvalidDataException(string.Join(Environment.NewLine, lines));
        }
        foreach (Action copy in copies) copy();
        return new StateDictLoadResult(missing, unexpected);
    }

    private static IEnumerable<KeyValuePair<string, SafeTensor>> Entries(ICompiledModel model)
    {
        foreach (Parameter p in model.Parameters())
            yield return new(p.Name, SafeTensor.FromFloat(p.Data, p.Shape));
        foreach (ModelBuffer b in model.Buffers())
            if (b.Persistent) yield return new(b.Name, ToSafeTensor(b));
    }

    internal static SafeTensor ToSafeTensor(ModelBuffer b) =>
        b.DType == BufferDType.Float32 ? SafeTensor.FromFloat(b.Data, b.Shape) : SafeTensor.FromInt64(b.Int64Data, b.Shape);
}
