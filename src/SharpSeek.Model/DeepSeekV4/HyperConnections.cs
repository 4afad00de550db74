using SharpSeek.Kernels.Formats;
using SharpSeek.Kernels.Ops;
using SharpSeek.Kernels.Threading;
using SharpSeek.Model.Checkpoint;

namespace SharpSeek.Model.DeepSeekV4;

/// <summary>
/// Manifold-constrained hyper-connections (model.py: Block.hc_pre / hc_post, ParallelHead.hc_head; kernel.py:
/// hc_split_sinkhorn). The residual is hc_mult parallel streams; each sublayer reads a weighted sum of them and
/// writes back through a Sinkhorn-projected (doubly stochastic) mixing matrix.
/// </summary>
public sealed class HyperConnections
{
    public readonly WeightMatrix Fn;   // [(2+hc)·hc, hc·D] f32 (hc_head: [hc, hc·D])
    public readonly float[] Base, Scale;
    private readonly int _hc, _dim, _iters;
    private readonly float _normEps, _hcEps;
    // The weights are shared by every session of an engine, so scratch is per thread (a session's forward pass runs
    // on one thread at a time, and one thread runs one forward pass at a time).
    [ThreadStatic] private static float[]? t_mixes;

    private HyperConnections(WeightMatrix fn, float[] @base, float[] scale, int hc, int dim, int iters, float normEps, float hcEps)
    {
        Fn = fn; Base = @base; Scale = scale; _hc = hc; _dim = dim; _iters = iters; _normEps = normEps; _hcEps = hcEps;
    }

    /// <summary>From plain arrays (tests, tools): fn [(2+hc)·hc, hc·dim] row-major f32; the array is pinned for the object's life.</summary>
    public static unsafe HyperConnections FromArrays(float[] fn, float[] @base, float[] scale, int hc, int dim, int iters, float normEps, float hcEps)
    {
        var handle = System.Runtime.InteropServices.GCHandle.Alloc(fn, System.Runtime.InteropServices.GCHandleType.Pinned);
        int cols = hc * dim, rows = fn.Length / cols;
        return new HyperConnections(new WeightMatrix(WeightFormat.F32, rows, cols, (byte*)handle.AddrOfPinnedObject()), @base, scale, hc, dim, iters, normEps, hcEps);
    }

    public HyperConnections(CheckpointReader r, string prefix, V4Config c)
    {
        Fn = r.Get(prefix + "_fn").AsWeightMatrix();
        Base = r.Get(prefix + "_base").ToFloatArray();
        Scale = r.Get(prefix + "_scale").ToFloatArray();
        _hc = c.HcMult; _dim = c.HiddenSize; _iters = c.HcSinkhornIters; _normEps = c.RmsNormEps; _hcEps = c.HcEps;
    }

    /// <summary>mixes[t] = (Fn · x_t) / sqrt(mean(x_t²) + eps) over the flattened hc·D streams.</summary>
    private Span<float> Mixes(ReadOnlySpan<float> streams, int tokens, WorkerPool pool)
    {
        int w = _hc * _dim, m = Fn.Rows;
        var mixes = Grow.Buf(ref t_mixes, tokens * m);
        Linear.Forward(Fn, streams, mixes, tokens, pool);
        for (int t = 0; t < tokens; t++)
        {
            var x = streams.Slice(t * w, w);
            float r = 1f / MathF.Sqrt(System.Numerics.Tensors.TensorPrimitives.SumOfSquares(x) / w + _normEps);
            System.Numerics.Tensors.TensorPrimitives.Multiply(mixes.Slice(t * m, m), r, mixes.Slice(t * m, m));
        }
        return mixes;
    }

    /// <summary>hc_pre: y = Σ_j pre_j X_j, plus post [tokens, hc] and comb [tokens, hc, hc] for <see cref="Post"/>.</summary>
    public void Pre(ReadOnlySpan<float> streams, int tokens, Span<float> y, Span<float> post, Span<float> comb, bool bf16, WorkerPool pool)
    {
        var mixes = Mixes(streams, tokens, pool);
        int m = Fn.Rows, hc = _hc;
        Span<float> pre = stackalloc float[hc];
        for (int t = 0; t < tokens; t++)
        {
            SplitSinkhorn(mixes.Slice(t * m, m), pre, post.Slice(t * hc, hc), comb.Slice(t * hc * hc, hc * hc));
            WeightedSum(streams.Slice(t * hc * _dim, hc * _dim), pre, y.Slice(t * _dim, _dim));
            if (bf16) Bf16.Round(y.Slice(t * _dim, _dim));
        }
    }

