// torch.utils.tensorboard.SummaryWriter for C#: logs scalars, images, histograms and text to a TensorBoard event file.
using Google.Protobuf;
using GraphCompiler.IO.TensorBoard.Protos;

namespace GraphCompiler.IO.TensorBoard;

/// <summary>
/// Writes a TensorBoard event file in <see cref="LogDir"/> (named as PyTorch names it:
/// <c>events.out.tfevents.{unix seconds}.{host}.{pid}.{counter}{suffix}</c>). Its first record declares
/// <c>brain.Event:2</c>; each <c>Add*</c> appends one Event. Records are buffered and flushed every
/// <c>maxQueue</c> events, every <c>flushSeconds</c> (by a timer, so a stalled run still reaches the disk), on
/// <see cref="Flush"/> and on <see cref="Dispose"/>. Each record is written whole, so a crash loses at most the
/// unflushed tail and never damages the records before it. Thread-safe.
/// <para>
/// Logging must never stop training: if writing the file fails (full disk, a removed folder, a network mount gone),
/// the writer reports it once, as a warning on standard error and in <see cref="WriteFailure"/>, and from then on
/// drops every event; no later call throws because of it. This is the choice TensorFlow's summary writer makes
/// (it logs the error and continues); PyTorch's raises from its background thread instead, which does not stop the
/// run either. Check <see cref="WriteFailure"/> after training if the log must be complete.
/// </para>
/// </summary>
public sealed class SummaryWriter : IDisposable
{
    /// <summary>The version tag TensorBoard expects in the first record of every event file.</summary>
    public const string FileVersion = "brain.Event:2";

    private static int s_counter = -1;

    private readonly object _gate = new();
    /// <summary>Tests set this (per async flow) to wrap the file stream, e.g. in one that fails like a full disk.</summary>
    internal static readonly AsyncLocal<Func<Stream, Stream>?> WrapStreamForTests = new();

    private readonly Stream _stream;
    private readonly Timer _timer;
    private readonly int _maxQueue;
    private readonly double _flushSeconds;
    private readonly string? _filenameSuffix;
    private readonly Dictionary<string, SummaryWriter> _scalarsWriters = new(StringComparer.Ordinal);
    private int _pending;
    private bool _disposed;

    /// <summary>Opens a new event file in <paramref name="logDir"/>, creating the folder if needed.</summary>
    /// <param name="logDir">The run's folder; point TensorBoard's <c>--logdir</c> at it or at its parent.</param>
    /// <param name="filenameSuffix">Appended to the file name, as PyTorch's <c>filename_suffix</c>.</param>
    /// <param name="maxQueue">Events buffered before a flush (PyTorch: 10).</param>
    /// <param name="flushSeconds">Longest time an event stays buffered (PyTorch: 120 s).</param>
    public SummaryWriter(string logDir, string? filenameSuffix = null, int maxQueue = 10, double flushSeconds = 120)
    {
        ArgumentException.ThrowIfNullOrEmpty(logDir);
        if (maxQueue <= 0) throw new ArgumentOutOfRangeException(nameof(maxQueue), maxQueue, "Flush after at least one event.");
        if (!(flushSeconds > 0)) throw new ArgumentOutOfRangeException(nameof(flushSeconds), flushSeconds, "The flush interval must be positive.");
        LogDir = logDir;
        _maxQueue = maxQueue;
        _flushSeconds = flushSeconds;
        _filenameSuffix = filenameSuffix;
        Directory.CreateDirectory(logDir);
        double now = UnixNow();
        string name = FormattableString.Invariant(
            $"events.out.tfevents.{(long)now:D10}.{System.Net.Dns.GetHostName()}.{Environment.ProcessId}.{Interlocked.Increment(ref s_counter)}{filenameSuffix}");
        FilePath = Path.Combine(logDir, name);
        var file = new FileStream(FilePath, FileMode.CreateNew, FileAccess.Write, FileShare.Read, bufferSize: 1 << 16);
        _stream = WrapStreamForTests.Value?.Invoke(file) ?? file;
        try
        {
            WriteEvent(new Event { WallTime = now, Step = 0, FileVersion = FileVersion });
            // The version record goes to disk at once, so TensorBoard recognises the run even before its first flush.
            _stream.Flush();
        }
        catch
        {
            _stream.Dispose();
            throw;
        }
        var period = TimeSpan.FromSeconds(flushSeconds);
        _timer = new Timer(_ => FlushIfPending(), null, period, period);
    }

    /// <summary>The folder this writer logs to.</summary>
    public string LogDir { get; }

    /// <summary>The full path of the event file.</summary>
    public string FilePath { get; }

    /// <summary>The error that stopped this writer logging, or null while it works (see the class remarks).</summary>
    public IOException? WriteFailure { get; private set; }

    /// <summary>Logs a scalar (stored as float32 <c>simple_value</c>, as PyTorch stores it).</summary>
    public void AddScalar(string tag, double value, long step, double? wallTime = null) =>
        AddSummary(Summaries.Scalar(tag, (float)value), step, wallTime);

