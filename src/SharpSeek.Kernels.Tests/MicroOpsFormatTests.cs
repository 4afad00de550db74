using SharpSeek.Kernels.Formats;
using SharpSeek.Kernels.Ops;
using SharpSeek.TestSupport;

namespace SharpSeek.Kernels.Tests;

/// <summary>micro-ops fixtures: decode tables, weight dequantisation and activation quantisers must match bit for bit.</summary>
public sealed class MicroOpsFormatTests
{
    private static void AssertBitEqual(float[] expected, ReadOnlySpan<float> actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(actual[i]) || (float.IsNaN(expected[i]) && float.IsNaN(actual[i])),
                $"{what}[{i}]: expected {expected[i]:R}, got {actual[i]:R}");
    }

    [Fact]
    public void DecodeTables()
    {
        AssertBitEqual(Golden.Npy("micro-ops", "formats", "fp8_e4m3_decode.npy").AsFloat32(), Fp8E4M3.Table, "e4m3");
        AssertBitEqual(Golden.Npy("micro-ops", "formats", "fp4_e2m1_decode.npy").AsFloat32(), Fp4E2M1.Table, "e2m1");
        AssertBitEqual(Golden.Npy("micro-ops", "formats", "e8m0_decode.npy").AsFloat32(), Ue8M0.Table, "e8m0");
    }

    /// <summary>Dequantised weights: equal values (a zero's sign is irrelevant to every product it enters).</summary>
    private static void AssertValueEqual(float[] expected, ReadOnlySpan<float> actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(expected[i] == actual[i] || (float.IsNaN(expected[i]) && float.IsNaN(actual[i])), $"{what}[{i}]: expected {expected[i]:R}, got {actual[i]:R}");
    }

    private static unsafe float[] Dequant(WeightFormat format, byte[] data, byte[] scales, int rows, int cols)
    {
        var result = new float[rows * cols];
        fixed (byte* d = data, s = scales)
        {
            var w = new WeightMatrix(format, rows, cols, d, s);
            for (int r = 0; r < rows; r++) w.DecodeRow(r, result.AsSpan(r * cols, cols));
        }
        return result;
    }

    [Theory]
    [InlineData("codes.npy", "scale_e8m0.npy", "dequant.npy")]
    [InlineData("ragged_codes.npy", "ragged_scale_e8m0.npy", "ragged_dequant.npy")]
    public void Fp8WeightDequant(string codes, string scales, string dequant)
    {
        var c = Golden.Npy("micro-ops", "fp8_weight", codes);
        var got = Dequant(WeightFormat.Fp8Block128, c.AsBytes(), Golden.Npy("micro-ops", "fp8_weight", scales).AsBytes(), c.Shape[0], c.Shape[1]);
        AssertValueEqual(Golden.Npy("micro-ops", "fp8_weight", dequant).AsFloat32(), got, "fp8 dequant");
    }

    [Fact]
    public void Fp4WeightDequant()
    {
        var p = Golden.Npy("micro-ops", "fp4_weight", "packed.npy");
        var got = Dequant(WeightFormat.Fp4Block32, p.AsBytes(), Golden.Npy("micro-ops", "fp4_weight", "scale_e8m0.npy").AsBytes(), p.Shape[0], p.Shape[1] * 2);
        AssertValueEqual(Golden.Npy("micro-ops", "fp4_weight", "dequant.npy").AsFloat32(), got, "fp4 dequant");
    }

    [Fact]
    public void ActQuantCodesAndScales()
    {
        var input = Golden.Npy("micro-ops", "act_quant", "input.npy");
        float[] x = input.AsFloat32();
        int rows = input.Shape[0], cols = input.Shape[1];
        byte[] codes = Golden.Npy("micro-ops", "act_quant", "out_codes.npy").AsBytes();
        float[] scales = Golden.Npy("micro-ops", "act_quant", "out_scale.npy").AsFloat32();
        byte[] scaleBytes = Golden.Npy("micro-ops", "act_quant", "out_scale_e8m0.npy").AsBytes();
        int blocks = cols / 128;
        var c = new byte[cols];
        var s = new float[blocks];
        for (int r = 0; r < rows; r++)
        {
            ActivationQuant.Fp8Quantize(x.AsSpan(r * cols, cols), 128, c, s);
            for (int i = 0; i < cols; i++) Assert.True(codes[r * cols + i] == c[i], $"row {r} col {i}: code {c[i]:X2}, expected {codes[r * cols + i]:X2} (x={x[r * cols + i]:R})");
            for (int b = 0; b < blocks; b++)
            {
                Assert.Equal(scales[r * blocks + b], s[b]);
                Assert.Equal(scaleBytes[r * blocks + b], Ue8M0.Encode(s[b]));
            }
        }
        var qdq = (float[])x.Clone();
        for (int r = 0; r < rows; r++) ActivationQuant.Fp8QuantDequant(qdq.AsSpan(r * cols, cols), 128);
        AssertBitEqual(Golden.Npy("micro-ops", "act_quant", "qdq_block128.npy").AsFloat32(), qdq, "qdq128");
    }

    [Fact]
    public void KvQdqBlock64AndFp4QdqBlock32()
    {
        var kv = Golden.Npy("micro-ops", "act_quant", "kv_input.npy");
        float[] k = kv.AsFloat32();
        for (int r = 0; r < kv.Shape[0]; r++) ActivationQuant.Fp8QuantDequant(k.AsSpan(r * kv.Shape[1], kv.Shape[1]), 64);
        AssertBitEqual(Golden.Npy("micro-ops", "act_quant", "kv_qdq_block64.npy").AsFloat32(), k, "kv qdq64");
        var f = Golden.Npy("micro-ops", "act_quant", "fp4_input.npy");
        float[] v = f.AsFloat32();
        for (int r = 0; r < f.Shape[0]; r++) ActivationQuant.Fp4QuantDequant(v.AsSpan(r * f.Shape[1], f.Shape[1]), 32);
        AssertBitEqual(Golden.Npy("micro-ops", "act_quant", "fp4_qdq_block32.npy").AsFloat32(), v, "fp4 qdq32");
    }

    /// <summary>act_quant(x) then the block-scaled GEMM with fp32 accumulation, bf16 out: equal, or one bf16 step off.</summary>
    [Theory]
    [InlineData("linear_fp8", "w_codes.npy", WeightFormat.Fp8Block128)]
    [InlineData("linear_fp4", "w_packed.npy", WeightFormat.Fp4Block32)]
    public unsafe void QuantizedLinear(string folder, string weightFile, WeightFormat format)
    {
        var xa = Golden.Npy("micro-ops", folder, "x.npy");
        float[] x = xa.AsFloat32();
        int T = xa.Shape[0], K = xa.Shape[1];
        var wa = Golden.Npy("micro-ops", folder, weightFile);
        byte[] wb = wa.AsBytes(), sb = Golden.Npy("micro-ops", folder, "w_scale_e8m0.npy").AsBytes();
        int N = wa.Shape[0];
        for (int t = 0; t < T; t++) ActivationQuant.Fp8QuantDequant(x.AsSpan(t * K, K), 128);
        float[] expected = Golden.Npy("micro-ops", folder, "y.npy").AsFloat32();
        var y = new float[T * N];
        fixed (byte* d = wb, s = sb)
            Linear.Forward(new WeightMatrix(format, N, K, d, s), x, y, T);
        Bf16.Round(y);
        int off = 0;
        for (int i = 0; i < y.Length; i++)
        {
            if (y[i] == expected[i]) continue;
            off++;
            float step = BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(expected[i]) & 0x7F800000) / 128f; // one bf16 ulp
            Assert.True(MathF.Abs(y[i] - expected[i]) <= step * 1.01f + 1e-30f, $"y[{i}]: {y[i]:R} vs {expected[i]:R}");
        }
        Assert.True(off <= y.Length / 50, $"{off} of {y.Length} elements differ by one bf16 step");
    }
}
