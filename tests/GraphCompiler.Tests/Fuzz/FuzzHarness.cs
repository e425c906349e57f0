// Runs a reader over mutated inputs on a watched thread and sorts every outcome: loaded, rejected as the contract says, or unexpected.
using System.Diagnostics;
using System.Text;

namespace GraphCompiler.Tests.Fuzz;

/// <summary>What one reader did with one input.</summary>
internal enum FuzzOutcome
{
    /// <summary>The reader accepted the bytes.</summary>
    Loaded,

    /// <summary>InvalidDataException (or IOException) naming the file: the contract for a bad file.</summary>
    Rejected,

    /// <summary>Anything else: another exception type, a message without the file, too much memory, a changed model, a hang.</summary>
    Unexpected,
}

/// <summary>A reader under test: its valid seed files, the tokens its format is made of, and how to load a file.</summary>
internal abstract class FuzzTarget : IDisposable
{
    /// <summary>Removes whatever the target keeps on disk between inputs (seed files of the stateful readers).</summary>
    public virtual void Dispose()
    {
    }

    public abstract string Name { get; }

    /// <summary>Valid files the mutations start from.</summary>
    public abstract IReadOnlyList<byte[]> Seeds { get; }

    /// <summary>Byte strings of the format (markers, chunk names, JSON syntax, invalid UTF-8) that mutations splice in.</summary>
    public virtual IReadOnlyList<byte[]> Tokens => [];

    /// <summary>How many leading bytes count as the header, where mutations land more often.</summary>
    public virtual int HeaderBytes => 32;

    /// <summary>The file name the input is written to inside the run's folder (a class folder for ImageFolder).</summary>
    public virtual string FileName => "input.bin";

    /// <summary>Input <c>index</c> of a run: by default a mutation of a seed; targets override to repair checksums or recompress.</summary>
    public virtual byte[] Generate(Random rng) => Mutator.Mutate(rng, Seeds, Tokens, HeaderBytes);

    /// <summary>Reads the file as a user would; throws what the reader throws.</summary>
    public abstract void Load(string path, byte[] bytes);

    /// <summary>
    /// The most the load may allocate on its thread. The contract is "a small multiple of the bytes present"
    /// (decompressed, for gzip); each target says what its multiple is and why.
    /// </summary>
    public virtual long AllowedBytes(byte[] input) => 16L * input.Length + (1 << 20);

    /// <summary>A digest of the state a load could change (model, optimizer, scheduler); null for stateless readers.</summary>
    public virtual string? StateDigest() => null;

    /// <summary>Puts the state back to the seed's after a load that succeeded (a mutated file may legitimately load).</summary>
    public virtual void ResetState()
    {
    }
}

/// <summary>The result of running one target: counts per outcome and a description of every unexpected one.</summary>
internal sealed record FuzzReport(string Target, int Seed, int Inputs, int Loaded, int Rejected, IReadOnlyList<string> Unexpected, TimeSpan Elapsed, long MaxAllocated)
{
    /// <summary>The message of the first rejection, for tests that check what a known bad file is told.</summary>
    public string? FirstRejection { get; init; }

    public override string ToString() =>
        $"{Target}: {Inputs} inputs (seed {Seed}) in {Elapsed.TotalSeconds:F1} s: {Loaded} loaded, {Rejected} rejected, {Unexpected.Count} unexpected; largest allocation {MaxAllocated:N0} bytes";
}

/// <summary>
/// Runs inputs one after another on a dedicated thread while the calling thread watches the clock. An input that runs
/// past the watchdog is reported as a hang, the remaining inputs are skipped, and the stuck thread (a background thread)
/// is left behind: .NET cannot stop it, but the test fails and names the input instead of stalling the suite.
/// Allocation is measured on the worker thread with <see cref="GC.GetAllocatedBytesForCurrentThread"/>, around the load
/// only. Unexpected inputs are saved under <see cref="FoundDirectory"/> so they can be checked in as regression cases.
/// </summary>
internal static class FuzzHarness
{
    /// <summary>Inputs per reader in the normal test run, or GC_FUZZ_INPUTS for a longer campaign.</summary>
    public static int InputsPerReader => EnvInt("GC_FUZZ_INPUTS", 2000);

    /// <summary>The run's seed; input i of seed s is always the same bytes.</summary>
    public static int Seed => EnvInt("GC_FUZZ_SEED", 20261202);

    /// <summary>
    /// Wall-clock limit per input. The campaign uses the 2 s; the test suite allows 5 s because it shares two
    /// cores with the rest of the suite and the first decode of a format includes JIT compilation.
    /// </summary>
    public static TimeSpan Watchdog => TimeSpan.FromMilliseconds(EnvInt("GC_FUZZ_WATCHDOG_MS", 5000));

    public static string FoundDirectory => Path.Combine(Path.GetTempPath(), "gc-fuzz-found");

    public static FuzzReport Run(FuzzTarget target, int inputs, int seed) =>
        Run(target, Enumerable.Range(0, inputs).Select(i => (Func<byte[]>)(() => target.Generate(InputRandom(target.Name, seed, i)))).ToList(), seed);

