// The base of every runtime layer: its parameters, registered once in state_dict order, and the freezing switches.
namespace GraphCompiler.Nn;

/// <summary>
/// What every layer shares, as <c>torch.nn.Module</c> does for its parameters: the list of parameters (registered by the
/// constructor, in <c>state_dict</c> order), whether any still learns, and <c>requires_grad_</c>. <see cref="Trainable"/>
/// is read by the generated Backward on every step, so it walks an array and allocates nothing.
/// </summary>
public abstract class Module
{
    private Parameter[] _parameters = [];

    /// <summary>The state_dict prefix of the layer's parameters and buffers, e.g. <c>layer1.0.conv1</c>.</summary>
    public abstract string Name { get; }

    /// <summary>Records the layer's parameters in state_dict order; null entries (an absent bias) are left out.</summary>
    protected void Register(params Parameter?[] parameters) => _parameters = [.. parameters.Where(p => p is not null).Select(p => p!)];

    /// <summary>Every parameter, in state_dict order.</summary>
    public IReadOnlyList<Parameter> Parameters() => _parameters;

    /// <summary>Whether any parameter still learns; the generated Backward skips a layer's gradient work when not.</summary>
    public bool Trainable
    {
        get
        {
            foreach (Parameter p in _parameters)
                if (p.RequiresGrad) return true;
            return false;
        }
    }

    /// <summary>
    /// The layer a schedule names on <paramref name="model"/>: a layer property (<c>Fc1</c>) or an element of a layer
    /// array (<c>Blocks[2]</c>); null when there is none.
    /// </summary>
    internal static Module? Find(object model, string layer)
    {
        const System.Reflection.BindingFlags Any = System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.Public
            | System.Reflection.BindingFlags.NonPublic;
        int open = layer.IndexOf('[', StringComparison.Ordinal);
        string property = open < 0 ? layer : layer[..open];
        object? value = model.GetType().GetProperty(property, Any)?.GetValue(model);
        if (open < 0) return value as Module;
        return value is Module[] array && int.TryParse(layer.AsSpan(open + 1, layer.Length - open - 2), out int i) && i >= 0 && i < array.Length
            ? array[i] : null;
    }

    /// <summary>Sets <see cref="Parameter.RequiresGrad"/> on every parameter (PyTorch's <c>requires_grad_</c>).</summary>
    public void RequiresGrad(bool requiresGrad)
    {
        foreach (Parameter p in _parameters) p.RequiresGrad = requiresGrad;
    }
}
