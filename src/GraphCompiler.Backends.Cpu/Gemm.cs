// The one matrix multiply every Linear and Conv2d kernel is built on: packed, cache-blocked, register-tiled SIMD GEMM.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using GraphCompiler.Compiler;

namespace GraphCompiler.Backends.Cpu;

/// <summary>
/// C (m, n) = op(A) (m, k) · op(B) (k, n), or C += … when <c>accumulate</c> is set. Row-major, with leading
/// dimensions. The structure is BLIS's: B is packed into KC×NC panels (L3), A into MC×KC blocks (L2), and an
/// MR×NR micro-kernel keeps the whole C tile in registers while streaming one KC×NR sliver of B from L1.
/// Packing also absorbs the transpositions, so the micro-kernel only ever sees one layout.
/// </summary>
public static class Gemm
{
    // Register tile: 8×32 on AVX-512 (16 zmm accumulators of 32), 6×16 on AVX2 (12 ymm of 16).
    private static readonly bool Use512 = Vector512.IsHardwareAccelerated;
    internal static readonly int Mr = Use512 ? 8 : 6;
    internal static readonly int Nr = Use512 ? 32 : 16;

    // Cache blocks: a KC×NR sliver of B (24 KiB) stays in L1, an MC×KC block of A (~190 KiB) in L2.
    private const int Kc = 192;
    private static readonly int Mc = Use512 ? 256 : 252;
    private const int Nc = 3072;

    // Below this many multiply-adds the GEMM stays on one thread. Measured on this 2-vCPU machine (best of 15):
    // 64×128×784 took 147 µs on one thread, 204 µs split; 64×64×1024 99 vs 171 µs; 256³ 244 vs 242 µs; 512³ 2.0 vs
    // 1.8 ms. Parallel.For's wake-up (~10–20 µs) and the serial B packing eat the gain until the product is large.
    internal const long ParallelThresholdMacs = 16_000_000;

    // Per-thread packing buffers, 64-byte aligned so every packed vector load stays within one cache line.
    // Grown on demand and kept for the thread's life, so steady-state calls allocate nothing.
    [ThreadStatic] private static AlignedBuffer? t_packA;
    [ThreadStatic] private static AlignedBuffer? t_packB;

    /// <summary>C = op(A)·op(B) (or C += … when <paramref name="accumulate"/>), multi-threaded when large enough.</summary>
    public static void Multiply(bool transA, bool transB, int m, int n, int k,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, Span<float> c, int ldc, bool accumulate)
        => Multiply(transA, transB, m, n, k, a, lda, b, ldb, c, ldc, accumulate, allowParallel: true);

    /// <summary>As above; <paramref name="allowParallel"/> false keeps it on the calling thread (for callers already running in parallel).</summary>
    public static void Multiply(bool transA, bool transB, int m, int n, int k,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, Span<float> c, int ldc, bool accumulate, bool allowParallel)
        => Multiply(transA, transB, m, n, k, a, lda, b, ldb, c, ldc, accumulate, allowParallel, Elementwise.Identity);

    /// <summary>
    /// As above, with an activation applied in the micro-kernel's store of the last depth block: C = act(op(A)·op(B) [+ C]),
    /// written once, while the tile is still in registers.
    /// </summary>
    public static unsafe void Multiply(bool transA, bool transB, int m, int n, int k,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, Span<float> c, int ldc, bool accumulate, bool allowParallel,
        Elementwise epilogue)
    {
        if (m <= 0 || n <= 0) return;
        CheckSizes(transA, transB, m, n, k, a.Length, lda, b.Length, ldb, c.Length, ldc);
        if (k <= 0)
        {
            for (int i = 0; i < m; i++)
            {
                if (!accumulate) c.Slice(i * ldc, n).Clear();
                else Epilogue.Apply(c.Slice(i * ldc, n), epilogue);
            }
            return;
        }
        bool parallel = allowParallel && Environment.ProcessorCount > 1 && (long)m * n * k >= ParallelThresholdMacs;
        fixed (float* pa = a, pb = b, pc = c)
        {
            var job = new Job(transA, transB, m, n, k, pa, lda, pb, ldb, pc, ldc, epilogue);
            job.Run(accumulate, parallel);
        }
    }

