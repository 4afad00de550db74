using System.Numerics.Tensors;
using SharpSeek.Kernels.Formats;
using SharpSeek.Kernels.Threading;
using SharpSeek.Model.Checkpoint;

namespace SharpSeek.Model.DeepSeekV4;

/// <summary>One layer's attention weights, bound once from the checkpoint (model.py: Attention, Compressor, Indexer).</summary>
public sealed class AttentionWeights
{
    public required V4Linear WqA, WqB, Wkv, WoA, WoB;  // WoA is applied as a plain (bf16) einsum in the reference
    public required float[] QNorm, KvNorm, AttnSink;
    public KvCompressor? Compressor;
    // CSA only:
    public V4Linear IndexWqB;
    public WeightMatrix IndexWeightsProj;
    public KvCompressor? IndexCompressor;

    public static AttentionWeights Bind(CheckpointReader r, string prefix, V4Config c, int ratio, YarnRope rope)
    {
        V4Linear Lin(string name) => V4Linear.Bind(r, prefix + name);
        float[] Vec(string name) => r.Get(prefix + name).ToFloatArray();
        var aw = new AttentionWeights
        {
            WqA = Lin("wq_a"), WqB = Lin("wq_b"), Wkv = Lin("wkv"), WoA = Lin("wo_a"), WoB = Lin("wo_b"),
            QNorm = Vec("q_norm.weight"), KvNorm = Vec("kv_norm.weight"), AttnSink = Vec("attn_sink"),
        };
        if (ratio > 0)
        {
            aw.Compressor = new KvCompressor(r.Get(prefix + "compressor.wkv.weight").AsWeightMatrix(),
                r.Get(prefix + "compressor.wgate.weight").AsWeightMatrix(), Vec("compressor.ape"), Vec("compressor.norm.weight"),
                ratio, c.HeadDim, c.QkRopeHeadDim, rope, c.RmsNormEps, rotate: false);
            if (ratio == 4)
            {
                aw.IndexWqB = Lin("indexer.wq_b");
                aw.IndexWeightsProj = r.Get(prefix + "indexer.weights_proj.weight").AsWeightMatrix();
                aw.IndexCompressor = new KvCompressor(r.Get(prefix + "indexer.compressor.wkv.weight").AsWeightMatrix(),
                    r.Get(prefix + "indexer.compressor.wgate.weight").AsWeightMatrix(), Vec("indexer.compressor.ape"),
                    Vec("indexer.compressor.norm.weight"), ratio, c.IndexHeadDim, c.QkRopeHeadDim, rope, c.RmsNormEps, rotate: true);
            }
        }
        return aw;
    }
}

/// <summary>
/// One layer's cache, owned by a session. It grows with the compressed size (CSA 1/4, HCA 1/ratio of the tokens),
/// never with tokens × head_dim: the raw window is a fixed ring of sliding_window entries.
/// </summary>
public sealed class AttentionCache
{
    public readonly int Window, HeadDim, Ratio;
    public readonly float[] Ring;                          // [Window, HeadDim], slot = position % Window
    public readonly GrowingMatrix? Compressed;             // [positions / ratio, HeadDim]
    public readonly GrowingMatrix? IndexKeys;              // [positions / 4, index_head_dim]
    public readonly KvCompressor.State? CompressorState, IndexCompressorState;
    public int Length { get; internal set; }

    public AttentionCache(V4Config c, int ratio, AttentionWeights? w = null)
    {
        Window = c.SlidingWindow; HeadDim = c.HeadDim; Ratio = ratio;
        Ring = new float[Window * HeadDim];
        if (ratio > 0)
        {
            Compressed = new GrowingMatrix(HeadDim);
            CompressorState = new KvCompressor.State((ratio == 4 ? 2 : 1) * ratio, (ratio == 4 ? 2 : 1) * HeadDim);
            if (ratio == 4)
            {
                IndexKeys = new GrowingMatrix(c.IndexHeadDim);
                IndexCompressorState = new KvCompressor.State(2 * ratio, 2 * c.IndexHeadDim);
            }
        }
    }

    public void Reset()
    {
        Length = 0;
        Compressed?.Clear(); IndexKeys?.Clear();
        CompressorState?.Reset(); IndexCompressorState?.Reset();
    }

