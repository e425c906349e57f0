// Progress of long work (training epochs, evaluation): an in-place bar on a terminal, nothing when output is redirected.
using System.Globalization;

namespace GraphCompiler.Training;

/// <summary>
/// Reports the progress of a pass over batches. <see cref="Begin"/> starts a pass of a known number of batches,
/// <see cref="Advance"/> counts one batch (its sample count and loss, NaN when there is none), <see cref="End"/> finishes
/// it and leaves the output as it was before <see cref="Begin"/>, so the caller's own lines stay the only lasting output.
/// </summary>
public abstract class ProgressReporter
{
    /// <summary>Reports nothing: the output stays exactly the caller's lines (pipes, CI, tests).</summary>
    public static ProgressReporter None { get; } = new NoProgress();

    /// <summary>
    /// The default for <paramref name="log"/>: a <see cref="TerminalProgress"/> when <paramref name="log"/> is the console
    /// and the console's output is a terminal, <see cref="None"/> otherwise.
    /// </summary>
    public static ProgressReporter For(TextWriter log) =>
        ReferenceEquals(log, Console.Out) && !Console.IsOutputRedirected ? new TerminalProgress(log, width: ConsoleWidth()) : None;

    private static int ConsoleWidth()
    {
        try { return Console.WindowWidth; }
        catch (IOException) { return 0; }
        catch (PlatformNotSupportedException) { return 0; }
    }

    public abstract void Begin(string label, int totalBatches);
    public abstract void Advance(int samples, float loss);
    public abstract void End();

    /// <summary>Writes a line of the caller's (e.g. a loss every 20 steps) to <paramref name="log"/> during a pass; a bar on
    /// the same writer moves below it instead of being appended to.</summary>
    public virtual void WriteLine(TextWriter log, string line) => log.WriteLine(line);

    private sealed class NoProgress : ProgressReporter
    {
        public override void Begin(string label, int totalBatches) { }
        public override void Advance(int samples, float loss) { }
        public override void End() { }
    }
}

/// <summary>
/// A carriage-return line redrawn at most every <see cref="Interval"/> (10 times a second by default):
/// <c>epoch 1/5  [#######-------------]  312/937  loss 0.5123  41234 samples/s  ETA 0:12</c>. Between redraws
/// <see cref="Advance"/> only adds to counters and reads the clock; a redraw formats into a reused buffer, so no step allocates.
/// </summary>
public sealed class TerminalProgress : ProgressReporter
{
    private const int BarWidth = 20;
    private readonly TextWriter _out;
    private readonly TimeProvider _clock;
    private readonly long _intervalTicks;
    private readonly char[] _line = new char[160];
    private readonly int _maxWidth;
    private string _label = "";
    private int _total, _done, _lastWidth;
    private long _samples, _start, _lastDraw;
    private double _lossSum;
    private long _lossSamples;
    private bool _active;

    /// <param name="width">The terminal's columns: the line is cut to one less, so it never wraps (a wrapped line could not be
    /// redrawn in place); 0 or less for no limit.</param>
    public TerminalProgress(TextWriter output, TimeProvider? clock = null, TimeSpan? interval = null, int width = 0)
    {
        _maxWidth = width > 1 ? Math.Min(width - 1, 159) : 159;
        _out = output;
        _clock = clock ?? TimeProvider.System;
        Interval = interval ?? TimeSpan.FromMilliseconds(100);
        _intervalTicks = (long)(Interval.TotalSeconds * _clock.TimestampFrequency);
    }

    /// <summary>The least time between two redraws.</summary>
    public TimeSpan Interval { get; }

    /// <summary>How many times the line has been drawn (for tests of the throttle).</summary>
    public int Draws { get; private set; }

    public override void Begin(string label, int totalBatches)
    {
        _label = label;
        _total = totalBatches;
        _done = 0;
        _samples = 0;
        _lossSum = 0;
        _lossSamples = 0;
        _start = _clock.GetTimestamp();
        _lastDraw = _start;
        _active = true;
        Draw(_start);
    }

