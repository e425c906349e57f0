// The terminal progress bar, driven by a fake clock: its text, its throttle, and the plain default for other writers.
using GraphCompiler.Training;
using Xunit;

namespace GraphCompiler.Tests.Training;

public class ProgressTests
{
    /// <summary>A clock that moves only when told, in ticks of 1 µs.</summary>
    private sealed class FakeClock : TimeProvider
    {
        public long Ticks;
        public override long TimestampFrequency => 1_000_000;
        public override long GetTimestamp() => Ticks;
        public void Advance(double seconds) => Ticks += (long)(seconds * TimestampFrequency);
    }

    [Fact]
    public void Terminal_bar_shows_batches_loss_throughput_and_eta_in_place()
    {
        var clock = new FakeClock();
        var output = new StringWriter();
        var progress = new TerminalProgress(output, clock);
        progress.Begin("epoch 1/5", 100);
        Assert.Equal("\repoch 1/5  [--------------------]  0/100  ETA --:--", output.ToString());

        // 25 batches of 64 over 5 s (0.2 s a batch, each past the 0.1 s throttle): 320 samples/s, 75 batches × 0.2 s left.
        for (int i = 0; i < 25; i++)
        {
            clock.Advance(0.2);
            progress.Advance(64, i < 24 ? 1.0f : 0.5f);
        }
        string last = output.ToString()[(output.ToString().LastIndexOf('\r') + 1)..];
        float meanLoss = (24 * 1.0f + 0.5f) / 25;
        Assert.Equal(FormattableString.Invariant($"epoch 1/5  [#####---------------]  25/100  loss {meanLoss:F4}  320 samples/s  ETA 0:15"), last);

        progress.End();
        string all = output.ToString();
        Assert.EndsWith("\r" + new string(' ', last.Length) + "\r", all);
        Assert.DoesNotContain('\n', all);
    }

    [Fact]
    public void Terminal_bar_redraws_at_most_ten_times_a_second()
    {
        var clock = new FakeClock();
        var output = new StringWriter();
        var progress = new TerminalProgress(output, clock);
        progress.Begin("eval", 10_000);
        // 10 000 steps of 1 ms: 10 s, so 1 draw at Begin and 100 more, not 10 000.
        for (int i = 0; i < 10_000; i++)
        {
            clock.Advance(0.001);
            progress.Advance(1, float.NaN);
        }
        Assert.Equal(101, progress.Draws);
        Assert.Equal(101, output.ToString().Count(c => c == '\r'));
        string last = output.ToString()[(output.ToString().LastIndexOf('\r') + 1)..];
        Assert.StartsWith("eval  [####################]  10000/10000  1000 samples/s  ETA 0:00", last);
        Assert.DoesNotContain("loss", last); // evaluation has no loss
    }

    [Fact]
    public void Eta_past_an_hour_shows_hours()
    {
        var clock = new FakeClock();
        var output = new StringWriter();
        var progress = new TerminalProgress(output, clock);
        progress.Begin("epoch 1/1", 10_000);
        clock.Advance(1);
        progress.Advance(1, 2f); // 1 s a batch, 9 999 left
        Assert.EndsWith("ETA 2:46:39", output.ToString());
    }

    [Fact]
    public void Terminal_line_drops_the_bar_before_the_numbers_when_narrow()
    {
        var clock = new FakeClock();
        var output = new StringWriter();
        var progress = new TerminalProgress(output, clock, width: 70);
        progress.Begin("epoch 1/5", 100);
        clock.Advance(1);
        progress.Advance(64, 1f);
        string text = output.ToString();
        Assert.Equal("epoch 1/5  1/100  loss 1.0000  64 samples/s  ETA 1:39", text[(text.LastIndexOf('\r') + 1)..].TrimEnd());
    }

    [Fact]
    public void Terminal_bar_is_cut_to_the_width_so_it_never_wraps()
    {
        var clock = new FakeClock();
        var output = new StringWriter();
        var progress = new TerminalProgress(output, clock, width: 30);
        progress.Begin("epoch 1/5", 100);
        clock.Advance(1);
        progress.Advance(64, 1f);
        string text = output.ToString();
        string last = text[(text.LastIndexOf('\r') + 1)..];
        Assert.Equal(29, last.Length); // one column short of the width
        Assert.Equal("epoch 1/5  1/100  loss 1.0000", last);
    }

    [Fact]
    public void A_line_written_during_a_pass_goes_above_the_bar()
    {
        var clock = new FakeClock();
        var output = new StringWriter();
        var progress = new TerminalProgress(output, clock);
        progress.Begin("epoch 1/1", 10);
        progress.WriteLine(output, "  step   20  loss 1.0000");
        string blank = "\r" + new string(' ', "epoch 1/1  [--------------------]  0/10  ETA --:--".Length) + "\r";
        Assert.Equal("\repoch 1/1  [--------------------]  0/10  ETA --:--" + blank + "  step   20  loss 1.0000" + Environment.NewLine
            + "\repoch 1/1  [--------------------]  0/10  ETA --:--", output.ToString());
        var other = new StringWriter();
        progress.WriteLine(other, "elsewhere");
        Assert.Equal("elsewhere" + Environment.NewLine, other.ToString());
        Assert.Equal("plain" + Environment.NewLine, WriteWith(ProgressReporter.None, "plain"));
    }

    private static string WriteWith(ProgressReporter progress, string line)
    {
        var log = new StringWriter();
        progress.WriteLine(log, line);
        return log.ToString();
    }

    [Fact]
    public void Default_progress_for_a_writer_other_than_the_console_writes_nothing()
    {
        Assert.Same(ProgressReporter.None, ProgressReporter.For(new StringWriter()));
    }
}
