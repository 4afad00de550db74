using SharpSeek.Kernels.Formats;
using SharpSeek.Kernels.Ops;

namespace SharpSeek.Kernels.Tests;

/// <summary>Every SIMD row kernel equals its scalar twin over lengths 0..257 and unaligned offsets (fixed seeds).</summary>
public sealed unsafe class RowKernelTests
{
    public static TheoryData<WeightFormat> Formats => new() { WeightFormat.Fp8Block128, WeightFormat.Fp4Block32, WeightFormat.BF16, WeightFormat.F32 };

    private static IEnumerable<int> Lengths(WeightFormat f) =>
        f == WeightFormat.Fp4Block32 ? Enumerable.Range(0, 9).Select(i => i * 32) : Enumerable.Range(0, 258);

    [Theory]
    [MemberData(nameof(Formats))]
    public void SimdEqualsScalar(WeightFormat format) => TestMatrices.ForEachWidth(() => CompareWithScalar(format));

    private static void CompareWithScalar(WeightFormat format)
    {
        Assert.True(RowKernels.UseSimd || !System.Runtime.Intrinsics.X86.Avx2.IsSupported);
        var rng = new Random(20261128);
        foreach (int cols in Lengths(format))
        {
            int rows = 1 + rng.Next(130);
            foreach (int offset in new[] { 0, 1, 3 })
            {
                var (data, scales) = TestMatrices.Random(format, rows, cols, rng, offset);
                var x = new float[cols + offset];
                for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
                var simd = new float[cols];
                var scalar = new float[cols];
                fixed (byte* d = data, s = scales)
                fixed (float* xp = x)
                {
                    var w = new WeightMatrix(format, rows, cols, d + offset, TestMatrices.HasScales(format) ? s : null);
                    for (int r = 0; r < rows; r++)
                    {
                        float a = RowKernels.Dot(w, r, xp + offset), b = RowKernels.DotScalar(w, r, xp + offset);
                        if (format == WeightFormat.Fp4Block32)
                        {
                            var permuted = new float[cols];
                            RowKernels.PermuteForFp4(x.AsSpan(offset, cols), permuted);
                            fixed (float* pp = permuted)
                            {
                                float p = RowKernels.DotFp4Permuted(w, r, pp);
                                float m = 0;
                                w.DecodeRow(r, scalar);
                                for (int c = 0; c < cols; c++) m += MathF.Abs(scalar[c] * xp[offset + c]);
                                Assert.True(MathF.Abs(p - b) <= 1e-5f * m + 1e-30f, $"FP4 permuted cols {cols} offset {offset} row {r}: {p} vs scalar {b}");
                            }
                        }
                        w.DecodeRow(r, scalar);
                        float mag = 0;
                        for (int c = 0; c < cols; c++) mag += MathF.Abs(scalar[c] * xp[offset + c]);
                        Assert.True(MathF.Abs(a - b) <= 1e-5f * mag + 1e-30f, $"{format} cols {cols} offset {offset} row {r}: simd {a} scalar {b}");
                        RowKernels.DecodeRow(w, r, simd);
                        for (int c = 0; c < cols; c++) Assert.True(simd[c] == scalar[c], $"{format} decode cols {cols} row {r} col {c}: {simd[c]} vs {scalar[c]}");
                    }
                }
            }
        }
    }

    /// <summary>The four-row decode kernel gives each row exactly the one-row kernel's result (same operations, same
    /// order), for every start row (FP8 groups straddling a 128-row scale block included), column counts with and without
    /// a tail, unaligned data, on the 512-bit path and the fallback.</summary>
    [Theory]
    [MemberData(nameof(Formats))]
    public void FourRowsEqualOneRowBitForBit(WeightFormat format) => TestMatrices.ForEachWidth(() => CompareFourRows(format));

    private static void CompareFourRows(WeightFormat format)
    {
        bool wide = RowKernels.UseAvx512;
        var rng = new Random(4);
        int[] colCounts = format == WeightFormat.Fp4Block32 ? [32, 64, 96, 4096] : [1, 31, 32, 100, 128, 257, 384, 8192];
        foreach (int cols in colCounts)
        {
            int rows = 136, offset = 1 + rng.Next(3);
            var (data, scales) = TestMatrices.Random(format, rows, cols, rng, offset);
            var x = Enumerable.Range(0, cols + offset).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
            var permuted = new float[cols];
            if (format == WeightFormat.Fp4Block32) RowKernels.PermuteForFp4(x.AsSpan(offset, cols), permuted);
            var four = new float[4];
            fixed (byte* d = data, s = scales)
            fixed (float* xp = x, pp = permuted, y = four)
            {
                var w = new WeightMatrix(format, rows, cols, d + offset, TestMatrices.HasScales(format) ? s : null);
                foreach (bool perm in format == WeightFormat.Fp4Block32 ? new[] { false, true } : new[] { false })
                    for (int r = 0; r + 4 <= rows; r += r < 120 ? 5 : 1)
                    {
                        float* input = perm ? pp : xp + offset;
                        RowKernels.Dot4(w, r, input, y, perm);
                        for (int i = 0; i < 4; i++)
                        {
                            float one = perm ? RowKernels.DotFp4Permuted(w, r + i, input) : RowKernels.Dot(w, r + i, input);
                            Assert.True(BitConverter.SingleToInt32Bits(one) == BitConverter.SingleToInt32Bits(four[i]),
                                $"{format} cols {cols} permuted {perm} avx512 {wide} row {r + i}: four-row {four[i]:R} vs one-row {one:R}");
                        }
                    }
            }
        }
    }

