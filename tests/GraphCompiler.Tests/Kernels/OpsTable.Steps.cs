// Every OpsTable case as typed steps (and, for the losses, loss calls) that a backend which executes schedules runs: the
// same shapes and, by replaying the case's generator, the same targets and options as the CPU kernels are given.
using GraphCompiler.Backends.Cpu;
using GraphCompiler.Backends.Ilgpu;
using GraphCompiler.Compiler;
using GraphCompiler.Nn;
using ILGPU;
using ILGPU.Runtime;
using Act = GraphCompiler.Compiler.Elementwise;

namespace GraphCompiler.Tests.Kernels;

/// <summary>
/// One case in step form: <see cref="Run"/> executes its forward steps and, given dy, its backward steps on a device,
/// starting every gradient at the given values, and returns y and the gradients (input gradients are the steps' outputs,
/// parameter gradients accumulate, as the step contract says).
/// </summary>
public sealed class StepCase
{
    public required Func<IlgpuSteps, float[][], float[]?, float[]?[], (float[] Y, float[]?[] Grads)> Run { get; init; }

    /// <summary>Elements and multiply-adds, to keep emulated runs small.</summary>
    public required long Work { get; init; }
}

public static partial class OpsTable
{
    /// <summary>The step form of case <paramref name="index"/> of <paramref name="op"/>.</summary>
    public static StepCase Steps(string op, int index)
    {
        Rng rng = Get(op).Seeded(index);
        return op switch
        {
            "Linear" => LinearSteps(rng, index),
            "Conv2d" => Conv2dSteps(rng, index),
            "MaxPool2d" => PoolSteps(PoolShapes[index], max: true),
            "AvgPool2d" => PoolSteps(AvgPoolShapes[index], max: false),
            "AdaptiveAvgPool2d" => AdaptiveSteps(AdaptiveShapes[index]),
            "Relu" => ActivationSteps(ReluLengths[index], Act.Relu),
            "LeakyRelu" => ActivationSteps(LeakyCases[index].Len, Act.LeakyRelu(LeakyCases[index].Slope)),
            "Sigmoid" => ActivationSteps(ActivationLengths[index], Act.Sigmoid),
            "Tanh" => ActivationSteps(ActivationLengths[index], Act.Tanh),
            "Gelu" => ActivationSteps(ActivationLengths[index / 2], Act.Gelu(index % 2 == 1)),
            "Silu" => ActivationSteps(ActivationLengths[index], Act.Silu),
            "ElementwiseChain" => ChainSteps(ChainCases[index]),
            "Softmax" => SoftmaxSteps(SoftmaxShapes[index], 1, log: false),
            "LogSoftmax" => index < RowShapes.Length
                ? SoftmaxSteps((1, RowShapes[index].C, 1), RowShapes[index].N, log: true)
                : SoftmaxSteps(SoftmaxShapes[index - RowShapes.Length], 1, log: true),
            "CrossEntropy" => index < RowShapes.Length ? RowLoss(rng, index, new CrossEntropyLoss(), logSoftmaxFirst: false)
                : ClassLossSteps(DrawClassOptions(rng, ClassLossOptions[index - RowShapes.Length]), nll: false),
            "Nll" => index < RowShapes.Length ? RowLoss(rng, index, new NllLoss(), logSoftmaxFirst: false)
                : ClassLossSteps(DrawClassOptions(rng, ClassLossOptions[index - RowShapes.Length]) with { Eps = 0f }, nll: true),
            "NllOfLogSoftmax" => index < RowShapes.Length ? RowLoss(rng, index, new NllLoss(), logSoftmaxFirst: true)
                : FusedLossSteps(DrawClassOptions(rng, RowClassLossOptions[index - RowShapes.Length]) with { Eps = 0f }),
            "Mse" or "L1" or "SmoothL1" or "Bce" or "BceWithLogits" => ElementwiseLossSteps(op, rng, index),
            "BatchNorm1d" => BatchNormSteps(rng, BatchNorm1dShapes[index], twoD: false),
            "BatchNorm2d" => BatchNormSteps(rng, BatchNorm2dShapes[index], twoD: true),
            "LayerNorm" => LayerNormSteps(LayerNormShapes[index]),
            "Dropout" => DropoutSteps(DropoutShapes[index], 1234 + (ulong)index),
            "Add" => BroadcastSteps(BroadcastShapes[index], multiply: false),
            "Mul" => BroadcastSteps(BroadcastShapes[index], multiply: true),
            "Cat" => CatSteps(CatShapes[index]),
            _ => throw new ArgumentException($"No step form for op '{op}'.", nameof(op)),
        };
    }

