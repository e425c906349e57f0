// The element-wise catalog on an ILGPU device: the core's activation definitions (IActivationDef) evaluated with float
// arithmetic a kernel can compile, and the fixed-size stage list a fused chain is passed to its kernel as.
using GraphCompiler.Compiler;

namespace GraphCompiler.Backends.Ilgpu;

/// <summary>
/// Scalar float arithmetic for the core's definitions inside ILGPU kernels: every member is one MathF call or operator,
/// which ILGPU compiles for CUDA and runs on its CPU accelerator.
/// </summary>
public readonly struct DeviceFloatOps : IFloatOps<float>
{
    public float Constant(float value) => value;

    public float Add(float a, float b) => a + b;

    public float Subtract(float a, float b) => a - b;

    public float Multiply(float a, float b) => a * b;

    public float Divide(float a, float b) => a / b;

    public float Exp(float x) => MathF.Exp(x);

    public float Abs(float x) => MathF.Abs(x);

    // IEEE 754-2019 maximum, as the CPU's Vector512/Vector256.Max and MathF.Max: a NaN on either side is the result
    // (ReLU(NaN) is NaN, as in PyTorch, not 0).
    public float Max(float a, float b) => a > b || float.IsNaN(a) ? a : b;

    public float CopySign(float magnitude, float sign) => sign < 0f ? -MathF.Abs(magnitude) : MathF.Abs(magnitude);

    public float WherePositive(float x, float ifPositive, float otherwise) => x > 0f ? ifPositive : otherwise;
}

/// <summary>
/// Up to <see cref="Capacity"/> stages of a fused element-wise chain, passed to one kernel by value. A kernel parameter
/// cannot be an array, so the stages are fields, and each is evaluated through the core's definition of its kind (one
/// switch, <see cref="Value"/>/<see cref="Derivative"/>). Longer chains are refused when the step is bound: the fusion
/// pass has never produced one (its chains are the runs of activations between two layers).
/// </summary>
public readonly record struct ChainStages(int Count, int K0, float S0, int K1, float S1, int K2, float S2, int K3, float S3,
    int K4, float S4, int K5, float S5, int K6, float S6, int K7, float S7)
{
    public const int Capacity = 8;

    public static ChainStages Of(IReadOnlyList<Elementwise> stages)
    {
        if (stages.Count > Capacity) throw new ArgumentException($"A device chain holds at most {Capacity} stages, got {stages.Count}.", nameof(stages));
        int K(int i) => i < stages.Count ? (int)stages[i].Kind : 0;
        float S(int i) => i < stages.Count ? stages[i].Slope : 0f;
        return new ChainStages(stages.Count, K(0), S(0), K(1), S(1), K(2), S(2), K(3), S(3), K(4), S(4), K(5), S(5), K(6), S(6), K(7), S(7));
    }

    public int Kind(int i) => i switch { 0 => K0, 1 => K1, 2 => K2, 3 => K3, 4 => K4, 5 => K5, 6 => K6, _ => K7 };

    public float Slope(int i) => i switch { 0 => S0, 1 => S1, 2 => S2, 3 => S3, 4 => S4, 5 => S5, 6 => S6, _ => S7 };

    /// <summary>Stage <paramref name="i"/>'s f(x), by the core's definition of its kind.</summary>
    public float Value(int i, float x)
    {
        var o = default(DeviceFloatOps);
        return (ElementwiseKind)Kind(i) switch
        {
            ElementwiseKind.Relu => new ReluDef().Value(x, o),
            ElementwiseKind.LeakyRelu => new LeakyReluDef(Slope(i)).Value(x, o),
            ElementwiseKind.Sigmoid => new SigmoidDef().Value(x, o),
            ElementwiseKind.Tanh => new TanhDef().Value(x, o),
            ElementwiseKind.Gelu => new GeluDef().Value(x, o),
            ElementwiseKind.GeluTanh => new GeluTanhDef().Value(x, o),
            ElementwiseKind.Silu => new SiluDef().Value(x, o),
            _ => x,
        };
    }

    /// <summary>Stage <paramref name="i"/>'s f′ at input x with output y (its backward of dy = 1).</summary>
    public float Derivative(int i, float x, float y)
    {
        var o = default(DeviceFloatOps);
        return (ElementwiseKind)Kind(i) switch
        {
            ElementwiseKind.Relu => new ReluDef().Backward(x, y, 1f, o),
            ElementwiseKind.LeakyRelu => new LeakyReluDef(Slope(i)).Backward(x, y, 1f, o),
            ElementwiseKind.Sigmoid => new SigmoidDef().Backward(x, y, 1f, o),
            ElementwiseKind.Tanh => new TanhDef().Backward(x, y, 1f, o),
            ElementwiseKind.Gelu => new GeluDef().Backward(x, y, 1f, o),
            ElementwiseKind.GeluTanh => new GeluTanhDef().Backward(x, y, 1f, o),
            ElementwiseKind.Silu => new SiluDef().Backward(x, y, 1f, o),
            _ => 1f,
        };
    }
}