    /// <summary>
    /// The depth block actually used for a given k: at most Kc, but split evenly (rounded to 8) so that e.g. k = 800
    /// runs as 5 × 160 rather than 4 × 192 plus a 32-deep remainder that would reload C for little work.
    /// </summary>
    internal static int DepthBlock(int k)
    {
        if (k <= Kc) return Math.Max(k, 1);
        int blocks = (k + Kc - 1) / Kc;
        return Math.Min(Kc, RoundUp((k + blocks - 1) / blocks, 8));
    }

    /// <summary>
    /// Floats needed for a whole op(B) (k, n) in the packed layout <see cref="MultiplyPackedB"/> reads: for each KC block
    /// of rows, NR-column slivers of kc×NR, columns past n zero. Producers (e.g. im2col) may write it directly.
    /// </summary>
    internal static int PackedBLength(int k, int n) => RoundUp(n, Nr) * k;

    /// <summary>Where element (p, j) of op(B) lives in the packed layout of a (k, n) matrix.</summary>
    internal static int PackedBIndex(int p, int j, int k, int n)
    {
        int kb = DepthBlock(k), pc = p / kb * kb, kc = Math.Min(kb, k - pc);
        return pc * RoundUp(n, Nr) + j / Nr * Nr * kc + (p - pc) * Nr + j % Nr;
    }

    /// <summary>Largest n <see cref="MultiplyPackedB"/> accepts (one NC block).</summary>
    internal const int MaxPackedN = Nc;

    internal static int PanelWidth => Nr;


    /// <summary>
    /// C (m, n) = op(A) · B (or +=), with B supplied already packed (<see cref="PackedBLength"/>), on the calling thread.
    /// Saves the packing pass when the producer of B can write the packed layout itself.
    /// </summary>
    internal static unsafe void MultiplyPackedB(bool transA, int m, int n, int k, ReadOnlySpan<float> a, int lda,
        ReadOnlySpan<float> packedB, Span<float> c, int ldc, bool accumulate, Elementwise epilogue = default)
    {
        if (m <= 0 || n <= 0) return;
        if (n > Nc) throw new ArgumentException($"Pre-packed B supports n ≤ {Nc}, got {n}.", nameof(n));
        if (packedB.Length < PackedBLength(k, n)) throw new ArgumentException($"Packed B has {packedB.Length} floats, needs {PackedBLength(k, n)}.", nameof(packedB));
        CheckSizes(transA, false, m, n, k, a.Length, lda, k * n, n, c.Length, ldc);
        if (k <= 0)
        {
            for (int i = 0; i < m; i++)
            {
                if (!accumulate) c.Slice(i * ldc, n).Clear();
                else Epilogue.Apply(c.Slice(i * ldc, n), epilogue);
            }
            return;
        }
        fixed (float* pa = a, pb = packedB, pc = c)
        {
            var job = new Job(transA, false, m, n, k, pa, lda, null, n, pc, ldc, epilogue);
            job.RunPackedB(pb, accumulate);
        }
    }

    private static void CheckSizes(bool transA, bool transB, int m, int n, int k, int aLen, int lda, int bLen, int ldb, int cLen, int ldc)
    {
        // Each operand must reach its last element; checked here once so the unsafe loops need no bounds checks.
        int aRows = transA ? k : m, aCols = transA ? m : k;
        int bRows = transB ? n : k, bCols = transB ? k : n;
        if (aCols > 0 && (lda < aCols || (long)(aRows - 1) * lda + aCols > aLen))
            throw new ArgumentException($"A ({aRows}×{aCols}, lda {lda}) does not fit in {aLen} elements.");
        if (bCols > 0 && (ldb < bCols || (long)(bRows - 1) * ldb + bCols > bLen))
            throw new ArgumentException($"B ({bRows}×{bCols}, ldb {ldb}) does not fit in {bLen} elements.");
        if (ldc < n || (long)(m - 1) * ldc + n > cLen)
            throw new ArgumentException($"C ({m}×{n}, ldc {ldc}) does not fit in {cLen} elements.");
    }

    private static unsafe float* Scratch(ref AlignedBuffer? slot, int length)
    {
        if (slot is null || slot.Length < length) { slot?.Dispose(); slot = new AlignedBuffer(length); }
        return slot.Pointer;
    }

    /// <summary>Native, 64-byte aligned float storage, freed when the owning thread's buffer is replaced or collected.</summary>
    private sealed unsafe class AlignedBuffer(int length) : IDisposable
    {
        public float* Pointer { get; private set; } = (float*)NativeMemory.AlignedAlloc((nuint)length * sizeof(float), 64);
        public int Length { get; } = length;

