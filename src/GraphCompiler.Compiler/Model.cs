// What the compiler core takes in: a model's layers and forward calls, free of Roslyn types, with "sites" standing for source locations.
namespace GraphCompiler.Compiler
{
    /// <summary>
    /// A parameterised layer declared by an attribute, e.g. <c>[Conv2d(3, 32, kernel: 5, Padding = 2)]</c>. <see cref="Kind"/> is
    /// the attribute's name without "Attribute" and keys <see cref="OpsTable.Layers"/>; <see cref="Args"/> holds one value per
    /// parameter of that op's <see cref="OpDef.LayerParams"/> (defaults filled in, NaN for an absent optional one), and
    /// <see cref="ArgSites"/> the source site of each (-1 when it was not written), so an error lands on the offending number.
    /// </summary>
    public sealed record LayerDecl(
        string Property,
        string Kind,
        string StateName,
        EquatableArray<double> Args,
        int Site,
        EquatableArray<int> ArgSites)
    {
        /// <summary>The op that defines this kind of layer.</summary>
        public OpDef Op => OpsTable.Layers[Kind];

        private int Index(string name)
        {
            int i = OpParams.IndexOf(Op.LayerParams, name);
            if (i < 0) throw new System.ArgumentException($"{Kind} has no parameter '{name}'", nameof(name));
            return i;
        }

        public int Int(string name) => (int)Args[Index(name)];

        public double Float(string name) => Args[Index(name)];

        public bool Bool(string name) => Args[Index(name)] != 0;

        /// <summary>Whether an optional parameter without a default was given.</summary>
        public bool Has(string name) => !double.IsNaN(Args[Index(name)]);

        /// <summary>Where the parameter was written, or the attribute when it was not.</summary>
        public int ArgSite(string name)
        {
            int i = Index(name);
            return i < ArgSites.Count && ArgSites[i] >= 0 ? ArgSites[i] : Site;
        }

        /// <summary>Whether the layer has a bias parameter (a "bias" flag that is true).</summary>
        public bool Bias => OpParams.IndexOf(Op.LayerParams, "bias") >= 0 && Bool("bias");

        public string Describe() => $"{Kind} '{Property}'";

        /// <summary>
        /// The stem of the names of this layer's values and buffers: the property (<c>Fc1</c>), or for an element of a layer
        /// array (<c>Blocks[2]</c>, a C# expression the generated code reads) the identifier <c>Blocks_2</c>.
        /// </summary>
        public string ValueStem => Property.Replace("[", "_").Replace("]", "");

        /// <summary>
        /// A layer of <paramref name="kind"/> with the given arguments by name and defaults for the rest, as the parser would
        /// build it from an attribute (for tests and tools that build models without source).
        /// </summary>
        public static LayerDecl Of(string property, string kind, params (string Name, double Value)[] args)
        {
            double[] bound = OpParams.BindNamed(kind, OpsTable.Layers[kind].LayerParams, args, out int[] sites);
            return new LayerDecl(property, kind, SnakeCase(property), new EquatableArray<double>(bound), -1, new EquatableArray<int>(sites));
        }

        /// <summary>PyTorch's attribute naming: <c>Fc1</c> → <c>fc1</c>, <c>FeatureHead</c> → <c>feature_head</c>.</summary>
        public static string SnakeCase(string name)
        {
            var sb = new System.Text.StringBuilder();
            for (int i = 0; i < name.Length; i++)
            {
                char c = name[i];
                if (char.IsUpper(c))
                {
                    if (i > 0 && (char.IsLower(name[i - 1]) || (i + 1 < name.Length && char.IsLower(name[i + 1]) && char.IsUpper(name[i - 1]))))
                        sb.Append('_');
                    sb.Append(char.ToLowerInvariant(c));
                }
                else sb.Append(c);
            }
            return sb.ToString();
        }
    }

    /// <summary>
    /// One call in the forward body, e.g. <c>.MaxPool2d(2)</c>, <c>.Apply(Conv1)</c>, <c>a + b</c> or <c>Tensor.Cat([a, b], dim: 1)</c>.
    /// Value 0 is the forward's input; call i produces value i + 1. <see cref="Inputs"/> are the values it reads (the receiver
    /// or left operand first). <see cref="Args"/> holds one value per <see cref="OpDef.Params"/> entry of the op (bound by
    /// <see cref="OpParams.Bind"/>: defaults filled in, NaN for an absent optional one).
    /// </summary>
    public sealed record OpCall(string Op, EquatableArray<int> Inputs, string? Layer, EquatableArray<double> Args, int Site)
    {
        /// <summary>A call of a unary op (or a layer application) on value <paramref name="input"/>.</summary>
        public OpCall(string op, int input, string? layer, EquatableArray<double> args, int site)
            : this(op, EquatableArray.Of(input), layer, args, site)
        {
        }

        /// <summary>The first input (the receiver).</summary>
        public int Input => Inputs[0];

        /// <summary>A call with its arguments bound by name to the op's parameters (for tests and tools).</summary>
        public static OpCall Of(string op, int input, params (string Name, double Value)[] args) => Of(op, new[] { input }, args);

        /// <summary>A call of an op reading several values, e.g. <c>OpCall.Of("Cat", new[] { 2, 3 }, ("dim", 1))</c>.</summary>
        public static OpCall Of(string op, int[] inputs, params (string Name, double Value)[] args)
        {
            OpDef def = OpsTable.Functional.TryGetValue(op, out OpDef? f) ? f : OpsTable.Combining[op];
            double[] bound = OpParams.BindNamed(op, def.Params, args, out _);
            return new OpCall(op, new EquatableArray<int>(inputs), null, new EquatableArray<double>(bound), -1);
        }

        /// <summary>An <c>Apply(layer)</c> call.</summary>
        public static OpCall Apply(string layer, int input) => new OpCall("Apply", input, layer, EquatableArray<double>.Empty, -1);
    }

    /// <summary>Everything the core needs to compile one model. <see cref="Fuse"/> false skips the fusion passes.</summary>
    public sealed record ModelDecl(
        string Name,
        Shape Input,
        int InputSite,
        EquatableArray<LayerDecl> Layers,
        EquatableArray<OpCall> Calls,
        int OutputValue,
        bool Fuse = true);

    /// <summary>A diagnostic from the core; the generator turns sites back into source locations.</summary>
    public sealed record CoreDiagnostic(string Id, string Message, int Site, int SecondarySite = -1);
}