    /// <summary>
    /// The generator for input <paramref name="index"/>: a seeded System.Random (whose seeded sequence is fixed across
    /// .NET versions), from a stable mix of the reader's name, the run's seed and the index (HashCode is randomized per process).
    /// </summary>
    public static Random InputRandom(string target, int seed, int index)
    {
        uint h = 2166136261;
        foreach (char c in target) h = (h ^ c) * 16777619;
        h = (h ^ (uint)seed) * 16777619;
        h = (h ^ (uint)index) * 16777619;
        return new Random((int)(h & 0x7FFFFFFF));
    }

    /// <summary>Runs the given inputs (each made on the worker thread, so generation is not charged to the watchdog's input).</summary>
    public static FuzzReport Run(FuzzTarget target, IReadOnlyList<Func<byte[]>> inputs, int seed)
    {
        string dir = Path.Combine(Path.GetTempPath(), $"gc-fuzz-{target.Name}-{Guid.NewGuid():N}");
        string path = Path.Combine(dir, target.FileName);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var unexpected = new List<string>();
        int loaded = 0, rejected = 0, done = 0;
        long maxAllocated = 0;
        long current = -1, startedTicks = 0;
        byte[]? currentInput = null;
        string? firstRejection = null;
        Exception? harnessError = null;
        var clock = Stopwatch.StartNew();

        var worker = new Thread(() =>
        {
            try
            {
                string? digest = target.StateDigest();
                for (int i = 0; i < inputs.Count; i++)
                {
                    byte[] input = inputs[i]();
                    File.WriteAllBytes(path, input);
                    currentInput = input;
                    Volatile.Write(ref startedTicks, clock.ElapsedTicks);
                    Volatile.Write(ref current, i);
                    long before = GC.GetAllocatedBytesForCurrentThread();
                    Exception? error = null;
                    try
                    {
                        target.Load(path, input);
                    }
                    catch (Exception e)
                    {
                        error = e;
                    }
                    long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
                    Volatile.Write(ref current, -1);
                    maxAllocated = Math.Max(maxAllocated, allocated);

                    string? problem = Classify(error, path);
                    long allowed = target.AllowedBytes(input);
                    if (problem is null && allocated > allowed)
                        problem = $"allocated {allocated:N0} bytes, more than the {allowed:N0} allowed for {input.Length} input bytes";
                    if (problem is null && error is not null && digest is not null)
                    {
                        string after = target.StateDigest()!;
                        if (after != digest) problem = "a rejected load changed the model, optimizer or scheduler";
                    }
                    if (problem is not null)
                    {
                        unexpected.Add(Describe(target, seed, i, input, problem));
                        target.ResetState();
                        digest = target.StateDigest();
                    }
                    else if (error is null)
                    {
                        loaded++;
                        if (digest is not null)
                        {
                            target.ResetState();
                            digest = target.StateDigest();
                        }
                    }
                    else
                    {
                        rejected++;
                        firstRejection ??= error!.Message;
                    }
                    done = i + 1;
                }
            }
            catch (Exception e)
            {
                harnessError = e;
            }
        })
        { IsBackground = true, Name = $"fuzz {target.Name}" };
        worker.Start();

        while (!worker.Join(50))
        {
            long i = Volatile.Read(ref current);
            if (i < 0) continue;
            var running = TimeSpan.FromTicks((long)((clock.ElapsedTicks - Volatile.Read(ref startedTicks)) * (TimeSpan.TicksPerSecond / (double)Stopwatch.Frequency)));
            if (running > Watchdog && Volatile.Read(ref current) == i)
            {
                unexpected.Add(Describe(target, seed, (int)i, currentInput ?? [], $"still running after {running.TotalSeconds:F1} s (watchdog {Watchdog.TotalSeconds:F0} s): a hang"));
                return new FuzzReport(target.Name, seed, (int)i + 1, loaded, rejected, unexpected, clock.Elapsed, maxAllocated);
            }
        }
        try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        if (harnessError is not null) throw new InvalidOperationException($"fuzz harness for {target.Name} failed after {done} inputs", harnessError);
        return new FuzzReport(target.Name, seed, done, loaded, rejected, unexpected, clock.Elapsed, maxAllocated) { FirstRejection = firstRejection };
    }

    /// <summary>Null when the outcome keeps the contract; otherwise what is wrong with it.</summary>
    public static string? Classify(Exception? error, string path)
    {
        if (error is null) return null;
        if (error is not (InvalidDataException or IOException))
            return $"threw {error.GetType().FullName}: {error.Message}\n{error.StackTrace}";
        if (!error.Message.Contains(path, StringComparison.Ordinal))
            return $"{error.GetType().Name} does not name the file: {error.Message}";
        return null;
    }

    private static string Describe(FuzzTarget target, int seed, int index, byte[] input, string problem)
    {
        Directory.CreateDirectory(FoundDirectory);
        string file = Path.Combine(FoundDirectory, $"{target.Name}-{seed}-{index}.bin");
        File.WriteAllBytes(file, input);
        var text = new StringBuilder($"{target.Name} input {index} (seed {seed}, {input.Length} bytes, saved as {file}): {problem}");
        return text.ToString();
    }

    private static int EnvInt(string name, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), out int v) && v > 0 ? v : fallback;
}