    // ---------------------------------------------------------------- the runner

    /// <summary>
    /// A case as steps over named buffers: inputs X0, X1… (per sample sizes), parameters L.P1… (or a stateful layer's own
    /// parameters), output Y, its gradient Dy, input gradients Dx0…, plus scratch buffers and layers.
    /// </summary>
    private sealed record Plan(int N, int[] PerSample, Parameter?[] Params, int YPerSample, KernelStep[] Forward, KernelStep[] Backward,
        (Buf Buf, int Length)[] Scratch, (string Name, Module Layer)[] Layers);

    private static Buf X(int k, int perSample) => new("X" + k, perSample);

    private static Buf Dx(int k, int perSample) => new("Dx" + k, perSample);

    private static ParamRef P(int k, bool grad = false) => new("L", "P" + k, grad);

    private static readonly Buf YBuf = new("Y", 0), DyBuf = new("Dy", 0);

    private static Buf Y(int perSample) => YBuf with { PerSample = perSample };

    private static Buf Dy(int perSample) => DyBuf with { PerSample = perSample };

    private static StepCase Of(Func<Plan> plan, long work) => new() { Work = work, Run = (s, inputs, dy, grads) => Execute(s, plan(), inputs, dy, grads) };

    private static (float[] Y, float[]?[] Grads) Execute(IlgpuSteps s, Plan plan, float[][] inputs, float[]? dy, float[]?[] grads)
    {
        int n = plan.N;
        var gradViews = new ArrayView<float>?[inputs.Length];
        for (int k = 0; k < inputs.Length; k++)
        {
            ArrayView<float> data = s.Allocate<float>(inputs[k].Length);
            IlgpuSteps.CopyIn<float>(inputs[k], data);
            ArrayView<float> grad = s.Allocate<float>(inputs[k].Length);
            if (grads[k] is { } g0) IlgpuSteps.CopyIn<float>(g0, grad);
            gradViews[k] = grad;
            if (plan.Params[k] is { } host)
            {
                inputs[k].CopyTo(host.Data, 0);
                s.AddParameter("L.P" + k, host, data, grad);
            }
            else
            {
                s.AddBuffer("X" + k, data);
                s.AddBuffer("Dx" + k, grad);
            }
        }
        foreach (var (name, layer) in plan.Layers) s.AddLayer(name, layer);
        ArrayView<float> y = s.Allocate<float>((long)n * plan.YPerSample), dyView = s.Allocate<float>((long)n * plan.YPerSample);
        s.AddBuffer("Y", y);
        s.AddBuffer("Dy", dyView);
        foreach (var (buf, length) in plan.Scratch)
        {
            if (buf.IsIndex) s.AddIndexBuffer(buf.Name, s.Allocate<int>(length));
            else s.AddBuffer(buf.Name, s.Allocate<float>(length));
        }
        foreach (KernelStep step in plan.Forward) s.Bind(step)(n);
        var yHost = new float[n * plan.YPerSample];
        IlgpuSteps.CopyOut(y, yHost);
        if (dy is null) return (yHost, grads);
        IlgpuSteps.CopyIn<float>(dy, dyView);
        foreach (KernelStep step in plan.Backward) s.Bind(step)(n);
        var result = new float[]?[inputs.Length];
        for (int k = 0; k < inputs.Length; k++)
        {
            if (grads[k] is null) continue;
            result[k] = new float[inputs[k].Length];
            IlgpuSteps.CopyOut(gradViews[k]!.Value, result[k]);
        }
        return (yHost, result);
    }

    // ---------------------------------------------------------------- layers