    /// <summary>The prefill path (decode rows once, dot with every token) equals the decode path (fused, and for FP4 on
    /// the permuted input) token by token.</summary>
    [Theory]
    [InlineData(WeightFormat.Fp8Block128)]
    [InlineData(WeightFormat.Fp4Block32)]
    [InlineData(WeightFormat.BF16)]
    public unsafe void MatmulEqualsMatvecPerToken(WeightFormat format)
    {
        var rng = new Random(7);
        int rows = 300, cols = 384, tokens = 5;
        int bytes = format switch { WeightFormat.Fp4Block32 => rows * cols / 2, WeightFormat.BF16 => 2 * rows * cols, _ => rows * cols };
        var data = new byte[bytes];
        rng.NextBytes(data);
        if (format == WeightFormat.Fp8Block128) for (int i = 0; i < data.Length; i++) if ((data[i] & 0x7F) == 0x7F) data[i] = 0;
        if (format == WeightFormat.BF16) for (int i = 1; i < data.Length; i += 2) data[i] = (byte)((data[i] & 0x80) | (0x3C + rng.Next(4)));
        int scaleCount = format == WeightFormat.Fp4Block32 ? rows * cols / 32 : 3 * 3;
        var scales = Enumerable.Range(0, scaleCount).Select(_ => (byte)(120 + rng.Next(8))).ToArray();
        var x = Enumerable.Range(0, tokens * cols).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        var y = new float[tokens * rows];
        var one = new float[rows];
        fixed (byte* d = data, s = scales)
        {
            var w = new WeightMatrix(format, rows, cols, d, format == WeightFormat.BF16 ? null : s);
            Linear.Forward(w, x, y, tokens);
            for (int t = 0; t < tokens; t++)
            {
                Linear.Forward(w, x.AsSpan(t * cols, cols), one, 1);
                for (int r = 0; r < rows; r++) Assert.True(MathF.Abs(one[r] - y[t * rows + r]) <= 1e-4f * (1 + MathF.Abs(one[r])), $"{format} token {t} row {r}: {one[r]} vs {y[t * rows + r]}");
            }
        }
    }

    /// <summary>A batch of products in one loop gives each product exactly what Forward gives alone: mixed formats and
    /// shapes, FP4 products sharing an input and FP4 products with their own.</summary>
    [Fact]
    public void ForwardManyEqualsForwardBitForBit() => TestMatrices.ForEachWidth(CompareForwardMany);

    private static unsafe void CompareForwardMany()
    {
        var rng = new Random(11);
        (WeightFormat Format, int Rows, int Cols, int Input)[] specs =
        [
            (WeightFormat.Fp4Block32, 300, 256, 0), (WeightFormat.Fp4Block32, 300, 256, 0), (WeightFormat.Fp8Block128, 260, 256, 0),
            (WeightFormat.Fp4Block32, 256, 300 / 32 * 32, 1), (WeightFormat.BF16, 5, 256, 0), (WeightFormat.Fp8Block128, 3, 9000, 2),
        ];
        var handles = new List<System.Runtime.InteropServices.GCHandle>();
        float* Pin(Array a) { var h = System.Runtime.InteropServices.GCHandle.Alloc(a, System.Runtime.InteropServices.GCHandleType.Pinned); handles.Add(h); return (float*)h.AddrOfPinnedObject(); }
        try
        {
            var inputs = new[] { 256, 288, 9000 }.Select(n => Enumerable.Range(0, n).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray()).ToArray();
            var products = new MatVec[specs.Length];
            var expected = new float[specs.Length][];
            var actual = new float[specs.Length][];
            using var pool = new SharpSeek.Kernels.Threading.WorkerPool(3);
            for (int i = 0; i < specs.Length; i++)
            {
                var (format, rows, cols, input) = specs[i];
                var (data, scales) = TestMatrices.Random(format, rows, cols, rng);
                byte* d = (byte*)Pin(data), s = (byte*)Pin(scales);
                var w = new WeightMatrix(format, rows, cols, d, format == WeightFormat.BF16 ? null : s);
                expected[i] = new float[rows];
                actual[i] = new float[rows];
                Linear.Forward(w, inputs[input].AsSpan(0, cols), expected[i], 1, pool);
                products[i] = new MatVec(w, Pin(inputs[input]), Pin(actual[i]));
            }
            Linear.ForwardMany(products, pool);
            for (int i = 0; i < specs.Length; i++)
                for (int r = 0; r < expected[i].Length; r++)
                    Assert.True(BitConverter.SingleToInt32Bits(expected[i][r]) == BitConverter.SingleToInt32Bits(actual[i][r]), $"product {i} row {r}: {actual[i][r]:R} vs {expected[i][r]:R}");
        }
        finally { foreach (var h in handles) h.Free(); }
    }

    [Fact]
    public void LinearAllocatesNothing()
    {
        var w = new float[64 * 64];
        var x = new float[64];
        var y = new float[64];
        unsafe
        {
            fixed (float* p = w)
            {
                var m = new WeightMatrix(WeightFormat.F32, 64, 64, (byte*)p);
                // a pool of its own: other test classes run kernels on the shared pool at the same time
                using var pool = new SharpSeek.Kernels.Threading.WorkerPool(2);
                for (int i = 0; i < 10; i++) Linear.Forward(m, x, y, 1, pool);
                long before = GC.GetAllocatedBytesForCurrentThread();
                for (int i = 0; i < 100; i++) Linear.Forward(m, x, y, 1, pool);
                Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
            }
        }
    }
}
