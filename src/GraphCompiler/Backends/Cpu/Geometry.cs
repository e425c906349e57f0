// Shapes of the windowed ops (Conv2d, MaxPool2d) that the generator computes once and passes to every kernel call.
namespace GraphCompiler.Backends.Cpu;

/// <summary>A 2-D convolution's static shape: NCHW input, weight (OutChannels, InChannels, KernelH, KernelW), groups = 1, dilation = 1.</summary>
public readonly record struct Conv2dGeometry(int InChannels, int OutChannels, int InH, int InW, int KernelH, int KernelW, int StrideH, int StrideW, int PadH, int PadW)
{
    public int OutH => (InH + 2 * PadH - KernelH) / StrideH + 1;

    public int OutW => (InW + 2 * PadW - KernelW) / StrideW + 1;

    /// <summary>Rows of the im2col matrix: one per (input channel, kernel row, kernel column).</summary>
    public int PatchSize => InChannels * KernelH * KernelW;
}

/// <summary>A 2-D pooling window's static shape over (N, Channels, InH, InW); output size rounds down (PyTorch's ceil_mode = False).</summary>
public readonly record struct Pool2dGeometry(int Channels, int InH, int InW, int KernelH, int KernelW, int StrideH, int StrideW, int PadH, int PadW)
{
    public int OutH => (InH + 2 * PadH - KernelH) / StrideH + 1;

    public int OutW => (InW + 2 * PadW - KernelW) / StrideW + 1;
}
