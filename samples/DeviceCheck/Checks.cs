// The comparisons the device check makes: a training step of a model on a device against the CPU backend, and every loss
// with its options against the CPU's loss kernels; each tensor's error relative to its largest value.
using Cifar;
using GraphCompiler;
using GraphCompiler.Backends.Ilgpu;
using GraphCompiler.Nn;
using GraphCompiler.Optim;
using GraphCompiler.Training;
using ILGPU;
using ILGPU.Runtime;
using Device = GraphCompiler.Device;

namespace DeviceCheck;

/// <summary>Counts checks and failures and keeps the worst relative error; failures are printed as they happen.</summary>
public sealed class Checks
{
    public int Count { get; private set; }

    public int Failed { get; private set; }

    public double Worst { get; private set; }

    /// <summary>A batch of normal inputs and class targets for <paramref name="model"/>.</summary>
    public static (float[] X, int[] Y) Batch(int n, ICompiledModel model, ulong seed)
    {
        var rng = new Rng(seed);
        int perSample = model.InputShape.Aggregate(1, (a, b) => a * b), classes = model.OutputShape[0];
        var x = new float[n * perSample];
        for (int i = 0; i < x.Length; i++) x[i] = rng.Normal();
        var y = new int[n];
        for (int i = 0; i < n; i++) y[i] = rng.NextInt(classes);
        return (x, y);
    }

    public void Fail(string message)
    {
        Count++;
        Failed++;
        Console.WriteLine("  FAILED " + message);
    }

    /// <summary>
    /// max|got − want| ≤ tolerance · max|want|. A tensor below a thousandth of <paramref name="noiseScale"/> (a gradient
    /// that is zero in exact arithmetic, such as a bias before BatchNorm, whose values are rounding noise) is measured
    /// against <paramref name="noiseScale"/> instead. The emulator runs the kernels' float code as written (1e-4); a GPU's
    /// exp and fused multiply-adds round differently from the CPU's (1e-3).
    /// </summary>
    private void Compare(string what, ReadOnlySpan<float> want, ReadOnlySpan<float> got, Device device, float noiseScale = 0f)
    {
        Count++;
        double scale = 0, diff = 0;
        for (int i = 0; i < want.Length; i++)
        {
            scale = Math.Max(scale, Math.Abs(want[i]));
            diff = Math.Max(diff, Math.Abs(got[i] - want[i]));
        }
        if (scale < 1e-3 * noiseScale) scale = noiseScale;
        double error = scale == 0 ? diff : diff / scale, tolerance = device.Type == DeviceType.IlgpuCpu ? 1e-4 : 1e-3;
        Worst = Math.Max(Worst, error);
        if (!(error <= tolerance))
        {
            Failed++;
            Console.WriteLine($"  FAILED {device} {what}: relative error {error:E2} > {tolerance:E0}");
        }
    }

    /// <summary>
    /// One training step of two identically initialised copies, on the CPU backend and on <paramref name="device"/>: the
    /// loss, the output, every parameter gradient, and every parameter after an SGD step with momentum.
    /// </summary>
    public void Model(string name, Func<ICompiledModel> create, Loss loss, Device device, int batch, IlgpuGemmRoute route = IlgpuGemmRoute.Auto)
    {
        if (route != IlgpuGemmRoute.Auto) name = $"{name} ({route})";
        ICompiledModel cpu = create(), dev = create();
        var cpuOpt = new Sgd(cpu.Parameters(), lr: 0.05, momentum: 0.9, weightDecay: 1e-3);
        var devOpt = new Sgd(dev.Parameters(), lr: 0.05, momentum: 0.9, weightDecay: 1e-3);
        var cpuTrainer = new Trainer(cpu, loss, cpuOpt, batch);
        using var devTrainer = new IlgpuTrainer(dev, loss, devOpt, batch, device, route);
        var (x, y) = Batch(batch, cpu, 11);
        float cpuLoss = cpuTrainer.ForwardBackward(x, y, batch), devLoss = devTrainer.ForwardBackward(x, y, batch);
        Compare($"{name} loss", [cpuLoss], [devLoss], device);
        int outputs = batch * cpu.OutputShape.Aggregate(1, (a, b) => a * b);
        var output = new float[outputs];
        devTrainer.Model.CopyOutput(output);
        Compare($"{name} output", cpuTrainer.Workspace.Output.AsSpan(0, outputs), output, device);
        devTrainer.Model.CopyGradientsToHost();
        var cpuParams = cpu.Parameters();
        var devParams = dev.Parameters();
        float largest = cpuParams.Max(p => p.Grad.Max(Math.Abs));
        for (int i = 0; i < cpuParams.Count; i++) Compare($"{name} {cpuParams[i].Name}.grad", cpuParams[i].Grad, devParams[i].Grad, device, largest);
        cpuOpt.Step();
        devTrainer.Model.OptimizerStep(devOpt);
        devTrainer.Synchronize();
        for (int i = 0; i < cpuParams.Count; i++) Compare($"{name} {cpuParams[i].Name} after SGD", cpuParams[i].Data, devParams[i].Data, device);
    }

