// The Linear and Conv2d steps on the GEMM route (IlgpuGemmRoute.Im2colGemm): each product a GEMM (cuBLAS on CUDA, the
// ILGPU GEMM kernel elsewhere), a convolution's patches laid out by im2col and its input gradient gathered by col2im,
// the bias and the fused activation (or its derivative) in an ILGPU epilogue.
using GraphCompiler.Compiler;
using ILGPU;

namespace GraphCompiler.Backends.Ilgpu;

public sealed partial class IlgpuSteps
{
    private sealed partial class StepBinder
    {
        // ---- Linear: y (N, OutF) = x (N, InF) · Wᵀ; dx = dy · W; dW += dyᵀ · x ----

        private sealed class LinearForwardGemm(StepBinder b, LinearForward s) : IActivationVisitor<Action<int>>
        {
            public Action<int> Visit<TDef>(TDef def) where TDef : struct, IActivationDef
            {
                var epilogue = b.Kernel<ArrayView<float>, ArrayView<float>, LinearDims, TDef>(IlgpuKernels.BiasActivation);
                IlgpuGemm gemm = b.Owner.Gemm;
                View x = b.F(s.X), w = b.P(s.W), bias = b.P(s.B), y = b.F(s.Y);
                int inF = s.InFeatures, outF = s.OutFeatures, hasBias = s.B is null ? 0 : 1;
                bool plain = hasBias == 0 && s.Epilogue.IsIdentity;
                return n =>
                {
                    ArrayView<float> yn = y.At(n);
                    gemm.Run(x.At(n), w.Full, yn, GemmDims.Packed(n, outF, inF, transA: false, transB: true, accumulate: false));
                    if (!plain) epilogue(n * outF, yn, bias.Full, new LinearDims(n, inF, outF, hasBias), def);
                };
            }
        }

        private sealed class LinearBackwardInputGemm(StepBinder b, LinearBackwardInput s) : IActivationVisitor<Action<int>>
        {
            public Action<int> Visit<TDef>(TDef def) where TDef : struct, IActivationDef
            {
                var scale = b.Kernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, TDef>(IlgpuKernels.ScaleByDerivative);
                IlgpuGemm gemm = b.Owner.Gemm;
                View dy = b.F(s.Dy), w = b.P(s.W), dx = b.F(s.Dx);
                View? yAct = s.Mask is null ? null : b.F(s.Mask.On);
                int inF = s.InFeatures, outF = s.OutFeatures;
                return n =>
                {
                    GemmDims d = GemmDims.Packed(n, inF, outF, transA: false, transB: false, accumulate: false);
                    if (yAct is not { } on)
                    {
                        gemm.Run(dy.At(n), w.Full, dx.At(n), d);
                        return;
                    }
                    // The product goes to scratch: the mask's buffer may share memory with dx.
                    ArrayView<float> g = b.Owner.Scratch(1, (long)n * inF);
                    gemm.Run(dy.At(n), w.Full, g, d);
                    scale(n * inF, g, on.At(n), dx.At(n), def);
                };
            }
        }

        private Action<int> LinearBackwardParamsGemm(LinearBackwardParams s)
        {
            var sum = Kernel<ArrayView<float>, ArrayView<float>, SumDims>(IlgpuKernels.SumAccumulate);
            IlgpuGemm gemm = m.Gemm;
            View dy = F(s.Dy), x = F(s.X), dw = P(s.Dw), db = P(s.Db);
            int inF = s.InFeatures, outF = s.OutFeatures;
            bool bias = s.Db is not null;
            return n =>
            {
                if (n == 0) return;
                gemm.Run(dy.At(n), x.At(n), dw.Full, GemmDims.Packed(outF, inF, n, transA: true, transB: false, accumulate: true));
                if (bias) sum(outF, dy.At(n), db.Full, new SumDims(n, 1, outF));
            };
        }

        // ---- Conv2d: columns (Cin·KH·KW, N·OutH·OutW) = im2col(x); per group y_g = W_g · columns_g ----

        /// <summary>Group <paramref name="g"/>'s block of <paramref name="rowsPerGroup"/> rows of a matrix with <paramref name="cols"/> columns.</summary>
        private static ArrayView<float> Block(ArrayView<float> m, int g, int rowsPerGroup, int cols) => m.SubView((long)g * rowsPerGroup * cols, (long)rowsPerGroup * cols);

