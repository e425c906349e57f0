// The tests that run ILGPU accelerators form one collection: xunit runs them one class at a time, never two emulated
// accelerators at once.
using Xunit;

namespace GraphCompiler.Tests.Ilgpu;

/// <summary>
/// ILGPU's CPU accelerator runs each kernel on its own worker threads and keeps per-thread state. Under load, CI saw a
/// rare wrong result (a gradient read back as the zeros it was cleared to) while several test classes each drove an
/// accelerator; copies now wait on their own accelerator's stream, and the classes also take turns.
/// </summary>
[CollectionDefinition(Name)]
public sealed class IlgpuCollection
{
    public const string Name = "ilgpu";
}