    public long Bytes => Ring.Length * 4L + (Compressed?.Bytes ?? 0) + (IndexKeys?.Bytes ?? 0)
                         + (CompressorState?.Kv.Length ?? 0) * 8L + (IndexCompressorState?.Kv.Length ?? 0) * 8L;

    /// <summary>Everything needed to come back to this point later: compressed entries are append-only, so a count suffices.</summary>
    public sealed class Snapshot
    {
        internal float[] Ring = [];
        internal int Length, Compressed, IndexKeys;
        internal KvCompressor.State? State, IndexState;
    }

    public Snapshot TakeSnapshot(Snapshot? reuse = null)
    {
        var s = reuse ?? new Snapshot();
        if (s.Ring.Length != Ring.Length) s.Ring = new float[Ring.Length];
        Ring.CopyTo(s.Ring, 0);
        s.Length = Length; s.Compressed = Compressed?.Rows ?? 0; s.IndexKeys = IndexKeys?.Rows ?? 0;
        if (CompressorState != null) { s.State ??= new KvCompressor.State(1, CompressorState.Kv.Length); s.State.CopyFrom(CompressorState); }
        if (IndexCompressorState != null) { s.IndexState ??= new KvCompressor.State(1, IndexCompressorState.Kv.Length); s.IndexState.CopyFrom(IndexCompressorState); }
        return s;
    }

    public void Restore(Snapshot s)
    {
        s.Ring.CopyTo(Ring, 0);
        Length = s.Length;
        Compressed?.Truncate(s.Compressed); IndexKeys?.Truncate(s.IndexKeys);
        if (s.State != null) CompressorState!.CopyFrom(s.State);
        if (s.IndexState != null) IndexCompressorState!.CopyFrom(s.IndexState);
    }
}

/// <summary>Indexer selections recorded for tests and fixtures: [position] → compressed-entry ids in top-k order, −1 padded.</summary>
public sealed class AttentionTrace
{
    public readonly List<int[]> IndexerTopk = [];
}

/// <summary>
/// model.py: Attention. Every layer attends to its last sliding_window raw KVs (with per-head attention sinks);
/// ratio 4 (CSA) adds the lightning indexer's top-k compressed entries, other ratios (HCA) add every visible
/// compressed entry, ratio 0 is window-only. One shared KV vector per token (K = V, MQA).
/// </summary>
public sealed class Attention
{
    private readonly AttentionWeights _w;
    private readonly V4Config _c;
    private readonly V4Numerics _num;
    private readonly WorkerPool _pool;
    private readonly YarnRope _rope;
    private readonly ScratchBuffers _scratch = new();
    private readonly AttentionCoreJob _job = new();
    private float[]? _qr, _q, _kv, _keys, _o, _oa, _og, _ug, _iq, _iw;
    private int[]? _keyIdx, _keyCount;
    private SharpSeek.Kernels.Ops.MatVec[]? _woaProducts;

    public int Ratio { get; }
    public int LayerId { get; }
    public YarnRope Rope => _rope;

    public Attention(AttentionWeights w, V4Config c, int layerId, int ratio, V4Numerics numerics, WorkerPool pool, YarnRope rope)
    {
        _w = w; _c = c; _num = numerics; _pool = pool; _rope = rope;
        LayerId = layerId; Ratio = ratio;
    }