        private sealed class Conv2dForwardGemm(StepBinder b, Conv2dForward s) : IActivationVisitor<Action<int>>
        {
            public Action<int> Visit<TDef>(TDef def) where TDef : struct, IActivationDef
            {
                var im2col = b.Kernel<ArrayView<float>, ArrayView<float>, ConvGemmDims>(IlgpuKernels.Im2col);
                var epilogue = b.Kernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvParams, TDef>(IlgpuKernels.ConvEpilogue);
                IlgpuGemm gemm = b.Owner.Gemm;
                View x = b.F(s.X), w = b.P(s.W), bias = b.P(s.B), y = b.F(s.Y);
                Conv2dGeometry g = b.Valid(s.G.Value);
                var p = new ConvParams(g, 0, s.B is null ? 0 : 1);
                int groups = g.Groups, patch = g.PatchSize, coutG = g.OutChannels / groups, rows = g.InChannels * g.KernelH * g.KernelW;
                return n =>
                {
                    var d = new ConvGemmDims(g, n);
                    int cols = d.Cols;
                    ArrayView<float> columns = b.Owner.Scratch(0, (long)rows * cols), yCols = b.Owner.Scratch(1, (long)g.OutChannels * cols);
                    im2col(rows * cols, x.At(n), columns, d);
                    for (int grp = 0; grp < groups; grp++)
                        gemm.Run(Block(w.Full, grp, coutG, patch), Block(columns, grp, patch, cols), Block(yCols, grp, coutG, cols),
                            GemmDims.Packed(coutG, cols, patch, transA: false, transB: false, accumulate: false));
                    epilogue(g.OutChannels * cols, yCols, bias.Full, y.At(n), p with { N = n }, def);
                };
            }
        }

        private sealed class Conv2dBackwardInputGemm(StepBinder b, Conv2dBackwardInput s) : IActivationVisitor<Action<int>>
        {
            public Action<int> Visit<TDef>(TDef def) where TDef : struct, IActivationDef
            {
                var transpose = b.Kernel<ArrayView<float>, ArrayView<float>, ConvParams>(IlgpuKernels.ToChannelMajor);
                var col2im = b.Kernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvGemmDims, TDef>(IlgpuKernels.Col2im);
                IlgpuGemm gemm = b.Owner.Gemm;
                View dy = b.F(s.Dy), w = b.P(s.W), dx = b.F(s.Dx), xAct = s.Mask is null ? dx : b.F(s.Mask.On);
                Conv2dGeometry g = b.Valid(s.G.Value);
                var p = new ConvParams(g, 0, 0);
                int groups = g.Groups, patch = g.PatchSize, coutG = g.OutChannels / groups, rows = g.InChannels * g.KernelH * g.KernelW;
                int inPerSample = g.InChannels * g.InH * g.InW;
                return n =>
                {
                    var d = new ConvGemmDims(g, n);
                    int cols = d.Cols;
                    ArrayView<float> dcols = b.Owner.Scratch(0, (long)rows * cols), dyCols = b.Owner.Scratch(1, (long)g.OutChannels * cols);
                    transpose(g.OutChannels * cols, dy.At(n), dyCols, p with { N = n });
                    for (int grp = 0; grp < groups; grp++)
                        gemm.Run(Block(w.Full, grp, coutG, patch), Block(dyCols, grp, coutG, cols), Block(dcols, grp, patch, cols),
                            GemmDims.Packed(patch, cols, coutG, transA: true, transB: false, accumulate: false));
                    col2im(n * inPerSample, dcols, xAct.At(n), dx.At(n), d, def);
                };
            }
        }

        private Action<int> Conv2dBackwardParamsGemm(Conv2dBackwardParams s)
        {
            var im2col = Kernel<ArrayView<float>, ArrayView<float>, ConvGemmDims>(IlgpuKernels.Im2col);
            var transpose = Kernel<ArrayView<float>, ArrayView<float>, ConvParams>(IlgpuKernels.ToChannelMajor);
            var sum = Kernel<ArrayView<float>, ArrayView<float>, SumDims>(IlgpuKernels.SumAccumulate);
            IlgpuGemm gemm = m.Gemm;
            View dy = F(s.Dy), x = F(s.X), dw = P(s.Dw), db = P(s.Db);
            Conv2dGeometry g = Valid(s.G.Value);
            var p = new ConvParams(g, 0, 0);
            int groups = g.Groups, patch = g.PatchSize, coutG = g.OutChannels / groups, rows = g.InChannels * g.KernelH * g.KernelW;
            bool bias = s.Db is not null;
            return n =>
            {
                if (n == 0) return;
                var d = new ConvGemmDims(g, n);
                int cols = d.Cols;
                ArrayView<float> columns = m.Scratch(0, (long)rows * cols), dyCols = m.Scratch(1, (long)g.OutChannels * cols);
                transpose(g.OutChannels * cols, dy.At(n), dyCols, p with { N = n });
                im2col(rows * cols, x.At(n), columns, d);
                for (int grp = 0; grp < groups; grp++)
                    gemm.Run(Block(dyCols, grp, coutG, cols), Block(columns, grp, patch, cols), Block(dw.Full, grp, coutG, patch),
                        GemmDims.Packed(coutG, patch, cols, transA: false, transB: true, accumulate: true));
                if (bias) sum(g.OutChannels, dyCols, db.Full, new SumDims(cols, cols, 1));
            };
        }
    }
}
