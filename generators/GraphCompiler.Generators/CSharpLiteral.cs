// Prints the compiler core's immutable records as C# expressions, so the generated model carries its schedule as data.
using System;
using System.Collections;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Reflection;
using System.Text;
using GraphCompiler.Compiler;
using Microsoft.CodeAnalysis.CSharp;

namespace GraphCompiler.Generators
{
    /// <summary>
    /// A C# expression that rebuilds a value of the core's records, record structs, enums, <see cref="EquatableArray{T}"/>s and
    /// primitives: <c>new T(positional arguments) { InitProperty = … }</c>, where an init-only property is printed only when it
    /// differs from what the positional constructor leaves in it. Lists at the first <see cref="ListDepth"/> levels print one
    /// item per line. Deterministic: property order is the declaration order reflection reports, the same on every build.
    /// </summary>
    internal static class CSharpLiteral
    {
        /// <summary>The alias the generated file declares for the core's namespace (<c>using GraphCore = global::GraphCompiler.Compiler;</c>).</summary>
        public const string Core = "GraphCore::";
        private const int ListDepth = 2;

        public static string Of(object? value, int indent) => Print(value, 0, indent);

        private static string Print(object? value, int depth, int indent) => value switch
        {
            null => "null",
            string s => SymbolDisplay.FormatLiteral(s, quote: true),
            bool b => b ? "true" : "false",
            int i => i.ToString(CultureInfo.InvariantCulture),
            long l => l.ToString(CultureInfo.InvariantCulture) + "L",
            float f => float.IsNaN(f) ? "float.NaN" : float.IsInfinity(f) ? (f > 0 ? "float.PositiveInfinity" : "float.NegativeInfinity")
                : f.ToString("R", CultureInfo.InvariantCulture) + "f",
            double d => double.IsNaN(d) ? "double.NaN" : double.IsInfinity(d) ? (d > 0 ? "double.PositiveInfinity" : "double.NegativeInfinity")
                : d.ToString("R", CultureInfo.InvariantCulture) + "d",
            Enum e => TypeName(e.GetType()) + "." + e,
            Shape shape => $"new {Core}Shape({string.Join(", ", shape.ToArray())})",
            _ when IsList(value.GetType(), out Type? item) => List((IEnumerable)value, item!, depth, indent),
            _ => Record(value, depth, indent),
        };

        private static bool IsList(Type t, out Type? item)
        {
            item = t.IsGenericType && t.GetGenericTypeDefinition() == typeof(EquatableArray<>) ? t.GetGenericArguments()[0] : null;
            return item is not null;
        }

        private static string List(IEnumerable items, Type item, int depth, int indent)
        {
            var printed = items.Cast<object?>().Select(x => Print(x, depth + 1, indent + 1)).ToList();
            if (printed.Count == 0) return $"{Core}EquatableArray<{TypeName(item)}>.Empty";
            string head = $"{Core}EquatableArray.Of<{TypeName(item)}>(";
            if (depth >= ListDepth) return head + string.Join(", ", printed) + ")";
            string pad = new string(' ', (indent + 1) * 4);
            return head + "\n" + string.Join(",\n", printed.Select(p => pad + p)) + ")";
        }

        private static string Record(object value, int depth, int indent)
        {
            Type t = value.GetType();
            PropertyInfo[] properties = t.GetProperties(BindingFlags.Public | BindingFlags.Instance);
            ConstructorInfo ctor = Positional(t, properties);
            ParameterInfo[] ps = ctor.GetParameters();
            object?[] args = ps.Select(p => Property(properties, p.Name)!.GetValue(value)).ToArray();
            // The outermost record puts each argument on a line of its own.
            string separator = depth == 0 ? ",\n" + new string(' ', (indent + 1) * 4) : ", ";
            string open = depth == 0 ? "\n" + new string(' ', (indent + 1) * 4) : "";
            var sb = new StringBuilder($"new {TypeName(t)}({open}{string.Join(separator, args.Select(a => Print(a, depth + 1, indent + (depth == 0 ? 1 : 0))))})");
            // Init-only properties beyond the constructor: those that differ from the constructed value's.
            object baseline = ctor.Invoke(args);
            var inits = properties
                .Where(p => p.SetMethod is { IsPublic: true } && !ps.Any(q => string.Equals(q.Name, p.Name, StringComparison.OrdinalIgnoreCase)))
                .Where(p => !Equals(p.GetValue(value), p.GetValue(baseline)))
                .Select(p => $"{p.Name} = {Print(p.GetValue(value), depth + 1, indent)}")
                .ToList();
            if (inits.Count > 0) sb.Append(" { ").Append(string.Join(", ", inits)).Append(" }");
            return sb.ToString();
        }

        /// <summary>The constructor whose parameters are all properties (the record's primary one), the longest such.</summary>
        private static ConstructorInfo Positional(Type t, PropertyInfo[] properties) =>
            t.GetConstructors().Where(c => c.GetParameters().Length > 0 && c.GetParameters().All(p => Property(properties, p.Name) is not null))
                .OrderByDescending(c => c.GetParameters().Length).FirstOrDefault()
            ?? throw new InvalidOperationException($"{t.Name} has no positional constructor to print it with");

        private static PropertyInfo? Property(PropertyInfo[] properties, string name) =>
            properties.FirstOrDefault(p => string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase) && p.GetIndexParameters().Length == 0);

        private static string TypeName(Type t)
        {
            if (t == typeof(int)) return "int";
            if (t == typeof(double)) return "double";
            if (t == typeof(float)) return "float";
            if (t == typeof(string)) return "string";
            if (t == typeof(bool)) return "bool";
            string name = t.IsGenericType ? t.Name.Substring(0, t.Name.IndexOf('`')) : t.Name;
            string prefix = t.IsNested ? TypeName(t.DeclaringType!) + "."
                : t.Namespace == typeof(Schedule).Namespace ? Core : "global::" + t.Namespace + ".";
            return prefix + name + (t.IsGenericType ? "<" + string.Join(", ", t.GetGenericArguments().Select(TypeName)) + ">" : "");
        }
    }
}
