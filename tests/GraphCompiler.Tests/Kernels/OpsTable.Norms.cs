// OpsTable entries for the normalisation and dropout kernels: BatchNorm in training and eval mode over every layout, LayerNorm, Dropout.
using GraphCompiler.Backends.Cpu;
using GraphCompiler.Backends.Reference;

namespace GraphCompiler.Tests.Kernels;

public static partial class OpsTable
{
    // ---------------------------------------------------------------- BatchNorm

    // (n, channels, spatial, affine, training). BatchNorm1d: (N,C) rows and (N,C,L), affine on and off, both modes, and a
    // wide (N,C) batch. BatchNorm2d: (N,C,H,W) with H·W as spatial, including one large enough to split channels across threads.
    private static readonly (int N, int C, int S, bool Affine, bool Training)[] BatchNorm1dShapes =
    [
        (4, 3, 1, true, true),
        (3, 5, 1, false, true),       // n = 2 would make dx vanish identically (two values normalise to ±1 whatever x is)
        (64, 100, 1, true, true),
        (3, 4, 7, true, true),
        (2, 3, 17, false, true),
        (5, 6, 1, true, false),
        (3, 4, 9, true, false),
    ];

    private static readonly (int N, int C, int S, bool Affine, bool Training)[] BatchNorm2dShapes =
    [
        (2, 3, 20, true, true),       // (2,3,4,5)
        (3, 2, 49, false, true),      // (3,2,7,7)
        (8, 16, 256, true, true),     // (8,16,16,16): the parallel per-channel path
        (2, 3, 20, false, false),
        (4, 5, 36, true, false),
        (8, 16, 256, true, false),
    ];

    private static OpCase BatchNorm1d(Rng rng, int index) => BatchNorm(rng, BatchNorm1dShapes[index]);

    private static OpCase BatchNorm2d(Rng rng, int index) => BatchNorm(rng, BatchNorm2dShapes[index]);

    private static OpCase BatchNorm(Rng rng, (int N, int C, int S, bool Affine, bool Training) shape)
    {
        var (n, c, s, affine, training) = shape;
        int len = n * c * s;
        // An offset mean: the kernels must stay accurate when |μ| is several σ.
        float[] x = Data.Uniform(rng, len, 2f);
        for (int i = 0; i < len; i++) x[i] += 3f;
        var inputs = new List<Input> { new("x", x, Role.Input) };
        if (affine)
        {
            float[] w = Data.Uniform(rng, c);
            for (int i = 0; i < c; i++) w[i] += 1.5f;
            inputs.Add(new("w", w, Role.Param));
            inputs.Add(new("b", Data.Uniform(rng, c), Role.Param));
        }
        float[] runMean = Data.Uniform(rng, c, 3f), runVar = Data.Uniform(rng, c, 0.5f).Select(v => v + 1f).ToArray();
        const float eps = 1e-5f, momentum = 0.1f;
        double[] rm = Data.ToDouble(runMean), rv = Data.ToDouble(runVar);

        void Forward(float[][] i, float[] y, float[] mean, float[] invStd)
        {
            ReadOnlySpan<float> w = affine ? i[1] : default, b = affine ? i[2] : default;
            if (training) BatchNormKernels.ForwardTraining(i[0], w, b, y, mean, invStd, (float[])runMean.Clone(), (float[])runVar.Clone(), n, c, s, eps, momentum);
            else BatchNormKernels.ForwardInference(i[0], w, b, runMean, runVar, y, mean, invStd, n, c, s, eps);
        }

        return new OpCase
        {
            Description = $"BatchNorm {(training ? "train" : "eval")} n={n} c={c} spatial={s} affine={affine}",
            Inputs = [.. inputs],
            OutputLength = len,
            FiniteDifferenceSamples = len > 10_000 ? 8 : 40,
            FastForward = (i, y) => Forward(i, y, new float[c], new float[c]),
            ReferenceForward = i =>
            {
                var y = new double[len];
                ReadOnlySpan<double> w = affine ? i[1] : default, b = affine ? i[2] : default;
                if (training) ReferenceKernels.BatchNormForwardTraining(i[0], w, b, y, (double[])rm.Clone(), (double[])rv.Clone(), n, c, s, eps, momentum);
                else ReferenceKernels.BatchNormForwardInference(i[0], w, b, rm, rv, y, n, c, s, eps);
                return y;
            },
            FastBackward = (i, y, dy, g) =>
            {
                float[] mean = new float[c], invStd = new float[c];
                Forward(i, new float[len], mean, invStd);
                BatchNormKernels.Backward(dy, i[0], affine ? i[1] : default, mean, invStd, g[0], affine ? g[1] : default, affine ? g[2] : default, n, c, s, training);
            },
            ReferenceBackward = (i, dy) =>
            {
                double[] dx = new double[len], dw = new double[affine ? c : 0], db = new double[affine ? c : 0];
                if (training) ReferenceKernels.BatchNormBackwardTraining(i[0], affine ? i[1] : default, dy, dx, dw, db, n, c, s, eps);
                else ReferenceKernels.BatchNormBackwardInference(i[0], affine ? i[1] : default, rm, rv, dy, dx, dw, db, n, c, s, eps);
                return affine ? [dx, dw, db] : [dx];
            },
        };
    }

