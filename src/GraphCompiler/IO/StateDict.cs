// Moves parameters between a compiled model and named tensors (PyTorch state_dict names), checking names and shapes.
using GraphCompiler.Nn;

namespace GraphCompiler.IO;

public static class StateDict
{
    /// <summary>The model's parameters by state_dict name, as safetensors-ready tensors (copies).</summary>
    public static Dictionary<string, SafeTensor> Save(ICompiledModel model) =>
        model.Parameters().ToDictionary(p => p.Name, p => SafeTensor.FromFloat(p.Data, p.Shape));

    /// <summary>
    /// Copies every parameter from <paramref name="tensors"/>. With <paramref name="strict"/> (PyTorch's default), any
    /// missing or unexpected name is an error; a shape mismatch always is. Nothing is copied unless everything checks out.
    /// Entries of <paramref name="tensors"/> under <paramref name="ignorePrefixes"/> (e.g. "grad.") are not parameters.
    /// </summary>
    public static void Load(ICompiledModel model, IReadOnlyDictionary<string, SafeTensor> tensors, bool strict = true, params string[] ignorePrefixes)
    {
        var parameters = model.Parameters();
        var missing = new List<string>();
        var misShaped = new List<string>();
        foreach (Parameter p in parameters)
        {
            if (!tensors.TryGetValue(p.Name, out SafeTensor? t)) missing.Add(p.Name);
            else if (!t.Shape.SequenceEqual(p.Shape))
                misShaped.Add($"{p.Name}: expected {p.ShapeText}, got {t.ShapeText}");
        }
        var known = parameters.Select(p => p.Name).ToHashSet();
        var unexpected = tensors.Keys.Where(k => !known.Contains(k) && !ignorePrefixes.Any(k.StartsWith)).Order(StringComparer.Ordinal).ToList();
        if (misShaped.Count > 0 || (strict && (missing.Count > 0 || unexpected.Count > 0)))
        {
            var lines = new List<string> { $"Error(s) in loading state_dict for {model.GetType().Name}:" };
            if (missing.Count > 0) lines.Add("  Missing key(s): " + string.Join(", ", missing));
            if (unexpected.Count > 0 && strict) lines.Add("  Unexpected key(s): " + string.Join(", ", unexpected));
            lines.AddRange(misShaped.Select(m => "  Size mismatch for " + m));
            throw new InvalidDataException(string.Join(Environment.NewLine, lines));
        }
        foreach (Parameter p in parameters)
            if (tensors.TryGetValue(p.Name, out SafeTensor? t))
                t.AsFloat().CopyTo(p.Data.AsSpan());
    }
}
