using System.Numerics.Tensors;
using SharpSeek.Kernels.Formats;
using SharpSeek.Kernels.Ops;
using SharpSeek.Kernels.Threading;

namespace SharpSeek.Model.DeepSeekV4;

/// <summary>A projection as the model uses it: stored weight + whether the reference quantises its input to FP8.</summary>
public readonly struct V4Linear
{
    public readonly WeightMatrix W;
    /// <summary>FP8/FP4 weights: model.py's linear() runs act_quant on the input first (reference numerics only).</summary>
    public readonly bool QuantizedInput;

    public V4Linear(WeightMatrix w, bool quantizedInput) { W = w; QuantizedInput = quantizedInput; }

    /// <summary>`name`.weight (+ `name`.scale for FP8/FP4) from the checkpoint.</summary>
    public static V4Linear Bind(SharpSeek.Model.Checkpoint.CheckpointReader r, string name)
    {
        var w = r.Get(name + ".weight");
        r.TryGet(name + ".scale", out var s);
        return new V4Linear(w.AsWeightMatrix(s), w.Dtype is SharpSeek.Model.Checkpoint.TensorDtype.F8_E4M3 or SharpSeek.Model.Checkpoint.TensorDtype.I8 or SharpSeek.Model.Checkpoint.TensorDtype.U8);
    }

    public int Rows => W.Rows;
    public int Cols => W.Cols;

    /// <summary>y[T, Rows] = W · x[T, Cols]; in reference numerics the input is FP8-quantised per 128 and y rounded to bf16.</summary>
    public void Apply(ReadOnlySpan<float> x, Span<float> y, int tokens, V4Numerics numerics, ScratchBuffers scratch, WorkerPool pool)
    {
        if (numerics.QuantDequant && QuantizedInput)
        {
            var q = scratch.Get(ScratchSlot.QuantInput, tokens * Cols);
            x[..(tokens * Cols)].CopyTo(q);
            for (int t = 0; t < tokens; t++) ActivationQuant.Fp8QuantDequant(q.Slice(t * Cols, Cols), 128);
            x = q;
        }
        Linear.Forward(W, x, y, tokens, pool);
        if (numerics.Bf16Activations) Bf16.Round(y[..(tokens * Rows)]);
    }
}

public enum ScratchSlot { QuantInput, Count }

/// <summary>Grow-only per-session scratch, so a decode step allocates nothing once warmed up.</summary>
public sealed class ScratchBuffers
{
    private readonly float[][] _slots = new float[(int)ScratchSlot.Count][];
    public Span<float> Get(ScratchSlot slot, int length)
    {
        ref var a = ref _slots[(int)slot];
        if (a == null || a.Length < length) a = new float[Math.Max(length, a?.Length * 2 ?? 0)];
        return a.AsSpan(0, length);
    }
}

/// <summary>
/// Grow-only buffer helper for the layer classes. Buffers double (with a floor), so sizes that creep up during decode
/// (the HCA key list grows by one entry every `ratio` tokens) reallocate only a logarithmic number of times.
/// </summary>
internal static class Grow
{
    private const int Floor = 1024;
    public static Span<float> Buf(ref float[]? array, int length)
    {
        if (array == null || array.Length < length) array = new float[Math.Max(Math.Max(length, Floor), (array?.Length ?? 0) * 2)];
        return array.AsSpan(0, length);
    }
    public static Span<int> Buf(ref int[]? array, int length)
    {
        if (array == null || array.Length < length) array = new int[Math.Max(Math.Max(length, Floor), (array?.Length ?? 0) * 2)];
        return array.AsSpan(0, length);
    }
}

/// <summary>Small numeric ops of the V4 forward pass (model.py: RMSNorm, softplus, Hadamard).</summary>
public static class V4Ops
{
    /// <summary>y = w · x / sqrt(mean(x²) + eps) (w null: unweighted). Computed in f32.</summary>
    public static void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> w, float eps, Span<float> y)
    {
        float ss = TensorPrimitives.SumOfSquares(x);
        float r = 1f / MathF.Sqrt(ss / x.Length + eps);
        if (w.IsEmpty) TensorPrimitives.Multiply(x, r, y);
        else { TensorPrimitives.Multiply(x, r, y); TensorPrimitives.Multiply(y, w, y); }
    }

    /// <summary>Row-wise RMSNorm over [rows, width]; bf16 output in reference numerics.</summary>
    public static void RmsNormRows(ReadOnlySpan<float> x, ReadOnlySpan<float> w, float eps, Span<float> y, int rows, int width, bool bf16)
    {
        for (int r = 0; r < rows; r++)
        {
            var yr = y.Slice(r * width, width);
            RmsNorm(x.Slice(r * width, width), w, eps, yr);
            if (bf16) Bf16.Round(yr);
        }
    }

    /// <summary>torch.nn.functional.softplus (beta 1, threshold 20).</summary>
    public static float Softplus(float x) => x > 20f ? x : MathF.Log(1f + MathF.Exp(x));

    public static float Silu(float x) => x / (1f + MathF.Exp(-x));

    public static float Sigmoid(float x) => 1f / (1f + MathF.Exp(-x));

    /// <summary>In-place Walsh-Hadamard transform in natural (Sylvester) order, scaled by n^-½ (orthonormal).</summary>
    public static void Hadamard(Span<float> x)
    {
        int n = x.Length;
        for (int h = 1; h < n; h <<= 1)
            for (int i = 0; i < n; i += h << 1)
                for (int j = i; j < i + h; j++)
                {
                    float a = x[j], b = x[j + h];
                    x[j] = a + b;
                    x[j + h] = a - b;
                }
        TensorPrimitives.Multiply(x, 1f / MathF.Sqrt(n), x);
    }
}
