using SharpSeek.Kernels.Formats;
using SharpSeek.Kernels.Ops;

namespace SharpSeek.Kernels.Tests;

/// <summary>The prefill tile kernels: a pair's result does not depend on how rows and tokens were grouped, and it is the
/// dot product (against a double-precision sum).</summary>
public sealed unsafe class TileKernelTests
{
    [Fact]
    public void TileEqualsSinglePairBitForBitAndMatchesDoubleSum()
    {
        var rng = new Random(3);
        foreach (int cols in new[] { 1, 15, 16, 17, 100, 256, 1000, 4096 })
        {
            var w = Enumerable.Range(0, 4 * cols).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
            var x = Enumerable.Range(0, 4 * cols).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
            var y = new float[4 * 7];
            fixed (float* pw = w, px = x, py = y)
            {
                TileKernels.Dot4x4(pw, px, cols, py, 7);
                var y2 = new float[2 * 7];
                fixed (float* p2 = y2) TileKernels.Dot4x2V256(pw, px, cols, p2, 7);
                for (int t = 0; t < 4; t++)
                    for (int r = 0; r < 4; r++)
                    {
                        if (t < 2)
                        {
                            float one256 = TileKernels.Dot1x1V256(pw + r * cols, px + t * cols, cols);
                            Assert.True(BitConverter.SingleToInt32Bits(one256) == BitConverter.SingleToInt32Bits(y2[t * 7 + r]), $"256-bit: cols {cols} row {r} token {t}: tile {y2[t * 7 + r]:R} vs pair {one256:R}");
                            double e2 = 0, m2 = 0;
                            for (int c = 0; c < cols; c++) { e2 += (double)w[r * cols + c] * x[t * cols + c]; m2 += Math.Abs((double)w[r * cols + c] * x[t * cols + c]); }
                            Assert.True(Math.Abs(one256 - e2) <= 1e-6 * m2 + 1e-30, $"256-bit: cols {cols} row {r} token {t}: {one256} vs {e2}");
                        }
                        float one = TileKernels.Dot1x1(pw + r * cols, px + t * cols, cols);
                        Assert.True(BitConverter.SingleToInt32Bits(one) == BitConverter.SingleToInt32Bits(y[t * 7 + r]), $"cols {cols} row {r} token {t}: tile {y[t * 7 + r]:R} vs pair {one:R}");
                        double exact = 0, mag = 0;
                        for (int c = 0; c < cols; c++) { exact += (double)w[r * cols + c] * x[t * cols + c]; mag += Math.Abs((double)w[r * cols + c] * x[t * cols + c]); }
                        Assert.True(Math.Abs(one - exact) <= 1e-6 * mag + 1e-30, $"cols {cols} row {r} token {t}: {one} vs {exact}");
                    }
            }
        }
    }

    /// <summary>A token's prefill output is the same bits whether it came in a batch of 7, 4 or alone (tiles and leftovers agree).</summary>
    [Theory]
    [InlineData(WeightFormat.Fp8Block128)]
    [InlineData(WeightFormat.Fp4Block32)]
    [InlineData(WeightFormat.BF16)]
    public void PrefillDoesNotDependOnBatching(WeightFormat format) => TestMatrices.ForEachWidth(() => CheckBatching(format));

    private static void CheckBatching(WeightFormat format)
    {
        var rng = new Random(5);
        int rows = 70, cols = 384;
        var (data, scales) = TestMatrices.Random(format, rows, cols, rng);
        var x = Enumerable.Range(0, 7 * cols).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        fixed (byte* d = data, s = scales)
        {
            var w = new WeightMatrix(format, rows, cols, d, format == WeightFormat.BF16 ? null : s);
            var all = new float[7 * rows];
            Linear.Forward(w, x, all, 7);
            var four = new float[4 * rows];
            Linear.Forward(w, x.AsSpan(0, 4 * cols), four, 4);
            var pair = new float[2 * rows];
            Linear.Forward(w, x.AsSpan(5 * cols, 2 * cols), pair, 2);
            for (int r = 0; r < rows; r++)
            {
                for (int t = 0; t < 4; t++) Assert.Equal(BitConverter.SingleToInt32Bits(all[t * rows + r]), BitConverter.SingleToInt32Bits(four[t * rows + r]));
                for (int t = 0; t < 2; t++) Assert.Equal(BitConverter.SingleToInt32Bits(all[(5 + t) * rows + r]), BitConverter.SingleToInt32Bits(pair[t * rows + r]));
            }
        }
    }
}