    /// <summary>
    /// x: [tokens, D] attn_norm output at positions cache.Length.. ; y: [tokens, D]. Works for any chunk size, so a
    /// long prompt can be prefilled in pieces and decode is the tokens = 1 case.
    /// </summary>
    public void Forward(ReadOnlySpan<float> x, int tokens, AttentionCache cache, Span<float> y, AttentionTrace? trace = null)
    {
        var c = _c;
        int D = c.HiddenSize, H = c.NumAttentionHeads, hd = c.HeadDim, rd = c.QkRopeHeadDim, nope = hd - rd;
        int start = cache.Length, win = c.SlidingWindow;
        bool bf = _num.Bf16Activations;

        // q = wq_b(q_norm(wq_a x)), unweighted per-head RMS norm, RoPE
        var qr = Grow.Buf(ref _qr, tokens * c.QLoraRank);
        _w.WqA.Apply(x, qr, tokens, _num, _scratch, _pool);
        V4Ops.RmsNormRows(qr, _w.QNorm, c.RmsNormEps, qr, tokens, c.QLoraRank, bf);
        var q = Grow.Buf(ref _q, tokens * H * hd);
        _w.WqB.Apply(qr, q, tokens, _num, _scratch, _pool);
        for (int t = 0; t < tokens; t++)
            for (int h = 0; h < H; h++)
            {
                var qh = q.Slice((t * H + h) * hd, hd);
                if (bf) QNormBf16(qh, c.RmsNormEps, TorchCpuBf16.RsqrtRoundsTwice(t * H + h, tokens * H));
                else V4Ops.RmsNorm(qh, default, c.RmsNormEps, qh);
                _rope.Apply(qh[nope..], start + t);
                if (bf) Bf16.Round(qh[nope..]);
            }

        // window KV = kv_norm(wkv x), RoPE, FP8 QDQ of the nope dims (reference numerics)
        var kv = Grow.Buf(ref _kv, tokens * hd);
        _w.Wkv.Apply(x, kv, tokens, _num, _scratch, _pool);
        V4Ops.RmsNormRows(kv, _w.KvNorm, c.RmsNormEps, kv, tokens, hd, bf);
        for (int t = 0; t < tokens; t++)
        {
            var row = kv.Slice(t * hd, hd);
            _rope.Apply(row[nope..], start + t);
            if (bf) Bf16.Round(row[nope..]);
            if (_num.QuantDequant) ActivationQuant.Fp8QuantDequant(row[..nope], 64);
        }

        // compressed entries completed by these tokens (before attention: a query sees the block it closes)
        if (Ratio > 0) _w.Compressor!.Forward(x, start, tokens, cache.CompressorState!, cache.Compressed!, _num, _pool);
        if (Ratio == 4) IndexerQueries(x, qr, tokens, start, cache);

        // Keys for this chunk: ring entries still in the window, then the chunk's own KVs, in position order.
        int first = Math.Max(0, start - (win - 1));
        int nWin = start - first + tokens;
        var keys = Grow.Buf(ref _keys, nWin * hd);
        for (int p = first; p < start; p++) cache.Ring.AsSpan((p % win) * hd, hd).CopyTo(keys.Slice((p - first) * hd, hd));
        kv.CopyTo(keys.Slice((start - first) * hd, tokens * hd));

        // Per query: the list of key rows (window, then compressed) laid out as the reference builds topk_idxs, with −1
        // where it pads: the online softmax works in blocks of 64 list entries, so the layout fixes its bf16 rounding.
        int end = start + tokens;
        int winLen = start == 0 ? Math.Min(tokens, win) : win;
        int compLen = Ratio == 0 ? 0 : Ratio == 4 ? Math.Min(c.IndexTopk, end / Ratio) : end / Ratio;
        int listLen = winLen + compLen;
        var keyIdx = Grow.Buf(ref _keyIdx, tokens * listLen);
        var keyCount = Grow.Buf(ref _keyCount, tokens);
        int nComp = cache.Compressed?.Rows ?? 0;
        for (int t = 0; t < tokens; t++)
        {
            int pos = start + t, n = 0;
            var list = keyIdx.Slice(t * listLen, listLen);
            for (int p = Math.Max(0, pos - win + 1); p <= pos; p++) list[n++] = p - first;
            while (n < winLen) list[n++] = -1;
            int visible = Ratio == 0 ? 0 : (pos + 1) / Ratio;
            if (Ratio == 4)
            {
                var sel = SelectTopk(t, visible, cache);
                trace?.IndexerTopk.Add(sel.ToArray());
                for (int i = 0; i < compLen; i++) list[n++] = sel[i] < 0 ? -1 : nWin + sel[i];
            }
            else
                for (int j = 0; j < compLen; j++) list[n++] = j < visible ? nWin + j : -1;
            keyCount[t] = n;
        }

        var o = Grow.Buf(ref _o, tokens * H * hd);
        RunCore(q, keys, nWin, cache.Compressed, nComp, keyIdx, keyCount, listLen, o, tokens);

        // inverse RoPE on the output's rope dims, at the query position
        for (int t = 0; t < tokens; t++)
            for (int h = 0; h < H; h++)
            {
                var oh = o.Slice((t * H + h) * hd + nope, rd);
                _rope.Apply(oh, start + t, inverse: true);
                if (bf) Bf16.Round(oh);
            }

        // grouped low-rank output: u_g = wo_a[g] · o_g (a bf16 einsum in the reference), then wo_b
        int G = c.OGroups, gw = H * hd / G, ol = c.OLoraRank;
        var oa = Grow.Buf(ref _oa, tokens * G * ol);
        var og = Grow.Buf(ref _og, tokens * gw);
        var ug = Grow.Buf(ref _ug, tokens * ol);
        if (tokens == 1)
        {
            // decode: the G group products in one parallel loop
            var products = _woaProducts is { } a && a.Length >= G ? a : (_woaProducts = new SharpSeek.Kernels.Ops.MatVec[G]);
            unsafe
            {
                fixed (float* po = o, pa = oa)
                {
                    for (int g = 0; g < G; g++) products[g] = new SharpSeek.Kernels.Ops.MatVec(_w.WoA.W.SliceRows(g * ol, ol), po + g * gw, pa + g * ol);
                    SharpSeek.Kernels.Ops.Linear.ForwardMany(products.AsSpan(0, G), _pool);
                }
            }
        }
        else for (int g = 0; g < G; g++)
        {
            for (int t = 0; t < tokens; t++) o.Slice(t * H * hd + g * gw, gw).CopyTo(og.Slice(t * gw, gw));
            SharpSeek.Kernels.Ops.Linear.Forward(_w.WoA.W.SliceRows(g * ol, ol), og, ug, tokens, _pool);
            for (int t = 0; t < tokens; t++) ug.Slice(t * ol, ol).CopyTo(oa.Slice((t * G + g) * ol, ol));
        }
        if (bf) Bf16.Round(oa);
        _w.WoB.Apply(oa, y, tokens, _num, _scratch, _pool);

        // ring update last, so the window keys above were read before being overwritten
        for (int t = Math.Max(0, tokens - win); t < tokens; t++)
            kv.Slice(t * hd, hd).CopyTo(cache.Ring.AsSpan(((start + t) % win) * hd, hd));
        cache.Length = start + tokens;
    }