    public override void Advance(int samples, float loss)
    {
        _done++;
        _samples += samples;
        if (!float.IsNaN(loss))
        {
            _lossSum += (double)loss * samples;
            _lossSamples += samples;
        }
        long now = _clock.GetTimestamp();
        if (now - _lastDraw >= _intervalTicks) Draw(now);
    }

    public override void End()
    {
        if (!_active) return;
        _active = false;
        Clear();
    }

    public override void WriteLine(TextWriter log, string line)
    {
        if (!_active || !ReferenceEquals(log, _out))
        {
            log.WriteLine(line);
            return;
        }
        Clear();
        _out.WriteLine(line);
        Draw(_clock.GetTimestamp());
    }

    /// <summary>Blanks the bar and returns to the start of the line: the caller's next line replaces it.</summary>
    private void Clear()
    {
        _out.Write('\r');
        for (int i = 0; i < _lastWidth; i++) _out.Write(' ');
        _out.Write('\r');
        _out.Flush();
        _lastWidth = 0;
    }

    private void Draw(long now)
    {
        _lastDraw = now;
        Draws++;
        double elapsed = (now - _start) / (double)_clock.TimestampFrequency;
        int n = Format(elapsed, withBar: true);
        // On a narrow terminal the numbers matter more than the bar: drop it before cutting anything.
        if (n > _maxWidth) n = Format(elapsed, withBar: false);
        n = Math.Min(n, _maxWidth);
        int width = n;
        // Pad over what a longer previous line left behind.
        while (n < _lastWidth) _line[n++] = ' ';
        _lastWidth = width;
        _out.Write('\r');
        _out.Write(_line, 0, n);
        _out.Flush();
    }

    private int Format(double elapsed, bool withBar)
    {
        Span<char> s = _line;
        int n = 0;
        Put(s, ref n, _label);
        if (withBar)
        {
            Put(s, ref n, "  [");
            int filled = _total > 0 ? (int)((long)Math.Min(_done, _total) * BarWidth / _total) : 0;
            for (int i = 0; i < BarWidth; i++) s[n++] = i < filled ? '#' : '-';
            s[n++] = ']';
        }
        Put(s, ref n, "  ");
        PutInt(s, ref n, _done);
        s[n++] = '/';
        PutInt(s, ref n, _total);
        if (_lossSamples > 0)
        {
            Put(s, ref n, "  loss ");
            ((float)(_lossSum / _lossSamples)).TryFormat(s[n..], out int w, "F4", CultureInfo.InvariantCulture);
            n += w;
        }
        if (elapsed > 0 && _done > 0)
        {
            Put(s, ref n, "  ");
            PutInt(s, ref n, (long)Math.Round(_samples / elapsed));
            Put(s, ref n, " samples/s  ETA ");
            PutDuration(s, ref n, elapsed / _done * Math.Max(_total - _done, 0));
        }
        else Put(s, ref n, "  ETA --:--");
        return n;
    }

    private static void Put(Span<char> s, ref int n, string text)
    {
        int count = Math.Min(text.Length, s.Length - n - 64); // keep room for the numbers
        if (count <= 0) return;
        text.AsSpan(0, count).CopyTo(s[n..]);
        n += count;
    }

    private static void PutInt(Span<char> s, ref int n, long value)
    {
        value.TryFormat(s[n..], out int w, default, CultureInfo.InvariantCulture);
        n += w;
    }

    private static void PutTwo(Span<char> s, ref int n, long value)
    {
        s[n++] = (char)('0' + value / 10 % 10);
        s[n++] = (char)('0' + value % 10);
    }

    /// <summary>m:ss, or h:mm:ss from an hour on.</summary>
    private static void PutDuration(Span<char> s, ref int n, double seconds)
    {
        long total = (long)Math.Round(Math.Min(seconds, 359_999));
        long h = total / 3600, m = total / 60 % 60, sec = total % 60;
        if (h > 0)
        {
            PutInt(s, ref n, h);
            s[n++] = ':';
            PutTwo(s, ref n, m);
        }
        else PutInt(s, ref n, m);
        s[n++] = ':';
        PutTwo(s, ref n, sec);
    }
}
