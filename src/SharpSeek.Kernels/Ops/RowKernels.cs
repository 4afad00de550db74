using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using SharpSeek.Kernels.Formats;

namespace SharpSeek.Kernels.Ops;

/// <summary>
/// Per-row kernels over stored weights: a fused decode·dot for one token (decode is memory-bound: every weight byte is
/// read once and never written back) and a decode-to-f32 for prefill tiles. AVX2 paths with scalar twins
/// (<see cref="DotScalar"/>, <see cref="WeightMatrix.DecodeRow"/>) that the tests hold them equal to.
/// </summary>
public static unsafe class RowKernels
{
    public static bool UseSimd { get; set; } = Avx2.IsSupported && Fma.IsSupported;
    /// <summary>512-bit paths for the two formats that dominate decode traffic (BF16 head, FP8 attention).</summary>
    public static bool UseAvx512 { get; set; } = Avx512F.IsSupported && Environment.GetEnvironmentVariable("SHARPSEEK_AVX512") != "0";
    [ThreadStatic] private static float[]? t_row;

    // e4m3 bits moved into an f32's exponent/mantissa field: value = bits · 2^120 (exact for normals and subnormals).
    // The byte is sign-extended to 32 bits and shifted left by 20: the magnitude lands in bits 26..20 and copies of
    // the sign in 31..27; one AND keeps bit 31 and the magnitude (3 integer ops per vector instead of 5).
    private const float Fp8Rebias = 1.329228e36f; // 2^120
    private const int Fp8FieldMask = unchecked((int)0x87F00000);

    /// <summary>Σ_c W[r, c] · x[c].</summary>
    public static float Dot(in WeightMatrix w, int r, float* x)
    {
        if (w.Format == WeightFormat.F32)
            return System.Numerics.Tensors.TensorPrimitives.Dot(new ReadOnlySpan<float>(w.Data + 4L * r * w.Cols, w.Cols), new ReadOnlySpan<float>(x, w.Cols));
        if (!UseSimd) return DotScalar(w, r, x);
        return w.Format switch
        {
            WeightFormat.Fp8Block128 => UseAvx512 ? DotFp8Avx512(w, r, x) : DotFp8(w, r, x),
            WeightFormat.Fp4Block32 => UseAvx512 ? DotFp4Avx512(w, r, x) : DotFp4(w, r, x),
            WeightFormat.BF16 => UseAvx512 ? DotBf16Avx512(w, r, x) : DotBf16(w, r, x),
            _ => DotScalar(w, r, x),
        };
    }

    /// <summary>The scalar twin: decode then multiply, element by element.</summary>
    public static float DotScalar(in WeightMatrix w, int r, float* x)
    {
        Span<float> row = w.Cols <= 8192 ? stackalloc float[w.Cols] : (t_row is { } a && a.Length >= w.Cols ? a : (t_row = new float[w.Cols])).AsSpan(0, w.Cols);
        w.DecodeRow(r, row);
        float s = 0;
        for (int c = 0; c < row.Length; c++) s += row[c] * x[c];
        return s;
    }

