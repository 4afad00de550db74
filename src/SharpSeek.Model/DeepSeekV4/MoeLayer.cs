using SharpSeek.Kernels.Formats;
using SharpSeek.Kernels.Ops;
using SharpSeek.Kernels.Threading;
using SharpSeek.Model.Checkpoint;

namespace SharpSeek.Model.DeepSeekV4;

/// <summary>One SwiGLU expert (model.py: Expert): w2(silu(min(w1 x, L)) · clamp(w3 x, ±L) · routing weight).</summary>
public sealed class ExpertWeights
{
    public required V4Linear W1, W2, W3;

    public static ExpertWeights Bind(CheckpointReader r, string prefix)
    {
        V4Linear Lin(string name) => V4Linear.Bind(r, prefix + name);
        return new ExpertWeights { W1 = Lin("w1"), W2 = Lin("w2"), W3 = Lin("w3") };
    }

    public long Bytes => W1.W.StorageBytes + W2.W.StorageBytes + W3.W.StorageBytes;
}

public sealed class MoeWeights
{
    public required WeightMatrix Gate;     // [E, D]
    public float[]? Bias;                  // score-routed layers: selection only
    public int[]? Tid2Eid;                 // hash layers: [vocab, k]
    public required ExpertWeights[] Experts;
    public ExpertWeights? Shared;

    public static MoeWeights Bind(CheckpointReader r, string prefix, V4Config c, bool hash)
    {
        var experts = new ExpertWeights[c.NRoutedExperts];
        for (int e = 0; e < experts.Length; e++) experts[e] = ExpertWeights.Bind(r, $"{prefix}experts.{e}.");
        return new MoeWeights
        {
            Gate = r.Get(prefix + "gate.weight").AsWeightMatrix(),
            Bias = hash ? null : r.Get(prefix + "gate.bias").ToFloatArray(),
            Tid2Eid = hash ? r.Get(prefix + "gate.tid2eid").ToInt32Array() : null,
            Experts = experts,
            Shared = c.NSharedExperts > 0 ? ExpertWeights.Bind(r, prefix + "shared_experts.") : null,
        };
    }
}

/// <summary>Routing decisions of one MoE call, for tests: [tokens, k] experts and weights.</summary>
public sealed class MoeTrace
{
    public readonly List<int[]> Experts = [];
    public readonly List<float[]> Weights = [];
}

/// <summary>
/// model.py: Gate + MoE. Scores s = sqrt(softplus(W x)) in fp32; hash layers take their experts from tid2eid[token],
/// the rest the top-k of s + bias (bias only selects); weights = s[chosen] / Σ s[chosen] × routed_scaling_factor.
/// Tokens are grouped by expert so each expert runs one matrix-matrix product per call.
/// </summary>
public sealed class MoeLayer
{
    private readonly MoeWeights _w;
    private readonly V4Config _c;
    private readonly V4Numerics _num;
    private readonly WorkerPool _pool;
    private readonly ScratchBuffers _scratch = new();
    private float[]? _logits, _weights, _acc, _xe, _h1, _h3, _out, _shared;
    private int[]? _idx, _tokOf, _slotOf, _count;
    private float[]? _dx, _dh1, _dh3, _dout;
    private MatVec[]? _products;

    public MoeLayer(MoeWeights w, V4Config c, V4Numerics numerics, WorkerPool pool) { _w = w; _c = c; _num = numerics; _pool = pool; }