        public void Dispose()
        {
            NativeMemory.AlignedFree(Pointer);
            Pointer = null;
            GC.SuppressFinalize(this);
        }

        ~AlignedBuffer() => NativeMemory.AlignedFree(Pointer);
    }

    /// <summary>
    /// One multiply's operands as raw pointers, so worker threads can share them. <c>epilogue</c>: applied by the last
    /// depth block's stores — ReLU and LeakyReLU in registers, sigmoid and tanh on each finished tile while it is in L1.
    /// </summary>
    private readonly unsafe struct Job(bool transA, bool transB, int m, int n, int k, float* a, int lda, float* b, int ldb, float* c, int ldc,
        Elementwise epilogue)
    {
        private readonly float* _a = a, _b = b, _c = c;

        private int M => m;

        public void Run(bool accumulate, bool parallel)
        {
            int nr = Nr;
            for (int jc = 0; jc < n; jc += Nc)
            {
                int nc = Math.Min(Nc, n - jc);
                int kb = DepthBlock(k);
                for (int pc = 0; pc < k; pc += kb)
                {
                    int kc = Math.Min(kb, k - pc);
                    bool acc = accumulate || pc > 0; // later K blocks add onto the earlier ones
                    bool act = !epilogue.IsIdentity && pc + kc >= k;  // the epilogue runs with the last K block's store
                    float* bp = Scratch(ref t_packB, RoundUp(nc, nr) * kc);
                    PackB(bp, pc, kc, jc, nc);
                    if (parallel) ParallelBlocks(pc, kc, jc, nc, bp, acc, act);
                    else
                        for (int ic = 0; ic < m; ic += Mc) Block(ic, Math.Min(Mc, m - ic), pc, kc, jc, nc, bp, acc, act);
                }
            }
        }

        public void RunPackedB(float* packedB, bool accumulate)
        {
            int nPadded = RoundUp(n, Nr);
            int kb = DepthBlock(k);
            for (int pc = 0; pc < k; pc += kb)
            {
                int kc = Math.Min(kb, k - pc);
                float* bp = packedB + (long)pc * nPadded;
                for (int ic = 0; ic < m; ic += Mc) Block(ic, Math.Min(Mc, m - ic), pc, kc, 0, n, bp, accumulate || pc > 0, !epilogue.IsIdentity && pc + kc >= k);
            }
        }

        private void ParallelBlocks(int pc, int kc, int jc, int nc, float* bp, bool acc, bool act)
        {
            // Split M into at least one block per core; each worker packs its own A block.
            int threads = CpuParallel.WorkerCount;
            int mc = Math.Min(Mc, RoundUp((m + threads - 1) / threads, Mr));
            var body = new BlockBody(this, mc, pc, kc, jc, nc, bp, acc, act);
            CpuParallel.For((m + mc - 1) / mc, ref body);
        }

        private readonly struct BlockBody(Job job, int mc, int pc, int kc, int jc, int nc, float* bp, bool acc, bool act) : IParallelBody
        {
            private readonly float* _bp = bp;

            public void Run(int blk)
            {
                int ic = blk * mc;
                job.Block(ic, Math.Min(mc, job.M - ic), pc, kc, jc, nc, _bp, acc, act);
            }
        }

        private void Block(int ic, int mc, int pc, int kc, int jc, int nc, float* bp, bool acc, bool act)
        {
            int mr = Mr, nr = Nr;
            float* ap = Scratch(ref t_packA, RoundUp(mc, mr) * kc);
            {
                PackA(ap, ic, mc, pc, kc);
                float* cBlock = _c + (long)ic * ldc + jc;
                for (int jr = 0; jr < nc; jr += nr)
                {
                    int nw = Math.Min(nr, nc - jr);
                    for (int ir = 0; ir < mc; ir += mr)
                    {
                        int mh = Math.Min(mr, mc - ir);
                        MicroTile(kc, ap + (long)ir * kc, bp + (long)jr * kc, cBlock + (long)ir * ldc + jr, ldc, mh, nw, acc, act ? epilogue : default);
                    }
                }
            }
        }

        // Packed A: per MR-row sliver, for each p the MR values op(A)(i..i+MR, p); rows past m are zero.
        private void PackA(float* dst, int ic, int mc, int pc, int kc)
        {
            int mr = Mr;
            // op(A)(i, p) lives at a[i·lda + p], or a[p·lda + i] when transposed.
            long rowStride = transA ? 1 : lda, kStride = transA ? lda : 1;
            for (int ir = 0; ir < mc; ir += mr)
                PackPanel(dst + (long)ir * kc, _a + (ic + ir) * rowStride + pc * kStride, Math.Min(mr, mc - ir), mr, kc, rowStride, kStride);
        }

        // Packed B: per NR-column sliver, for each p the NR values op(B)(p, j..j+NR); columns past n are zero.
        private void PackB(float* dst, int pc, int kc, int jc, int nc)
        {
            int nr = Nr;
            // op(B)(p, j) lives at b[p·ldb + j], or b[j·ldb + p] when transposed.
            long colStride = transB ? ldb : 1, kStride = transB ? 1 : ldb;
            for (int jr = 0; jr < nc; jr += nr)
                PackPanel(dst + (long)jr * kc, _b + (jc + jr) * colStride + pc * kStride, Math.Min(nr, nc - jr), nr, kc, colStride, kStride);
        }
    }

