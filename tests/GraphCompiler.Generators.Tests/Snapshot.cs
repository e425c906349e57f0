// Checked-in snapshot files: a mismatch or a missing snapshot fails and writes *.received.cs.txt; UPDATE_SNAPSHOTS=1 rewrites (never under CI).
using Xunit;

namespace GraphCompiler.Generators.Tests;

public static class Snapshot
{
    public static string Folder => Path.Combine(GeneratorHarness.RepoRoot, "tests", "GraphCompiler.Generators.Tests", "Snapshots");

    public static void Verify(string name, string actual) =>
        Verify(name, actual,
            update: Environment.GetEnvironmentVariable("UPDATE_SNAPSHOTS") == "1",
            ci: string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase));

    public static void Verify(string name, string actual, bool update, bool ci)
    {
        actual = actual.Replace("\r\n", "\n");
        string verified = Path.Combine(Folder, name + ".verified.cs.txt");
        string received = Path.Combine(Folder, name + ".received.cs.txt");
        if (update)
        {
            if (ci)
                Assert.Fail("UPDATE_SNAPSHOTS=1 is refused under CI=true: snapshots are reviewed changes, not CI output.");
            File.WriteAllText(verified, actual);
            File.Delete(received);
            return;
        }
        if (!File.Exists(verified))
        {
            File.WriteAllText(received, actual);
            Assert.Fail($"No snapshot {verified}; the output was written to {received}. Review it, then run with UPDATE_SNAPSHOTS=1.");
        }
        string expected = File.ReadAllText(verified).Replace("\r\n", "\n");
        if (expected == actual)
        {
            File.Delete(received);
            return;
        }
        File.WriteAllText(received, actual);
        string[] e = expected.Split('\n'), a = actual.Split('\n');
        int line = 0;
        while (line < Math.Min(e.Length, a.Length) && e[line] == a[line]) line++;
        Assert.Fail($"Snapshot {name} differs at line {line + 1}:\n  expected: {(line < e.Length ? e[line] : "<end>")}\n  actual:   {(line < a.Length ? a[line] : "<end>")}\n" +
            $"Received output written to {received}; run with UPDATE_SNAPSHOTS=1 to accept it.");
    }
}