    private static StepCase LinearSteps(Rng rng, int index)
    {
        var (n, inF, outF, bias) = index < LinearShapes.Length ? LinearShapes[index] : (1 + rng.NextInt(20), 1 + rng.NextInt(70), 1 + rng.NextInt(70), rng.NextInt(2) == 0);
        return Of(() => new Plan(n, bias ? [inF, 0, 0] : [inF, 0], bias ? [null, new("w", [outF * inF]), new("b", [outF])] : [null, new("w", [outF * inF])], outF,
            [new LinearForward(X(0, inF), P(1), bias ? P(2) : null, Y(outF), inF, outF, Act.Identity)],
            [new LinearBackwardInput(Dy(outF), P(1), Dx(0, inF), inF, outF, null), new LinearBackwardParams(Dy(outF), X(0, inF), P(1, true), bias ? P(2, true) : null, inF, outF)],
            [], []), (long)n * inF * outF);
    }

    private static StepCase Conv2dSteps(Rng rng, int index)
    {
        Conv2dGeometry g; int n; bool bias;
        if (index < ConvShapes.Length) (g, n, bias) = ConvShapes[index];
        else
        {
            int k = 1 + rng.NextInt(4), st = 1 + rng.NextInt(2), p = rng.NextInt(k), d = 1 + rng.NextInt(2), groups = 1 + rng.NextInt(2);
            int span = d * (k - 1) + 1;
            g = new Conv2dGeometry(groups * (1 + rng.NextInt(3)), groups * (1 + rng.NextInt(4)), span + rng.NextInt(8), span + rng.NextInt(8), k, k, st, st,
                p, p, p, p, d, d, groups);
            n = 1 + rng.NextInt(3);
            bias = rng.NextInt(2) == 0;
        }
        var geo = new Geo<Conv2dGeometry>("G", g);
        int inPer = g.InChannels * g.InH * g.InW, outPer = g.OutChannels * g.OutH * g.OutW, wLen = g.OutChannels * g.PatchSize;
        return Of(() => new Plan(n, bias ? [inPer, 0, 0] : [inPer, 0], bias ? [null, new("w", [wLen]), new("b", [g.OutChannels])] : [null, new("w", [wLen])], outPer,
            [new Conv2dForward(X(0, inPer), P(1), bias ? P(2) : null, Y(outPer), geo, Act.Identity)],
            [new Conv2dBackwardInput(Dy(outPer), P(1), Dx(0, inPer), geo, null), new Conv2dBackwardParams(Dy(outPer), X(0, inPer), P(1, true), bias ? P(2, true) : null, geo)],
            [], []), (long)n * outPer * g.PatchSize);
    }

    private static StepCase PoolSteps((Pool2dGeometry G, int N) shape, bool max)
    {
        var (g, n) = shape;
        var geo = new Geo<Pool2dGeometry>("G", g);
        int inPer = g.Channels * g.InH * g.InW, outPer = g.Channels * g.OutH * g.OutW;
        var argmax = new Buf("Argmax", outPer, IsIndex: true);
        return Of(() => max
            ? new Plan(n, [inPer], [null], outPer, [new MaxPool2dForward(X(0, inPer), Y(outPer), argmax, geo)],
                [new MaxPool2dBackward(Dy(outPer), argmax, Dx(0, inPer), geo, null)], [(argmax, n * outPer)], [])
            : new Plan(n, [inPer], [null], outPer, [new AvgPool2dForward(X(0, inPer), Y(outPer), geo)], [new AvgPool2dBackward(Dy(outPer), Dx(0, inPer), geo)], [], []),
            (long)n * (inPer + outPer * g.KernelH * g.KernelW));
    }

    private static StepCase AdaptiveSteps((AdaptivePool2dGeometry G, int N) shape)
    {
        var (g, n) = shape;
        var geo = new Geo<AdaptivePool2dGeometry>("G", g);
        int inPer = g.Channels * g.InH * g.InW, outPer = g.Channels * g.OutH * g.OutW;
        return Of(() => new Plan(n, [inPer], [null], outPer, [new AdaptiveAvgPool2dForward(X(0, inPer), Y(outPer), geo)],
            [new AdaptiveAvgPool2dBackward(Dy(outPer), Dx(0, inPer), geo)], [], []), (long)n * (inPer + outPer));
    }

    // ---------------------------------------------------------------- element-wise

    // The backward reads the output when the derivative is a function of it (the CPU kernels' convention), else the input.
    private static StepCase ActivationSteps(int len, Act f) =>
        Of(() => new Plan(1, [len], [null], len, [new ElementwiseForward(X(0, len), Y(len), f)],
            [new ElementwiseBackward(f.DerivativeFromOutput ? Y(len) : X(0, len), Dy(len), Dx(0, len), f)], [], []), 2L * len);

