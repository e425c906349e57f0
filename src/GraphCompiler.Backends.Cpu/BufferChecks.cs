// Argument checks shared by the CPU kernels: a too-short buffer fails with its name and the length the shape needs.
namespace GraphCompiler.Backends.Cpu;

internal static class BufferChecks
{
    public static void CheckLength<T>(ReadOnlySpan<T> span, long expected, string name)
    {
        if (span.Length < expected)
            throw new ArgumentException($"Buffer '{name}' has {span.Length} elements but the shape needs {expected}.", name);
    }

    public static void CheckLength<T>(Span<T> span, long expected, string name) => CheckLength((ReadOnlySpan<T>)span, expected, name);
}
