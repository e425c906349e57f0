// Saves under faults: kill -9 mid-write, orphaned temporary files, a full disk, and a TensorBoard log that cannot be written.
using System.Diagnostics;
using GraphCompiler.IO;
using GraphCompiler.IO.TensorBoard;
using GraphCompiler.Tests.Models;
using Xunit;
using Xunit.Abstractions;

namespace GraphCompiler.Tests.IO;

public sealed class FaultTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gc-faults-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public void Killing_saves_at_random_moments_never_leaves_a_torn_file_and_the_next_save_removes_the_orphans()
    {
        string path = Path.Combine(_dir, "ckpt.safetensors");
        string child = Path.Combine(AppContext.BaseDirectory, "GraphCompiler.FaultChild.dll");
        var random = new Random(13);
        int iteration = 0, killedMidSave = 0, maxDelay = 250;
        const int Kills = 50;
        for (int k = 0; k < Kills; k++)
        {
            var start = new ProcessStartInfo(Environment.ProcessPath!, ["exec", child, path, (iteration + 1).ToString()])
            {
                RedirectStandardOutput = true,
                UseShellExecute = false,
            };
            using var process = Process.Start(start)!;
            Assert.Equal("ready", process.StandardOutput.ReadLine());
            // A save of 4 MiB with two fsyncs takes tens of milliseconds on a quiet machine, far longer on a loaded one;
            // a random delay lands the kill before, during or between saves, and grows while no save has completed yet.
            Thread.Sleep(random.Next(1, maxDelay));
            if (iteration == 0) maxDelay = Math.Min(2 * maxDelay, 8000);
            process.Kill(); // SIGKILL on Unix: no finally blocks, no flush
            process.WaitForExit();

            if (Directory.GetFiles(_dir, AtomicFile.TempPattern(path)).Length > 0) killedMidSave++;
            if (!File.Exists(path)) continue;
            // Whatever is under the final name is a whole file: its 1M values all equal the iteration it records.
            SafeTensorFile file = SafeTensors.ReadWithMetadata(path);
            int saved = int.Parse(file.Metadata["iteration"]);
            float[] w = file.Tensors["w"].AsFloat();
            Assert.Equal(1 << 20, w.Length);
            Assert.True(w.All(v => v == saved), $"kill {k}: a torn file under the final name (iteration {saved})");
            Assert.True(saved >= iteration, $"kill {k}: iteration went back from {iteration} to {saved}");
            iteration = saved;
        }
        output.WriteLine($"{Kills} kills, {killedMidSave} left a temporary file behind, last whole save: iteration {iteration}");
        Assert.True(iteration > 0, "no save ever completed; the kills came too early to test anything");
        Assert.True(killedMidSave > 0, "no kill landed during a save");

        // The next save removes every orphan (no process holds them any more) and still writes a whole file.
        SafeTensors.Write(path, [new("w", SafeTensor.FromFloat([1f], 1))]);
        Assert.Equal([path], Directory.GetFiles(_dir));
    }

    /// <summary>
    /// The idx reproducers in a process with a 1 GiB GC heap limit, which .NET sets itself in a memory-limited container:
    /// header-sized allocations ended such processes with SIGSEGV; now each is a clean rejection.
    /// </summary>
    [Theory]
    [InlineData("idx/idx3-2e9-images-no-data.idx")]
    [InlineData("idx/idx1-array-maxlength-labels.idx")]
    [InlineData("idx-gzip/gzip-1e6-images-28x28-header-only.idx.gz")]
    public void Idx_reproducers_are_rejected_under_a_1_gib_heap_limit(string name)
    {
        string file = Path.Combine(AppContext.BaseDirectory, "Fuzz", "regressions", name);
        var start = new ProcessStartInfo(Environment.ProcessPath!, ["exec", Path.Combine(AppContext.BaseDirectory, "GraphCompiler.FaultChild.dll"), "read-idx", file])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.Environment["DOTNET_GCHeapHardLimit"] = "0x40000000";
        using var process = Process.Start(start)!;
        string stdout = process.StandardOutput.ReadToEnd();
        string stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"exit {process.ExitCode}: {stderr}");
        Assert.StartsWith($"rejected: file {file}", stdout);
        Assert.Contains("but only 0 bytes follow", stdout);
    }

    [Fact]
    public void A_temporary_file_that_a_live_save_holds_is_not_removed()
    {
        string path = Path.Combine(_dir, "model.safetensors");
        string stale = Path.Combine(_dir, ".model.safetensors.0123456789abcdef0123456789abcdef.tmp");
        string live = Path.Combine(_dir, ".model.safetensors.fedcba9876543210fedcba9876543210.tmp");
        string other = Path.Combine(_dir, ".other.safetensors.0123456789abcdef0123456789abcdef.tmp");
        File.WriteAllBytes(stale, new byte[1000]);
        File.WriteAllBytes(other, new byte[10]);
        using (new FileStream(live, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            StateDict.Save(path, new BnSequential());
            Assert.False(File.Exists(stale));
            Assert.True(File.Exists(live), "a temporary file still being written by another save was deleted");
            Assert.True(File.Exists(other), "another target's temporary file was deleted");
        }
    }

    [Fact]
    public void The_directory_fsync_reaches_the_kernel_and_reports_failure_with_the_directory()
    {
        AtomicFile.SyncDirectory(_dir);
        string missing = Path.Combine(_dir, "missing");
        var e = Assert.Throws<IOException>(() => AtomicFile.SyncDirectory(missing));
        Assert.StartsWith($"cannot open directory {missing} to fsync it (errno 2)", e.Message); // ENOENT
    }

    /// <summary>
    /// A full disk during a save: on a real 64 KiB tmpfs when this process may mount one (root with CAP_SYS_ADMIN, as
    /// in the CI container), otherwise with a stream that fails as ENOSPC does. Either way the error names the checkpoint,
    /// the old file still loads, and no temporary file is left.
    /// </summary>
    [Fact]
    public void A_full_disk_names_the_checkpoint_and_keeps_the_old_file()
    {
        string mount = Path.Combine(_dir, "tiny");
        Directory.CreateDirectory(mount);
        bool real = TryMountTmpfs(mount, "64k");
        output.WriteLine(real ? "real tmpfs of 64 KiB" : "simulated ENOSPC (cannot mount a tmpfs here)");
        try
        {
            string path = Path.Combine(mount, "ckpt.safetensors");
            var small = new BnSequential(seed: 1);
            StateDict.Save(path, small);
            byte[] good = File.ReadAllBytes(path);
            var big = new[] { new KeyValuePair<string, SafeTensor>("w", SafeTensor.FromFloat(new float[1 << 16], 1 << 16)) }; // 256 KiB
            if (!real) AtomicFile.FaultForTests.Value = _ => throw new IOException("No space left on device");
            IOException e;
            try
            {
                e = Assert.Throws<IOException>(() => SafeTensors.Write(path, big));
            }
            finally
            {
                AtomicFile.FaultForTests.Value = null;
            }
            Assert.StartsWith($"cannot save {path}: No space left on device", e.Message);
            Assert.EndsWith("The previous file, if any, is unchanged.", e.Message);
            Assert.DoesNotContain(".tmp", e.Message);
            Assert.Equal(good, File.ReadAllBytes(path));
            StateDict.Load(path, new BnSequential(seed: 2));
            Assert.Equal([path], Directory.GetFiles(mount));
        }
        finally
        {
            if (real) Run("umount", mount);
        }
    }

    private static bool TryMountTmpfs(string at, string size) =>
        OperatingSystem.IsLinux() && Environment.UserName == "root" && Run("mount", "-t", "tmpfs", "-o", $"size={size}", "tmpfs", at) == 0;

    private static int Run(string file, params string[] args)
    {
        try
        {
            using var p = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardError = true, UseShellExecute = false })!;
            p.WaitForExit();
            return p.ExitCode;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return -1; // no such program
        }
    }

    /// <summary>A file stream that fails every write and flush after the first <paramref name="allowed"/> bytes, as a full disk does.</summary>
    private sealed class FullDiskStream(Stream inner, long allowed) : Stream
    {
        private long _written;

        public int Failures { get; private set; }

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _written; set => throw new NotSupportedException(); }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            if (_written + buffer.Length > allowed) Fail();
            inner.Write(buffer);
            _written += buffer.Length;
        }

        public override void Flush()
        {
            if (_written > allowed) Fail();
            inner.Flush();
        }

        private void Fail()
        {
            Failures++;
            throw new IOException("No space left on device");
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing) inner.Dispose();
            base.Dispose(disposing);
        }
    }

    [Fact]
    public void A_tensorboard_writer_that_cannot_write_warns_once_and_stops_without_failing_training()
    {
        FullDiskStream? disk = null;
        SummaryWriter.WrapStreamForTests.Value = s => disk = new FullDiskStream(s, allowed: 200);
        var stderr = new StringWriter();
        TextWriter previous = Console.Error;
        Console.SetError(stderr);
        try
        {
            using var writer = new SummaryWriter(Path.Combine(_dir, "run"), maxQueue: 1);
            Assert.Null(writer.WriteFailure);
            // Every "training step" logs; none may throw, although the disk is full after the first few records.
            for (int step = 0; step < 100; step++)
            {
                writer.AddScalar("train/loss", 1.0 / (step + 1), step);
                writer.AddText("notes", new string('x', 50), step);
            }
            writer.Flush();
            Assert.NotNull(writer.WriteFailure);
            Assert.Equal("No space left on device", writer.WriteFailure!.Message);
            Assert.Equal(1, disk!.Failures);
        }
        finally
        {
            Console.SetError(previous);
            SummaryWriter.WrapStreamForTests.Value = null;
        }
        string[] lines = stderr.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.Matches(@"^warning: TensorBoard logging to .*events\.out\.tfevents\..* stopped: No space left on device \(later events are dropped; training continues\)$", lines[0]);
    }
}