    private static StepCase ChainSteps((int Len, Act[] Stages) chain)
    {
        var (len, stages) = chain;
        var geo = new Geo<EquatableArray<Act>>("Chain", EquatableArray.From(stages));
        return Of(() => new Plan(1, [len], [null], len, [new ElementwiseChainForward(X(0, len), Y(len), geo)],
            [new ElementwiseChainBackward(X(0, len), Dy(len), Dx(0, len), geo)], [], []), 2L * len * stages.Length);
    }

    private static StepCase SoftmaxSteps((int Outer, int Dim, int Inner) shape, int n, bool log)
    {
        var (outer, dim, inner) = shape;
        var r = new ReduceDims(outer, dim, inner, OverBatch: false);
        int per = outer * dim * inner;
        return Of(() => new Plan(n, [per], [null], per,
            [log ? new LogSoftmaxForward(X(0, per), Y(per), r) : new SoftmaxForward(X(0, per), Y(per), r)],
            [log ? new LogSoftmaxBackward(Y(per), Dy(per), Dx(0, per), r) : new SoftmaxBackward(Y(per), Dy(per), Dx(0, per), r)], [], []), 3L * n * per);
    }

    // ---------------------------------------------------------------- broadcasting and concatenation

    private static StepCase BroadcastSteps((int N, int[] A, int[] B) shape, bool multiply)
    {
        var (n, aDims, bDims) = shape;
        int rank = Math.Max(aDims.Length, bDims.Length);
        int[] a = [.. Enumerable.Repeat(1, rank - aDims.Length), .. aDims], b = [.. Enumerable.Repeat(1, rank - bDims.Length), .. bDims];
        int[] yd = a.Zip(b, Math.Max).ToArray();
        var geo = new Geo<BroadcastDims>("G", new BroadcastDims(EquatableArray.From<int>([rank, .. yd, .. a, .. b])));
        int aPer = a.Aggregate(1, (p, d) => p * d), bPer = b.Aggregate(1, (p, d) => p * d), yPer = yd.Aggregate(1, (p, d) => p * d);
        return Of(() => new Plan(n, [aPer, bPer], [null, null], yPer,
            [multiply ? new MulForward(X(0, aPer), X(1, bPer), Y(yPer), geo) : new AddForward(X(0, aPer), X(1, bPer), Y(yPer), geo)],
            multiply
                ? [new MulBackward(Dy(yPer), X(1, bPer), Dx(0, aPer), geo, Right: false), new MulBackward(Dy(yPer), X(0, aPer), Dx(1, bPer), geo, Right: true)]
                : [new AddBackward(Dy(yPer), Dx(0, aPer), geo, Right: false), new AddBackward(Dy(yPer), Dx(1, bPer), geo, Right: true)],
            [], []), 3L * n * yPer);
    }

    private static StepCase CatSteps((int N, int[][] Dims, int Dim) shape)
    {
        var (n, dims, dim) = shape;
        int axis = dim < 0 ? dim + dims[0].Length + 1 : dim;
        int rows = dims[0].Take(axis - 1).Aggregate(1, (p, x) => p * x), after = dims[0].Skip(axis).Aggregate(1, (p, x) => p * x);
        int total = dims.Sum(d => d[axis - 1]);
        int[] per = dims.Select(d => d.Aggregate(1, (p, x) => p * x)).ToArray();
        int[] offsets = dims.Select((d, k) => dims.Take(k).Sum(e => e[axis - 1]) * after).ToArray();
        return Of(() => new Plan(n, per, new Parameter?[dims.Length], per.Sum(),
            [.. dims.Select((d, k) => (KernelStep)new CatForward(X(k, per[k]), Y(per.Sum()), rows, d[axis - 1] * after, total * after, offsets[k]))],
            [.. dims.Select((d, k) => (KernelStep)new CatBackward(Dy(per.Sum()), Dx(k, per[k]), rows, d[axis - 1] * after, total * after, offsets[k]))],
            [], []), 2L * n * per.Sum());
    }

    // ---------------------------------------------------------------- layers with state