    public void Forward(ReadOnlySpan<float> x, ReadOnlySpan<int> ids, int tokens, Span<float> y, MoeTrace? trace = null)
    {
        int D = _c.HiddenSize, E = _c.NRoutedExperts, K = _c.NumExpertsPerTok;
        bool bf = _num.Bf16Activations;
        var logits = Grow.Buf(ref _logits, tokens * E);
        Linear.Forward(_w.Gate, x, logits, tokens, _pool);
        var idx = Grow.Buf(ref _idx, tokens * K);
        var wts = Grow.Buf(ref _weights, tokens * K);
        Span<float> sel = stackalloc float[E];
        for (int t = 0; t < tokens; t++)
        {
            var s = logits.Slice(t * E, E);
            Score(s);
            var ti = idx.Slice(t * K, K);
            if (_w.Tid2Eid != null)
            {
                int id = ids[t];
                if ((uint)id >= (uint)(_w.Tid2Eid.Length / K)) throw new ArgumentOutOfRangeException(nameof(ids), $"token id {id} outside tid2eid");
                for (int k = 0; k < K; k++) ti[k] = _w.Tid2Eid[id * K + k];
            }
            else
            {
                for (int e = 0; e < E; e++) sel[e] = s[e] + (_w.Bias?[e] ?? 0);
                TopK.Select(sel[..E], ti);
            }
            var tw = wts.Slice(t * K, K);
            float sum = 0;
            for (int k = 0; k < K; k++) { tw[k] = s[ti[k]]; sum += tw[k]; }
            for (int k = 0; k < K; k++)
            {
                if (_c.ScoringFunc != "softmax") tw[k] /= sum;
                tw[k] *= _c.RoutedScalingFactor;
            }
            if (trace != null) { trace.Experts.Add(ti.ToArray()); trace.Weights.Add(tw.ToArray()); }
        }

        if (tokens == 1)
        {
            DecodeExperts(x[..D], idx, wts, y);
            return;
        }

        // group (token, slot) pairs by expert
        var count = Grow.Buf(ref _count, E + 1);
        count.Clear();
        for (int i = 0; i < tokens * K; i++) count[idx[i] + 1]++;
        for (int e = 0; e < E; e++) count[e + 1] += count[e];
        var tokOf = Grow.Buf(ref _tokOf, tokens * K);
        var slotOf = Grow.Buf(ref _slotOf, tokens * K);
        Span<int> fill = stackalloc int[E];
        for (int i = 0; i < tokens * K; i++)
        {
            int e = idx[i], at = count[e] + fill[e]++;
            tokOf[at] = i / K; slotOf[at] = i;
        }

        var acc = Grow.Buf(ref _acc, tokens * D);
        acc.Clear();
        for (int e = 0; e < E; e++)
        {
            int n = count[e + 1] - count[e];
            if (n == 0) continue;
            var xe = Grow.Buf(ref _xe, n * D);
            for (int i = 0; i < n; i++) x.Slice(tokOf[count[e] + i] * D, D).CopyTo(xe.Slice(i * D, D));
            var outE = RunExpert(_w.Experts[e], xe, n, wts, slotOf.Slice(count[e], n));
            for (int i = 0; i < n; i++)
                System.Numerics.Tensors.TensorPrimitives.Add(acc.Slice(tokOf[count[e] + i] * D, D), outE.Slice(i * D, D), acc.Slice(tokOf[count[e] + i] * D, D));
        }
        if (_w.Shared != null)
        {
            var sh = RunExpert(_w.Shared, x[..(tokens * D)], tokens, default, default);
            System.Numerics.Tensors.TensorPrimitives.Add(acc, sh, acc);
        }
        acc.CopyTo(y);
        if (bf) Bf16.Round(y[..(tokens * D)]);
    }

