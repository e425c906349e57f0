// The static memory plan: buffer lifetimes from the schedule, and offsets in one float arena and one int arena so that
// buffers whose lifetimes do not overlap share memory. Sizes are per sample; a workspace multiplies them by its capacity.
using System.Collections.Generic;
using System.Linq;

namespace GraphCompiler.Compiler
{
    /// <summary>
    /// Where one buffer lives: <see cref="Offset"/> and <see cref="Size"/> are per sample, so in a workspace of capacity C
    /// it spans [Offset·C, (Offset + Size)·C) of its arena. It is live from step <see cref="First"/> to <see cref="Last"/>
    /// (inclusive) of the pass sequence the plan was made for.
    /// </summary>
    public sealed record Placement(string Buffer, bool IsIndex, int Offset, int Size, int First, int Last);

    /// <summary>
    /// A plan for one kind of workspace. <see cref="FloatsPerSample"/> and <see cref="IntsPerSample"/> are the arena sizes;
    /// <see cref="DedicatedPerSample"/> counts the floats of the model's boundary arrays (input, output, loss gradients),
    /// which keep arrays of their own because callers read and write them between passes.
    /// </summary>
    public sealed record MemoryPlan(EquatableArray<Placement> Placements, int FloatsPerSample, int IntsPerSample, int DedicatedPerSample)
    {
        public static readonly MemoryPlan Empty = new MemoryPlan(EquatableArray<Placement>.Empty, 0, 0, 0);

        /// <summary>Bytes of every buffer of the workspace per sample of capacity (floats and ints are 4 bytes).</summary>
        public long BytesPerSample => 4L * (FloatsPerSample + IntsPerSample + DedicatedPerSample);

        public Placement? Find(string buffer) => Placements.FirstOrDefault(p => p.Buffer == buffer);
    }

    public static class MemoryPlanner
    {
        /// <summary>Buffers that keep arrays of their own: the output, its gradient and the fused loss's logits gradient.</summary>
        public static IEnumerable<string> Dedicated(Schedule s)
        {
            yield return s.OutputBuffer;
            yield return s.OutputGradBuffer;
            if (s.LogitsGradBuffer is not null) yield return s.LogitsGradBuffer;
        }

        /// <summary>
        /// Pass "plan-memory": lifetimes over the forward steps (inference) or forward, loss and backward steps (training);
        /// then, largest buffer first, the lowest offset that overlaps no buffer live at the same time. Forward values that
        /// backward reads stay live until that read, because their lifetime runs to their last use in the sequence.
        /// </summary>
        public static MemoryPlan Plan(Schedule s, bool training)
        {
            var dedicated = new HashSet<string>(Dedicated(s)) { Lowering.InputBuffer, Lowering.InputGradBuffer };
            List<KernelStep> steps = s.Forward.ToList();
            if (training) steps.AddRange(s.Backward);
            var first = new Dictionary<string, int>();
            var last = new Dictionary<string, int>();
            for (int i = 0; i < steps.Count; i++)
            {
                // The loss runs between forward and backward; it touches only dedicated buffers, so it needs no index.
                foreach (Buf b in steps[i].Buffers())
                {
                    if (dedicated.Contains(b.Name)) continue;
                    if (!first.ContainsKey(b.Name)) first[b.Name] = i;
                    last[b.Name] = i;
                }
            }
            var placed = new List<Placement>();
            var buffers = s.Buffers.Where(b => first.ContainsKey(b.Name))
                .OrderByDescending(b => b.PerSample).ThenBy(b => first[b.Name]).ToList();
            foreach (BufferDecl b in buffers)
            {
                int lo = first[b.Name], hi = last[b.Name];
                var busy = placed.Where(p => p.IsIndex == b.IsIndex && p.First <= hi && lo <= p.Last).OrderBy(p => p.Offset);
                int offset = 0;
                foreach (Placement p in busy)
                {
                    if (offset + b.PerSample <= p.Offset) break;
                    if (p.Offset + p.Size > offset) offset = p.Offset + p.Size;
                }
                placed.Add(new Placement(b.Name, b.IsIndex, offset, b.PerSample, lo, hi));
            }
            int Extent(bool index) => placed.Where(p => p.IsIndex == index).Select(p => p.Offset + p.Size).DefaultIfEmpty(0).Max();
            int dedicatedFloats = s.Input.PerSample + s.Output.PerSample +
                (training ? s.Output.PerSample + (s.LogitsGradBuffer is null ? 0 : s.Output.PerSample) : 0);
            // Declaration order, so the generated workspace lists buffers as the forward and backward meet them.
            var order = s.Buffers.Select((b, i) => (b.Name, i)).ToDictionary(t => t.Name, t => t.i);
            return new MemoryPlan(EquatableArray.From(placed.OrderBy(p => order[p.Buffer])), Extent(false), Extent(true), dedicatedFloats);
        }
    }
}
