namespace SharpSeek.Kernels.Formats;

/// <summary>UE8M0 block scale: byte b → 2^(b−127); 255 is NaN.</summary>
public static class Ue8M0
{
    public static readonly float[] Table = BuildTable();

    private static float[] BuildTable()
    {
        var t = new float[256];
        for (int b = 0; b < 255; b++) t[b] = (float)Math.Pow(2, b - 127); // b=0 → 2^-127, an f32 subnormal
        t[255] = float.NaN;
        return t;
    }

    public static float Decode(byte b) => Table[b];

    /// <summary>The byte of an exact power of two (the scales our quantisers produce).</summary>
    public static byte Encode(float powerOfTwo)
    {
        if (powerOfTwo == 0f) return 0;
        return (byte)Math.Clamp((int)Math.Round(Math.Log2(powerOfTwo)) + 127, 0, 254);
    }
}