    /// <summary>Every loss of <see cref="Loss"/> with its options, on random outputs and targets: the loss and its gradient.</summary>
    public void Losses(Device device)
    {
        using IlgpuDevice d = IlgpuDevice.Open(device);
        using var steps = new IlgpuSteps(d, "losses");
        var losses = new IlgpuLosses(steps);
        var rng = new Rng(12);
        float[] Uniform(int count, float scale) => [.. Enumerable.Range(0, count).Select(_ => rng.Uniform(-scale, scale))];
        ArrayView<float> Upload(float[] values)
        {
            ArrayView<float> view = steps.Allocate<float>(values.Length);
            IlgpuSteps.CopyIn<float>(values, view);
            return view;
        }
        float[] Download(ArrayView<float> view)
        {
            var host = new float[view.Length];
            IlgpuSteps.CopyOut(view, host);
            return host;
        }

        const int n = 6, c = 5, inner = 3;
        int[] targets = [.. Enumerable.Range(0, n * inner).Select(i => i % 4 == 0 ? -100 : rng.NextInt(c))];
        float[] weight = [.. Enumerable.Range(0, c).Select(_ => rng.Uniform(0.2f, 2f))];
        var classLosses = new (string Name, ClassIndexLoss Loss, int Inner)[]
        {
            ("cross_entropy", new CrossEntropyLoss(), 1),
            ("cross_entropy weight ignore_index label_smoothing", new CrossEntropyLoss(weight, -100, 0.1f), 1),
            ("cross_entropy (N, C, 3) sum", new CrossEntropyLoss(weight, -100, 0.2f, Reduction.Sum), inner),
            ("nll_loss weight none", new NllLoss(weight, -100, Reduction.None), inner),
        };
        foreach (var (name, loss, spatial) in classLosses)
        {
            float[] x = Uniform(n * c * spatial, 3f);
            int[] t = targets[..(n * spatial)];
            var grad = new float[x.Length];
            float want = loss.Compute(x, t, grad, [], n, c, spatial);
            ArrayView<float> gradView = steps.Allocate<float>(x.Length);
            float got = losses.Class(loss, Upload(x), t, gradView, n, c, spatial);
            Compare(name, [want], [got], device);
            Compare(name + " grad", grad, Download(gradView), device);
        }

        const int m = 24;
        float[] probabilities = [.. Enumerable.Range(0, m).Select(_ => rng.Uniform(0.05f, 0.95f))];
        float[] soft = [.. Enumerable.Range(0, m).Select(_ => rng.Uniform(0f, 1f))];
        var elementwise = new (string Name, ElementwiseLoss Loss, float[] X, float[] T)[]
        {
            ("mse_loss", new MseLoss(), Uniform(m, 2f), Uniform(m, 2f)),
            ("l1_loss sum", new L1Loss(Reduction.Sum), Uniform(m, 2f), Uniform(m, 2f)),
            ("smooth_l1_loss beta 0.5", new SmoothL1Loss(0.5f), Uniform(m, 2f), Uniform(m, 2f)),
            ("binary_cross_entropy weight", new BceLoss([.. Enumerable.Range(0, 4).Select(_ => rng.Uniform(0.2f, 2f))]), probabilities, soft),
            ("binary_cross_entropy_with_logits pos_weight", new BceWithLogitsLoss(null, [.. Enumerable.Range(0, 4).Select(_ => rng.Uniform(0.5f, 3f))]), Uniform(m, 5f), soft),
        };
        foreach (var (name, loss, x, t) in elementwise)
        {
            var grad = new float[m];
            float want = loss.Compute(x, t, grad);
            ArrayView<float> gradView = steps.Allocate<float>(m);
            float got = losses.Elementwise(loss, Upload(x), t, gradView);
            Compare(name, [want], [got], device);
            Compare(name + " grad", grad, Download(gradView), device);
        }
    }
}
