// The incremental pipeline only: find [Model] classes, parse them, compile through the core, emit code and diagnostics.
using System.Linq;
using GraphCompiler.Compiler;
using GraphCompiler.Generators.Diagnostics;
using GraphCompiler.Generators.Models;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace GraphCompiler.Generators
{
    [Generator(LanguageNames.CSharp)]
    public sealed partial class ModelGenerator : IIncrementalGenerator
    {
        public const string ModelAttribute = "GraphCompiler.ModelAttribute";

        /// <summary>Tracking names, asserted by the incremental caching tests.</summary>
        public static class Steps
        {
            public const string Parse = nameof(Parse);
            public const string Compile = nameof(Compile);
        }

        public void Initialize(IncrementalGeneratorInitializationContext context)
        {
            IncrementalValuesProvider<ModelSpec> specs = context.SyntaxProvider
                .ForAttributeWithMetadataName(ModelAttribute,
                    predicate: static (node, _) => node is ClassDeclarationSyntax,
                    transform: static (ctx, ct) => Parser.Parse(ctx, ct))
                .WithTrackingName(Steps.Parse);

            IncrementalValuesProvider<CompiledModel> compiled = specs
                .Select(static (spec, _) => Compile(spec))
                .WithTrackingName(Steps.Compile);

            context.RegisterSourceOutput(compiled, static (spc, model) =>
            {
                foreach (DiagnosticInfo d in model.Diagnostics) spc.ReportDiagnostic(Descriptors.Create(d));
                if (model.Spec.IsPartial)
                    spc.AddSource(model.Spec.HintName + ".g.cs", Emitter.Emit(model));
            });
        }

        internal static CompiledModel Compile(ModelSpec spec)
        {
            if (spec.Decl is null) return new CompiledModel(spec, null, spec.Diagnostics);
            CompileResult result = ModelCompiler.Compile(spec.Decl);
            LocationInfo? At(int site) => site >= 0 && site < spec.Sites.Count ? spec.Sites[site] : null;
            var diagnostics = spec.Diagnostics.Concat(result.Diagnostics.Select(d =>
                new DiagnosticInfo(d.Id, d.Message, At(d.Site), At(d.SecondarySite))));
            return new CompiledModel(spec, result.Schedule, EquatableArray.From(diagnostics));
        }
    }
}
