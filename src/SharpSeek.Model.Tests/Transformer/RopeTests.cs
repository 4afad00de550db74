using SharpSeek.Kernels.Formats;
using SharpSeek.Model.DeepSeekV4;
using SharpSeek.TestSupport;
using Xunit.Abstractions;

namespace SharpSeek.Model.Tests.Transformer;

/// <summary>micro-ops/rope: frequencies (with and without YaRN), cos/sin tables, rotation and its inverse.</summary>
public sealed class RopeTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(64, 160000f, true)]
    [InlineData(64, 10000f, false)]
    [InlineData(16, 160000f, true)]
    [InlineData(16, 10000f, false)]
    public void FrequenciesAndTables(int dim, float theta, bool yarn)
    {
        string name = $"dim{dim}_base{(int)theta}{(yarn ? "_yarn" : "")}";
        var rope = yarn ? new YarnRope(dim, theta, 65536, 16, 32, 1) : new YarnRope(dim, theta, 0, 1, 0, 0);
        float[] freqs = Golden.Npy("micro-ops", "rope", $"freqs_{name}.npy").AsFloat32();
        for (int i = 0; i < freqs.Length; i++)
            Assert.True(MathF.Abs(freqs[i] - rope.Frequencies[i]) <= 1e-6f * MathF.Abs(freqs[i]), $"freq {i}: {rope.Frequencies[i]:R} vs {freqs[i]:R}");
        var cs = Golden.Npy("micro-ops", "rope", $"cos_sin_{name}.npy");
        float[] table = cs.AsFloat32();
        int positions = cs.Shape[0], pairs = cs.Shape[1];
        double worst = 0;
        for (int p = 0; p < positions; p++)
            for (int i = 0; i < pairs; i++)
            {
                float angle = p * rope.Frequencies[i];
                worst = Math.Max(worst, Math.Abs(MathF.Cos(angle) - table[(p * pairs + i) * 2]));
                worst = Math.Max(worst, Math.Abs(MathF.Sin(angle) - table[(p * pairs + i) * 2 + 1]));
            }
        output.WriteLine($"{name}: max |Δ| cos/sin {worst:G3}");
        Assert.True(worst <= 1e-6, $"{name}: cos/sin max |Δ| {worst}");
    }

    [Fact]
    public void ApplyAndInverse()
    {
        var input = Golden.Npy("micro-ops", "rope", "apply_input.npy"); // [tokens, heads, 64] at positions 300..
        float[] x = input.AsFloat32(), expected = Golden.Npy("micro-ops", "rope", "apply_output.npy").AsFloat32();
        float[] inverse = Golden.Npy("micro-ops", "rope", "apply_inverse_of_output.npy").AsFloat32();
        int tokens = input.Shape[0], heads = input.Shape[1], dim = input.Shape[2];
        var rope = new YarnRope(dim, 160000f, 65536, 16, 32, 1);
        var y = (float[])x.Clone();
        var z = (float[])expected.Clone();
        for (int t = 0; t < tokens; t++)
            for (int h = 0; h < heads; h++)
            {
                var row = y.AsSpan((t * heads + h) * dim, dim);
                rope.Apply(row, 300 + t); Bf16.Round(row);
                var back = z.AsSpan((t * heads + h) * dim, dim);
                rope.Apply(back, 300 + t, inverse: true); Bf16.Round(back);
            }
        int off = 0;
        for (int i = 0; i < y.Length; i++) { if (y[i] != expected[i]) off++; if (z[i] != inverse[i]) off++; }
        output.WriteLine($"{off} of {2 * y.Length} bf16 values differ");
        Assert.True(off <= y.Length / 50, $"{off} bf16 values differ");
    }
}