    private static float DotFp8(in WeightMatrix w, int r, float* x)
    {
        int cols = w.Cols, full = cols / 128;
        byte* row = w.Data + (long)r * cols;
        byte* scales = w.Scales + (long)(r / 128) * w.Fp8ScaleCols;
        var total = Vector256<float>.Zero;
        var field = Vector256.Create(Fp8FieldMask);
        for (int b = 0; b < full; b++)
        {
            var acc0 = Vector256<float>.Zero;
            var acc1 = Vector256<float>.Zero;
            byte* p = row + b * 128;
            float* xp = x + b * 128;
            for (int i = 0; i < 128; i += 16)
            {
                var f0 = Avx2.And(Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32((sbyte*)(p + i)), 20), field).AsSingle();
                var f1 = Avx2.And(Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32((sbyte*)(p + i + 8)), 20), field).AsSingle();
                acc0 = Fma.MultiplyAdd(f0, Avx.LoadVector256(xp + i), acc0);
                acc1 = Fma.MultiplyAdd(f1, Avx.LoadVector256(xp + i + 8), acc1);
            }
            float scale = Ue8M0.Table[scales[b]];
            total = Fma.MultiplyAdd(Avx.Multiply(Avx.Add(acc0, acc1), Vector256.Create(Fp8Rebias)), Vector256.Create(scale), total);
        }
        float sum = Vector256.Sum(total);
        for (int c = full * 128; c < cols; c++) sum += Fp8E4M3.Table[row[c]] * Ue8M0.Table[scales[c >> 7]] * x[c];
        return sum;
    }

    private static float DotFp8Avx512(in WeightMatrix w, int r, float* x)
    {
        int cols = w.Cols, full = cols / 128;
        byte* row = w.Data + (long)r * cols;
        byte* scales = w.Scales + (long)(r / 128) * w.Fp8ScaleCols;
        var total = Vector512<float>.Zero;
        var field = Vector512.Create(Fp8FieldMask);
        for (int b = 0; b < full; b++)
        {
            var acc0 = Vector512<float>.Zero;
            var acc1 = Vector512<float>.Zero;
            byte* p = row + b * 128;
            float* xp = x + b * 128;
            for (int i = 0; i < 128; i += 32)
            {
                var f0 = ((Avx512F.ConvertToVector512Int32(Vector128.Load((sbyte*)(p + i))) << 20) & field).AsSingle();
                var f1 = ((Avx512F.ConvertToVector512Int32(Vector128.Load((sbyte*)(p + i + 16))) << 20) & field).AsSingle();
                acc0 = Avx512F.FusedMultiplyAdd(f0, Vector512.Load(xp + i), acc0);
                acc1 = Avx512F.FusedMultiplyAdd(f1, Vector512.Load(xp + i + 16), acc1);
            }
            total = Avx512F.FusedMultiplyAdd((acc0 + acc1) * Fp8Rebias, Vector512.Create(Ue8M0.Table[scales[b]]), total);
        }
        float sum = Vector512.Sum(total);
        for (int c = full * 128; c < cols; c++) sum += Fp8E4M3.Table[row[c]] * Ue8M0.Table[scales[c >> 7]] * x[c];
        return sum;
    }

    private static readonly Vector512<float> Fp4Table = Vector512.Create(0f, 0.5f, 1f, 1.5f, 2f, 3f, 4f, 6f, -0f, -0.5f, -1f, -1.5f, -2f, -3f, -4f, -6f);
    private static readonly Vector512<uint> NibbleShifts16 = Vector512.Create(0u, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28);

    /// <summary>16 nibbles (8 bytes) per step: each lane shifts its nibble down, a 16-entry permute (which reads only the low 4 bits of each lane) is the signed e2m1 table.</summary>
    private static float DotFp4Avx512(in WeightMatrix w, int r, float* x)
    {
        int cols = w.Cols, blocks = cols / 32;
        byte* row = w.Data + (long)r * cols / 2;
        byte* scales = w.Scales + (long)r * blocks;
        var total = Vector512<float>.Zero;
        for (int b = 0; b < blocks; b++)
        {
            uint* words = (uint*)(row + b * 16);
            float* xp = x + b * 32;
            var n0 = Avx512F.ShiftRightLogicalVariable(Vector512.Create(Vector256.Create(words[0]), Vector256.Create(words[1])), NibbleShifts16);
            var n1 = Avx512F.ShiftRightLogicalVariable(Vector512.Create(Vector256.Create(words[2]), Vector256.Create(words[3])), NibbleShifts16);
            var acc = Avx512F.PermuteVar16x32(Fp4Table, n0.AsInt32()) * Vector512.Load(xp);
            acc = Avx512F.FusedMultiplyAdd(Avx512F.PermuteVar16x32(Fp4Table, n1.AsInt32()), Vector512.Load(xp + 16), acc);
            total = Avx512F.FusedMultiplyAdd(acc, Vector512.Create(Ue8M0.Table[scales[b]]), total);
        }
        return Vector512.Sum(total);
    }

    /// <summary>
    /// The input layout <see cref="DotFp4Permuted"/> wants: within each block of 32, the 16 even elements, then the 16
    /// odd ones. A packed byte holds elements 2i (low nibble) and 2i+1 (high nibble), so with this layout the low
    /// nibbles of a block's 16 bytes meet x's first half and the high nibbles its second half, with no shuffling of
    /// the weights. Done once per matvec, it saves each weight block two broadcasts, two shifts and a mask.
    /// </summary>
    public static void PermuteForFp4(ReadOnlySpan<float> x, Span<float> permuted)
    {
        if (x.Length % 32 != 0) throw new ArgumentException($"FP4 rows come in blocks of 32; got {x.Length} columns");
        for (int b = 0; b < x.Length; b += 32)
            for (int i = 0; i < 16; i++)
            {
                permuted[b + i] = x[b + 2 * i];
                permuted[b + 16 + i] = x[b + 2 * i + 1];
            }
    }

    /// <summary>Σ_c W[r, c] · x[c] for an FP4 row, given x laid out by <see cref="PermuteForFp4"/> (AVX-512 when
    /// available; otherwise it undoes the permutation and takes the scalar path).</summary>
    public static float DotFp4Permuted(in WeightMatrix w, int r, float* xPermuted)
    {
        if (w.Format != WeightFormat.Fp4Block32) throw new ArgumentException("DotFp4Permuted needs an FP4 matrix");
        if (UseSimd && UseAvx512) return DotFp4PermutedAvx512(w, r, xPermuted);
        var row = t_row is { } a && a.Length >= w.Cols ? a : (t_row = new float[w.Cols]);
        w.DecodeRow(r, row.AsSpan(0, w.Cols));
        float sum = 0;
        for (int b = 0; b < w.Cols; b += 32)
            for (int i = 0; i < 16; i++) sum += row[b + 2 * i] * xPermuted[b + i] + row[b + 2 * i + 1] * xPermuted[b + 16 + i];
        return sum;
    }

    private static float DotFp4PermutedAvx512(in WeightMatrix w, int r, float* x)
    {
        int cols = w.Cols, blocks = cols / 32;
        byte* row = w.Data + (long)r * cols / 2;
        byte* scales = w.Scales + (long)r * blocks;
        var total0 = Vector512<float>.Zero;
        var total1 = Vector512<float>.Zero;
        // vpermps reads only the low 4 bits of each index lane, so a byte's low nibble needs no mask and its high
        // nibble only the shift
        int b = 0;
        for (; b + 2 <= blocks; b += 2)
        {
            // two blocks per step into two accumulators: the scale FMA chain is not the bottleneck
            var v0 = Avx512F.ConvertToVector512Int32(Vector128.Load(row + b * 16));
            var v1 = Avx512F.ConvertToVector512Int32(Vector128.Load(row + b * 16 + 16));
            float* x0 = x + b * 32;
            var a0 = Avx512F.PermuteVar16x32(Fp4Table, v0) * Vector512.Load(x0);
            a0 = Avx512F.FusedMultiplyAdd(Avx512F.PermuteVar16x32(Fp4Table, v0 >>> 4), Vector512.Load(x0 + 16), a0);
            var a1 = Avx512F.PermuteVar16x32(Fp4Table, v1) * Vector512.Load(x0 + 32);
            a1 = Avx512F.FusedMultiplyAdd(Avx512F.PermuteVar16x32(Fp4Table, v1 >>> 4), Vector512.Load(x0 + 48), a1);
            total0 = Avx512F.FusedMultiplyAdd(a0, Vector512.Create(Ue8M0.Table[scales[b]]), total0);
            total1 = Avx512F.FusedMultiplyAdd(a1, Vector512.Create(Ue8M0.Table[scales[b + 1]]), total1);
        }
        if (b < blocks)
        {
            var v0 = Avx512F.ConvertToVector512Int32(Vector128.Load(row + b * 16));
            float* x0 = x + b * 32;
            var a0 = Avx512F.PermuteVar16x32(Fp4Table, v0) * Vector512.Load(x0);
            a0 = Avx512F.FusedMultiplyAdd(Avx512F.PermuteVar16x32(Fp4Table, v0 >>> 4), Vector512.Load(x0 + 16), a0);
            total0 = Avx512F.FusedMultiplyAdd(a0, Vector512.Create(Ue8M0.Table[scales[b]]), total0);
        }
        return Vector512.Sum(total0 + total1);
    }

    private static float DotBf16Avx512(in WeightMatrix w, int r, float* x)
    {
        int cols = w.Cols, full = cols / 32 * 32;
        ushort* row = (ushort*)w.Data + (long)r * cols;
        var acc0 = Vector512<float>.Zero;
        var acc1 = Vector512<float>.Zero;
        int c = 0;
        for (; c < full; c += 32)
        {
            var f0 = (Avx512F.ConvertToVector512Int32(Vector256.Load(row + c)) << 16).AsSingle();
            var f1 = (Avx512F.ConvertToVector512Int32(Vector256.Load(row + c + 16)) << 16).AsSingle();
            acc0 = Avx512F.FusedMultiplyAdd(f0, Vector512.Load(x + c), acc0);
            acc1 = Avx512F.FusedMultiplyAdd(f1, Vector512.Load(x + c + 16), acc1);
        }
        float sum = Vector512.Sum(acc0 + acc1);
        for (; c < cols; c++) sum += Bf16.ToFloat(row[c]) * x[c];
        return sum;
    }

    // ---- four rows at once (decode) ----

    /// <summary>
    /// y[0..3] = rows r..r+3 of W times x, each x vector loaded once for the four rows. A one-row matvec reads 4 bytes
    /// of x per weight, more than an FP8 or FP4 weight's own bytes, and once x outgrows L1 (8192 columns) those loads
    /// come from L2; sharing them across rows leaves the weight stream as the main traffic. Per row the operations are
    /// those of <see cref="Dot"/> (or, with <paramref name="fp4Permuted"/>, <see cref="DotFp4Permuted"/>) in the same
    /// order, so each row's result is bit-identical to the one-row kernel's.
    /// </summary>
    public static void Dot4(in WeightMatrix w, int r, float* x, float* y, bool fp4Permuted = false)
    {
        if (r < 0 || r + 4 > w.Rows) throw new ArgumentOutOfRangeException(nameof(r), $"rows {r}..{r + 3} outside 0..{w.Rows - 1}");
        if (fp4Permuted && w.Format != WeightFormat.Fp4Block32) throw new ArgumentException("a permuted input needs an FP4 matrix");
        if (UseSimd && UseAvx512)
        {
            switch (w.Format)
            {
                case WeightFormat.Fp8Block128: Dot4Fp8Avx512(w, r, x, y); return;
                case WeightFormat.BF16: Dot4Bf16Avx512(w, r, x, y); return;
                case WeightFormat.Fp4Block32 when fp4Permuted: Dot4Fp4PermutedAvx512(w, r, x, y); return;
            }
        }
        for (int i = 0; i < 4; i++) y[i] = fp4Permuted ? DotFp4Permuted(w, r + i, x) : Dot(w, r + i, x);
    }

    /// <summary>
    /// Whether decode should run this matrix through <see cref="Dot4"/>. Sharing x pays where the kernel, not the
    /// weight stream, is the limit: FP4 (8 bytes of x loaded per weight byte; measured from DRAM on 2 cores 17 → 22 GB/s)
    /// and FP8 rows whose x no longer fits beside the stream in L1 (8192 columns: 22 → 26 GB/s). Elsewhere four
    /// interleaved row streams cost the DRAM prefetchers more than the loads saved (BF16 head 50 → 42 GB/s, FP8 with
    /// 1024 columns 30 → 15 GB/s), so those keep one row at a time.
    /// </summary>
    public static bool PrefersFourRows(in WeightMatrix w, bool fp4Permuted) =>
        UseSimd && UseAvx512 && w.Rows >= 4 && (fp4Permuted && w.Format == WeightFormat.Fp4Block32 || w.Format == WeightFormat.Fp8Block128 && w.Cols > 4096);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Fp8Field(byte* p, Vector512<int> field) =>
        ((Avx512F.ConvertToVector512Int32(Vector128.Load((sbyte*)p)) << 20) & field).AsSingle();

    private static void Dot4Fp8Avx512(in WeightMatrix w, int r, float* x, float* y)
    {
        int cols = w.Cols, full = cols / 128;
        byte* p0 = w.Data + (long)r * cols, p1 = p0 + cols, p2 = p1 + cols, p3 = p2 + cols;
        // a row's scales are those of its 128-row block; the four rows may straddle two blocks
        byte* s0 = w.Scales + (long)(r / 128) * w.Fp8ScaleCols, s1 = w.Scales + (long)((r + 1) / 128) * w.Fp8ScaleCols;
        byte* s2 = w.Scales + (long)((r + 2) / 128) * w.Fp8ScaleCols, s3 = w.Scales + (long)((r + 3) / 128) * w.Fp8ScaleCols;
        var field = Vector512.Create(Fp8FieldMask);
        Vector512<float> t0 = default, t1 = default, t2 = default, t3 = default;
        for (int b = 0; b < full; b++)
        {
            Vector512<float> a00 = default, a01 = default, a10 = default, a11 = default, a20 = default, a21 = default, a30 = default, a31 = default;
            int o = b * 128;
            float* xp = x + o;
            for (int i = 0; i < 128; i += 32)
            {
                var x0 = Vector512.Load(xp + i);
                var x1 = Vector512.Load(xp + i + 16);
                a00 = Avx512F.FusedMultiplyAdd(Fp8Field(p0 + o + i, field), x0, a00);
                a01 = Avx512F.FusedMultiplyAdd(Fp8Field(p0 + o + i + 16, field), x1, a01);
                a10 = Avx512F.FusedMultiplyAdd(Fp8Field(p1 + o + i, field), x0, a10);
                a11 = Avx512F.FusedMultiplyAdd(Fp8Field(p1 + o + i + 16, field), x1, a11);
                a20 = Avx512F.FusedMultiplyAdd(Fp8Field(p2 + o + i, field), x0, a20);
                a21 = Avx512F.FusedMultiplyAdd(Fp8Field(p2 + o + i + 16, field), x1, a21);
                a30 = Avx512F.FusedMultiplyAdd(Fp8Field(p3 + o + i, field), x0, a30);
                a31 = Avx512F.FusedMultiplyAdd(Fp8Field(p3 + o + i + 16, field), x1, a31);
            }
            t0 = Avx512F.FusedMultiplyAdd((a00 + a01) * Fp8Rebias, Vector512.Create(Ue8M0.Table[s0[b]]), t0);
            t1 = Avx512F.FusedMultiplyAdd((a10 + a11) * Fp8Rebias, Vector512.Create(Ue8M0.Table[s1[b]]), t1);
            t2 = Avx512F.FusedMultiplyAdd((a20 + a21) * Fp8Rebias, Vector512.Create(Ue8M0.Table[s2[b]]), t2);
            t3 = Avx512F.FusedMultiplyAdd((a30 + a31) * Fp8Rebias, Vector512.Create(Ue8M0.Table[s3[b]]), t3);
        }
        y[0] = Fp8Tail(Vector512.Sum(t0), p0, s0, x, full * 128, cols);
        y[1] = Fp8Tail(Vector512.Sum(t1), p1, s1, x, full * 128, cols);
        y[2] = Fp8Tail(Vector512.Sum(t2), p2, s2, x, full * 128, cols);
        y[3] = Fp8Tail(Vector512.Sum(t3), p3, s3, x, full * 128, cols);
    }

    private static float Fp8Tail(float sum, byte* row, byte* scales, float* x, int from, int cols)
    {
        for (int c = from; c < cols; c++) sum += Fp8E4M3.Table[row[c]] * Ue8M0.Table[scales[c >> 7]] * x[c];
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Bf16Field(ushort* p) => (Avx512F.ConvertToVector512Int32(Vector256.Load(p)) << 16).AsSingle();

    private static void Dot4Bf16Avx512(in WeightMatrix w, int r, float* x, float* y)
    {
        int cols = w.Cols, full = cols / 32 * 32;
        ushort* p0 = (ushort*)w.Data + (long)r * cols, p1 = p0 + cols, p2 = p1 + cols, p3 = p2 + cols;
        Vector512<float> a00 = default, a01 = default, a10 = default, a11 = default, a20 = default, a21 = default, a30 = default, a31 = default;
        for (int c = 0; c < full; c += 32)
        {
            var x0 = Vector512.Load(x + c);
            var x1 = Vector512.Load(x + c + 16);
            a00 = Avx512F.FusedMultiplyAdd(Bf16Field(p0 + c), x0, a00);
            a01 = Avx512F.FusedMultiplyAdd(Bf16Field(p0 + c + 16), x1, a01);
            a10 = Avx512F.FusedMultiplyAdd(Bf16Field(p1 + c), x0, a10);
            a11 = Avx512F.FusedMultiplyAdd(Bf16Field(p1 + c + 16), x1, a11);
            a20 = Avx512F.FusedMultiplyAdd(Bf16Field(p2 + c), x0, a20);
            a21 = Avx512F.FusedMultiplyAdd(Bf16Field(p2 + c + 16), x1, a21);
            a30 = Avx512F.FusedMultiplyAdd(Bf16Field(p3 + c), x0, a30);
            a31 = Avx512F.FusedMultiplyAdd(Bf16Field(p3 + c + 16), x1, a31);
        }
        y[0] = Bf16Tail(Vector512.Sum(a00 + a01), p0, x, full, cols);
        y[1] = Bf16Tail(Vector512.Sum(a10 + a11), p1, x, full, cols);
        y[2] = Bf16Tail(Vector512.Sum(a20 + a21), p2, x, full, cols);
        y[3] = Bf16Tail(Vector512.Sum(a30 + a31), p3, x, full, cols);
    }

    private static float Bf16Tail(float sum, ushort* row, float* x, int from, int cols)
    {
        for (int c = from; c < cols; c++) sum += Bf16.ToFloat(row[c]) * x[c];
        return sum;
    }

    /// <summary>One FP4 block pair of one row on the permuted input: the low nibbles meet x's first 16, the high ones the next 16.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Fp4Block(byte* p, Vector512<float> xLow, Vector512<float> xHigh)
    {
        var v = Avx512F.ConvertToVector512Int32(Vector128.Load(p));
        var a = Avx512F.PermuteVar16x32(Fp4Table, v) * xLow;
        return Avx512F.FusedMultiplyAdd(Avx512F.PermuteVar16x32(Fp4Table, v >>> 4), xHigh, a);
    }

    private static void Dot4Fp4PermutedAvx512(in WeightMatrix w, int r, float* x, float* y)
    {
        int cols = w.Cols, blocks = cols / 32;
        long rowBytes = cols / 2;
        byte* p0 = w.Data + r * rowBytes, p1 = p0 + rowBytes, p2 = p1 + rowBytes, p3 = p2 + rowBytes;
        byte* s0 = w.Scales + (long)r * blocks, s1 = s0 + blocks, s2 = s1 + blocks, s3 = s2 + blocks;
        Vector512<float> t00 = default, t01 = default, t10 = default, t11 = default, t20 = default, t21 = default, t30 = default, t31 = default;
        int b = 0;
        for (; b + 2 <= blocks; b += 2)
        {
            float* xb = x + b * 32;
            var xa = Vector512.Load(xb);
            var xbh = Vector512.Load(xb + 16);
            var xc = Vector512.Load(xb + 32);
            var xd = Vector512.Load(xb + 48);
            int o = b * 16;
            t00 = Avx512F.FusedMultiplyAdd(Fp4Block(p0 + o, xa, xbh), Vector512.Create(Ue8M0.Table[s0[b]]), t00);
            t01 = Avx512F.FusedMultiplyAdd(Fp4Block(p0 + o + 16, xc, xd), Vector512.Create(Ue8M0.Table[s0[b + 1]]), t01);
            t10 = Avx512F.FusedMultiplyAdd(Fp4Block(p1 + o, xa, xbh), Vector512.Create(Ue8M0.Table[s1[b]]), t10);
            t11 = Avx512F.FusedMultiplyAdd(Fp4Block(p1 + o + 16, xc, xd), Vector512.Create(Ue8M0.Table[s1[b + 1]]), t11);
            t20 = Avx512F.FusedMultiplyAdd(Fp4Block(p2 + o, xa, xbh), Vector512.Create(Ue8M0.Table[s2[b]]), t20);
            t21 = Avx512F.FusedMultiplyAdd(Fp4Block(p2 + o + 16, xc, xd), Vector512.Create(Ue8M0.Table[s2[b + 1]]), t21);
            t30 = Avx512F.FusedMultiplyAdd(Fp4Block(p3 + o, xa, xbh), Vector512.Create(Ue8M0.Table[s3[b]]), t30);
            t31 = Avx512F.FusedMultiplyAdd(Fp4Block(p3 + o + 16, xc, xd), Vector512.Create(Ue8M0.Table[s3[b + 1]]), t31);
        }
        if (b < blocks)
        {
            var xa = Vector512.Load(x + b * 32);
            var xbh = Vector512.Load(x + b * 32 + 16);
            int o = b * 16;
            t00 = Avx512F.FusedMultiplyAdd(Fp4Block(p0 + o, xa, xbh), Vector512.Create(Ue8M0.Table[s0[b]]), t00);
            t10 = Avx512F.FusedMultiplyAdd(Fp4Block(p1 + o, xa, xbh), Vector512.Create(Ue8M0.Table[s1[b]]), t10);
            t20 = Avx512F.FusedMultiplyAdd(Fp4Block(p2 + o, xa, xbh), Vector512.Create(Ue8M0.Table[s2[b]]), t20);
            t30 = Avx512F.FusedMultiplyAdd(Fp4Block(p3 + o, xa, xbh), Vector512.Create(Ue8M0.Table[s3[b]]), t30);
        }
        y[0] = Vector512.Sum(t00 + t01);
        y[1] = Vector512.Sum(t10 + t11);
        y[2] = Vector512.Sum(t20 + t21);
        y[3] = Vector512.Sum(t30 + t31);
    }

    private static readonly Vector256<float> Fp4Magnitudes = Vector256.Create(0f, 0.5f, 1f, 1.5f, 2f, 3f, 4f, 6f);
    private static readonly Vector256<uint> NibbleShifts = Vector256.Create(0u, 4, 8, 12, 16, 20, 24, 28);

    private static float DotFp4(in WeightMatrix w, int r, float* x)
    {
        int cols = w.Cols, blocks = cols / 32;
        byte* row = w.Data + (long)r * cols / 2;
        byte* scales = w.Scales + (long)r * blocks;
        var total = Vector256<float>.Zero;
        var seven = Vector256.Create(7u);
        var eight = Vector256.Create(8u);
        for (int b = 0; b < blocks; b++)
        {
            var acc = Vector256<float>.Zero;
            uint* words = (uint*)(row + b * 16);
            float* xp = x + b * 32;
            for (int i = 0; i < 4; i++) // 8 nibbles (4 bytes) per step: element 2k = low nibble of byte k
            {
                var nib = Avx2.ShiftRightLogicalVariable(Vector256.Create(words[i]), NibbleShifts);
                var mag = Avx2.PermuteVar8x32(Fp4Magnitudes, Avx2.And(nib, seven).AsInt32());
                var sign = Avx2.ShiftLeftLogical(Avx2.And(nib, eight), 28).AsSingle();
                acc = Fma.MultiplyAdd(Avx.Xor(mag, sign), Avx.LoadVector256(xp + i * 8), acc);
            }
            total = Fma.MultiplyAdd(acc, Vector256.Create(Ue8M0.Table[scales[b]]), total);
        }
        return Vector256.Sum(total);
    }

    private static float DotBf16(in WeightMatrix w, int r, float* x)
    {
        int cols = w.Cols, full = cols / 16 * 16;
        ushort* row = (ushort*)w.Data + (long)r * cols;
        var acc0 = Vector256<float>.Zero;
        var acc1 = Vector256<float>.Zero;
        int c = 0;
        for (; c < full; c += 16)
        {
            var f0 = Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(row + c), 16).AsSingle();
            var f1 = Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(row + c + 8), 16).AsSingle();
            acc0 = Fma.MultiplyAdd(f0, Avx.LoadVector256(x + c), acc0);
            acc1 = Fma.MultiplyAdd(f1, Avx.LoadVector256(x + c + 8), acc1);
        }
        float sum = Vector256.Sum(Avx.Add(acc0, acc1));
        for (; c < cols; c++) sum += Bf16.ToFloat(row[c]) * x[c];
        return sum;
    }

    /// <summary>Decodes row r to f32 (prefill tiles): SIMD for FP8/FP4/BF16, the scalar <see cref="WeightMatrix.DecodeRow"/> otherwise.</summary>
    public static void DecodeRow(in WeightMatrix w, int r, Span<float> dst)
    {
        if (!UseSimd || w.Format is not (WeightFormat.Fp8Block128 or WeightFormat.Fp4Block32 or WeightFormat.BF16)) { w.DecodeRow(r, dst); return; }
        int cols = w.Cols;
        fixed (float* d = dst)
        {
            if (w.Format == WeightFormat.BF16)
            {
                ushort* row = (ushort*)w.Data + (long)r * cols;
                int c = 0;
                for (; c + 8 <= cols; c += 8) Avx.Store(d + c, Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(row + c), 16).AsSingle());
                for (; c < cols; c++) d[c] = Bf16.ToFloat(row[c]);
            }
            else if (w.Format == WeightFormat.Fp8Block128)
            {
                byte* row = w.Data + (long)r * cols;
                byte* scales = w.Scales + (long)(r / 128) * w.Fp8ScaleCols;
                var field = Vector256.Create(Fp8FieldMask);
                int c = 0;
                for (; c + 8 <= cols; c += 8)
                {
                    var f = Avx2.And(Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32((sbyte*)(row + c)), 20), field).AsSingle();
                    // NaN codes (0x7F/0xFF) never occur in weights; this path decodes them as ±480
                    Avx.Store(d + c, Avx.Multiply(Avx.Multiply(f, Vector256.Create(Fp8Rebias)), Vector256.Create(Ue8M0.Table[scales[c >> 7]])));
                }
                for (; c < cols; c++) d[c] = Fp8E4M3.Table[row[c]] * Ue8M0.Table[scales[c >> 7]];
            }
            else
            {
                byte* row = w.Data + (long)r * cols / 2;
                byte* scales = w.Scales + (long)r * (cols / 32);
                var seven = Vector256.Create(7u);
                var eight = Vector256.Create(8u);
                uint* words = (uint*)row;
                for (int c = 0; c < cols; c += 8)
                {
                    var nib = Avx2.ShiftRightLogicalVariable(Vector256.Create(words[c / 8]), NibbleShifts);
                    var mag = Avx2.PermuteVar8x32(Fp4Magnitudes, Avx2.And(nib, seven).AsInt32());
                    var sign = Avx2.ShiftLeftLogical(Avx2.And(nib, eight), 28).AsSingle();
                    Avx.Store(d + c, Avx.Multiply(Avx.Xor(mag, sign), Vector256.Create(Ue8M0.Table[scales[c >> 5]])));
                }
            }
        }
    }
}
