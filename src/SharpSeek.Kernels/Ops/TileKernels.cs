using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace SharpSeek.Kernels.Ops;

/// <summary>
/// Dot products of decoded f32 weight rows with several tokens at once (prefill). A plain dot loads two vectors per
/// FMA, so it runs at the load ports' pace; a 4-row × 4-token tile loads 8 vectors for 16 FMAs and keeps the FMA units
/// busy (4 × 2 with 256-bit vectors, 6 loads for 8 FMAs, where only 16 registers exist). Every (row, token) pair accumulates in one vector over 16-column chunks, is summed across lanes, then adds the
/// last cols mod 16 products in order, whether it is computed in a tile or alone (<see cref="Dot1x1"/>), so a result
/// does not depend on how rows and tokens were grouped.
/// </summary>
public static unsafe class TileKernels
{
    /// <summary>Whether prefill should use the tiles: they are written for 512-bit registers (elsewhere they still run, emulated).</summary>
    public static bool Supported => Vector512.IsHardwareAccelerated && RowKernels.UseSimd && RowKernels.UseAvx512;

    /// <summary>
    /// y[t·yStride + r] = Σ_c w[r·cols + c] · x[t·cols + c] for r, t in 0..3: four decoded rows (contiguous, cols apart),
    /// four tokens (cols apart); the results land at y + t·yStride + r.
    /// </summary>
    public static void Dot4x4(float* w, float* x, int cols, float* y, long yStride)
    {
        float* w0 = w, w1 = w + cols, w2 = w1 + cols, w3 = w2 + cols;
        float* x0 = x, x1 = x + cols, x2 = x1 + cols, x3 = x2 + cols;
        Vector512<float> a00 = default, a01 = default, a02 = default, a03 = default;
        Vector512<float> a10 = default, a11 = default, a12 = default, a13 = default;
        Vector512<float> a20 = default, a21 = default, a22 = default, a23 = default;
        Vector512<float> a30 = default, a31 = default, a32 = default, a33 = default;
        int full = cols & ~15;
        for (int c = 0; c < full; c += 16)
        {
            var v0 = Vector512.Load(x0 + c);
            var v1 = Vector512.Load(x1 + c);
            var v2 = Vector512.Load(x2 + c);
            var v3 = Vector512.Load(x3 + c);
            var r = Vector512.Load(w0 + c);
            a00 = Vector512.FusedMultiplyAdd(r, v0, a00); a01 = Vector512.FusedMultiplyAdd(r, v1, a01);
            a02 = Vector512.FusedMultiplyAdd(r, v2, a02); a03 = Vector512.FusedMultiplyAdd(r, v3, a03);
            r = Vector512.Load(w1 + c);
            a10 = Vector512.FusedMultiplyAdd(r, v0, a10); a11 = Vector512.FusedMultiplyAdd(r, v1, a11);
            a12 = Vector512.FusedMultiplyAdd(r, v2, a12); a13 = Vector512.FusedMultiplyAdd(r, v3, a13);
            r = Vector512.Load(w2 + c);
            a20 = Vector512.FusedMultiplyAdd(r, v0, a20); a21 = Vector512.FusedMultiplyAdd(r, v1, a21);
            a22 = Vector512.FusedMultiplyAdd(r, v2, a22); a23 = Vector512.FusedMultiplyAdd(r, v3, a23);
            r = Vector512.Load(w3 + c);
            a30 = Vector512.FusedMultiplyAdd(r, v0, a30); a31 = Vector512.FusedMultiplyAdd(r, v1, a31);
            a32 = Vector512.FusedMultiplyAdd(r, v2, a32); a33 = Vector512.FusedMultiplyAdd(r, v3, a33);
        }
        y[0] = Finish(a00, w0, x0, full, cols); y[yStride] = Finish(a01, w0, x1, full, cols);
        y[2 * yStride] = Finish(a02, w0, x2, full, cols); y[3 * yStride] = Finish(a03, w0, x3, full, cols);
        y[1] = Finish(a10, w1, x0, full, cols); y[yStride + 1] = Finish(a11, w1, x1, full, cols);
        y[2 * yStride + 1] = Finish(a12, w1, x2, full, cols); y[3 * yStride + 1] = Finish(a13, w1, x3, full, cols);
        y[2] = Finish(a20, w2, x0, full, cols); y[yStride + 2] = Finish(a21, w2, x1, full, cols);
        y[2 * yStride + 2] = Finish(a22, w2, x2, full, cols); y[3 * yStride + 2] = Finish(a23, w2, x3, full, cols);
        y[3] = Finish(a30, w3, x0, full, cols); y[yStride + 3] = Finish(a31, w3, x1, full, cols);
        y[2 * yStride + 3] = Finish(a32, w3, x2, full, cols); y[3 * yStride + 3] = Finish(a33, w3, x3, full, cols);
    }