    private static StepCase BatchNormSteps(Rng rng, (int N, int C, int S, bool Affine, bool Training) shape, bool twoD)
    {
        var (n, c, s, affine, training) = shape;
        // The draws of the CPU case, in its order: x, then w and b, then the running statistics.
        _ = Data.Uniform(rng, n * c * s, 2f);
        if (affine)
        {
            _ = Data.Uniform(rng, c);
            _ = Data.Uniform(rng, c);
        }
        float[] runMean = Data.Uniform(rng, c, 3f), runVar = Data.Uniform(rng, c, 0.5f).Select(v => v + 1f).ToArray();
        Buf mean = new("Mean", c), invStd = new("InvStd", c);
        return Of(() =>
        {
            BatchNorm bn = twoD ? new BatchNorm2d("bn", c, 1e-5f, 0.1f, affine) : new BatchNorm1d("bn", c, 1e-5f, 0.1f, affine);
            runMean.CopyTo(bn.RunningMean!.Data, 0);
            runVar.CopyTo(bn.RunningVar!.Data, 0);
            bn.Training = training;
            int per = c * s;
            return new Plan(n, affine ? [per, 0, 0] : [per], affine ? [null, bn.Weight, bn.Bias] : [null], per,
                [new BatchNormForward("Bn", X(0, per), Y(per), mean, invStd, s)],
                [new BatchNormBackwardInput("Bn", Dy(per), X(0, per), mean, invStd, Dx(0, per), s), new BatchNormBackwardParams("Bn", Dy(per), X(0, per), mean, invStd, s)],
                [(mean, n * c), (invStd, n * c)], [("Bn", bn)]);
        }, 4L * n * c * s);
    }

    private static StepCase LayerNormSteps((int Rows, int Size, bool Affine) shape)
    {
        var (rows, size, affine) = shape;
        Buf mean = new("Mean", rows), invStd = new("InvStd", rows);
        int per = rows * size;
        return Of(() =>
        {
            var ln = new LayerNorm("ln", size, 1e-5f, affine);
            return new Plan(1, affine ? [per, 0, 0] : [per], affine ? [null, ln.Weight, ln.Bias] : [null], per,
                [new LayerNormForward("Ln", X(0, per), Y(per), mean, invStd, rows)],
                [new LayerNormBackwardInput("Ln", Dy(per), X(0, per), mean, invStd, Dx(0, per), rows), new LayerNormBackwardParams("Ln", Dy(per), X(0, per), mean, invStd, rows)],
                [(mean, rows), (invStd, rows)], [("Ln", ln)]);
        }, 4L * per);
    }

    private static StepCase DropoutSteps((int Length, float P) shape, ulong seed)
    {
        var (len, p) = shape;
        Buf mask = new("Mask", len);
        return Of(() => new Plan(1, [len], [null], len, [new DropoutForward("Drop", X(0, len), Y(len), mask)],
            [new DropoutBackward("Drop", Dy(len), mask, Dx(0, len))], [(mask, len)], [("Drop", new Dropout("drop", p, seed) { Step = 7 })]), 2L * len);
    }

    // ---------------------------------------------------------------- losses: a one-element output whose dy scales the gradient

    private static StepCase DeviceLoss(long work, Func<IlgpuSteps, ArrayView<float>, ArrayView<float>, float> loss) => new()
    {
        Work = work,
        Run = (s, inputs, dy, grads) =>
        {
            ArrayView<float> x = s.Allocate<float>(inputs[0].Length), grad = s.Allocate<float>(dy is null ? 0 : inputs[0].Length);
            IlgpuSteps.CopyIn<float>(inputs[0], x);
            float value = loss(s, x, grad);
            if (dy is null) return ([value], grads);
            var g = new float[inputs[0].Length];
            IlgpuSteps.CopyOut(grad, g);
            for (int j = 0; j < g.Length; j++) g[j] *= dy[0];
            return ([value], [g]);
        },
    };

    private static StepCase RowLoss(Rng rng, int index, ClassIndexLoss loss, bool logSoftmaxFirst)
    {
        var (n, c) = RowShapes[index];
        int[] t = Data.Targets(rng, n, c);
        return DeviceLoss(3L * n * c, (s, x, grad) => loss.Name == "nll_loss" && logSoftmaxFirst
            ? new IlgpuLosses(s).Class(loss, LogSoftmaxOf(s, x, n, c), t, grad, n, c, 1, atLogits: true)
            : new IlgpuLosses(s).Class(loss, x, t, grad, n, c, 1));
    }

