// What the compiler core takes in: a model's layers and forward calls, free of Roslyn types, with "sites" standing for source locations.
namespace GraphCompiler.Compiler
{
    public enum LayerKind
    {
        Linear,
        Conv2d,
    }

    /// <summary>
    /// A parameterised layer declared by an attribute. <see cref="Args"/>: Linear (in, out); Conv2d (in, out, kernel, stride, padding).
    /// <see cref="ArgSites"/> gives a source site per argument, so an error lands on the offending number.
    /// </summary>
    public sealed record LayerDecl(
        string Property,
        LayerKind Kind,
        string StateName,
        EquatableArray<int> Args,
        bool Bias,
        int Site,
        EquatableArray<int> ArgSites)
    {
        public int Arg(int i) => Args[i];

        public int ArgSite(int i) => i < ArgSites.Count ? ArgSites[i] : Site;

        public string Describe() => $"{Kind} '{Property}'";
    }

    /// <summary>
    /// One call in the forward body, e.g. <c>.MaxPool2d(2)</c> or <c>.Apply(Conv1)</c>. Value 0 is the forward's input;
    /// call i produces value i + 1.
    /// </summary>
    public sealed record OpCall(string Op, int Input, string? Layer, EquatableArray<int> IntArgs, int Site);

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
