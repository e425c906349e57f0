// Output sizes of windowed ops (conv and pooling) and the pooling shape rule, written once: PyTorch's formulas.
using System.Collections.Generic;
using System.Globalization;

namespace GraphCompiler.Compiler.Ops
{
    internal static class Windows
    {
        /// <summary>The extent a kernel of <paramref name="kernel"/> taps with <paramref name="dilation"/> covers.</summary>
        public static int Span(int kernel, int dilation) => dilation * (kernel - 1) + 1;

        /// <summary>⌊(in + pads − span) / stride⌋ + 1, or ⌈…⌉ + 1 with ceil mode, minus a last window that would start in the trailing padding.</summary>
        public static int Out(int size, int kernel, int stride, int padBefore, int padAfter, int dilation, bool ceilMode = false) =>
            Pool2dGeometry.OutSize(size, kernel, stride, padBefore, padAfter, dilation, ceilMode);
    }

    /// <summary>The shape rule and geometry shared by MaxPool2d and AvgPool2d (square window, stride defaulting to it).</summary>
    internal static class Pooling
    {
        public static int Kernel(Node node) => node.Int("kernel");

        public static int Stride(Node node) => node.Int("stride", Kernel(node));

        public static int Dilation(Node node) => OpParams.IndexOf(node.Op!.Params, "dilation") >= 0 ? node.Int("dilation") : 1;

        /// <summary><c>MaxPool2d(3, stride: 2, ceilMode: true)</c>: the call as written, arguments at their defaults left out.</summary>
        public static string Describe(Node node)
        {
            var parts = new List<string> { Kernel(node).ToString(CultureInfo.InvariantCulture) };
            IReadOnlyList<OpParam> ps = node.Op!.Params;
            for (int i = 1; i < ps.Count; i++)
            {
                double v = node.Args[i];
                if (double.IsNaN(v) || (ps[i].Default is double d && d == v)) continue;
                parts.Add($"{ps[i].Name}: {(ps[i].Kind == ParamKind.Bool ? (v != 0 ? "true" : "false") : ((int)v).ToString(CultureInfo.InvariantCulture))}");
            }
            return $"{node.Op.Name}({string.Join(", ", parts)})";
        }

        public static Shape? Infer(Node node, List<CoreDiagnostic> errors)
        {
            int k = Kernel(node), s = Stride(node), p = node.Int("padding"), d = Dilation(node);
            bool ceil = node.Bool("ceilMode");
            string what = Describe(node);
            if (k <= 0 || s <= 0 || p < 0 || d <= 0)
            {
                errors.Add(new CoreDiagnostic(DiagnosticIds.NonPositiveArgument,
                    $"{what} needs a positive kernel, stride and dilation and a non-negative padding", node.Site));
                return null;
            }
            int span = Windows.Span(k, d);
            if (2 * p > span)
            {
                errors.Add(new CoreDiagnostic(DiagnosticIds.PoolPadding,
                    $"{what} pads {p} on each side but its window spans only {span}; as in PyTorch, padding may be at most half the window ({span / 2})",
                    node.Site));
                return null;
            }
            Shape x = node.Input!.Shape;
            if (x.Rank != 4)
            {
                errors.Add(new CoreDiagnostic(DiagnosticIds.RankMismatch,
                    $"{what} expects a 4-D input [N,C,H,W] but receives {node.Input.Derivation}", OpDef.RankSite(node, 4)));
                return null;
            }
            int oh = Windows.Out(x[2], k, s, p, p, d, ceil), ow = Windows.Out(x[3], k, s, p, p, d, ceil);
            if (oh <= 0 || ow <= 0)
            {
                string window = d == 1 ? $"a {k}x{k} window" : $"a {k}x{k} window with dilation {d} (spanning {span}x{span})";
                errors.Add(new CoreDiagnostic(DiagnosticIds.KernelTooLarge,
                    $"{what} has {window} but its input is only {x[2]}x{x[3]}{(p > 0 ? $" ({x[2] + 2 * p}x{x[3] + 2 * p} with padding {p})" : "")}; " +
                    $"it receives {node.Input.Derivation}",
                    node.Site));
                return null;
            }
            return new Shape(Shape.Batch, x[1], oh, ow);
        }

        /// <summary>
        /// The node's <c>Pool2dGeometry</c>: the short constructor when only window, stride and padding matter, else every
        /// field (pads per side, dilation, ceil mode, count_include_pad).
        /// </summary>
        public static Geo<Pool2dGeometry> Geometry(Lowering l, Node node, bool countIncludePad)
        {
            Shape x = node.Input!.Shape;
            int k = Kernel(node), s = Stride(node), p = node.Int("padding"), d = Dilation(node);
            bool ceil = node.Bool("ceilMode");
            string comment = $"{x.Comment} → {node.Shape.Comment}, window {k}, stride {s}" + (p != 0 ? $", padding {p}" : "") +
                (d != 1 ? $", dilation {d}" : "") + (ceil ? ", ceil mode" : "") + (!countIncludePad && p != 0 ? ", padding not counted" : "");
            var g = new Pool2dGeometry(x[1], x[2], x[3], k, k, s, s, p, p, p, p, d, d, ceil ? 1 : 0, countIncludePad ? 1 : 0);
            return d == 1 && !ceil && countIncludePad
                ? l.Geometry(node, g, comment, x[1], x[2], x[3], k, k, s, s, p, p)
                : l.Geometry(node, g, comment, x[1], x[2], x[3], k, k, s, s, p, p, p, p, d, d, ceil ? 1 : 0, countIncludePad ? 1 : 0);
        }
    }
}
