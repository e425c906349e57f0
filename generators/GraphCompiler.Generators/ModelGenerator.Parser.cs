// Reads a [Model] class: its layer attributes (as constants) and its forward body (a restricted C# subset), into a ModelSpec.
using System.Collections.Generic;
using System.Linq;
using System.Text;
using System.Threading;
using GraphCompiler.Compiler;
using GraphCompiler.Generators.Models;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Text;

namespace GraphCompiler.Generators
{
    public sealed partial class ModelGenerator
    {
        internal sealed class Parser
        {
            private const string ForwardAttribute = "GraphCompiler.ForwardAttribute";

            private readonly SemanticModel _model;
            private readonly List<LocationInfo> _sites = new List<LocationInfo>();
            private readonly List<DiagnosticInfo> _diagnostics = new List<DiagnosticInfo>();
            private readonly List<OpCall> _calls = new List<OpCall>();
            private readonly Dictionary<string, int> _locals = new Dictionary<string, int>();
            private readonly HashSet<string> _layerNames = new HashSet<string>();
            private string _parameter = "";
            private bool _failed;

            private Parser(SemanticModel model) => _model = model;

            public static ModelSpec Parse(GeneratorAttributeSyntaxContext ctx, CancellationToken ct) =>
                new Parser(ctx.SemanticModel).ParseClass((ClassDeclarationSyntax)ctx.TargetNode, (INamedTypeSymbol)ctx.TargetSymbol, ct);

            private ModelSpec ParseClass(ClassDeclarationSyntax cls, INamedTypeSymbol type, CancellationToken ct)
            {
                string? ns = type.ContainingNamespace.IsGlobalNamespace ? null : type.ContainingNamespace.ToDisplayString();
                string hint = (ns is null ? "" : ns + ".") + type.Name;
                bool isPartial = cls.Modifiers.Any(SyntaxKind.PartialKeyword);
                if (!isPartial)
                    Report(DiagnosticIds.NotPartial,
                        $"Model class '{type.Name}' must be declared partial so the generator can add its layers, Forward and Backward",
                        cls.Identifier.GetLocation());
                if (type.ContainingType is not null)
                {
                    Report(DiagnosticIds.NestedModel, $"Model class '{type.Name}' must be a top-level class, not nested in '{type.ContainingType.Name}'",
                        cls.Identifier.GetLocation());
                    isPartial = false;
                }

                var layers = new List<LayerDecl>();
                var properties = new List<LayerProperty>();
                foreach (IPropertySymbol prop in type.GetMembers().OfType<IPropertySymbol>())
                {
                    ct.ThrowIfCancellationRequested();
                    LayerDecl? layer = ParseLayer(prop, out LayerProperty? property);
                    if (layer is null) continue;
                    layers.Add(layer);
                    if (property is not null) properties.Add(property);
                    _layerNames.Add(prop.Name);
                }

                ModelDecl? decl = null;
                var forwards = type.GetMembers().OfType<IMethodSymbol>()
                    .Where(m => m.GetAttributes().Any(a => a.AttributeClass?.ToDisplayString() == ForwardAttribute))
                    .ToList();
                if (forwards.Count == 0)
                {
                    Report(DiagnosticIds.MissingForward,
                        $"Model '{type.Name}' has no forward method; mark one method with [Forward(Input = \"N,...\")]",
                        cls.Identifier.GetLocation());
                }
                else
                {
                    foreach (IMethodSymbol extra in forwards.Skip(1))
                        Report(DiagnosticIds.SecondForward,
                            $"Model '{type.Name}' already has a forward method '{forwards[0].Name}'; '{extra.Name}' is a second one",
                            extra.Locations[0]);
                    if (forwards.Count == 1) decl = ParseForward(type, forwards[0], layers, ct);
                    // [Model(Fuse = false)] keeps one kernel per op (fused and unfused schedules must compute the same numbers).
                    if (decl is not null && type.GetAttributes().FirstOrDefault(a => a.AttributeClass?.ToDisplayString() == ModelAttribute)
                            ?.NamedArguments.FirstOrDefault(kv => kv.Key == "Fuse").Value.Value is false)
                        decl = decl with { Fuse = false };
                }

                return new ModelSpec(ns, type.Name, hint, isPartial, EquatableArray.From(layers), EquatableArray.From(properties),
                    _failed ? null : decl, EquatableArray.From(_sites), EquatableArray.From(_diagnostics));
            }

