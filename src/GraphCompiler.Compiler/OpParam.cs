// Declared parameters of ops and layers: the forward body's call arguments and a layer attribute's arguments are bound to
// them by name or position, so a new op or layer declares its parameters once and the parser needs no code for it.
using System;
using System.Collections.Generic;
using System.Globalization;

namespace GraphCompiler.Compiler
{
    public enum ParamKind
    {
        Int,
        Float,
        Bool,
    }

    /// <summary>
    /// One parameter of an op or layer. <see cref="Name"/> is the C# parameter name of the op's <c>Tensor</c> method or of
    /// the layer attribute's constructor (camelCase); attribute properties (PascalCase) match it ignoring case. A
    /// parameter with neither <see cref="Required"/> nor a <see cref="Default"/> is optional and absent (NaN) when not
    /// given, like PyTorch's <c>stride=None</c>.
    /// </summary>
    public sealed record OpParam(string Name, ParamKind Kind, double? Default, bool Required)
    {
        public static OpParam Int(string name) => new OpParam(name, ParamKind.Int, null, true);

        public static OpParam Int(string name, int? @default) => new OpParam(name, ParamKind.Int, @default, false);

        public static OpParam Float(string name) => new OpParam(name, ParamKind.Float, null, true);

        public static OpParam Float(string name, double? @default) => new OpParam(name, ParamKind.Float, @default, false);

        public static OpParam Bool(string name, bool @default) => new OpParam(name, ParamKind.Bool, @default ? 1 : 0, false);

        public bool Matches(string name) => string.Equals(Name, name, StringComparison.OrdinalIgnoreCase);

        /// <summary>The value as a C# literal of the parameter's type.</summary>
        public string Literal(double value) => Kind switch
        {
            ParamKind.Int => ((int)value).ToString(CultureInfo.InvariantCulture),
            ParamKind.Bool => value != 0 ? "true" : "false",
            _ => ((float)value).ToString("R", CultureInfo.InvariantCulture) + "f",
        };
    }

    /// <summary>A constant argument as written in source: by position or by name, with its source site.</summary>
    public readonly struct ArgValue
    {
        public ArgValue(string? name, object? value, int site)
        {
            Name = name;
            Value = value;
            Site = site;
        }

        public string? Name { get; }

        /// <summary>The constant: an int, float, double or bool (anything else is rejected when binding).</summary>
        public object? Value { get; }

        public int Site { get; }
    }

    public static class OpParams
    {
        public static readonly IReadOnlyList<OpParam> None = new OpParam[0];

        /// <summary>Index of the parameter called <paramref name="name"/> (ignoring case), or -1.</summary>
        public static int IndexOf(IReadOnlyList<OpParam> parameters, string name)
        {
            for (int i = 0; i < parameters.Count; i++)
                if (parameters[i].Matches(name)) return i;
            return -1;
        }

        /// <summary>
        /// Binds source arguments to <paramref name="parameters"/>: positional ones in order, named ones by name, defaults
        /// for the rest (NaN for an optional parameter without one). Returns null and sets <paramref name="error"/> (and the
        /// site to report it at, or -1) when an argument is unknown, repeated, of the wrong type, or a required one is missing.
        /// <paramref name="sites"/> receives each parameter's source site (-1 when not written).
        /// </summary>
        public static double[]? Bind(string what, IReadOnlyList<OpParam> parameters, IReadOnlyList<ArgValue> args,
            out int[] sites, out string error, out int errorSite)
        {
            var values = new double[parameters.Count];
            var given = new bool[parameters.Count];
            sites = new int[parameters.Count];
            for (int i = 0; i < sites.Length; i++) sites[i] = -1;
            error = "";
            errorSite = -1;
            int position = 0;
            foreach (ArgValue a in args)
            {
                int index = a.Name is null ? position++ : IndexOf(parameters, a.Name);
                if (index < 0 || index >= parameters.Count)
                {
                    error = a.Name is null
                        ? $"{what} takes at most {parameters.Count} argument{(parameters.Count == 1 ? "" : "s")} ({Names(parameters)})"
                        : $"{what} has no parameter '{a.Name}'; its parameters are {Names(parameters)}";
                    errorSite = a.Site;
                    return null;
                }
                OpParam p = parameters[index];
                if (given[index])
                {
                    error = $"{what} is given '{p.Name}' twice";
                    errorSite = a.Site;
                    return null;
                }
                double? v = Convert(p, a.Value);
                if (v is null)
                {
                    error = $"{what} expects {Describe(p.Kind)} for '{p.Name}' but is given {Show(a.Value)}";
                    errorSite = a.Site;
                    return null;
                }
                values[index] = v.Value;
                given[index] = true;
                sites[index] = a.Site;
            }
            for (int i = 0; i < parameters.Count; i++)
            {
                if (given[i]) continue;
                OpParam p = parameters[i];
                if (p.Required)
                {
                    error = $"{what} needs a value for '{p.Name}'";
                    return null;
                }
                values[i] = p.Default ?? double.NaN;
            }
            return values;
        }

        /// <summary>
        /// <see cref="Bind"/> for arguments given by name as numbers (tests and tools that build models without source): each
        /// value is passed as the parameter's type (int, bool as nonzero, or a number). Throws on an error.
        /// </summary>
        public static double[] BindNamed(string what, IReadOnlyList<OpParam> parameters, (string Name, double Value)[] args, out int[] sites)
        {
            var values = new ArgValue[args.Length];
            for (int i = 0; i < args.Length; i++)
            {
                int index = IndexOf(parameters, args[i].Name);
                ParamKind kind = index >= 0 ? parameters[index].Kind : ParamKind.Float;
                object value = kind == ParamKind.Int ? (int)args[i].Value : kind == ParamKind.Bool ? args[i].Value != 0 : (object)args[i].Value;
                values[i] = new ArgValue(args[i].Name, value, -1);
            }
            return Bind(what, parameters, values, out sites, out string error, out _) ?? throw new ArgumentException(error, nameof(args));
        }

        private static double? Convert(OpParam p, object? value) => p.Kind switch
        {
            ParamKind.Int => value is int i ? i : value is long l && l >= int.MinValue && l <= int.MaxValue ? l : (double?)null,
            ParamKind.Bool => value is bool b ? (b ? 1 : 0) : (double?)null,
            _ => value switch
            {
                int i => i,
                long l => l,
                float f => f,
                double d => d,
                _ => (double?)null,
            },
        };

        private static string Describe(ParamKind kind) => kind switch
        {
            ParamKind.Int => "an integer constant",
            ParamKind.Bool => "true or false",
            _ => "a number",
        };

        private static string Show(object? value) => value switch
        {
            null => "a non-constant value",
            string s => $"\"{s}\"",
            bool b => b ? "true" : "false",
            IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
            _ => value.ToString() ?? "",
        };

        private static string Names(IReadOnlyList<OpParam> parameters) =>
            parameters.Count == 0 ? "none" : string.Join(", ", Select(parameters));

        private static IEnumerable<string> Select(IReadOnlyList<OpParam> parameters)
        {
            foreach (OpParam p in parameters) yield return p.Name;
        }
    }
}
