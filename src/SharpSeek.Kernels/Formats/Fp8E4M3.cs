using System.Runtime.CompilerServices;

namespace SharpSeek.Kernels.Formats;

/// <summary>
/// FP8 e4m3fn (OCP "fn" variant, as torch.float8_e4m3fn): sign bit 7, exponent bits 6-3 with bias 7, mantissa bits 2-0;
/// exponent 0 is subnormal (m/8 · 2^-6); 0x7F/0xFF are NaN; no infinities; largest finite value 448.
/// </summary>
public static class Fp8E4M3
{
    public const float MaxValue = 448f;

    /// <summary>Decode table indexed by the byte.</summary>
    public static readonly float[] Table = BuildTable();

    private static float[] BuildTable()
    {
        var t = new float[256];
        for (int b = 0; b < 256; b++)
        {
            int sign = b >> 7, exp = (b >> 3) & 0xF, man = b & 7;
            float v;
            if (exp == 0xF && man == 7) v = float.NaN;
            else if (exp == 0) v = man / 8f * MathF.Pow(2, -6);
            else v = (1 + man / 8f) * MathF.Pow(2, exp - 7);
            t[b] = sign != 0 ? -v : v;
        }
        return t;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Decode(byte code) => Table[code];

    /// <summary>
    /// Encode with round-half-to-even after clamping to ±448 (the reference clamps before the cast, so nothing
    /// saturates to NaN). NaN input encodes as 0x7F.
    /// </summary>
    public static byte Encode(float value)
    {
        if (float.IsNaN(value)) return 0x7F;
        uint sign = value < 0 || (value == 0 && float.IsNegative(value)) ? 0x80u : 0u;
        float a = MathF.Min(MathF.Abs(value), MaxValue);
        // Work on the float32 bit pattern: e4m3 keeps 3 mantissa bits; subnormals (below 2^-6) have a fixed
        // quantum of 2^-9, so rounding there is to a multiple of 2^-9.
        if (a < 0.015625f) // 2^-6: subnormal range
        {
            float q = a * 512f; // units of 2^-9
            float r = MathF.Round(q, MidpointRounding.ToEven);
            int m = (int)r; // 0..8 ; 8 == smallest normal
            // The reference's quantiser yields code 0x00 (not 0x80) for anything that rounds to zero.
            return m == 0 ? (byte)0 : (byte)(sign | (uint)m);
        }
        uint bits = BitConverter.SingleToUInt32Bits(a);
        int exp = (int)((bits >> 23) & 0xFF) - 127; // -6..8
        uint mant = bits & 0x7FFFFF;
        // keep 3 bits: round at bit 20
        uint lower = mant & 0xFFFFF;           // 20 discarded bits
        uint kept = mant >> 20;
        const uint half = 0x80000;
        if (lower > half || (lower == half && (kept & 1) != 0)) kept++;
        if (kept == 8) { kept = 0; exp++; }
        int e = exp + 7;
        if (e > 15 || (e == 15 && kept == 7)) { e = 15; kept = 6; } // clamp to 448 (cannot happen after clamp)
        return (byte)(sign | (uint)(e << 3) | kept);
    }
}