    /// <summary>
    /// Packs one sliver: dst[p·width + l] = src[l·laneStride + p·kStride] for l &lt; lanes, p &lt; kc, zero for lanes ≥ lanes.
    /// The two common layouts get SIMD paths: lanes contiguous (a straight copy per p) and k contiguous
    /// (8×8 register transposes), which is what every transposed operand and im2col matrix needs.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void PackPanel(float* dst, float* src, int lanes, int width, int kc, long laneStride, long kStride)
    {
        if (lanes < width) new Span<float>(dst, width * kc).Clear();
        int p = 0;
        if (lanes == width && width % 8 == 0 && Vector256.IsHardwareAccelerated)
        {
            if (laneStride == 1)
            {
                for (; p < kc; p++)
                {
                    float* s = src + p * kStride, d = dst + p * width;
                    for (int l = 0; l < width; l += 8) Vector256.Store(Vector256.Load(s + l), d + l);
                }
            }
            else if (kStride == 1 && Avx.IsSupported)
            {
                for (; p + 8 <= kc; p += 8)
                    for (int l = 0; l < width; l += 8)
                        Transpose8x8(src + l * laneStride + p, laneStride, dst + p * width + l, width);
            }
        }
        for (; p < kc; p++)
        {
            float* s = src + p * kStride, d = dst + p * width;
            for (int l = 0; l < lanes; l++) d[l] = s[l * laneStride];
        }
    }

    /// <summary>Reads 8 rows of 8 floats (row stride srcStride) and writes their transpose (row stride dstStride).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Transpose8x8(float* src, long srcStride, float* dst, int dstStride)
        => Transpose8x8(Avx.LoadVector256(src), Avx.LoadVector256(src + srcStride),
            Avx.LoadVector256(src + 2 * srcStride), Avx.LoadVector256(src + 3 * srcStride),
            Avx.LoadVector256(src + 4 * srcStride), Avx.LoadVector256(src + 5 * srcStride),
            Avx.LoadVector256(src + 6 * srcStride), Avx.LoadVector256(src + 7 * srcStride), dst, dstStride);

