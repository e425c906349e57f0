// The generator's diagnostic catalog: one error descriptor per id of the core's catalog (DiagnosticIds).
using System.Collections.Generic;
using System.Linq;
using GraphCompiler.Compiler;
using Microsoft.CodeAnalysis;

namespace GraphCompiler.Generators.Diagnostics
{
    internal static class Descriptors
    {
        public static readonly DiagnosticDescriptor LinearFeatures = Make(DiagnosticIds.LinearFeatures, "GraphCompiler.Shapes");

        public static readonly DiagnosticDescriptor ConvChannels = Make(DiagnosticIds.ConvChannels, "GraphCompiler.Shapes");
        public static readonly DiagnosticDescriptor NormFeatures = Make(DiagnosticIds.NormFeatures, "GraphCompiler.Shapes");
        public static readonly DiagnosticDescriptor LayerNormShape = Make(DiagnosticIds.LayerNormShape, "GraphCompiler.Shapes");

        public static readonly DiagnosticDescriptor KernelTooLarge = Make(DiagnosticIds.KernelTooLarge, "GraphCompiler.Shapes");

        public static readonly DiagnosticDescriptor RankMismatch = Make(DiagnosticIds.RankMismatch, "GraphCompiler.Shapes");

        public static readonly DiagnosticDescriptor DimOutOfRange = Make(DiagnosticIds.DimOutOfRange, "GraphCompiler.Shapes");

        public static readonly DiagnosticDescriptor NonPositiveArgument = Make(DiagnosticIds.NonPositiveArgument, "GraphCompiler.Shapes");

        public static readonly DiagnosticDescriptor BroadcastMismatch = Make(DiagnosticIds.BroadcastMismatch, "GraphCompiler.Shapes");

        public static readonly DiagnosticDescriptor CatMismatch = Make(DiagnosticIds.CatMismatch, "GraphCompiler.Shapes");

        public static readonly DiagnosticDescriptor ReshapeCount = Make(DiagnosticIds.ReshapeCount, "GraphCompiler.Shapes");

        public static readonly DiagnosticDescriptor ConvGroups = Make(DiagnosticIds.ConvGroups, "GraphCompiler.Shapes");

        public static readonly DiagnosticDescriptor PoolPadding = Make(DiagnosticIds.PoolPadding, "GraphCompiler.Shapes");

        public static readonly DiagnosticDescriptor SamePaddingStride = Make(DiagnosticIds.SamePaddingStride, "GraphCompiler.Shapes");

        public static readonly DiagnosticDescriptor UnsupportedConstruct = Make(DiagnosticIds.UnsupportedConstruct, "GraphCompiler.Usage");

        public static readonly DiagnosticDescriptor NotPartial = Make(DiagnosticIds.NotPartial, "GraphCompiler.Usage");

        public static readonly DiagnosticDescriptor MissingForward = Make(DiagnosticIds.MissingForward, "GraphCompiler.Usage");

        public static readonly DiagnosticDescriptor SecondForward = Make(DiagnosticIds.SecondForward, "GraphCompiler.Usage");

        public static readonly DiagnosticDescriptor UnknownLayer = Make(DiagnosticIds.UnknownLayer, "GraphCompiler.Usage");

        public static readonly DiagnosticDescriptor BadInputShape = Make(DiagnosticIds.BadInputShape, "GraphCompiler.Usage");

        public static readonly DiagnosticDescriptor LayerNotPartial = Make(DiagnosticIds.LayerNotPartial, "GraphCompiler.Usage");

        public static readonly DiagnosticDescriptor ValueReuse = Make(DiagnosticIds.ValueReuse, "GraphCompiler.Usage");

        public static readonly DiagnosticDescriptor NestedModel = Make(DiagnosticIds.NestedModel, "GraphCompiler.Usage");

        public static readonly DiagnosticDescriptor DuplicateStateName = Make(DiagnosticIds.DuplicateStateName, "GraphCompiler.Usage");

        public static readonly DiagnosticDescriptor PyTorchArgumentName = Make(DiagnosticIds.PyTorchArgumentName, "GraphCompiler.Usage");

        public static readonly DiagnosticDescriptor UnknownOp = Make(DiagnosticIds.UnknownOp, "GraphCompiler.Usage");

        private static readonly Dictionary<string, DiagnosticDescriptor> ById =
            new[] { LinearFeatures, ConvChannels, NormFeatures, LayerNormShape, KernelTooLarge, RankMismatch, DimOutOfRange, NonPositiveArgument, BroadcastMismatch, CatMismatch, ReshapeCount, ConvGroups, PoolPadding, SamePaddingStride, UnsupportedConstruct, NotPartial, MissingForward, SecondForward, UnknownLayer, BadInputShape, LayerNotPartial, ValueReuse, NestedModel, DuplicateStateName, PyTorchArgumentName, UnknownOp }.ToDictionary(d => d.Id);

        // Message text comes whole from the core, which names the layer, what it expected, what it got and how.
        private static DiagnosticDescriptor Make(string id, string category) =>
            new DiagnosticDescriptor(id, DiagnosticIds.Title(id), "{0}", category, DiagnosticSeverity.Error, isEnabledByDefault: true);

        public static DiagnosticDescriptor For(string id) => ById[id];

        public static Diagnostic Create(Models.DiagnosticInfo info) =>
            Diagnostic.Create(For(info.Id), info.Location?.ToLocation() ?? Location.None,
                info.Additional is null ? null : new[] { info.Additional.ToLocation() }, info.Message);
    }
}
