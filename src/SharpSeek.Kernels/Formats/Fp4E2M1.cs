using System.Runtime.CompilerServices;

namespace SharpSeek.Kernels.Formats;

/// <summary>
/// FP4 e2m1 (MXFP4 element): bit 3 sign, bits 2-1 exponent (bias 1), bit 0 mantissa.
/// Values {0, .5, 1, 1.5, 2, 3, 4, 6} and their negatives; no NaN/inf.
/// </summary>
public static class Fp4E2M1
{
    public const float MaxValue = 6f;

    public static readonly float[] Table = [0f, 0.5f, 1f, 1.5f, 2f, 3f, 4f, 6f, -0f, -0.5f, -1f, -1.5f, -2f, -3f, -4f, -6f];

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Decode(int nibble) => Table[nibble & 0xF];

    /// <summary>Round half to even onto the e2m1 grid after clamping to ±6.</summary>
    public static byte Encode(float value)
    {
        uint sign = value < 0 || (value == 0 && float.IsNegative(value)) ? 8u : 0u;
        float a = MathF.Min(MathF.Abs(value), MaxValue);
        // Grid and codes: 0:0 1:.5 2:1 3:1.5 4:2 5:3 6:4 7:6. Midpoints go to the even code.
        int code;
        if (a < 0.25f) code = 0;
        else if (a == 0.25f) code = 0;
        else if (a < 0.75f) code = 1;
        else if (a == 0.75f) code = 2;
        else if (a < 1.25f) code = 2;
        else if (a == 1.25f) code = 2;
        else if (a < 1.75f) code = 3;
        else if (a == 1.75f) code = 4;
        else if (a < 2.5f) code = 4;
        else if (a == 2.5f) code = 4;
        else if (a < 3.5f) code = 5;
        else if (a == 3.5f) code = 6;
        else if (a < 5f) code = 6;
        else if (a == 5f) code = 6;
        else code = 7;
        return (byte)(sign | (uint)code);
    }
}