    /// <summary>
    /// One token: the chosen experts' w1 and w3 (and the shared expert's) run as one batch of products, then their w2 as
    /// another (<see cref="Linear.ForwardMany"/>), instead of three loops per expert. Same numbers as
    /// <see cref="RunExpert"/>: the same input quantisation, kernels and roundings, summed in the same order.
    /// </summary>
    private unsafe void DecodeExperts(ReadOnlySpan<float> x, ReadOnlySpan<int> idx, ReadOnlySpan<float> wts, Span<float> y)
    {
        int D = _c.HiddenSize, K = idx.Length;
        bool bf = _num.Bf16Activations;
        int n = K + (_w.Shared != null ? 1 : 0);
        Span<int> at = stackalloc int[n + 1]; // where each expert's intermediate rows start in h1/h3
        for (int j = 0; j < n; j++) at[j + 1] = at[j] + (j < K ? _w.Experts[idx[j]] : _w.Shared!).W1.Rows;
        var xs = Grow.Buf(ref _dx, 2 * D);
        x.CopyTo(xs);
        xs.Slice(0, D).CopyTo(xs.Slice(D, D));
        if (_num.QuantDequant) ActivationQuant.Fp8QuantDequant(xs.Slice(D, D), 128); // what FP8/FP4 inputs see
        var h1 = Grow.Buf(ref _dh1, at[n]);
        var h3 = Grow.Buf(ref _dh3, at[n]);
        var outs = Grow.Buf(ref _dout, n * D);
        var products = _products ??= new MatVec[2 * 8];
        if (products.Length < 2 * n) products = _products = new MatVec[2 * n];
        fixed (float* px = xs, p1 = h1, p3 = h3, po = outs)
        {
            float* plain = px, quantised = px + D;
            for (int j = 0; j < n; j++)
            {
                var e = j < K ? _w.Experts[idx[j]] : _w.Shared!;
                products[2 * j] = new MatVec(e.W1.W, e.W1.QuantizedInput && _num.QuantDequant ? quantised : plain, p1 + at[j]);
                products[2 * j + 1] = new MatVec(e.W3.W, e.W3.QuantizedInput && _num.QuantDequant ? quantised : plain, p3 + at[j]);
            }
            Linear.ForwardMany(products.AsSpan(0, 2 * n), _pool);
            if (bf) { Bf16.Round(h1); Bf16.Round(h3); }
            for (int j = 0; j < n; j++)
            {
                var g = h1[at[j]..at[j + 1]];
                SwiGlu(g, h3[at[j]..at[j + 1]], j < K ? wts[j] : null);
                var e = j < K ? _w.Experts[idx[j]] : _w.Shared!;
                if (e.W2.QuantizedInput && _num.QuantDequant) ActivationQuant.Fp8QuantDequant(g, 128);
                products[j] = new MatVec(e.W2.W, p1 + at[j], po + j * D);
            }
            Linear.ForwardMany(products.AsSpan(0, n), _pool);
        }
        if (bf) Bf16.Round(outs);
        // routed experts by ascending expert id, then the shared expert: the order the grouped path (and model.py's
        // loop over experts) adds them in, so the f32 sum rounds the same way
        var acc = Grow.Buf(ref _acc, D);
        acc.Clear();
        for (long done = 0, last = -1; done < K; done++)
        {
            int j = -1; // next slot by (expert id, slot): a hash table may name one expert twice
            for (int k = 0; k < K; k++)
            {
                long key = (long)idx[k] * K + k;
                if (key > last && (j < 0 || key < (long)idx[j] * K + j)) j = k;
            }
            last = (long)idx[j] * K + j;
            System.Numerics.Tensors.TensorPrimitives.Add(acc, outs.Slice(j * D, D), acc);
        }
        if (n > K) System.Numerics.Tensors.TensorPrimitives.Add(acc, outs.Slice(K * D, D), acc);
        acc.CopyTo(y);
        if (bf) Bf16.Round(y[..D]);
    }

    /// <summary>gate ← silu(min(gate, L)) · clamp(up, ±L), times the routing weight for a routed expert (none for the
    /// shared one); rounded to bf16 in reference numerics, as the reference casts it before w2.</summary>
    private void SwiGlu(Span<float> gate, ReadOnlySpan<float> up, float? routingWeight)
    {
        float lim = _c.SwigluLimit;
        bool bf = _num.Bf16Activations;
        for (int i = 0; i < gate.Length; i++)
        {
            float g = gate[i], u = up[i];
            if (lim > 0) { u = Math.Clamp(u, -lim, lim); g = MathF.Min(g, lim); }
            float a = V4Ops.Silu(g) * u;
            if (routingWeight is float w) a *= w;
            gate[i] = bf ? Bf16.Round(a) : a;
        }
    }

    private void Score(Span<float> s)
    {
        switch (_c.ScoringFunc)
        {
            case "softmax":
                System.Numerics.Tensors.TensorPrimitives.SoftMax(s, s);
                break;
            case "sigmoid":
                for (int e = 0; e < s.Length; e++) s[e] = V4Ops.Sigmoid(s[e]);
                break;
            default:
                for (int e = 0; e < s.Length; e++) s[e] = MathF.Sqrt(V4Ops.Softplus(s[e]));
                break;
        }
    }

    /// <summary>Clamped SwiGLU over n rows; the routing weight multiplies before w2 (null slots: the shared expert).</summary>
    private Span<float> RunExpert(ExpertWeights ex, ReadOnlySpan<float> x, int n, ReadOnlySpan<float> weights, ReadOnlySpan<int> slots)
    {
        int I = ex.W1.Rows, D = _c.HiddenSize;
        var h1 = Grow.Buf(ref _h1, n * I);
        var h3 = Grow.Buf(ref _h3, n * I);
        ex.W1.Apply(x, h1, n, _num, _scratch, _pool);
        ex.W3.Apply(x, h3, n, _num, _scratch, _pool);
        for (int i = 0; i < n; i++) SwiGlu(h1.Slice(i * I, I), h3.Slice(i * I, I), slots.IsEmpty ? null : weights[slots[i]]);
        var o = slots.IsEmpty ? Grow.Buf(ref _shared, n * D) : Grow.Buf(ref _out, n * D);
        ex.W2.Apply(h1, o, n, _num, _scratch, _pool);
        return o;
    }
}
