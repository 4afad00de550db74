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
