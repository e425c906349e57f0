// A value-equal stand-in for a Roslyn Location, so generator models hold no syntax or symbols and cache well.
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace GraphCompiler.Generators.Models
{
    internal sealed record LocationInfo(string FilePath, TextSpan Span, LinePositionSpan LineSpan)
    {
        public Location ToLocation() => Location.Create(FilePath, Span, LineSpan);

        public static LocationInfo From(SyntaxNode node) => From(node.GetLocation());

        public static LocationInfo From(Location location) =>
            new LocationInfo(location.SourceTree?.FilePath ?? "", location.SourceSpan, location.GetLineSpan().Span);

        public static LocationInfo FromSpan(SyntaxTree tree, TextSpan span) =>
            From(Location.Create(tree, span));
    }
}
