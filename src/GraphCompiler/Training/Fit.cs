// The epoch loop every sample shares: train over a loader, evaluate, report one line per epoch, total the throughput.
using System.Diagnostics;
using GraphCompiler.Data;

namespace GraphCompiler.Training;

/// <summary>What a run of <see cref="Fit.Run"/> measured.</summary>
public sealed record FitResult(int Epochs, float LastLoss, float TestAccuracy, double TrainSeconds, long TrainSamples)
{
    public double SamplesPerSecond => TrainSamples / Math.Max(TrainSeconds, 1e-9);

    /// <summary>The machine-readable last line of a sample: <c>result: test_accuracy=… epochs=… train_seconds=… samples_per_second=…</c>.</summary>
    public string ResultLine => FormattableString.Invariant(
        $"result: test_accuracy={TestAccuracy:F4} epochs={Epochs} train_seconds={TrainSeconds:F2} samples_per_second={SamplesPerSecond:F0}");
}

/// <summary>One epoch as <see cref="Fit.Run"/> reports it to its per-epoch callback: the step count so far, the mean training
/// loss of the epoch, the test accuracy after it and the seconds its training pass took.</summary>
public sealed record EpochReport(int Epoch, int Step, float Loss, float TestAccuracy, double Seconds);

public static class Fit
{
    /// <summary>
    /// Trains for <paramref name="epochs"/> epochs, evaluating on <paramref name="test"/> after each and writing one line
    /// per epoch to <paramref name="log"/>; <paramref name="onStep"/> sees each step's number and loss. Only the training
    /// passes count toward the time and throughput; <paramref name="onEpoch"/> sees each epoch's summary after its
    /// evaluation (e.g. to log it to TensorBoard, or to save a <see cref="IO.TrainingCheckpoint"/>). To resume a run
    /// from a checkpoint taken after epoch <paramref name="startEpoch"/>, load it, then pass that epoch: training runs
    /// epochs <c>startEpoch + 1 … epochs</c> and step numbers continue from <c>startEpoch · train.Count</c>.
    /// <paramref name="progress"/> shows each training and evaluation pass as it runs; by default
    /// (<see cref="ProgressReporter.For"/>) a bar when <paramref name="log"/> is the console on a terminal, nothing
    /// otherwise, so redirected output is exactly the per-epoch lines. Training passes run in training mode
    /// (<see cref="ICompiledModel.Train"/>) and evaluations in eval mode, as a PyTorch loop calls <c>model.train()</c> and
    /// <c>model.eval()</c>; the model is left in training mode. With a <see cref="Distributed.DistributedDataParallel"/>
    /// trainer, each epoch's loss, sample count and test accuracy are all-reduced over the ranks (each evaluates its
    /// share of <paramref name="test"/>), and only rank 0 writes to <paramref name="log"/> and shows progress.
    /// </summary>
    public static FitResult Run(ICompiledModel model, ITrainer trainer, DataLoader train, IDataset test, int epochs, TextWriter log,
        Action<int, float>? onStep = null, Action<EpochReport>? onEpoch = null, int startEpoch = 0, ProgressReporter? progress = null)
    {
        var ddp = trainer as Distributed.DistributedDataParallel;
        if (ddp is { Group.IsMain: false }) (log, progress) = (TextWriter.Null, ProgressReporter.None);
        progress ??= ProgressReporter.For(log);
        if (epochs <= 0) throw new ArgumentOutOfRangeException(nameof(epochs), epochs, "Train for at least one epoch.");
        BatchChecks.Dataset("Fit.Run", "training", model, train.Dataset);
        BatchChecks.Dataset("Fit.Run", "test", model, test);
        if (startEpoch < 0 || startEpoch >= epochs)
            throw new ArgumentOutOfRangeException(nameof(startEpoch), startEpoch, $"The epoch to resume after must be in [0, {epochs}) for a {epochs}-epoch run.");
        int step = startEpoch * train.Count;
        double seconds = 0;
        long samples = 0;
        float loss = float.NaN, accuracy = float.NaN;
        for (int epoch = startEpoch + 1; epoch <= epochs; epoch++)
        {
            var watch = Stopwatch.StartNew();
            double lossSum = 0;
            long epochSamples = 0;
            model.Train(); // each epoch trains in training mode, whatever the caller or the last evaluation left
            progress.Begin(FormattableString.Invariant($"epoch {epoch}/{epochs}"), train.Count);
            foreach (Batch batch in train)
            {
                float batchLoss = trainer.Step(batch.Images, batch.Labels);
                // Counted apart from the call: `onStep?.Invoke(++step, …)` would skip the increment when there is no callback.
                step++;
                onStep?.Invoke(step, batchLoss);
                lossSum += (double)batchLoss * batch.Count;
                epochSamples += batch.Count;
                progress.Advance(batch.Count, batchLoss);
            }
            watch.Stop();
            progress.End();
            trainer.Synchronize(); // a device trainer copies the trained parameters back for the host evaluation
            if (ddp is not null) (lossSum, epochSamples) = ddp.AllReduceEpoch(lossSum, epochSamples);
            seconds += watch.Elapsed.TotalSeconds;
            samples += epochSamples;
            loss = (float)(lossSum / epochSamples);
            string label = FormattableString.Invariant($"eval {epoch}/{epochs}");
            accuracy = ddp is null ? Evaluation.Accuracy(model, test, progress: progress, label: label) : ddp.Accuracy(test, progress, label);
            log.WriteLine(FormattableString.Invariant(
                $"epoch {epoch}/{epochs}  loss {loss:F4}  test_accuracy {accuracy:F4}  {watch.Elapsed.TotalSeconds:F2} s  {epochSamples / watch.Elapsed.TotalSeconds:F0} samples/s"));
            onEpoch?.Invoke(new EpochReport(epoch, step, loss, accuracy, watch.Elapsed.TotalSeconds));
        }
        return new FitResult(epochs, loss, accuracy, seconds, samples);
    }
}