    /// <summary>
    /// The reference computes the query norm in bf16 arithmetic: square, mean, +eps (eps itself rounded to bf16, as a
    /// Python scalar in a bf16 op is), rsqrt, multiply, each rounded. <paramref name="rsqrtRoundsTwice"/>: see
    /// <see cref="TorchCpuBf16"/>.
    /// </summary>
    private static void QNormBf16(Span<float> q, float eps, bool rsqrtRoundsTwice)
    {
        float sum = 0;
        foreach (float v in q) sum += Bf16.Round(v * v);
        float mean = Bf16.Round(sum / q.Length);
        float a = Bf16.Round(mean + Bf16.Round(eps));
        float r = rsqrtRoundsTwice ? Bf16.Round(1f / Bf16.Round(MathF.Sqrt(a))) : Bf16.Round(1f / MathF.Sqrt(a));
        for (int i = 0; i < q.Length; i++) q[i] = Bf16.Round(q[i] * r);
    }

    // ---- lightning indexer (CSA) ----

    /// <summary>
    /// The lightning indexer alone, for tokens at positions cache.Length..: indexer queries from qr, the indexer's
    /// compressor on x, then per token the index scores of the visible compressed entries (recorded in
    /// <paramref name="scores"/> when given) and the top-k selection (into <paramref name="trace"/>). Advances the
    /// cache length; the window ring and the main compressor are left untouched.
    /// </summary>
    public void RunIndexer(ReadOnlySpan<float> x, ReadOnlySpan<float> qr, int tokens, AttentionCache cache, AttentionTrace trace,
                           List<float[]>? scores = null)
    {
        if (Ratio != 4) throw new InvalidOperationException("only CSA layers (ratio 4) have a lightning indexer");
        int start = cache.Length;
        IndexerQueries(x, qr, tokens, start, cache);
        for (int t = 0; t < tokens; t++)
        {
            int visible = (start + t + 1) / Ratio;
            trace.IndexerTopk.Add(SelectTopk(t, visible, cache).ToArray());
            scores?.Add(_scores.AsSpan(0, visible).ToArray());
        }
        cache.Length = start + tokens;
    }