    /// <summary>One (row, token) pair with exactly the operations a tile gives it.</summary>
    public static float Dot1x1(float* w, float* x, int cols)
    {
        Vector512<float> a = default;
        int full = cols & ~15;
        for (int c = 0; c < full; c += 16) a = Vector512.FusedMultiplyAdd(Vector512.Load(w + c), Vector512.Load(x + c), a);
        return Finish(a, w, x, full, cols);
    }

    // ---- 256-bit twins (AVX2 machines): 4 rows × 2 tokens, 8 accumulators, fitting the 16 ymm registers ----

    /// <summary>Whether prefill should use the 256-bit tiles (no 512-bit registers, or 512-bit paths turned off).</summary>
    public static bool Supported256 => !Supported && Vector256.IsHardwareAccelerated && RowKernels.UseSimd;

    /// <summary>As <see cref="Dot4x4"/> for four rows × two tokens, accumulating in 8-column chunks.</summary>
    public static void Dot4x2V256(float* w, float* x, int cols, float* y, long yStride)
    {
        float* w0 = w, w1 = w + cols, w2 = w1 + cols, w3 = w2 + cols;
        float* x0 = x, x1 = x + cols;
        Vector256<float> a00 = default, a01 = default, a10 = default, a11 = default;
        Vector256<float> a20 = default, a21 = default, a30 = default, a31 = default;
        int full = cols & ~7;
        for (int c = 0; c < full; c += 8)
        {
            var v0 = Vector256.Load(x0 + c);
            var v1 = Vector256.Load(x1 + c);
            var r = Vector256.Load(w0 + c);
            a00 = Vector256.FusedMultiplyAdd(r, v0, a00); a01 = Vector256.FusedMultiplyAdd(r, v1, a01);
            r = Vector256.Load(w1 + c);
            a10 = Vector256.FusedMultiplyAdd(r, v0, a10); a11 = Vector256.FusedMultiplyAdd(r, v1, a11);
            r = Vector256.Load(w2 + c);
            a20 = Vector256.FusedMultiplyAdd(r, v0, a20); a21 = Vector256.FusedMultiplyAdd(r, v1, a21);
            r = Vector256.Load(w3 + c);
            a30 = Vector256.FusedMultiplyAdd(r, v0, a30); a31 = Vector256.FusedMultiplyAdd(r, v1, a31);
        }
        y[0] = Finish(a00, w0, x0, full, cols); y[yStride] = Finish(a01, w0, x1, full, cols);
        y[1] = Finish(a10, w1, x0, full, cols); y[yStride + 1] = Finish(a11, w1, x1, full, cols);
        y[2] = Finish(a20, w2, x0, full, cols); y[yStride + 2] = Finish(a21, w2, x1, full, cols);
        y[3] = Finish(a30, w3, x0, full, cols); y[yStride + 3] = Finish(a31, w3, x1, full, cols);
    }

    /// <summary>One (row, token) pair with exactly the operations a 256-bit tile gives it.</summary>
    public static float Dot1x1V256(float* w, float* x, int cols)
    {
        Vector256<float> a = default;
        int full = cols & ~7;
        for (int c = 0; c < full; c += 8) a = Vector256.FusedMultiplyAdd(Vector256.Load(w + c), Vector256.Load(x + c), a);
        return Finish(a, w, x, full, cols);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Finish(Vector256<float> acc, float* w, float* x, int from, int cols)
    {
        float s = Vector256.Sum(acc);
        for (int c = from; c < cols; c++) s = MathF.FusedMultiplyAdd(w[c], x[c], s);
        return s;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Finish(Vector512<float> acc, float* w, float* x, int from, int cols)
    {
        float s = Vector512.Sum(acc);
        for (int c = from; c < cols; c++) s = MathF.FusedMultiplyAdd(w[c], x[c], s);
        return s;
    }
}
