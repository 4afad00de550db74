using SharpSeek.Kernels.Formats;
using SharpSeek.Kernels.Ops;

namespace SharpSeek.Kernels.Tests;

/// <summary>Random stored matrices and the kernel widths to run them on, shared by the kernel tests.</summary>
internal static class TestMatrices
{
    /// <summary>Runs <paramref name="body"/> on the 256-bit kernels, then (where the CPU has them) the 512-bit ones,
    /// restoring the setting afterwards.</summary>
    public static void ForEachWidth(Action body)
    {
        bool saved = RowKernels.UseAvx512;
        try
        {
            foreach (bool wide in System.Runtime.Intrinsics.X86.Avx512F.IsSupported ? new[] { false, true } : new[] { false })
            {
                RowKernels.UseAvx512 = wide;
                body();
            }
        }
        finally { RowKernels.UseAvx512 = saved; }
    }

    /// <summary>
    /// Random stored bytes of a rows × cols matrix after <paramref name="offset"/> leading bytes (to make the data
    /// unaligned): FP8 without the NaN codes weights never hold, BF16/F32 finite and of moderate size; and a UE8M0 scale
    /// (2^-7..2^2) for every block the format has.
    /// </summary>
    public static (byte[] Data, byte[] Scales) Random(WeightFormat format, int rows, int cols, Random rng, int offset = 0)
    {
        int elementBytes = format switch { WeightFormat.F32 => 4, WeightFormat.BF16 => 2, _ => 1 };
        long bytes = format == WeightFormat.Fp4Block32 ? (long)rows * cols / 2 : (long)rows * cols * elementBytes;
        var data = new byte[bytes + offset];
        rng.NextBytes(data);
        if (format == WeightFormat.Fp8Block128)
            for (int i = 0; i < data.Length; i++) if ((data[i] & 0x7F) == 0x7F) data[i] ^= 1;
        if (format is WeightFormat.BF16 or WeightFormat.F32)
            for (long i = offset + elementBytes - 1; i < data.Length; i += elementBytes)
                data[i] = (byte)((data[i] & 0x80) | (0x3C + rng.Next(6))); // the exponent's top bits: |v| about 2^-7..2^2
        int scaleCount = format switch
        {
            WeightFormat.Fp4Block32 => rows * (cols / 32),
            WeightFormat.Fp8Block128 => (rows + 127) / 128 * ((cols + 127) / 128),
            _ => 0,
        };
        var scales = new byte[Math.Max(1, scaleCount)];
        for (int i = 0; i < scales.Length; i++) scales[i] = (byte)(120 + rng.Next(10));
        return (data, scales);
    }

    public static bool HasScales(WeightFormat format) => format is WeightFormat.Fp8Block128 or WeightFormat.Fp4Block32;
}
