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
            // The forward body is interpreted: tensor locals (the parameter too) hold values, integer locals and loop variables
            // hold constants, layer locals (foreach variables) name a layer; loops are unrolled and constant ifs decided.
            private readonly Dictionary<string, int> _locals = new Dictionary<string, int>();
            private readonly Dictionary<string, long> _ints = new Dictionary<string, long>();
            private readonly Dictionary<string, string> _layerLocals = new Dictionary<string, string>();
            private readonly HashSet<string> _layerNames = new HashSet<string>();
            private readonly Dictionary<string, int> _arrays = new Dictionary<string, int>();
            private int _output = -1;
            private int _statements;
            private bool _failed;

            /// <summary>Statements run once loops are unrolled; beyond this the body is not a network a user means.</summary>
            private const int MaxStatements = 100_000;

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
                var stateNames = new Dictionary<string, (string Layer, LocationInfo At)>();
                foreach (IPropertySymbol prop in type.GetMembers().OfType<IPropertySymbol>())
                {
                    ct.ThrowIfCancellationRequested();
                    List<LayerDecl>? declared = ParseLayer(prop, out LayerProperty? property, out LocationInfo? nameAt);
                    if (property is not null) properties.Add(property);
                    if (declared is null) continue;
                    foreach (LayerDecl layer in declared)
                    {
                        if (stateNames.TryGetValue(layer.StateName, out var first))
                        {
                            // Parameters are found by their state_dict names (checkpoints, optimizers, summaries): two layers
                            // under one name would load and save each other's tensors.
                            _diagnostics.Add(new DiagnosticInfo(DiagnosticIds.DuplicateStateName,
                                $"Layers '{first.Layer}' and '{layer.Property}' have the same state_dict name '{layer.StateName}'; " +
                                "give one of them another Name (state_dict keys must be unique)",
                                nameAt, first.At));
                            break;
                        }
                        stateNames[layer.StateName] = (layer.Property, nameAt!);
                    }
                    layers.AddRange(declared);
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
            /// A property of array type with <c>Count = n</c> is a layer array (PyTorch's <c>ModuleList</c>): n layers named
            /// <c>Blocks[0]</c> … in the forward body and <c>blocks.0</c> … in the state_dict. <paramref name="property"/> is set
            /// whenever the declaration is well formed, even if the arguments are not, so the generated part still implements it.
            /// </summary>
            private List<LayerDecl>? ParseLayer(IPropertySymbol prop, out LayerProperty? property, out LocationInfo? nameAt)
            {
                property = null;
                nameAt = null;
                foreach (AttributeData attr in prop.GetAttributes())
                {
                    INamedTypeSymbol? cls = attr.AttributeClass;
                    if (cls is null || cls.ContainingNamespace?.ToDisplayString() != "GraphCompiler" || !cls.Name.EndsWith("Attribute")) continue;
                    string kind = cls.Name.Substring(0, cls.Name.Length - "Attribute".Length);
                    if (!OpsTable.Layers.TryGetValue(kind, out OpDef? op)) continue;

                    var syntax = attr.ApplicationSyntaxReference?.GetSyntax() as AttributeSyntax;
                    int site = Site(syntax ?? (SyntaxNode?)prop.DeclaringSyntaxReferences.FirstOrDefault()?.GetSyntax());
                    int? count = attr.NamedArguments.FirstOrDefault(kv => kv.Key == "Count").Value.Value as int?;
                    string expectedType = "GraphCompiler.Nn." + op.LayerType;
                    bool isArray = prop.Type is IArrayTypeSymbol { Rank: 1 } array && array.ElementType.ToDisplayString() == expectedType;
                    var decl = prop.DeclaringSyntaxReferences.FirstOrDefault()?.GetSyntax() as PropertyDeclarationSyntax;
                    bool isPartial = decl is not null && decl.Modifiers.Any(SyntaxKind.PartialKeyword);
                    bool implementable = isPartial && prop.IsReadOnly && !prop.IsStatic && (isArray || prop.Type.ToDisplayString() == expectedType);
                    bool wellFormed = implementable && isArray == (count is not null);
                    // Implemented even when the attribute is wrong, so that C# adds no 'partial property has no implementation' error.
                    if (implementable)
                        property = new LayerProperty(prop.Name, decl!.Modifiers.ToString(), op.LayerType + (isArray ? "[]" : ""));
                    if (isArray) _arrays[prop.Name] = count ?? 0;
                    else _layerNames.Add(prop.Name);
                    AttributeArgumentSyntax? nameArg = syntax?.ArgumentList?.Arguments.FirstOrDefault(a => a.NameEquals?.Name.Identifier.Text == "Name");
                    nameAt = _sites[site];
                    if (nameArg is not null) nameAt = LocationInfo.From(nameArg.Expression);

                    IMethodSymbol? ctor = attr.AttributeConstructor;
                    // 'padding = 2' is not a property either (C# reports it); the layer would be read without it, and a shape
                    // error it causes further down would send the user looking in the wrong place.
                    bool unboundProperty = syntax?.ArgumentList?.Arguments.Any(a => a.NameEquals is { } n
                        && !attr.NamedArguments.Any(kv => kv.Key == n.Name.Identifier.Text)) == true;
                    if (ctor is null || unboundProperty)
                    {
                        // C# reports why the attribute does not bind (CS1739, CS7036 …); a GC error that some argument is
                        // missing would only repeat it. What C# cannot say is which property a PyTorch keyword meant.
                        SuggestProperty(kind, prop.Name, cls, syntax);
                        _failed = true;
                        return null;
                    }
                    var args = new List<ArgValue>();
                    var positional = syntax?.ArgumentList?.Arguments.Where(a => a.NameEquals is null).ToList() ?? new List<AttributeArgumentSyntax>();
                    for (int i = 0; i < attr.ConstructorArguments.Length; i++)
                    {
                        string name = ctor.Parameters[i].Name;
                        // Source order may differ from parameter order when arguments are written as 'kernel: 5'.
                        AttributeArgumentSyntax? written = positional.FirstOrDefault(a => a.NameColon?.Name.Identifier.Text == name)
                            ?? (i < positional.Count && positional[i].NameColon is null ? positional[i] : null);
                        args.Add(new ArgValue(name, attr.ConstructorArguments[i].Value, written is null ? -1 : Site(written.Expression)));
                    }
                    foreach (KeyValuePair<string, TypedConstant> named in attr.NamedArguments)
                    {
                        if (named.Key == "Name" || named.Key == "Count") continue;
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

                    if (count is < 1)
                    {
                        AttributeArgumentSyntax? countArg = syntax?.ArgumentList?.Arguments.FirstOrDefault(a => a.NameEquals?.Name.Identifier.Text == "Count");
                        Report(DiagnosticIds.NonPositiveArgument,
                            $"Layer array '{prop.Name}' needs Count ≥ 1 (the number of {op.LayerType} layers it holds) but is declared with Count = {count}",
                            countArg is null ? _sites[site] : LocationInfo.From(countArg.Expression));
                        _failed = true;
                        return null;
                    }
                    if (!wellFormed)
                    {
                        string expected = $"public partial {op.LayerType}{(isArray || count is not null ? "[]" : "")} {prop.Name} {{ get; }}";
                        string message = isArray && count is null
                            ? $"Layer array '{prop.Name}' needs Count = n on its attribute: the number of {op.LayerType} layers it holds, as in [{kind}(…, Count = 3)]"
                            : $"Layer '{prop.Name}' must be declared '{expected}'{(count is null ? "" : $" since its attribute has Count = {count}")} " +
                              $"(found '{prop.Type.ToDisplayString()}'{(isPartial ? "" : ", not partial")}{(prop.IsReadOnly ? "" : ", with a setter")})";
                        Report(DiagnosticIds.LayerNotPartial, message, prop.Locations[0]);
                        if (count is not null || isArray)
                        {
                            _failed = true;
                            return null;
                        }
                    }

                    string stateName = attr.NamedArguments.FirstOrDefault(kv => kv.Key == "Name").Value.Value as string ?? LayerDecl.SnakeCase(prop.Name);
                    var layer = new LayerDecl(prop.Name, kind, stateName, new EquatableArray<double>(values), site, new EquatableArray<int>(argSites));
                    if (count is null) return new List<LayerDecl> { layer };
                    // PyTorch's ModuleList: element i of 'blocks' is 'blocks.i'; a Name such as "layer1.{i}.conv1" places the index.
                    return Enumerable.Range(0, count.Value).Select(i => layer with
                    {
                        Property = $"{prop.Name}[{i}]",
                        StateName = stateName.Contains("{i}") ? stateName.Replace("{i}", i.ToString(System.Globalization.CultureInfo.InvariantCulture)) : $"{stateName}.{i}",
                    }).ToList();
                }
                return null;
            }

            /// <summary>
            /// For an attribute C# could not bind: when an argument is written as a constructor argument by a name the
            /// constructor does not have but a property of the attribute does (PyTorch's <c>padding=2</c> as <c>padding: 2</c>),
            /// one error saying which property to set; nothing otherwise, since C#'s own error already says what is wrong.
            /// </summary>
            private void SuggestProperty(string kind, string layer, INamedTypeSymbol attribute, AttributeSyntax? syntax)
            {
                if (syntax?.ArgumentList is null) return;
                var ctorParams = new HashSet<string>(attribute.InstanceConstructors.SelectMany(c => c.Parameters).Select(p => p.Name));
                var settable = new List<IPropertySymbol>();
                for (INamedTypeSymbol? t = attribute; t is not null; t = t.BaseType)
                    settable.AddRange(t.GetMembers().OfType<IPropertySymbol>().Where(p => p.SetMethod is not null && !p.IsStatic));
                foreach (AttributeArgumentSyntax arg in syntax.ArgumentList.Arguments)
                {
                    string? written = arg.NameColon?.Name.Identifier.Text ?? arg.NameEquals?.Name.Identifier.Text;
                    if (written is null || (arg.NameColon is not null && ctorParams.Contains(written))
                        || (arg.NameEquals is not null && settable.Any(p => p.Name == written))) continue;
                    string plain = written.Replace("_", "");
                    IPropertySymbol? match = settable.FirstOrDefault(p => string.Equals(p.Name, plain, System.StringComparison.OrdinalIgnoreCase));
                    string? ctorMatch = ctorParams.FirstOrDefault(p => string.Equals(p, plain, System.StringComparison.OrdinalIgnoreCase));
                    string? fix = match is not null ? $"{match.Name} = {arg.Expression}" : ctorMatch is not null ? $"{ctorMatch}: {arg.Expression}" : null;
                    if (fix is null) continue;
                    Report(DiagnosticIds.PyTorchArgumentName,
                        $"[{kind}] on '{layer}' has no {(arg.NameColon is not null ? "constructor parameter" : "property")} '{written}'; write '{fix}'" +
                        (match is not null && arg.NameColon is not null
                            ? $" ({match.Name} is a property of the attribute: PyTorch's keyword arguments after the constructor's " +
                              $"({string.Join(", ", attribute.InstanceConstructors.OrderByDescending(c => c.Parameters.Length).First().Parameters.Select(p => p.Name))}) are set as properties)"
                            : ""),
                        arg);
                    return;
                }
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
                _locals[method.Parameters[0].Name] = 0;

                if (syntax.ExpressionBody is { } arrow)
                {
                    _output = ParseExpression(arrow.Expression);
                }
                else if (syntax.Body is { } body)
                {
                    Execute(body);
                    if (_output < 0 && !_failed)
                        Unsupported(syntax.Body, "a forward body without a final 'return'");
                }
                if (_failed || _output < 0) return null;
                return new ModelDecl(type.Name, input, inputSite, EquatableArray.From(layers), EquatableArray.From(_calls), _output);
            }

            /// <summary>
            /// Runs one statement of the forward body at build time: locals are bound, a constant 'if' takes its branch, a loop
            /// with constant bounds is unrolled; only the tensor calls it reaches become graph nodes. Stops at the return.
            /// </summary>
            private void Execute(StatementSyntax statement)
            {
                if (_failed || _output >= 0) return;
                if (++_statements > MaxStatements)
                {
                    Unsupported(statement, $"more than {MaxStatements} statements once its loops are unrolled");
                    return;
                }
                switch (statement)
                {
                    case BlockSyntax block:
                        foreach (StatementSyntax s in block.Statements) Execute(s);
                        break;
                    case EmptyStatementSyntax:
                        break;
                    case LocalDeclarationStatementSyntax local:
                        // A 'const' local is a C# constant, which GetConstantValue reads wherever it is used.
                        if (!local.IsConst)
                            foreach (VariableDeclaratorSyntax v in local.Declaration.Variables) Declare(v);
                        break;
                    case ExpressionStatementSyntax expression:
                        Assign(expression.Expression);
                        break;
                    case IfStatementSyntax branch:
                        bool? condition = EvalBool(branch.Condition);
                        if (condition is null)
                            Unsupported(branch.Condition, "an 'if' whose condition is not a compile-time constant (the graph is fixed at build time; use a const field or a loop index)");
                        else if (condition.Value) Execute(branch.Statement);
                        else if (branch.Else is { } otherwise) Execute(otherwise.Statement);
                        break;
                    case ForStatementSyntax loop:
                        For(loop);
                        break;
                    case ForEachStatementSyntax loop:
                        ForEach(loop);
                        break;
                    case ReturnStatementSyntax { Expression: { } value }:
                        _output = ParseExpression(value);
                        break;
                    default:
                        Unsupported(statement, "this statement");
                        break;
                }
            }

            private enum LocalKind
            {
                Other,
                Tensor,
                Int,
                Layer,
            }

            private static LocalKind KindOf(ITypeSymbol? type) =>
                type is null ? LocalKind.Other
                : type.Name == "Tensor" && type.ContainingNamespace?.ToDisplayString() == "GraphCompiler" ? LocalKind.Tensor
                : type.SpecialType is SpecialType.System_Int32 or SpecialType.System_Int64 ? LocalKind.Int
                : type.ContainingNamespace?.ToDisplayString() == "GraphCompiler.Nn" && type.TypeKind == TypeKind.Class ? LocalKind.Layer
                : LocalKind.Other;

            /// <summary><c>var h = x.Relu();</c>, <c>Tensor y;</c>, <c>int width = 64;</c> or <c>var block = Blocks[i];</c>.</summary>
            private void Declare(VariableDeclaratorSyntax variable)
            {
                string name = variable.Identifier.Text;
                ExpressionSyntax? init = variable.Initializer?.Value;
                switch (KindOf((_model.GetDeclaredSymbol(variable) as ILocalSymbol)?.Type))
                {
                    case LocalKind.Tensor:
                        if (init is null) _locals.Remove(name);
                        else Bind(name, ParseExpression(init));
                        break;
                    case LocalKind.Int:
                        if (init is null) _ints.Remove(name);
                        else if (EvalInt(init) is long value) _ints[name] = value;
                        else Unsupported(init, "an integer that is not a compile-time constant (sizes, bounds and indices are fixed at build time)");
                        break;
                    case LocalKind.Layer:
                        if (init is null) _layerLocals.Remove(name);
                        else if (ResolveLayer(init) is { } layer) _layerLocals[name] = layer;
                        break;
                    default:
                        Unsupported(variable, "a local of this type (locals hold tensors, integer constants or layers)");
                        break;
                }
            }

            private void Bind(string local, int value)
            {
                if (!_failed) _locals[local] = value;
            }

            /// <summary>
            /// <c>x = x.Apply(Fc1).Relu();</c>, <c>x += shortcut;</c> (the op Add, as <c>x = x + shortcut</c>), and on integer
            /// locals <c>i++</c>, <c>i += 2</c>, <c>i = …</c>.
            /// </summary>
            private void Assign(ExpressionSyntax expression)
            {
                IdentifierNameSyntax? target = expression switch
                {
                    AssignmentExpressionSyntax { Left: IdentifierNameSyntax t } => t,
                    PostfixUnaryExpressionSyntax { Operand: IdentifierNameSyntax t } => t,
                    PrefixUnaryExpressionSyntax { Operand: IdentifierNameSyntax t } => t,
                    _ => null,
                };
                ISymbol? symbol = target is null ? null : _model.GetSymbolInfo(target).Symbol;
                ITypeSymbol? type = symbol switch { ILocalSymbol l => l.Type, IParameterSymbol p => p.Type, _ => null };
                LocalKind kind = KindOf(type);
                string name = target?.Identifier.Text ?? "";
                switch (expression)
                {
                    case AssignmentExpressionSyntax a when kind == LocalKind.Tensor && a.IsKind(SyntaxKind.SimpleAssignmentExpression):
                        Bind(name, ParseExpression(a.Right));
                        return;
                    case AssignmentExpressionSyntax a when kind == LocalKind.Tensor && _locals.TryGetValue(name, out int left)
                        && (a.IsKind(SyntaxKind.AddAssignmentExpression) || a.IsKind(SyntaxKind.MultiplyAssignmentExpression))
                        && IsTensorMember(a, isStatic: true):
                        int right = ParseExpression(a.Right);
                        if (_failed) return;
                        _calls.Add(new OpCall(a.IsKind(SyntaxKind.AddAssignmentExpression) ? "Add" : "Mul", EquatableArray.Of(left, right), null,
                            EquatableArray<double>.Empty, Site(a)));
                        Bind(name, _calls.Count);
                        return;
                    case AssignmentExpressionSyntax a when kind == LocalKind.Layer && a.IsKind(SyntaxKind.SimpleAssignmentExpression):
                        if (ResolveLayer(a.Right) is { } layer) _layerLocals[name] = layer;
                        return;
                    case AssignmentExpressionSyntax a when kind == LocalKind.Int:
                        long? value = EvalInt(a.Right);
                        long current = _ints.TryGetValue(name, out long c) ? c : 0;
                        long? result = value is not long v ? null
                            : a.Kind() switch
                            {
                                SyntaxKind.SimpleAssignmentExpression => v,
                                SyntaxKind.AddAssignmentExpression => current + v,
                                SyntaxKind.SubtractAssignmentExpression => current - v,
                                SyntaxKind.MultiplyAssignmentExpression => current * v,
                                _ => null,
                            };
                        if (result is null) Unsupported(a, "this assignment of an integer (it must stay a compile-time constant)");
                        else _ints[name] = result.Value;
                        return;
                    case PostfixUnaryExpressionSyntax or PrefixUnaryExpressionSyntax when kind == LocalKind.Int && _ints.ContainsKey(name):
                        _ints[name] += expression.IsKind(SyntaxKind.PostIncrementExpression) || expression.IsKind(SyntaxKind.PreIncrementExpression) ? 1 : -1;
                        return;
                    default:
                        Unsupported(expression, "this statement");
                        return;
                }
            }

            /// <summary><c>for (int i = 0; i &lt; 3; i++)</c> with constant bounds, unrolled.</summary>
            private void For(ForStatementSyntax loop)
            {
                if (loop.Declaration is { } declaration)
                    foreach (VariableDeclaratorSyntax v in declaration.Variables) Declare(v);
                foreach (ExpressionSyntax init in loop.Initializers) Assign(init);
                while (!_failed && _output < 0)
                {
                    bool? go = loop.Condition is null ? null : EvalBool(loop.Condition);
                    if (go is null)
                    {
                        Unsupported((SyntaxNode?)loop.Condition ?? loop, "a 'for' loop without a constant bound (write e.g. 'for (int i = 0; i < 3; i++)' or 'i < Blocks.Length')");
                        return;
                    }
                    if (!go.Value) return;
                    Execute(loop.Statement);
                    foreach (ExpressionSyntax step in loop.Incrementors) Assign(step);
                }
            }

            /// <summary><c>foreach (var block in Blocks) x = x.Apply(block);</c> over a layer array, unrolled.</summary>
            private void ForEach(ForEachStatementSyntax loop)
            {
                if (ArrayName(loop.Expression) is not { } array)
                {
                    Unsupported(loop.Expression, "a 'foreach' over something other than a layer array (declare one as [Linear(64, 64, Count = 3)] public partial Linear[] Blocks { get; })");
                    return;
                }
                string variable = loop.Identifier.Text;
                for (int i = 0; i < _arrays[array] && !_failed && _output < 0; i++)
                {
                    _layerLocals[variable] = $"{array}[{i}]";
                    Execute(loop.Statement);
                }
            }

            /// <summary>The layer array <paramref name="expr"/> names (<c>Blocks</c> or <c>this.Blocks</c>), or null.</summary>
            private string? ArrayName(ExpressionSyntax expr)
            {
                string? name = expr switch
                {
                    IdentifierNameSyntax id => id.Identifier.Text,
                    MemberAccessExpressionSyntax { Expression: ThisExpressionSyntax, Name: var n } => n.Identifier.Text,
                    _ => null,
                };
                return name is not null && _arrays.ContainsKey(name) && !_locals.ContainsKey(name) ? name : null;
            }

            /// <summary>
            /// The layer an argument of <c>Apply</c> (or a layer local) names: a layer property, a layer local, or an element
            /// of a layer array at a constant index (<c>Blocks[i]</c> inside an unrolled loop). Reports and returns null otherwise.
            /// </summary>
            private string? ResolveLayer(ExpressionSyntax arg)
            {
                switch (arg)
                {
                    case IdentifierNameSyntax id when _layerLocals.TryGetValue(id.Identifier.Text, out string? local):
                        return local;
                    case IdentifierNameSyntax id when _layerNames.Contains(id.Identifier.Text):
                        return id.Identifier.Text;
                    case MemberAccessExpressionSyntax { Expression: ThisExpressionSyntax, Name: var n } when _layerNames.Contains(n.Identifier.Text):
                        return n.Identifier.Text;
                    case ElementAccessExpressionSyntax { ArgumentList.Arguments: { Count: 1 } index } element when ArrayName(element.Expression) is { } array:
                        long? i = EvalInt(index[0].Expression);
                        if (i is null)
                        {
                            Unsupported(index[0].Expression, "a layer index that is not a compile-time constant (use a loop index or a constant)");
                            return null;
                        }
                        int count = _arrays[array];
                        if (i < 0 || i >= count)
                        {
                            Fail(DiagnosticIds.UnknownLayer,
                                $"'{arg}' is index {i} of layer array '{array}', which holds {count} layer{(count == 1 ? "" : "s")} (Count = {count}): the index must be from 0 to {count - 1}",
                                arg);
                            return null;
                        }
                        return $"{array}[{i}]";
                    default:
                        Fail(DiagnosticIds.UnknownLayer,
                            $"Apply takes a layer property of this model declared with [Linear] or [Conv2d]; '{arg}' is not one", arg);
                        return null;
                }
            }

            /// <summary>An integer the body fixes at build time: a C# constant, an integer local or loop index, <c>Blocks.Length</c>, or + - * / % of those.</summary>
            private long? EvalInt(ExpressionSyntax expr)
            {
                Optional<object?> constant = _model.GetConstantValue(expr);
                if (constant.HasValue)
                    return constant.Value switch { int i => i, long l => l, short h => h, byte b => b, _ => null };
                switch (expr)
                {
                    case ParenthesizedExpressionSyntax paren:
                        return EvalInt(paren.Expression);
                    case IdentifierNameSyntax id when _ints.TryGetValue(id.Identifier.Text, out long value):
                        return value;
                    case MemberAccessExpressionSyntax { Name.Identifier.Text: "Length" } length when ArrayName(length.Expression) is { } array:
                        return _arrays[array];
                    case PrefixUnaryExpressionSyntax minus when minus.IsKind(SyntaxKind.UnaryMinusExpression):
                        return -EvalInt(minus.Operand);
                    case BinaryExpressionSyntax binary:
                        if (EvalInt(binary.Left) is not long a || EvalInt(binary.Right) is not long b) return null;
                        return binary.Kind() switch
                        {
                            SyntaxKind.AddExpression => a + b,
                            SyntaxKind.SubtractExpression => a - b,
                            SyntaxKind.MultiplyExpression => a * b,
                            SyntaxKind.DivideExpression when b != 0 => a / b,
                            SyntaxKind.ModuloExpression when b != 0 => a % b,
                            _ => null,
                        };
                    default:
                        return null;
                }
            }

            /// <summary>A condition the body fixes at build time: a C# constant, or comparisons, ! &amp;&amp; || of build-time integers.</summary>
            private bool? EvalBool(ExpressionSyntax expr)
            {
                Optional<object?> constant = _model.GetConstantValue(expr);
                if (constant.HasValue) return constant.Value as bool?;
                switch (expr)
                {
                    case ParenthesizedExpressionSyntax paren:
                        return EvalBool(paren.Expression);
                    case PrefixUnaryExpressionSyntax not when not.IsKind(SyntaxKind.LogicalNotExpression):
                        return !EvalBool(not.Operand);
                    case BinaryExpressionSyntax logical when logical.IsKind(SyntaxKind.LogicalAndExpression) || logical.IsKind(SyntaxKind.LogicalOrExpression):
                        if (EvalBool(logical.Left) is not bool p || EvalBool(logical.Right) is not bool q) return null;
                        return logical.IsKind(SyntaxKind.LogicalAndExpression) ? p && q : p || q;
                    case BinaryExpressionSyntax compare:
                        if (EvalInt(compare.Left) is not long a || EvalInt(compare.Right) is not long b) return null;
                        return compare.Kind() switch
                        {
                            SyntaxKind.EqualsExpression => a == b,
                            SyntaxKind.NotEqualsExpression => a != b,
                            SyntaxKind.LessThanExpression => a < b,
                            SyntaxKind.LessThanOrEqualExpression => a <= b,
                            SyntaxKind.GreaterThanExpression => a > b,
                            SyntaxKind.GreaterThanOrEqualExpression => a >= b,
                            _ => null,
                        };
                    default:
                        return null;
                }
            }

            /// <summary>Reads one expression of the forward body and returns the value it produces.</summary>
            private int ParseExpression(ExpressionSyntax expr)
            {
                if (_failed) return -1;
                switch (expr)
                {
                    case ParenthesizedExpressionSyntax paren:
                        return ParseExpression(paren.Expression);
                    case IdentifierNameSyntax id when _locals.TryGetValue(id.Identifier.Text, out int local):
                        return local;
                    case ConditionalExpressionSyntax choice:
                        bool? condition = EvalBool(choice.Condition);
                        if (condition is null)
                        {
                            Unsupported(choice.Condition, "a '?:' whose condition is not a compile-time constant (the graph is fixed at build time)");
                            return -1;
                        }
                        return ParseExpression(condition.Value ? choice.WhenTrue : choice.WhenFalse);
                    case BinaryExpressionSyntax binary when binary.IsKind(SyntaxKind.AddExpression) || binary.IsKind(SyntaxKind.MultiplyExpression):
                        return ParseBinary(binary);
                    case InvocationExpressionSyntax { Expression: MemberAccessExpressionSyntax member } call
                        when member.Name.Identifier.Text == "Cat" && IsTensorMember(call, isStatic: true):
                        return ParseCat(call);
                    case InvocationExpressionSyntax { Expression: MemberAccessExpressionSyntax member } call:
                        return ParseCall(call, member);
                    default:
                        Unsupported(expr, "this expression");
                        return -1;
                }
            }

            /// <summary>Whether <paramref name="node"/> resolves to a member of GraphCompiler's Tensor (static or not, as asked).</summary>
            private bool IsTensorMember(SyntaxNode node, bool isStatic) =>
                _model.GetSymbolInfo(node).Symbol is IMethodSymbol { ContainingType: { } t } m && m.IsStatic == isStatic
                && t.ToDisplayString() == "GraphCompiler.Tensor";

            /// <summary><c>a + b</c> and <c>a * b</c> on tensors: the ops Add and Mul, with the whole expression as their site.</summary>
            private int ParseBinary(BinaryExpressionSyntax binary)
            {
                if (!IsTensorMember(binary, isStatic: true))
                {
                    Unsupported(binary, "this operator (only + and * of two tensors)");
                    return -1;
                }
                int left = ParseExpression(binary.Left);
                int right = ParseExpression(binary.Right);
                if (_failed) return -1;
                string op = binary.IsKind(SyntaxKind.AddExpression) ? "Add" : "Mul";
                _calls.Add(new OpCall(op, EquatableArray.Of(left, right), null, EquatableArray<double>.Empty, Site(binary)));
                return _calls.Count;
            }

            /// <summary>
            /// <c>Tensor.Cat([a, b, …], dim: 1)</c>: the tensors come from a collection expression or an array initializer, the
            /// constant arguments after them bind to the op's parameters.
            /// </summary>
            private int ParseCat(InvocationExpressionSyntax call)
            {
                var member = (MemberAccessExpressionSyntax)call.Expression;
                int site = Site(LocationInfo.FromSpan(call.SyntaxTree, TextSpan.FromBounds(member.Name.SpanStart, call.Span.End)));
                SeparatedSyntaxList<ArgumentSyntax> arguments = call.ArgumentList.Arguments;
                ArgumentSyntax? list = arguments.FirstOrDefault(a => a.NameColon?.Name.Identifier.Text == "tensors")
                    ?? arguments.FirstOrDefault(a => a.NameColon is null);
                IEnumerable<ExpressionSyntax>? elements = list?.Expression switch
                {
                    CollectionExpressionSyntax c when c.Elements.All(e => e is ExpressionElementSyntax) =>
                        c.Elements.Cast<ExpressionElementSyntax>().Select(e => e.Expression),
                    ArrayCreationExpressionSyntax { Initializer: { } init } => init.Expressions,
                    ImplicitArrayCreationExpressionSyntax { Initializer: var init } => init.Expressions,
                    _ => null,
                };
                if (elements is null || !elements.Any())
                {
                    Unsupported((SyntaxNode?)list ?? call, "this argument of Cat (write the tensors as a list, e.g. Tensor.Cat([a, b], dim: 1))");
                    return -1;
                }
                var inputs = new List<int>();
                foreach (ExpressionSyntax e in elements)
                {
                    inputs.Add(ParseExpression(e));
                    if (_failed) return -1;
                }
                double[]? args = BindConstants("Cat", OpsTable.Combining["Cat"], arguments.Where(a => a != list), site);
                if (args is null) return -1;
                _calls.Add(new OpCall("Cat", EquatableArray.From(inputs), null, new EquatableArray<double>(args), site));
                return _calls.Count;
            }

            /// <summary>Binds constant call arguments to an op's parameters; reports and returns null when that fails.</summary>
            private double[]? BindConstants(string op, OpDef def, IEnumerable<ArgumentSyntax> arguments, int site)
            {
                var args = new List<ArgValue>();
                foreach (ArgumentSyntax a in arguments)
                {
                    Optional<object?> constant = _model.GetConstantValue(a.Expression);
                    object? value = constant.HasValue ? constant.Value : EvalInt(a.Expression) is long i ? (object)i : EvalBool(a.Expression);
                    if (value is null)
                    {
                        Unsupported(a.Expression, $"a non-constant argument of '{op}' (shapes are fixed at build time, so use a constant)");
                        return null;
                    }
                    args.Add(new ArgValue(a.NameColon?.Name.Identifier.Text, value, Site(a.Expression)));
                }
                double[]? bound = OpParams.Bind(op, def.Params, args, out _, out string error, out int errorSite);
                if (bound is null)
                {
                    Report(DiagnosticIds.UnsupportedConstruct, error, errorSite >= 0 ? _sites[errorSite] : _sites[site]);
                    _failed = true;
                }
                return bound;
            }

            private int ParseCall(InvocationExpressionSyntax call, MemberAccessExpressionSyntax member)
            {
                int receiver = ParseExpression(member.Expression);
                if (_failed) return -1;
                string op = member.Name.Identifier.Text;
                int site = Site(LocationInfo.FromSpan(call.SyntaxTree, TextSpan.FromBounds(member.Name.SpanStart, call.Span.End)));
                string? layer = null;
                double[] values = new double[0];
                if ((op == "Add" || op == "Mul") && call.ArgumentList.Arguments.Count == 1 && IsTensorMember(call, isStatic: false))
                {
                    int other = ParseExpression(call.ArgumentList.Arguments[0].Expression);
                    if (_failed) return -1;
                    _calls.Add(new OpCall(op, EquatableArray.Of(receiver, other), null, EquatableArray<double>.Empty, site));
                    return _calls.Count;
                }
                if (op == "Apply")
                {
                    if (call.ArgumentList.Arguments.Count != 1)
                    {
                        Unsupported(call.ArgumentList, "this call of Apply (it takes one layer)");
                        return -1;
                    }
                    layer = ResolveLayer(call.ArgumentList.Arguments[0].Expression);
                    if (layer is null) return -1;
                }
                else if (OpsTable.Functional.ContainsKey(op))
                {
                    SymbolInfo resolved = _model.GetSymbolInfo(call);
                    if (resolved.Symbol is not IMethodSymbol)
                    {
                        if (!SuggestParameter(op, call, resolved.CandidateSymbols.OfType<IMethodSymbol>()))
                            Unsupported(call, $"this call of '{op}' (it does not resolve to GraphCompiler's Tensor.{op})");
                        _failed = true;
                        return -1;
                    }
                    double[]? bound = BindConstants(op, OpsTable.Functional[op], call.ArgumentList.Arguments, site);
                    if (bound is null) return -1;
                    values = bound;
                }
                else
                {
                    // C# may also report the method missing (CS1061); this is the error that says what to use instead.
                    Report(DiagnosticIds.UnknownOp,
                        $"'{op}' is not an op of the forward body; the nearest are {string.Join(", ", NearestOps(op).Select(o => o + "()"))}. " +
                        $"All ops: Apply(layer), {string.Join(", ", OpsTable.Functional.Keys.Select(o => o + "()"))}, a + b, a * b, Tensor.Cat([a, b], dim)",
                        member.Name);
                    _failed = true;
                    return -1;
                }
                _calls.Add(new OpCall(op, receiver, layer, new EquatableArray<double>(values), site));
                return _calls.Count;
            }

            /// <summary>
            /// For an op call C# could not bind: when an argument is named the PyTorch way (<c>ceil_mode: true</c>), one error
            /// giving the C# name (<c>ceilMode: true</c>); C# (CS1739) says only that the name does not exist.
            /// </summary>
            private bool SuggestParameter(string op, InvocationExpressionSyntax call, IEnumerable<IMethodSymbol> candidates)
            {
                var names = new HashSet<string>(candidates.SelectMany(m => m.Parameters).Select(p => p.Name));
                foreach (ArgumentSyntax arg in call.ArgumentList.Arguments)
                {
                    string? written = arg.NameColon?.Name.Identifier.Text;
                    if (written is null || names.Contains(written)) continue;
                    string? match = names.FirstOrDefault(n => string.Equals(n, written.Replace("_", ""), System.StringComparison.OrdinalIgnoreCase));
                    if (match is null) continue;
                    Report(DiagnosticIds.PyTorchArgumentName, $"{op} has no parameter '{written}'; write '{match}: {arg.Expression}'", arg);
                    return true;
                }
                return false;
            }

            private void Unsupported(SyntaxNode node, string what)
            {
                string text = node.ToString();
                if (text.Length > 60) text = text.Substring(0, 57) + "...";
                Fail(DiagnosticIds.UnsupportedConstruct,
                    $"The forward body does not support {what}: '{text}'. It may use the input, locals (reassigned freely), 'return', " +
                    "'if' and '?:' on a constant, 'for'/'foreach' with constant bounds, Apply(layer) with a layer or Layers[i], calls of " +
                    $"{string.Join("(), ", OpsTable.Functional.Keys)}() with constant arguments, a + b, a * b and Tensor.Cat([a, b], dim)",
                    node);
            }

            /// <summary>
            /// Reports an error and stops reading the body, unless C# already reports an error inside <paramref name="node"/>
            /// (a missing member, a wrong argument): then that error is the one the user needs, and a second would only repeat it.
            /// </summary>
            private void Fail(string id, string message, SyntaxNode node)
            {
                _failed = true;
                if (_model.GetDiagnostics(node.Span).Any(d => d.Severity == DiagnosticSeverity.Error)) return;
                Report(id, message, node);
            }

            /// <summary>PyTorch names with no op of their own, and the ops nearest to them in meaning.</summary>
            private static readonly Dictionary<string, string[]> Kin = new Dictionary<string, string[]>(System.StringComparer.OrdinalIgnoreCase)
            {
                ["Clamp"] = new[] { "Relu", "Tanh", "Sigmoid" },
                ["Clip"] = new[] { "Relu", "Tanh", "Sigmoid" },
                ["Hardtanh"] = new[] { "Tanh", "Relu", "Sigmoid" },
                ["Relu6"] = new[] { "Relu", "LeakyRelu", "Tanh" },
                ["Elu"] = new[] { "LeakyRelu", "Gelu", "Silu" },
                ["Selu"] = new[] { "LeakyRelu", "Gelu", "Silu" },
                ["Mish"] = new[] { "Silu", "Gelu", "Tanh" },
                ["Swish"] = new[] { "Silu", "Gelu", "Sigmoid" },
                ["Hardswish"] = new[] { "Silu", "Gelu", "Relu" },
                ["Softplus"] = new[] { "Relu", "Sigmoid", "Silu" },
                ["View"] = new[] { "Reshape", "Flatten" },
                ["Squeeze"] = new[] { "Reshape", "Flatten" },
                ["Unsqueeze"] = new[] { "Reshape" },
                ["Mean"] = new[] { "AdaptiveAvgPool2d", "AvgPool2d" },
                ["MaxPool"] = new[] { "MaxPool2d", "AdaptiveAvgPool2d" },
                ["AvgPool"] = new[] { "AvgPool2d", "AdaptiveAvgPool2d" },
            };

            /// <summary>
            /// The ops nearest to <paramref name="op"/>: those nearest in meaning for a PyTorch name without an op of its own,
            /// else the three nearest in spelling (edit distance, ignoring case).
            /// </summary>
            private static IEnumerable<string> NearestOps(string op) =>
                Kin.TryGetValue(op, out string[]? kin) ? kin
                : OpsTable.Functional.Keys
                    .Select((name, i) => (name, i, d: EditDistance(op.ToLowerInvariant(), name.ToLowerInvariant())))
                    .OrderBy(t => t.d).ThenBy(t => t.i).Take(3).Select(t => t.name);

            private static int EditDistance(string a, string b)
            {
                var row = new int[b.Length + 1];
                for (int j = 0; j <= b.Length; j++) row[j] = j;
                for (int i = 1; i <= a.Length; i++)
                {
                    int diagonal = row[0];
                    row[0] = i;
                    for (int j = 1; j <= b.Length; j++)
                    {
                        int above = row[j];
                        row[j] = System.Math.Min(System.Math.Min(row[j] + 1, row[j - 1] + 1), diagonal + (a[i - 1] == b[j - 1] ? 0 : 1));
                        diagonal = above;
                    }
                }
                return row[b.Length];
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
