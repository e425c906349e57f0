// Writes a file so that readers see the old version or the new one, never a part: temporary file, fsync, rename, fsync of the directory.
using System.Runtime.InteropServices;

namespace GraphCompiler.IO;

/// <summary>
/// The save protocol SQLite and most databases use, for checkpoints: write a temporary file next to the target, fsync it,
/// rename it over the target, then fsync the directory so the rename itself survives a power cut. A save that dies
/// (kill -9, full disk) leaves the previous file untouched under its name; the orphaned temporary file is removed by the
/// next save to the same target. Errors name the target, not the hidden temporary file.
/// </summary>
internal static partial class AtomicFile
{
    /// <summary>Tests set this (per async flow) to fail after part of the content is written, as a full disk would.</summary>
    internal static readonly AsyncLocal<Action<Stream>?> FaultForTests = new();

    /// <summary>The temporary files of <paramref name="target"/>: hidden, in its directory, with a unique middle part.</summary>
    internal static string TempPattern(string target) => $".{Path.GetFileName(target)}.*.tmp";

    public static void Write(string path, Action<Stream> write)
    {
        ArgumentNullException.ThrowIfNull(path);
        string full = Path.GetFullPath(path);
        string directory = Path.GetDirectoryName(full) ?? throw new ArgumentException($"'{path}' has no directory.", nameof(path));
        RemoveStaleTemps(full, directory);
        string temp = Path.Combine(directory, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            // FileShare.None takes an exclusive advisory lock on Unix, which is how RemoveStaleTemps tells a live save from a dead one.
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 1 << 16))
            {
                write(stream);
                FaultForTests.Value?.Invoke(stream);
                stream.Flush(flushToDisk: true); // fsync: the data is on disk before the name points at it
            }
            File.Move(temp, full, overwrite: true);
            SyncDirectory(directory);
        }
        catch (Exception e)
        {
            try { File.Delete(temp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            if (e is IOException io)
                throw new IOException($"cannot save {full}: {io.Message.Replace(temp, full, StringComparison.Ordinal)} The previous file, if any, is unchanged.", io);
            throw;
        }
    }

    /// <summary>
    /// Deletes temporary files that earlier saves of this target left when they were killed. A file some live save is
    /// still writing holds its lock, so opening it exclusively fails and it is left alone.
    /// </summary>
    internal static int RemoveStaleTemps(string full, string directory)
    {
        int removed = 0;
        string[] candidates;
        try
        {
            candidates = Directory.GetFiles(directory, TempPattern(full));
        }
        catch (IOException)
        {
            return 0; // the save itself will report a directory it cannot use
        }
        foreach (string stale in candidates)
        {
            try
            {
                using (new FileStream(stale, FileMode.Open, FileAccess.ReadWrite, FileShare.None)) { }
                File.Delete(stale);
                removed++;
            }
            catch (IOException)
            {
                // In use by a save in progress, or already gone.
            }
            catch (UnauthorizedAccessException)
            {
                // Not ours to remove.
            }
        }
        return removed;
    }

    /// <summary>fsync of the directory, so the rename is durable (Linux and macOS; elsewhere the file system journals it).</summary>
    internal static void SyncDirectory(string directory)
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS()) return;
        int fd = Open(directory, 0 /* O_RDONLY */);
        if (fd < 0) throw new IOException($"cannot open directory {directory} to fsync it (errno {Marshal.GetLastPInvokeError()}).");
        try
        {
            if (Fsync(fd) != 0)
                throw new IOException($"fsync of directory {directory} failed (errno {Marshal.GetLastPInvokeError()}).");
        }
        finally
        {
            _ = Close(fd);
        }
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);
}
