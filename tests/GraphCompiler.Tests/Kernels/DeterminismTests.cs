// Determinism as a contract: every op and both reference models give the same bits with 1, 2, 3 and 4 CPU threads and from run to run.
using Cifar;
using FashionMnist;
using GraphCompiler.Backends.Cpu;
using GraphCompiler.Nn;
using GraphCompiler.Optim;
using GraphCompiler.Training;
using Xunit;

namespace GraphCompiler.Tests.Kernels;

/// <summary>
/// CpuParallel.NumThreads is process-wide. These tests set it and put it back; other tests running meanwhile may run
/// with another thread count, which by this very contract cannot change their results.
/// </summary>
[Collection(nameof(DeterminismTests))]
public sealed class DeterminismTests
{
    private static readonly int[] ThreadCounts = [1, 2, 3, 4];

    private static T WithThreads<T>(int threads, Func<T> run)
    {
        int saved = CpuParallel.NumThreads;
        CpuParallel.NumThreads = threads;
        try
        {
            return run();
        }
        finally
        {
            CpuParallel.NumThreads = saved;
        }
    }

    private static int[] Bits(float[]? values) => values is null ? [] : System.Runtime.InteropServices.MemoryMarshal.Cast<float, int>(values.AsSpan()).ToArray();

    [Fact]
    public void Every_op_in_the_ops_table_is_bit_identical_for_1_to_4_threads()
    {
        int cases = 0;
        foreach (object[] row in OpsTable.Cases())
        {
            var (op, index) = ((string)row[0], (int)row[1]);
            int[][] Run()
            {
                OpCase c = OpsTable.Get(op).Case(index);
                float[] y = OpsTableTests.RunForward(c);
                float[] dy = Data.Uniform(new Rng(5 + (ulong)index), c.OutputLength);
                float[]?[] grads = OpsTableTests.RunBackward(c, dy, fill: 0f);
                return [Bits(y), .. grads.Select(Bits)];
            }
            int[][] first = WithThreads(1, Run);
            foreach (int threads in ThreadCounts.Skip(1).Append(1))
            {
                int[][] again = WithThreads(threads, Run);
                for (int k = 0; k < first.Length; k++)
                    Assert.True(first[k].AsSpan().SequenceEqual(again[k]), $"{op} case {index}: output {k} differs between 1 and {threads} threads");
            }
            cases++;
        }
        Assert.True(cases > 150, $"only {cases} op cases");
    }

    /// <summary>Three Adam steps of a reference model at batch 64 from a fixed seed: every parameter's bits.</summary>
    private static int[] Train(Func<ICompiledModel> create, Loss loss, int inputSize, int batch = 64)
    {
        ICompiledModel model = create();
        var trainer = new Trainer(model, loss, new Adam(model.Parameters(), 1e-3), batch);
        var rng = new Rng(21);
        float[] x = Data.Uniform(rng, batch * inputSize);
        int[] y = Enumerable.Range(0, batch).Select(i => (i * 7) % 10).ToArray();
        for (int step = 0; step < 3; step++) trainer.Step(x, y, batch);
        return model.Parameters().SelectMany(p => Bits(p.Data)).ToArray();
    }

    [Theory]
    [InlineData("Mlp")]
    [InlineData("CifarNet")]
    public void Reference_model_training_is_bit_identical_for_1_to_4_threads_and_run_to_run(string name)
    {
        int[] Run() => name == "Mlp"
            ? Train(() => new Mlp(seed: 3), Loss.Nll, 784)
            : Train(() => new CifarNet(seed: 3), Loss.CrossEntropy, 3 * 32 * 32);
        int[] reference = WithThreads(1, Run);
        foreach (int threads in ThreadCounts.Skip(1).Append(2))
            Assert.True(reference.AsSpan().SequenceEqual(WithThreads(threads, Run)), $"{name}: parameters after 3 steps differ between 1 and {threads} threads");
    }

    [Fact]
    public void The_thread_count_is_at_least_one()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => CpuParallel.NumThreads = 0);
        Assert.Equal(Environment.ProcessorCount, CpuParallel.WorkerCount);
    }
}