    // ---------------------------------------------------------------- LayerNorm

    // (rows, size, affine): odd sizes around the vector width, affine off, and a batch large enough to split across threads.
    private static readonly (int Rows, int Size, bool Affine)[] LayerNormShapes =
        [(1, 5, true), (3, 7, false), (4, 16, true), (2, 33, true), (64, 100, true), (5, 300, false), (40, 1000, true)];

    private static OpCase LayerNorm(Rng rng, int index)
    {
        var (rows, size, affine) = LayerNormShapes[index];
        int len = rows * size;
        float[] x = Data.Uniform(rng, len, 2f);
        for (int i = 0; i < len; i++) x[i] -= 2.5f;
        var inputs = new List<Input> { new("x", x, Role.Input) };
        if (affine)
        {
            inputs.Add(new("w", Data.Uniform(rng, size).Select(v => v + 1.2f).ToArray(), Role.Param));
            inputs.Add(new("b", Data.Uniform(rng, size), Role.Param));
        }
        const float eps = 1e-5f;
        return new OpCase
        {
            Description = $"LayerNorm rows={rows} size={size} affine={affine}",
            Inputs = [.. inputs],
            OutputLength = len,
            FiniteDifferenceSamples = len > 10_000 ? 8 : 40,
            FastForward = (i, y) => LayerNormKernels.Forward(i[0], affine ? i[1] : default, affine ? i[2] : default, y, new float[rows], new float[rows], rows, size, eps),
            ReferenceForward = i =>
            {
                var y = new double[len];
                ReferenceKernels.LayerNormForward(i[0], affine ? i[1] : default, affine ? i[2] : default, y, rows, size, eps);
                return y;
            },
            FastBackward = (i, y, dy, g) =>
            {
                float[] mean = new float[rows], invStd = new float[rows];
                LayerNormKernels.Forward(i[0], affine ? i[1] : default, affine ? i[2] : default, new float[len], mean, invStd, rows, size, eps);
                LayerNormKernels.Backward(dy, i[0], affine ? i[1] : default, mean, invStd, g[0], affine ? g[1] : default, affine ? g[2] : default, rows, size);
            },
            ReferenceBackward = (i, dy) =>
            {
                double[] dx = new double[len], dw = new double[affine ? size : 0], db = new double[affine ? size : 0];
                ReferenceKernels.LayerNormBackward(i[0], affine ? i[1] : default, dy, dx, dw, db, rows, size, eps);
                return affine ? [dx, dw, db] : [dx];
            },
        };
    }

    // ---------------------------------------------------------------- Dropout

    // (length, p): p = 0 and p = 1 edge cases, lengths around the vector width, and one split across threads.
    private static readonly (int Length, float P)[] DropoutShapes = [(1, 0.5f), (17, 0f), (33, 0.2f), (1000, 0.5f), (4097, 0.9f), (100_003, 0.3f), (70_001, 1f)];

    private static OpCase Dropout(Rng rng, int index)
    {
        var (len, p) = DropoutShapes[index];
        ulong seed = 1234 + (ulong)index;
        const long step = 7;
        return new OpCase
        {
            Description = $"Dropout len={len} p={p}",
            Inputs = [new("x", Data.Uniform(rng, len), Role.Input)],
            OutputLength = len,
            FastForward = (i, y) => DropoutKernels.Forward(i[0], y, new float[len], len, p, seed, step),
            ReferenceForward = i =>
            {
                var y = new double[len];
                ReferenceKernels.DropoutForward(i[0], y, p, seed, step);
                return y;
            },
            FastBackward = (i, y, dy, g) =>
            {
                var mask = new float[len];
                DropoutKernels.Forward(i[0], new float[len], mask, len, p, seed, step);
                DropoutKernels.Backward(dy, mask, g[0], len);
            },
            ReferenceBackward = (i, dy) =>
            {
                var dx = new double[len];
                ReferenceKernels.DropoutBackward(dy, dx, p, seed, step);
                return [dx];
            },
        };
    }
}