    /// <summary>
    /// Logs several scalars on one chart, as PyTorch's <c>add_scalars</c> does: each goes, under tag
    /// <paramref name="mainTag"/>, to its own event file in <c>{LogDir}/{mainTag with '/' → '_'}_{key}</c>, which
    /// TensorBoard shows as one run per key.
    /// </summary>
    public void AddScalars(string mainTag, IReadOnlyDictionary<string, double> values, long step, double? wallTime = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(mainTag);
        ArgumentNullException.ThrowIfNull(values);
        double time = wallTime ?? UnixNow();
        foreach ((string key, double value) in values)
        {
            string folder = Path.Combine(LogDir, mainTag.Replace('/', '_') + "_" + key);
            SummaryWriter child;
            lock (_gate)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                if (!_scalarsWriters.TryGetValue(folder, out child!))
                    _scalarsWriters[folder] = child = new SummaryWriter(folder, _filenameSuffix, _maxQueue, _flushSeconds);
            }
            child.AddScalar(mainTag, value, step, time);
        }
    }

    /// <summary>Logs a float image in [0, 1] shaped [C, H, W] (C = 1, 3 or 4) or [H, W], PNG-encoded.</summary>
    public void AddImage(string tag, Tensor image, long step, double? wallTime = null) =>
        AddSummary(Summaries.Image(tag, Images.ToHwc(image)), step, wallTime);

    /// <summary>Logs an 8-bit image given as interleaved HWC bytes (1, 3 or 4 channels), PNG-encoded.</summary>
    public void AddImage(string tag, ReadOnlySpan<byte> hwc, int height, int width, int channels, long step, double? wallTime = null) =>
        AddSummary(Summaries.Image(tag, new HwcImage(hwc.ToArray(), height, width, channels)), step, wallTime);

    /// <summary>Logs a batch of float images [N, C, H, W] in [0, 1] as one grid (<see cref="Images.MakeGrid"/>).</summary>
    public void AddImages(string tag, Tensor images, long step, int nrow = 8, int padding = 2, float padValue = 0f, double? wallTime = null) =>
        AddImage(tag, Images.MakeGrid(images, nrow, padding, padValue), step, wallTime);

    /// <summary>
    /// Logs a histogram of <paramref name="values"/>: TensorFlow's exponential buckets by default (PyTorch's
    /// <c>bins='tensorflow'</c>), or <paramref name="bins"/> equal-width bins.
    /// </summary>
    public void AddHistogram(string tag, ReadOnlySpan<float> values, long step, int? bins = null, double? wallTime = null) =>
        AddSummary(Summaries.Histogram(tag, values, bins), step, wallTime);

    /// <summary>Logs a histogram of a tensor's elements, e.g. a parameter or its gradient.</summary>
    public void AddHistogram(string tag, Tensor values, long step, int? bins = null, double? wallTime = null)
    {
        ArgumentNullException.ThrowIfNull(values);
        AddHistogram(tag, values.Data, step, bins, wallTime);
    }

    /// <summary>Logs text (Markdown) for TensorBoard's text plugin, under tag <c>{tag}/text_summary</c> as PyTorch writes it.</summary>
    public void AddText(string tag, string text, long step, double? wallTime = null) =>
        AddSummary(Summaries.Text(tag, text), step, wallTime);

    /// <summary>Logs a prepared Summary at <paramref name="step"/>.</summary>
    public void AddSummary(Summary summary, long step, double? wallTime = null)
    {
        ArgumentNullException.ThrowIfNull(summary);
        AddEvent(new Event { WallTime = wallTime ?? UnixNow(), Step = step, Summary = summary });
    }

    /// <summary>Appends any Event as one record.</summary>
    public void AddEvent(Event e)
    {
        ArgumentNullException.ThrowIfNull(e);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (WriteFailure is not null) return;
            Guarded(() =>
            {
                WriteEvent(e);
                if (++_pending >= _maxQueue) FlushLocked();
            });
        }
    }

    /// <summary>Pushes every buffered record to the file (this writer's and those of <see cref="AddScalars"/>).</summary>
    public void Flush()
    {
        SummaryWriter[] children;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (WriteFailure is null) Guarded(FlushLocked);
            children = [.. _scalarsWriters.Values];
        }
        foreach (SummaryWriter child in children) child.Flush();
    }

    /// <summary>Flushes and closes the file (and those of <see cref="AddScalars"/>).</summary>
    public void Dispose()
    {
        SummaryWriter[] children;
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            children = [.. _scalarsWriters.Values];
        }
        // Timer callbacks take the gate and see _disposed, so none writes after this point.
        _timer.Dispose();
        try
        {
            // FileStream.Dispose flushes the buffer first; a failure there still closes the handle, and is reported once.
            lock (_gate)
            {
                if (WriteFailure is null) Guarded(_stream.Dispose);
                else DisposeQuietly();
            }
        }
        finally
        {
            foreach (SummaryWriter child in children) child.Dispose();
        }
    }

    private void FlushIfPending()
    {
        lock (_gate)
        {
            if (_disposed || _pending == 0 || WriteFailure is not null) return;
            // Guarded catches the IOException: one on the timer's thread would end the process.
            Guarded(FlushLocked);
        }
    }

    private void FlushLocked()
    {
        _stream.Flush();
        _pending = 0;
    }

    /// <summary>Runs a write; the first IOException becomes <see cref="WriteFailure"/> and one warning, after which logging stops.</summary>
    private void Guarded(Action write)
    {
        try
        {
            write();
        }
        catch (IOException e)
        {
            WriteFailure = e;
            DisposeQuietly();
            Console.Error.WriteLine($"warning: TensorBoard logging to {FilePath} stopped: {e.Message} (later events are dropped; training continues)");
        }
    }

    private void DisposeQuietly()
    {
        try
        {
            _stream.Dispose();
        }
        catch (IOException)
        {
            // The buffered records cannot reach the file; the failure was already reported.
        }
    }

    private void WriteEvent(Event e) => TfRecordFormat.Write(_stream, e.ToByteArray());

    private static double UnixNow() => (DateTime.UtcNow - DateTime.UnixEpoch).TotalSeconds;
}
