// PyTorch's loss reduction. It lives in the core (netstandard2.0, no dependencies) because the runtime's losses and every
// backend's loss kernels take it; its namespace is the runtime's, where users meet it.
namespace GraphCompiler.Nn
{
    /// <summary>PyTorch's <c>reduction</c>: per-element losses, their mean (the default) or their sum.</summary>
    public enum Reduction
    {
        /// <summary>Per-element losses, for inspection; the scalar a kernel returns is their sum (its gradient that of the sum).</summary>
        None,
        Mean,
        Sum,
    }
}