    private void IndexerQueries(ReadOnlySpan<float> x, ReadOnlySpan<float> qr, int tokens, int start, AttentionCache cache)
    {
        var c = _c;
        int HI = c.IndexNHeads, dI = c.IndexHeadDim, rd = c.QkRopeHeadDim;
        bool bf = _num.Bf16Activations;
        var iq = Grow.Buf(ref _iq, tokens * HI * dI);
        _w.IndexWqB.Apply(qr, iq, tokens, _num, _scratch, _pool);
        for (int t = 0; t < tokens; t++)
            for (int h = 0; h < HI; h++)
            {
                var qh = iq.Slice((t * HI + h) * dI, dI);
                _rope.Apply(qh[(dI - rd)..], start + t);
                if (bf) Bf16.Round(qh);
                V4Ops.Hadamard(qh);
                if (bf) Bf16.Round(qh);
                if (_num.QuantDequant) ActivationQuant.Fp4QuantDequant(qh, 32);
            }
        _w.IndexCompressor!.Forward(x, start, tokens, cache.IndexCompressorState!, cache.IndexKeys!, _num, _pool);
        var iw = Grow.Buf(ref _iw, tokens * HI);
        SharpSeek.Kernels.Ops.Linear.Forward(_w.IndexWeightsProj, x, iw, tokens, _pool);
        float scale = 1f / MathF.Sqrt(dI) / MathF.Sqrt(HI);
        // in the reference this is a bf16 tensor times a Python float, which torch first rounds to bf16
        if (bf) scale = Bf16.Round(scale);
        for (int i = 0; i < iw.Length; i++)
            iw[i] = bf ? Bf16.Round(Bf16.Round(iw[i]) * scale) : iw[i] * scale;
    }

    private float[]? _scores;
    private int[]? _sel;

    /// <summary>score(j) = Σ_h w_h · ReLU(q_h · k_j) over the visible entries; top-min(k, visible), ties to the lower index.</summary>
    private ReadOnlySpan<int> SelectTopk(int t, int visible, AttentionCache cache)
    {
        var c = _c;
        int HI = c.IndexNHeads, dI = c.IndexHeadDim, k = c.IndexTopk;
        bool bf = _num.Bf16Activations;
        var scores = Grow.Buf(ref _scores, Math.Max(1, visible));
        var qt = _iq.AsSpan(t * HI * dI, HI * dI);
        var wt = _iw.AsSpan(t * HI, HI);
        for (int j = 0; j < visible; j++)
        {
            var key = cache.IndexKeys!.Row(j);
            float s = 0;
            for (int h = 0; h < HI; h++)
            {
                float dot = TensorPrimitives.Dot(qt.Slice(h * dI, dI), key);
                if (bf) dot = Bf16.Round(dot);
                float term = MathF.Max(dot, 0) * wt[h];
                s += bf ? Bf16.Round(term) : term;
            }
            scores[j] = bf ? Bf16.Round(s) : s;
        }
        var sel = Grow.Buf(ref _sel, k);
        int take = Math.Min(k, visible);
        TopK.Select(scores[..visible], sel[..take]);
        sel[take..].Fill(-1);
        return sel;
    }

    // ---- sparse attention core ----

    private void RunCore(ReadOnlySpan<float> q, ReadOnlySpan<float> keys, int nWin, GrowingMatrix? comp, int nComp,
                         ReadOnlySpan<int> keyIdx, ReadOnlySpan<int> keyCount, int listLen, Span<float> o, int tokens)
    {
        unsafe
        {
            fixed (float* pq = q, pk = keys, po = o, pc = comp == null ? default : comp.All)
            fixed (int* pi = keyIdx, pn = keyCount)
            {
                var j = _job;
                j.Q = pq; j.Keys = pk; j.NWin = nWin; j.Comp = pc; j.O = po; j.KeyIdx = pi; j.KeyCount = pn; j.ListLen = listLen;
                j.Heads = _c.NumAttentionHeads; j.HeadDim = _c.HeadDim; j.Sink = _w.AttnSink; j.Bf16 = _num.Bf16Activations;
                _pool.Run(j, tokens * _c.NumAttentionHeads);
            }
        }
    }

    private sealed unsafe class AttentionCoreJob : IParallelJob
    {
        public float* Q, Keys, Comp, O;
        public int* KeyIdx, KeyCount;
        public int NWin, ListLen, Heads, HeadDim;
        public float[] Sink = [];
        public bool Bf16;
        [ThreadStatic] private static float[]? t_acc;

        public void Execute(int index)
        {
            int t = index / Heads, h = index % Heads, hd = HeadDim;
            var acc = t_acc is { } a && a.Length >= hd ? a.AsSpan(0, hd) : (t_acc = new float[Math.Max(hd, 512)]).AsSpan(0, hd);
            SparseAttention.Attend(new ReadOnlySpan<float>(Q + (long)index * hd, hd), Keys, NWin, Comp,
                new ReadOnlySpan<int>(KeyIdx + (long)t * ListLen, KeyCount[t]), Sink[h], Bf16, acc,
                new Span<float>(O + (long)index * hd, hd));
        }
    }
}