    /// <summary>kernel.py hc_split_sinkhorn for one token's mixes.</summary>
    public void SplitSinkhorn(ReadOnlySpan<float> mix, Span<float> pre, Span<float> post, Span<float> comb)
    {
        int hc = _hc;
        float eps = _hcEps;
        for (int j = 0; j < hc; j++)
        {
            pre[j] = V4Ops.Sigmoid(mix[j] * Scale[0] + Base[j]) + eps;
            post[j] = 2f * V4Ops.Sigmoid(mix[hc + j] * Scale[1] + Base[hc + j]);
        }
        for (int j = 0; j < hc; j++)   // row softmax over k, + eps
        {
            var row = comb.Slice(j * hc, hc);
            float mx = float.NegativeInfinity;
            for (int k = 0; k < hc; k++) { row[k] = mix[2 * hc + j * hc + k] * Scale[2] + Base[2 * hc + j * hc + k]; mx = MathF.Max(mx, row[k]); }
            float sum = 0;
            for (int k = 0; k < hc; k++) { row[k] = MathF.Exp(row[k] - mx); sum += row[k]; }
            for (int k = 0; k < hc; k++) row[k] = row[k] / sum + eps;
        }
        NormalizeColumns(comb, hc, eps);
        for (int it = 1; it < _iters; it++)
        {
            for (int j = 0; j < hc; j++)
            {
                var row = comb.Slice(j * hc, hc);
                float sum = 0;
                for (int k = 0; k < hc; k++) sum += row[k];
                for (int k = 0; k < hc; k++) row[k] /= sum + eps;
            }
            NormalizeColumns(comb, hc, eps);
        }
    }

    private static void NormalizeColumns(Span<float> comb, int hc, float eps)
    {
        for (int k = 0; k < hc; k++)
        {
            float sum = 0;
            for (int j = 0; j < hc; j++) sum += comb[j * hc + k];
            for (int j = 0; j < hc; j++) comb[j * hc + k] /= sum + eps;
        }
    }

    private void WeightedSum(ReadOnlySpan<float> x, ReadOnlySpan<float> weights, Span<float> y)
    {
        y.Clear();
        for (int j = 0; j < _hc; j++)
            System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(x.Slice(j * _dim, _dim), weights[j], y, y);
    }

    /// <summary>hc_post: X'_k = post_k · y + Σ_j comb[j,k] · X_j (fp32), into <paramref name="output"/>.</summary>
    public void Post(ReadOnlySpan<float> y, ReadOnlySpan<float> residual, ReadOnlySpan<float> post, ReadOnlySpan<float> comb,
                     int tokens, Span<float> output, bool bf16)
    {
        int hc = _hc, d = _dim;
        for (int t = 0; t < tokens; t++)
        {
            var yt = y.Slice(t * d, d);
            var res = residual.Slice(t * hc * d, hc * d);
            for (int k = 0; k < hc; k++)
            {
                var o = output.Slice((t * hc + k) * d, d);
                System.Numerics.Tensors.TensorPrimitives.Multiply(yt, post[t * hc + k], o);
                for (int j = 0; j < hc; j++)
                    System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(res.Slice(j * d, d), comb[(t * hc + j) * hc + k], o, o);
                if (bf16) Bf16.Round(o);
            }
        }
    }

    /// <summary>hc_head: collapse the streams with pre = sigmoid(α·μ + b) + eps (no Sinkhorn, no post).</summary>
    public void Head(ReadOnlySpan<float> streams, int tokens, Span<float> y, bool bf16, WorkerPool pool)
    {
        var mixes = Mixes(streams, tokens, pool);
        int hc = _hc;
        Span<float> pre = stackalloc float[hc];
        for (int t = 0; t < tokens; t++)
        {
            for (int j = 0; j < hc; j++) pre[j] = V4Ops.Sigmoid(mixes[t * hc + j] * Scale[0] + Base[j]) + _hcEps;
            WeightedSum(streams.Slice(t * hc * _dim, hc * _dim), pre, y.Slice(t * _dim, _dim));
            if (bf16) Bf16.Round(y.Slice(t * _dim, _dim));
        }
    }
}
