// The seeded fuzz suite: every reader meets 2,000 mutated files in the normal test run and must load them or reject them cleanly.
using Xunit;
using Xunit.Abstractions;

namespace GraphCompiler.Tests.Fuzz;

/// <summary>
/// For each reader: <see cref="FuzzHarness.InputsPerReader"/> inputs (2,000 unless GC_FUZZ_INPUTS says otherwise), each
/// under the watchdog, each checked for its exception type and message, its allocation, and (for model loads) that a
/// rejected file changed nothing. The seed is fixed, so a failure names an input that reproduces; tests/fuzz/campaign.sh
/// runs the same suite for longer and records the counts in tests/fuzz/RESULTS.md.
/// </summary>
[Trait("Category", "Fuzz")]
public sealed class FuzzTests(ITestOutputHelper output)
{
    public static TheoryData<string> Readers => [.. FuzzTargets.All.Keys];

    [Theory]
    [MemberData(nameof(Readers))]
    public void Mutated_inputs_load_or_are_rejected_cleanly(string reader)
    {
        using FuzzTarget target = FuzzTargets.All[reader]();
        Assert.NotEmpty(target.Seeds);

        // The seeds themselves must load: otherwise every mutation would be "rejected" and the suite would prove nothing.
        FuzzReport seeds = FuzzHarness.Run(target, target.Seeds.Select(s => (Func<byte[]>)(() => s)).ToList(), seed: 0);
        Assert.True(seeds.Unexpected.Count == 0 && seeds.Loaded == target.Seeds.Count, $"seeds: {seeds}\n{string.Join("\n", seeds.Unexpected)}");

        FuzzReport report = FuzzHarness.Run(target, FuzzHarness.InputsPerReader, FuzzHarness.Seed);
        output.WriteLine(report.ToString());
        if (Environment.GetEnvironmentVariable("GC_FUZZ_REPORT") is { Length: > 0 } file)
            File.AppendAllText(file, $"{report.Target}\t{report.Seed}\t{report.Inputs}\t{report.Loaded}\t{report.Rejected}\t{report.Unexpected.Count}\t{report.Elapsed.TotalSeconds:F1}\t{report.MaxAllocated}\n");
        Assert.True(report.Unexpected.Count == 0, $"{report}\n{string.Join("\n", report.Unexpected.Take(5))}");
        Assert.Equal(FuzzHarness.InputsPerReader, report.Inputs);
        // A suite that only ever rejects (or only ever loads) is not exploring the reader.
        Assert.True(report.Rejected > 0, report.ToString());
    }
}