/// <summary>
/// kernel.py sparse_attn for one (query, head): softmax over the listed keys (−1 = skip) with the head's sink only in
/// the denominator, online over blocks of 64 list entries; with bf16 on, probabilities are rounded to bf16 before P·V
/// and the output to bf16, as the reference kernel does. Keys index the window buffer below nWin, the compressed
/// entries from nWin on (K = V).
/// </summary>
public static unsafe class SparseAttention
{
    public static void Attend(ReadOnlySpan<float> q, float* windowKeys, int nWin, float* compressed, ReadOnlySpan<int> list,
                              float sink, bool bf16, Span<float> acc, Span<float> output)
    {
        int hd = q.Length;
        acc.Clear();
        float scale = 1f / MathF.Sqrt(hd);
        float m = float.NegativeInfinity, l = 0;
        Span<float> s = stackalloc float[64];
        for (int b0 = 0; b0 < list.Length; b0 += 64)
        {
            int bn = Math.Min(64, list.Length - b0);
            float bm = float.NegativeInfinity;
            for (int i = 0; i < bn; i++)
            {
                int k = list[b0 + i];
                if (k < 0) { s[i] = float.NegativeInfinity; continue; }
                s[i] = TensorPrimitives.Dot(q, Key(k)) * scale;
                bm = MathF.Max(bm, s[i]);
            }
            if (bm == float.NegativeInfinity) continue;
            float mNew = MathF.Max(m, bm);
            float alpha = MathF.Exp(m - mNew);
            if (alpha != 1f) { TensorPrimitives.Multiply(acc, alpha, acc); l *= alpha; }
            for (int i = 0; i < bn; i++)
            {
                if (s[i] == float.NegativeInfinity) continue;
                float p = MathF.Exp(s[i] - mNew);
                l += p;
                TensorPrimitives.MultiplyAdd(Key(list[b0 + i]), bf16 ? Bf16.Round(p) : p, acc, acc);
            }
            m = mNew;
        }
        float denom = l + MathF.Exp(sink - m);
        TensorPrimitives.Divide(acc, denom, output);
        if (bf16) Bf16.Round(output);

        ReadOnlySpan<float> Key(int k) =>
            k < nWin ? new ReadOnlySpan<float>(windowKeys + (long)k * hd, hd) : new ReadOnlySpan<float>(compressed + (long)(k - nWin) * hd, hd);
    }
}

/// <summary>
/// Where the fixtures' reference (PyTorch 1.13 on CPU, Debian's build, AVX2 kernels) rounds differently from plain
/// bf16 arithmetic. Its elementwise loops run a vectorised body over pairs of 16-lane bf16 vectors (32 elements per
/// step) and a scalar loop over the rest, and the two bodies of bf16 rsqrt differ: the vector one rounds 1/√x once,
/// the scalar one rounds √x to bf16 and then its reciprocal. So in a tensor of n elements the last n mod 32 (all of
/// them when n &lt; 32, as in a decode step's [heads] query norms) get the double rounding. Beyond PyTorch's
/// parallel grain (32768 elements) each thread's chunk has its own tail; the reference runs never get there.
/// </summary>
public static class TorchCpuBf16
{
    public const int VectorStep = 32;

    /// <summary>Whether element <paramref name="index"/> of an <paramref name="count"/>-element rsqrt takes the scalar loop.</summary>
    public static bool RsqrtRoundsTwice(int index, int count) => index >= count - count % VectorStep;
}

/// <summary>Top-k by value, descending, equal values → lower index first (CUDA torch.topk's order, which the fixtures pin).</summary>
public static class TopK
{
    public static void Select(ReadOnlySpan<float> values, Span<int> result)
    {
        int k = result.Length, count = 0;
        for (int i = 0; i < values.Length; i++)
        {
            float v = values[i];
            if (count == k && !(v > values[result[k - 1]])) continue;
            int pos = count < k ? count++ : k - 1;
            while (pos > 0 && v > values[result[pos - 1]]) { result[pos] = result[pos - 1]; pos--; }
            result[pos] = i;
        }
    }
}
