// Fused against unfused CifarNet training steps, alternated step by step in one process so that both see the same load.
using System.Diagnostics;
using System.Globalization;

namespace GraphCompiler.Benchmarks;

/// <summary>
/// BenchmarkDotNet measures one variant after the other, so on a shared machine a change in load between the two can
/// outweigh the difference being measured. Here each pair runs one fused and one unfused step back to back (which goes
/// first alternates), and the figures are medians of wall time, of process CPU time (all threads; time spent waiting for
/// a core is not in it) and of the per-pair fused / unfused ratios.
/// </summary>
public static class FusionAlternating
{
    public static void Run(int pairs, TextWriter output)
    {
        var bench = new FusionBenchmarks();
        bench.Setup();
        for (int i = 0; i < 5; i++)
        {
            bench.Fused();
            bench.Unfused();
        }
        var wall = new[] { new double[pairs], new double[pairs] };
        var cpu = new[] { new double[pairs], new double[pairs] };
        for (int i = 0; i < pairs; i++)
        {
            for (int k = 0; k < 2; k++)
            {
                int variant = (i + k) % 2; // 0 fused, 1 unfused
                TimeSpan cpuBefore = Environment.CpuUsage.TotalTime;
                long start = Stopwatch.GetTimestamp();
                if (variant == 0) bench.Fused();
                else bench.Unfused();
                wall[variant][i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                cpu[variant][i] = (Environment.CpuUsage.TotalTime - cpuBefore).TotalMilliseconds;
            }
        }
        string F(double v) => v.ToString("0.0", CultureInfo.InvariantCulture);
        string R(double v) => v.ToString("0.000", CultureInfo.InvariantCulture);
        output.WriteLine($"CifarNet train step b64, fused (21 kernels) / unfused (29 kernels), {pairs} alternating pairs");
        foreach ((string name, double[][] t) in new[] { ("wall ms", wall), ("cpu ms", cpu) })
        {
            double[] ratios = t[0].Zip(t[1], (f, u) => f / u).ToArray();
            output.WriteLine($"{name}: fused median {F(Median(t[0]))} (min {F(t[0].Min())}), unfused median {F(Median(t[1]))} (min {F(t[1].Min())}); " +
                $"ratio of medians {R(Median(t[0]) / Median(t[1]))}, median of pair ratios {R(Median(ratios))}, of minima {R(t[0].Min() / t[1].Min())}");
        }
    }

    private static double Median(double[] values)
    {
        double[] sorted = values.Order().ToArray();
        int n = sorted.Length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }
}