    /// <summary>The log-probabilities of logits (n, c), by the device's own LogSoftmax step.</summary>
    private static ArrayView<float> LogSoftmaxOf(IlgpuSteps s, ArrayView<float> x, int n, int c)
    {
        ArrayView<float> logProbs = s.Allocate<float>((long)n * c);
        s.AddBuffer("Logits", x);
        s.AddBuffer("LogProbs", logProbs);
        s.Bind(new LogSoftmaxForward(new Buf("Logits", c), new Buf("LogProbs", c), new ReduceDims(1, c, 1, OverBatch: false)))(n);
        return logProbs;
    }

    private static StepCase ClassLossSteps(ClassOptions o, bool nll)
    {
        float[]? weight = o.Weight.Length > 0 ? o.Weight : null;
        ClassIndexLoss loss = nll ? new NllLoss(weight, o.IgnoreIndex, o.Reduction) : new CrossEntropyLoss(weight, o.IgnoreIndex, o.Eps, o.Reduction);
        return DeviceLoss(3L * o.N * o.C * o.Inner, (s, x, grad) => new IlgpuLosses(s).Class(loss, x, o.Targets, grad, o.N, o.C, o.Inner));
    }

    private static StepCase FusedLossSteps(ClassOptions o)
    {
        var loss = new NllLoss(o.Weight.Length > 0 ? o.Weight : null, o.IgnoreIndex, o.Reduction);
        return DeviceLoss(3L * o.N * o.C, (s, x, grad) => new IlgpuLosses(s).Class(loss, LogSoftmaxOf(s, x, o.N, o.C), o.Targets, grad, o.N, o.C, 1, atLogits: true));
    }

    // The element-wise losses replay their case's draws for the targets (and weights).
    private static StepCase ElementwiseLossSteps(string op, Rng rng, int index)
    {
        int m = ElementwiseLengths[index];
        Reduction r = ReductionOf(index);
        float[] y;
        ElementwiseLoss loss;
        switch (op)
        {
            case "Mse":
                y = Data.Uniform(rng, m, 2f);
                loss = new MseLoss(r);
                break;
            case "L1":
            {
                float[] x = Data.Uniform(rng, m, 2f);
                float[] d = Data.AwayFromZero(rng, m, 0.05f);
                y = x.Select((v, i) => v - d[i]).ToArray();
                loss = new L1Loss(r);
                break;
            }
            case "SmoothL1":
            {
                float beta = SmoothL1Betas[index];
                float[] x = Data.Uniform(rng, m, 2f);
                y = new float[m];
                for (int i = 0; i < m; i++)
                {
                    float d;
                    do d = rng.Uniform(-3f, 3f); while (MathF.Abs(d) < 0.02f || MathF.Abs(MathF.Abs(d) - beta) < 0.02f);
                    y[i] = x[i] - d;
                }
                loss = new SmoothL1Loss(beta, r);
                break;
            }
            case "Bce":
            {
                _ = Enumerable.Range(0, m).Select(_ => rng.Uniform(0.05f, 0.95f)).ToArray();
                y = Enumerable.Range(0, m).Select(_ => index % 2 == 0 ? rng.NextInt(2) : rng.Uniform(0f, 1f)).ToArray();
                float[] w = BroadcastWeight(rng, index, m, 0.2f, 2f);
                loss = new BceLoss(w.Length > 0 ? w : null, r);
                break;
            }
            default:
            {
                _ = Data.Uniform(rng, m, 5f);
                y = Enumerable.Range(0, m).Select(_ => index % 2 == 0 ? rng.NextInt(2) : rng.Uniform(0f, 1f)).ToArray();
                float[] w = BroadcastWeight(rng, index, m, 0.2f, 2f);
                float[] pw = BroadcastWeight(rng, index + 1, m, 0.5f, 3f);
                loss = new BceWithLogitsLoss(w.Length > 0 ? w : null, pw.Length > 0 ? pw : null, r);
                break;
            }
        }
        return DeviceLoss(3L * m, (s, x, grad) => new IlgpuLosses(s).Elementwise(loss, x, y, grad));
    }
}