            /// <summary>
            /// Reads a layer attribute (any <c>GraphCompiler.XAttribute</c> whose X is in <see cref="OpsTable.Layers"/>): constructor
            /// arguments by their parameter names and properties by name are bound to the op's <see cref="OpDef.LayerParams"/>.
            /// </summary>
            private LayerDecl? ParseLayer(IPropertySymbol prop, out LayerProperty? property)
            {
                property = null;
                foreach (AttributeData attr in prop.GetAttributes())
                {
                    INamedTypeSymbol? cls = attr.AttributeClass;
                    if (cls is null || cls.ContainingNamespace?.ToDisplayString() != "GraphCompiler" || !cls.Name.EndsWith("Attribute")) continue;
                    string kind = cls.Name.Substring(0, cls.Name.Length - "Attribute".Length);
                    if (!OpsTable.Layers.TryGetValue(kind, out OpDef? op)) continue;

                    var syntax = attr.ApplicationSyntaxReference?.GetSyntax() as AttributeSyntax;
                    int site = Site(syntax ?? (SyntaxNode?)prop.DeclaringSyntaxReferences.FirstOrDefault()?.GetSyntax());
                    var args = new List<ArgValue>();
                    IMethodSymbol? ctor = attr.AttributeConstructor;
                    var positional = syntax?.ArgumentList?.Arguments.Where(a => a.NameEquals is null).ToList() ?? new List<AttributeArgumentSyntax>();
                    for (int i = 0; i < attr.ConstructorArguments.Length && ctor is not null; i++)
                    {
                        string name = ctor.Parameters[i].Name;
                        // Source order may differ from parameter order when arguments are written as 'kernel: 5'.
                        AttributeArgumentSyntax? written = positional.FirstOrDefault(a => a.NameColon?.Name.Identifier.Text == name)
                            ?? (i < positional.Count && positional[i].NameColon is null ? positional[i] : null);
                        args.Add(new ArgValue(name, attr.ConstructorArguments[i].Value, written is null ? -1 : Site(written.Expression)));
                    }
                    foreach (KeyValuePair<string, TypedConstant> named in attr.NamedArguments)
                    {
                        if (named.Key == "Name") continue;
                        AttributeArgumentSyntax? written = syntax?.ArgumentList?.Arguments.FirstOrDefault(a => a.NameEquals?.Name.Identifier.Text == named.Key);
                        args.Add(new ArgValue(named.Key, named.Value.Value, written is null ? -1 : Site(written.Expression)));
                    }
                    double[]? values = OpParams.Bind($"[{kind}] on '{prop.Name}'", op.LayerParams, args, out int[] argSites, out string error, out int errorSite);
                    if (values is null)
                    {
                        Report(DiagnosticIds.UnsupportedConstruct, error, errorSite >= 0 ? _sites[errorSite] : _sites[site]);
                        _failed = true;
                        return null;
                    }
                    string stateName = attr.NamedArguments.FirstOrDefault(kv => kv.Key == "Name").Value.Value as string ?? LayerDecl.SnakeCase(prop.Name);

                    string expectedType = "GraphCompiler.Nn." + op.LayerType;
                    var decl = prop.DeclaringSyntaxReferences.FirstOrDefault()?.GetSyntax() as PropertyDeclarationSyntax;
                    bool isPartial = decl is not null && decl.Modifiers.Any(SyntaxKind.PartialKeyword);
                    if (!isPartial || prop.Type.ToDisplayString() != expectedType || !prop.IsReadOnly || prop.IsStatic)
                    {
                        Report(DiagnosticIds.LayerNotPartial,
                            $"Layer '{prop.Name}' must be declared 'public partial {op.LayerType} {prop.Name} {{ get; }}' " +
                            $"(found '{prop.Type.ToDisplayString()}'{(isPartial ? "" : ", not partial")}{(prop.IsReadOnly ? "" : ", with a setter")})",
                            prop.Locations[0]);
                    }
                    else
                    {
                        property = new LayerProperty(prop.Name, decl!.Modifiers.ToString(), op.LayerType);
                    }
                    return new LayerDecl(prop.Name, kind, stateName, new EquatableArray<double>(values), site, new EquatableArray<int>(argSites));
                }
                return null;
            }

