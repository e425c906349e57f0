// The parsed model: value-equal records the pipeline passes between steps (no ISymbol, SyntaxNode or Location inside).
using GraphCompiler.Compiler;

namespace GraphCompiler.Generators.Models
{
    /// <summary>A diagnostic found while parsing or compiling, with its primary and optional secondary location.</summary>
    internal sealed record DiagnosticInfo(string Id, string Message, LocationInfo? Location, LocationInfo? Additional);

    /// <summary>A layer property as declared, so the generated part can repeat its modifiers exactly.</summary>
    internal sealed record LayerProperty(string Name, string Modifiers, string Type);

    /// <summary>
    /// Everything the generator knows of one [Model] class. <see cref="Decl"/> is null when the forward body could not
    /// be read (the layers are still known); <see cref="Sites"/> maps the core's site numbers to locations.
    /// </summary>
    internal sealed record ModelSpec(
        string? Namespace,
        string ClassName,
        string HintName,
        bool IsPartial,
        EquatableArray<LayerDecl> Layers,
        EquatableArray<LayerProperty> Properties,
        ModelDecl? Decl,
        EquatableArray<LocationInfo> Sites,
        EquatableArray<DiagnosticInfo> Diagnostics);

    /// <summary>The compiled model: the spec, the core's schedule (null on error) and every diagnostic.</summary>
    internal sealed record CompiledModel(ModelSpec Spec, Schedule? Schedule, EquatableArray<DiagnosticInfo> Diagnostics);
}
