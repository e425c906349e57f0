// Backend-neutral static shapes of the windowed and broadcasting ops, computed once at build time and passed to every
// backend's kernels.
namespace GraphCompiler.Compiler
{
    /// <summary>
    /// A 2-D convolution's static shape: NCHW input, weight (OutChannels, InChannels / Groups, KernelH, KernelW). PadH and PadW
    /// pad the top and left; the bottom and right pads default to the same (ONNX's asymmetric <c>pads</c>, and PyTorch's
    /// <c>padding='same'</c> with an even kernel, set them apart). Kernel taps are DilationH/DilationW apart.
    /// </summary>
    public readonly record struct Conv2dGeometry(int InChannels, int OutChannels, int InH, int InW, int KernelH, int KernelW, int StrideH, int StrideW, int PadH, int PadW)
    {
        /// <summary>Every field, in the order the generator emits them.</summary>
        public Conv2dGeometry(int inChannels, int outChannels, int inH, int inW, int kernelH, int kernelW, int strideH, int strideW,
            int padTop, int padLeft, int padBottom, int padRight, int dilationH, int dilationW, int groups)
            : this(inChannels, outChannels, inH, inW, kernelH, kernelW, strideH, strideW, padTop, padLeft)
        {
            PadBottom = padBottom;
            PadRight = padRight;
            DilationH = dilationH;
            DilationW = dilationW;
            Groups = groups;
        }

        public int PadBottom { get; init; } = PadH;

        public int PadRight { get; init; } = PadW;

        public int DilationH { get; init; } = 1;

        public int DilationW { get; init; } = 1;

        /// <summary>Input and output channels split into this many independent groups (InChannels for a depthwise conv).</summary>
        public int Groups { get; init; } = 1;

        public int OutH => Pool2dGeometry.OutSize(InH, KernelH, StrideH, PadH, PadBottom, DilationH, ceilMode: false);

        public int OutW => Pool2dGeometry.OutSize(InW, KernelW, StrideW, PadW, PadRight, DilationW, ceilMode: false);

        /// <summary>Rows of one group's im2col matrix: one per (input channel of the group, kernel row, kernel column).</summary>
        public int PatchSize => InChannels / Groups * KernelH * KernelW;

        /// <summary>The convolution one group computes: its share of the channels, everything else alike.</summary>
        public Conv2dGeometry PerGroup() => Groups == 1 ? this : this with { InChannels = InChannels / Groups, OutChannels = OutChannels / Groups, Groups = 1 };

        public bool IsValid(out string problem)
        {
            problem = "";
            if (InChannels <= 0 || OutChannels <= 0 || KernelH <= 0 || KernelW <= 0) problem = "channels and kernel must be positive";
            else if (StrideH <= 0 || StrideW <= 0 || DilationH <= 0 || DilationW <= 0) problem = "stride and dilation must be positive";
            else if (PadH < 0 || PadW < 0 || PadBottom < 0 || PadRight < 0) problem = "padding must not be negative";
            else if (Groups <= 0 || InChannels % Groups != 0 || OutChannels % Groups != 0) problem = $"groups {Groups} must divide both channel counts";
            else if (OutH <= 0 || OutW <= 0) problem = "it gives no output pixels";
            return problem.Length == 0;
        }
    }