            private ModelDecl? ParseForward(INamedTypeSymbol type, IMethodSymbol method, List<LayerDecl> layers, CancellationToken ct)
            {
                AttributeData attr = method.GetAttributes().First(a => a.AttributeClass?.ToDisplayString() == ForwardAttribute);
                var attrSyntax = attr.ApplicationSyntaxReference?.GetSyntax() as AttributeSyntax;
                string inputText = attr.NamedArguments.FirstOrDefault(kv => kv.Key == "Input").Value.Value as string ?? "";
                int inputSite = Site((SyntaxNode?)attrSyntax?.ArgumentList?.Arguments.FirstOrDefault(a => a.NameEquals?.Name.Identifier.Text == "Input")
                    ?? attrSyntax ?? (SyntaxNode?)method.DeclaringSyntaxReferences[0].GetSyntax());
                if (!Shape.TryParse(inputText, out Shape input, out string shapeError))
                {
                    Report(DiagnosticIds.BadInputShape, $"Forward input shape \"{inputText}\" is invalid: {shapeError}", _sites[inputSite]);
                    _failed = true;
                    return null;
                }

                var syntax = method.DeclaringSyntaxReferences[0].GetSyntax(ct) as MethodDeclarationSyntax;
                if (syntax is null || method.Parameters.Length != 1 || method.Parameters[0].Type.ToDisplayString() != "GraphCompiler.Tensor"
                    || method.ReturnType.ToDisplayString() != "GraphCompiler.Tensor")
                {
                    Report(DiagnosticIds.UnsupportedConstruct,
                        $"Forward method '{method.Name}' must take one Tensor and return a Tensor",
                        method.Locations[0]);
                    _failed = true;
                    return null;
                }
                _parameter = method.Parameters[0].Name;

                int output = -1;
                if (syntax.ExpressionBody is { } arrow)
                {
                    output = ParseExpression(arrow.Expression);
                }
                else if (syntax.Body is { } body)
                {
                    foreach (StatementSyntax statement in body.Statements)
                    {
                        if (_failed) break;
                        if (output >= 0)
                        {
                            Unsupported(statement, "statements after the return");
                            break;
                        }
                        switch (statement)
                        {
                            case LocalDeclarationStatementSyntax local when local.Declaration.Variables.Count == 1
                                && local.Declaration.Variables[0].Initializer is { } init:
                                _locals[local.Declaration.Variables[0].Identifier.Text] = ParseExpression(init.Value);
                                break;
                            case ReturnStatementSyntax ret when ret.Expression is not null:
                                output = ParseExpression(ret.Expression);
                                break;
                            default:
                                Unsupported(statement, "this statement");
                                break;
                        }
                    }
                    if (output < 0 && !_failed)
                        Unsupported(syntax.Body, "a forward body without a final 'return'");
                }
                if (_failed || output < 0) return null;
                return new ModelDecl(type.Name, input, inputSite, EquatableArray.From(layers), EquatableArray.From(_calls), output);
            }

            /// <summary>Reads one expression of the forward body and returns the value it produces.</summary>
            private int ParseExpression(ExpressionSyntax expr)
            {
                if (_failed) return -1;
                switch (expr)
                {
                    case ParenthesizedExpressionSyntax paren:
                        return ParseExpression(paren.Expression);
                    case IdentifierNameSyntax id when id.Identifier.Text == _parameter:
                        return 0;
                    case IdentifierNameSyntax id when _locals.TryGetValue(id.Identifier.Text, out int local):
                        return local;
                    case InvocationExpressionSyntax { Expression: MemberAccessExpressionSyntax member } call:
                        return ParseCall(call, member);
                    default:
                        Unsupported(expr, "this expression");
                        return -1;
                }
            }

