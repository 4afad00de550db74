using System.Runtime.CompilerServices;

namespace SharpSeek.Kernels.Formats;

/// <summary>
/// The reference's activation quantisers (kernel.py act_quant / fp4_act_quant with scale_fmt ue8m0): per block,
/// a power-of-two scale s = 2^ceil(log2(amax · fp32(1/max))) found from the float's bits, then codes rounded half to even.
/// </summary>
public static class ActivationQuant
{
    private const float Fp8MinAmax = 1e-4f;
    private static readonly float Fp4MinAmax = 6f * MathF.Pow(2, -126);
    private const float InvFp8Max = 1f / 448f;
    private const float InvFp4Max = 1f / 6f;

    /// <summary>2^ceil(log2(v)) for positive normal v, computed exactly from the exponent and mantissa bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Pow2Ceil(float v)
    {
        uint bits = BitConverter.SingleToUInt32Bits(v);
        int exp = (int)((bits >> 23) & 0xFF);
        if ((bits & 0x7FFFFF) != 0) exp++;
        return BitConverter.Int32BitsToSingle(exp << 23);
    }

    public static float Fp8Scale(ReadOnlySpan<float> block)
    {
        float amax = 0;
        foreach (float v in block) amax = MathF.Max(amax, MathF.Abs(v));
        return Pow2Ceil(MathF.Max(amax, Fp8MinAmax) * InvFp8Max);
    }

    public static float Fp4Scale(ReadOnlySpan<float> block)
    {
        float amax = 0;
        foreach (float v in block) amax = MathF.Max(amax, MathF.Abs(v));
        return Pow2Ceil(MathF.Max(amax, Fp4MinAmax) * InvFp4Max);
    }

    /// <summary>FP8 codes and one scale per block (act_quant's outputs).</summary>
    public static void Fp8Quantize(ReadOnlySpan<float> x, int block, Span<byte> codes, Span<float> scales)
    {
        for (int b = 0, start = 0; start < x.Length; b++, start += block)
        {
            var blk = x.Slice(start, Math.Min(block, x.Length - start));
            float s = Fp8Scale(blk);
            scales[b] = s;
            for (int i = 0; i < blk.Length; i++)
                codes[start + i] = Fp8E4M3.Encode(Math.Clamp(blk[i] / s, -Fp8E4M3.MaxValue, Fp8E4M3.MaxValue));
        }
    }

    /// <summary>In-place FP8 quant-dequant with a bf16 result: x ← bf16(e4m3(x/s)·s).</summary>
    public static void Fp8QuantDequant(Span<float> x, int block)
    {
        for (int start = 0; start < x.Length; start += block)
        {
            var blk = x.Slice(start, Math.Min(block, x.Length - start));
            float s = Fp8Scale(blk);
            for (int i = 0; i < blk.Length; i++)
            {
                float q = Fp8E4M3.Decode(Fp8E4M3.Encode(Math.Clamp(blk[i] / s, -Fp8E4M3.MaxValue, Fp8E4M3.MaxValue)));
                blk[i] = Bf16.Round(MathF.CopySign(q * s, blk[i])); // the in-place QDQ keeps the sign of values that round to zero
            }
        }
    }

    /// <summary>In-place FP4 quant-dequant with a bf16 result: x ← bf16(e2m1(x/s)·s).</summary>
    public static void Fp4QuantDequant(Span<float> x, int block)
    {
        for (int start = 0; start < x.Length; start += block)
        {
            var blk = x.Slice(start, Math.Min(block, x.Length - start));
            float s = Fp4Scale(blk);
            for (int i = 0; i < blk.Length; i++)
            {
                float q = Fp4E2M1.Decode(Fp4E2M1.Encode(Math.Clamp(blk[i] / s, -Fp4E2M1.MaxValue, Fp4E2M1.MaxValue)));
                blk[i] = Bf16.Round(q * s);
            }
        }
    }
}