    /// <summary>
    /// A 2-D pooling window's static shape over (N, Channels, InH, InW). PadH/PadW pad the top and left, PadBottom/PadRight
    /// (default: the same) the bottom and right. With <see cref="CeilMode"/> the output size rounds up as in PyTorch's
    /// <c>ceil_mode=True</c> (a last window must still start inside the input or the top/left padding);
    /// <see cref="CountIncludePad"/> makes an average pool divide by the window's size within the padded input rather than
    /// by its in-bounds element count.
    /// </summary>
    public readonly record struct Pool2dGeometry(int Channels, int InH, int InW, int KernelH, int KernelW, int StrideH, int StrideW, int PadH, int PadW)
    {
        /// <summary>Every field, in the order the generator emits them (booleans as 0/1).</summary>
        public Pool2dGeometry(int channels, int inH, int inW, int kernelH, int kernelW, int strideH, int strideW,
            int padTop, int padLeft, int padBottom, int padRight, int dilationH, int dilationW, int ceilMode, int countIncludePad)
            : this(channels, inH, inW, kernelH, kernelW, strideH, strideW, padTop, padLeft)
        {
            PadBottom = padBottom;
            PadRight = padRight;
            DilationH = dilationH;
            DilationW = dilationW;
            CeilMode = ceilMode != 0;
            CountIncludePad = countIncludePad != 0;
        }

        public int PadBottom { get; init; } = PadH;

        public int PadRight { get; init; } = PadW;

        public int DilationH { get; init; } = 1;

        public int DilationW { get; init; } = 1;

        // Stored as ints so the struct stays blittable: ILGPU passes geometries to device kernels by value, and bool is not.
        private readonly int _ceilMode;
        private readonly int _countIncludePad = 1;

        public bool CeilMode { get => _ceilMode != 0; init => _ceilMode = value ? 1 : 0; }

        public bool CountIncludePad { get => _countIncludePad != 0; init => _countIncludePad = value ? 1 : 0; }

        public int OutH => OutSize(InH, KernelH, StrideH, PadH, PadBottom, DilationH, CeilMode);

        public int OutW => OutSize(InW, KernelW, StrideW, PadW, PadRight, DilationW, CeilMode);

        /// <summary>2×2 windows, stride 2, nothing else: the CNN workhorse the max-pool kernels have SIMD paths for.</summary>
        public bool IsPlain2x2 => this is { KernelH: 2, KernelW: 2, StrideH: 2, StrideW: 2, PadH: 0, PadW: 0, PadBottom: 0, PadRight: 0, DilationH: 1, DilationW: 1, CeilMode: false };

        /// <summary>PyTorch's pooling_output_shape: floor or ceil of the span over the stride, dropping a window that would start in the bottom/right padding.</summary>
        public static int OutSize(int inSize, int kernel, int stride, int padBefore, int padAfter, int dilation, bool ceilMode)
        {
            if (stride <= 0) return 0;
            int span = inSize + padBefore + padAfter - dilation * (kernel - 1) - 1;
            if (span < 0) return 0;
            int outSize = (span + (ceilMode ? stride - 1 : 0)) / stride + 1;
            if (ceilMode && (outSize - 1) * stride >= inSize + padBefore) outSize--;
            return outSize;
        }

        public bool IsValid(out string problem)
        {
            problem = "";
            if (Channels <= 0 || KernelH <= 0 || KernelW <= 0) problem = "channels and kernel must be positive";
            else if (StrideH <= 0 || StrideW <= 0 || DilationH <= 0 || DilationW <= 0) problem = "stride and dilation must be positive";
            else if (PadH < 0 || PadW < 0 || PadBottom < 0 || PadRight < 0) problem = "padding must not be negative";
            else if (OutH <= 0 || OutW <= 0) problem = "it gives no output pixels";
            return problem.Length == 0;
        }
    }

    /// <summary>An adaptive pool's static shape: (N, Channels, InH, InW) → (N, Channels, OutH, OutW), windows chosen per output.</summary>
    public readonly record struct AdaptivePool2dGeometry(int Channels, int InH, int InW, int OutH, int OutW);

    /// <summary>
    /// A NumPy broadcast of two operands over their per-sample dims (the batch is shared), packed as
    /// <c>(rank, out dims…, a dims…, b dims…)</c> with a and b right-aligned to the rank (leading ones). Backends reduce it
    /// to their loops (the CPU's <c>BroadcastGeometry</c>).
    /// </summary>
    public sealed record BroadcastDims(EquatableArray<int> Packed);
}