    /// <summary>Writes the transpose of the 8×8 block whose rows are r0..r7 (row stride dstStride). Needs AVX.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static unsafe void Transpose8x8(Vector256<float> r0, Vector256<float> r1, Vector256<float> r2, Vector256<float> r3,
        Vector256<float> r4, Vector256<float> r5, Vector256<float> r6, Vector256<float> r7, float* dst, int dstStride)
    {
        // Interleave pairs, then quads, then swap 128-bit halves: the classic three-stage AVX transpose.
        Vector256<float> t0 = Avx.UnpackLow(r0, r1), t1 = Avx.UnpackHigh(r0, r1), t2 = Avx.UnpackLow(r2, r3), t3 = Avx.UnpackHigh(r2, r3);
        Vector256<float> t4 = Avx.UnpackLow(r4, r5), t5 = Avx.UnpackHigh(r4, r5), t6 = Avx.UnpackLow(r6, r7), t7 = Avx.UnpackHigh(r6, r7);
        Vector256<float> u0 = Avx.Shuffle(t0, t2, 0x44), u1 = Avx.Shuffle(t0, t2, 0xEE), u2 = Avx.Shuffle(t1, t3, 0x44), u3 = Avx.Shuffle(t1, t3, 0xEE);
        Vector256<float> u4 = Avx.Shuffle(t4, t6, 0x44), u5 = Avx.Shuffle(t4, t6, 0xEE), u6 = Avx.Shuffle(t5, t7, 0x44), u7 = Avx.Shuffle(t5, t7, 0xEE);
        Avx.Store(dst, Avx.Permute2x128(u0, u4, 0x20));
        Avx.Store(dst + dstStride, Avx.Permute2x128(u1, u5, 0x20));
        Avx.Store(dst + 2 * dstStride, Avx.Permute2x128(u2, u6, 0x20));
        Avx.Store(dst + 3 * dstStride, Avx.Permute2x128(u3, u7, 0x20));
        Avx.Store(dst + 4 * dstStride, Avx.Permute2x128(u0, u4, 0x31));
        Avx.Store(dst + 5 * dstStride, Avx.Permute2x128(u1, u5, 0x31));
        Avx.Store(dst + 6 * dstStride, Avx.Permute2x128(u2, u6, 0x31));
        Avx.Store(dst + 7 * dstStride, Avx.Permute2x128(u3, u7, 0x31));
    }

    [SkipLocalsInit] // the edge tile is fully written by the kernel before it is read
    private static unsafe void MicroTile(int kc, float* a, float* b, float* c, int ldc, int mh, int nw, bool acc, Elementwise act)
    {
        int mr = Mr, nr = Nr;
        // ReLU and LeakyReLU fit in the register store; the transcendental ones run over the finished tile instead.
        bool inRegisters = act.Kind is ElementwiseKind.Relu or ElementwiseKind.LeakyRelu;
        if (mh == mr && nw == nr)
        {
            if (Use512) Kernel8x32(kc, a, b, c, ldc, acc, inRegisters ? act : default);
            else Kernel6x16(kc, a, b, c, ldc, acc, inRegisters ? act : default);
            if (!inRegisters && !act.IsIdentity)
                for (int i = 0; i < mh; i++) Epilogue.Apply(new Span<float>(c + (long)i * ldc, nw), act);
            return;
        }
        // Edge tile: compute the full tile into a scratch tile, then copy the valid part out.
        float* tile = stackalloc float[8 * 32];
        if (Use512) Kernel8x32(kc, a, b, tile, nr, false, default);
        else Kernel6x16(kc, a, b, tile, nr, false, default);
        for (int i = 0; i < mh; i++)
        {
            float* src = tile + i * nr, dst = c + (long)i * ldc;
            if (acc) for (int j = 0; j < nw; j++) dst[j] += src[j];
            else for (int j = 0; j < nw; j++) dst[j] = src[j];
            if (!act.IsIdentity) Epilogue.Apply(new Span<float>(dst, nw), act);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Kernel8x32(int kc, float* a, float* b, float* c, int ldc, bool acc, Elementwise act)
    {
        // 16 accumulators: rows 0..7 × two 16-wide halves. Each step: 2 loads of B, 8 broadcasts of A, 16 FMAs.
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default;
        Vector512<float> c40 = default, c41 = default, c50 = default, c51 = default, c60 = default, c61 = default, c70 = default, c71 = default;
        for (int p = 0; p < kc; p++)
        {
            Vector512<float> b0 = Vector512.Load(b), b1 = Vector512.Load(b + 16);
            Vector512<float> av = Vector512.Create(a[0]);
            c00 = Vector512.FusedMultiplyAdd(av, b0, c00); c01 = Vector512.FusedMultiplyAdd(av, b1, c01);
            av = Vector512.Create(a[1]);
            c10 = Vector512.FusedMultiplyAdd(av, b0, c10); c11 = Vector512.FusedMultiplyAdd(av, b1, c11);
            av = Vector512.Create(a[2]);
            c20 = Vector512.FusedMultiplyAdd(av, b0, c20); c21 = Vector512.FusedMultiplyAdd(av, b1, c21);
            av = Vector512.Create(a[3]);
            c30 = Vector512.FusedMultiplyAdd(av, b0, c30); c31 = Vector512.FusedMultiplyAdd(av, b1, c31);
            av = Vector512.Create(a[4]);
            c40 = Vector512.FusedMultiplyAdd(av, b0, c40); c41 = Vector512.FusedMultiplyAdd(av, b1, c41);
            av = Vector512.Create(a[5]);
            c50 = Vector512.FusedMultiplyAdd(av, b0, c50); c51 = Vector512.FusedMultiplyAdd(av, b1, c51);
            av = Vector512.Create(a[6]);
            c60 = Vector512.FusedMultiplyAdd(av, b0, c60); c61 = Vector512.FusedMultiplyAdd(av, b1, c61);
            av = Vector512.Create(a[7]);
            c70 = Vector512.FusedMultiplyAdd(av, b0, c70); c71 = Vector512.FusedMultiplyAdd(av, b1, c71);
            a += 8; b += 32;
        }
        Store512(c, c00, c01, acc, act); c += ldc;
        Store512(c, c10, c11, acc, act); c += ldc;
        Store512(c, c20, c21, acc, act); c += ldc;
        Store512(c, c30, c31, acc, act); c += ldc;
        Store512(c, c40, c41, acc, act); c += ldc;
        Store512(c, c50, c51, acc, act); c += ldc;
        Store512(c, c60, c61, acc, act); c += ldc;
        Store512(c, c70, c71, acc, act);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Store512(float* c, Vector512<float> lo, Vector512<float> hi, bool acc, Elementwise act)
    {
        if (acc) { lo += Vector512.Load(c); hi += Vector512.Load(c + 16); }
        // Only ReLU and LeakyReLU reach the register store (see MicroTile); their definitions inline here.
        if (act.Kind == ElementwiseKind.Relu) { lo = new ReluDef().Value(lo, default(Vector512Ops)); hi = new ReluDef().Value(hi, default(Vector512Ops)); }
        else if (act.Kind == ElementwiseKind.LeakyRelu)
        {
            var leaky = new LeakyReluDef(act.Slope);
            lo = leaky.Value(lo, default(Vector512Ops)); hi = leaky.Value(hi, default(Vector512Ops));
        }
        lo.Store(c); hi.Store(c + 16);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Kernel6x16(int kc, float* a, float* b, float* c, int ldc, bool acc, Elementwise act)
    {
        // 12 accumulators of the 16 ymm registers AVX2 has; the rest hold B and the broadcast.
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (int p = 0; p < kc; p++)
        {
            Vector256<float> b0 = Vector256.Load(b), b1 = Vector256.Load(b + 8);
            Vector256<float> av = Vector256.Create(a[0]);
            c00 = Vector256.FusedMultiplyAdd(av, b0, c00); c01 = Vector256.FusedMultiplyAdd(av, b1, c01);
            av = Vector256.Create(a[1]);
            c10 = Vector256.FusedMultiplyAdd(av, b0, c10); c11 = Vector256.FusedMultiplyAdd(av, b1, c11);
            av = Vector256.Create(a[2]);
            c20 = Vector256.FusedMultiplyAdd(av, b0, c20); c21 = Vector256.FusedMultiplyAdd(av, b1, c21);
            av = Vector256.Create(a[3]);
            c30 = Vector256.FusedMultiplyAdd(av, b0, c30); c31 = Vector256.FusedMultiplyAdd(av, b1, c31);
            av = Vector256.Create(a[4]);
            c40 = Vector256.FusedMultiplyAdd(av, b0, c40); c41 = Vector256.FusedMultiplyAdd(av, b1, c41);
            av = Vector256.Create(a[5]);
            c50 = Vector256.FusedMultiplyAdd(av, b0, c50); c51 = Vector256.FusedMultiplyAdd(av, b1, c51);
            a += 6; b += 16;
        }
        Store256(c, c00, c01, acc, act); c += ldc;
        Store256(c, c10, c11, acc, act); c += ldc;
        Store256(c, c20, c21, acc, act); c += ldc;
        Store256(c, c30, c31, acc, act); c += ldc;
        Store256(c, c40, c41, acc, act); c += ldc;
        Store256(c, c50, c51, acc, act);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Store256(float* c, Vector256<float> lo, Vector256<float> hi, bool acc, Elementwise act)
    {
        if (acc) { lo += Vector256.Load(c); hi += Vector256.Load(c + 8); }
        if (act.Kind == ElementwiseKind.Relu) { lo = new ReluDef().Value(lo, default(Vector256Ops)); hi = new ReluDef().Value(hi, default(Vector256Ops)); }
        else if (act.Kind == ElementwiseKind.LeakyRelu)
        {
            var leaky = new LeakyReluDef(act.Slope);
            lo = leaky.Value(lo, default(Vector256Ops)); hi = leaky.Value(hi, default(Vector256Ops));
        }
        lo.Store(c); hi.Store(c + 8);
    }

    private static int RoundUp(int x, int multiple) => (x + multiple - 1) / multiple * multiple;
}