            private int ParseCall(InvocationExpressionSyntax call, MemberAccessExpressionSyntax member)
            {
                int receiver = ParseExpression(member.Expression);
                if (_failed) return -1;
                string op = member.Name.Identifier.Text;
                int site = Site(LocationInfo.FromSpan(call.SyntaxTree, TextSpan.FromBounds(member.Name.SpanStart, call.Span.End)));
                string? layer = null;
                double[] values = new double[0];
                if (op == "Apply")
                {
                    ExpressionSyntax? arg = call.ArgumentList.Arguments.Count == 1 ? call.ArgumentList.Arguments[0].Expression : null;
                    layer = arg switch
                    {
                        IdentifierNameSyntax id => id.Identifier.Text,
                        MemberAccessExpressionSyntax { Expression: ThisExpressionSyntax, Name: var n } => n.Identifier.Text,
                        _ => null,
                    };
                    if (layer is null || !_layerNames.Contains(layer))
                    {
                        Report(DiagnosticIds.UnknownLayer,
                            $"Apply takes a layer property of this model declared with [Linear] or [Conv2d]; '{arg?.ToString() ?? call.ArgumentList.ToString()}' is not one",
                            (SyntaxNode?)arg ?? call.ArgumentList);
                        _failed = true;
                        return -1;
                    }
                }
                else if (OpsTable.Functional.ContainsKey(op))
                {
                    var target = _model.GetSymbolInfo(call).Symbol as IMethodSymbol;
                    if (target is null)
                    {
                        Unsupported(call, $"this call of '{op}' (it does not resolve to GraphCompiler's Tensor.{op})");
                        return -1;
                    }
                    var args = new List<ArgValue>();
                    foreach (ArgumentSyntax a in call.ArgumentList.Arguments)
                    {
                        Optional<object?> constant = _model.GetConstantValue(a.Expression);
                        if (!constant.HasValue)
                        {
                            Unsupported(a.Expression, $"a non-constant argument of '{op}' (shapes are fixed at build time, so use a constant)");
                            return -1;
                        }
                        args.Add(new ArgValue(a.NameColon?.Name.Identifier.Text, constant.Value, Site(a.Expression)));
                    }
                    double[]? bound = OpParams.Bind(op, OpsTable.Functional[op].Params, args, out _, out string error, out int errorSite);
                    if (bound is null)
                    {
                        Report(DiagnosticIds.UnsupportedConstruct, error, errorSite >= 0 ? _sites[errorSite] : _sites[site]);
                        _failed = true;
                        return -1;
                    }
                    values = bound;
                }
                else
                {
                    Unsupported(member.Name, $"a call of '{op}'");
                    return -1;
                }
                _calls.Add(new OpCall(op, receiver, layer, new EquatableArray<double>(values), site));
                return _calls.Count;
            }

            private void Unsupported(SyntaxNode node, string what)
            {
                string text = node.ToString();
                if (text.Length > 60) text = text.Substring(0, 57) + "...";
                Report(DiagnosticIds.UnsupportedConstruct,
                    $"The forward body does not support {what}: '{text}'. It may use the input, locals, 'return', and calls of " +
                    $"Apply(layer), {string.Join("(), ", OpsTable.Functional.Keys)}() with constant arguments",
                    node);
                _failed = true;
            }

            private int Site(SyntaxNode? node) => node is null ? -1 : Site(LocationInfo.From(node));

            private int Site(LocationInfo location)
            {
                _sites.Add(location);
                return _sites.Count - 1;
            }

            private void Report(string id, string message, SyntaxNode node) => Report(id, message, node.GetLocation());

            private void Report(string id, string message, Location location) => Report(id, message, LocationInfo.From(location));

            private void Report(string id, string message, LocationInfo location) =>
                _diagnostics.Add(new DiagnosticInfo(id, message, location, null));
        }
    }
}
