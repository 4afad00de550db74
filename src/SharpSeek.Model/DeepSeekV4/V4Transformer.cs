using SharpSeek.Kernels.Formats;
using SharpSeek.Kernels.Ops;
using SharpSeek.Kernels.Threading;

namespace SharpSeek.Model.DeepSeekV4;

/// <summary>What a forward pass can record for tests and diagnostics.</summary>
public sealed class ForwardTrace
{
    /// <summary>[layer] → the streams after that block, [tokens, hc, D].</summary>
    public readonly List<float[]> BlockOutputs = [];
    public readonly Dictionary<int, MoeTrace> Moe = [];
    public readonly Dictionary<int, AttentionTrace> Indexer = [];
    public MoeTrace MoeOf(int layer) => Moe.TryGetValue(layer, out var t) ? t : Moe[layer] = new MoeTrace();
    public AttentionTrace IndexerOf(int layer) => Indexer.TryGetValue(layer, out var t) ? t : Indexer[layer] = new AttentionTrace();
}

/// <summary>
/// The DeepSeek-V4 forward pass for one timeline (model.py: Transformer, Block, MTPBlock). Weights are shared; this
/// object holds one session's caches and scratch, so sessions run side by side without locks.
/// embed → hc_mult streams → per block: hc_pre · attn_norm · attention · hc_post, hc_pre · ffn_norm · MoE · hc_post
/// → hc_head → norm → head.
/// </summary>
public sealed class V4Transformer
{
    private readonly V4Weights _w;
    private readonly V4Config _c;
    private readonly V4Numerics _num;
    private readonly WorkerPool _pool;
    private readonly BlockRunner[] _blocks;
    private readonly BlockRunner[] _mtp;
    private readonly ScratchBuffers _scratch = new();
    private float[]? _streams, _next, _h, _mtpE, _mtpH, _mtpZ, _mtpNext;

    public V4Config Config => _c;
    public V4Numerics Numerics => _num;
    public AttentionCache[] Caches { get; }
    public AttentionCache[] MtpCaches { get; }
    /// <summary>Streams after the last block for the tokens of the last Forward call, [tokens, hc, D] (MTP input).</summary>
    public ReadOnlySpan<float> LastStreams => _streams.AsSpan(0, _lastTokens * _c.HcMult * _c.HiddenSize);
    private int _lastTokens;

    public V4Transformer(V4Weights w, V4Numerics numerics, WorkerPool pool)
    {
        _w = w; _c = w.Config; _num = numerics; _pool = pool;
        _blocks = w.Layers.Select(b => new BlockRunner(b, _c, numerics, pool)).ToArray();
        _mtp = w.Mtp.Select(b => new BlockRunner(b, _c, numerics, pool)).ToArray();
        Caches = w.Layers.Select(b => new AttentionCache(_c, b.Ratio)).ToArray();
        MtpCaches = w.Mtp.Select(b => new AttentionCache(_c, b.Ratio)).ToArray();
    }

    public int Length => Caches.Length > 0 ? Caches[0].Length : 0;

    public void Reset()
    {
        foreach (var c in Caches) c.Reset();
        foreach (var c in MtpCaches) c.Reset();
    }

    /// <summary>
    /// Runs ids at positions Length.. through every block. Writes logits for every row (logits.Length ≥ tokens·vocab)
    /// or for the last row only (logits.Length == vocab).
    /// </summary>
    /// <remarks>A cancelled pass stops between blocks with OperationCanceledException; the caches are then partly
    /// advanced and must be reset (Session does).</remarks>
    public void Forward(ReadOnlySpan<int> ids, Span<float> logits, ForwardTrace? trace = null, CancellationToken cancellationToken = default)
    {
        int T = ids.Length, D = _c.HiddenSize, hc = _c.HcMult;
        if (T == 0) return;
        var x = Grow.Buf(ref _streams, T * hc * D);
        Embed(ids, x);
        for (int l = 0; l < _blocks.Length; l++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var next = Grow.Buf(ref _next, T * hc * D);
            _blocks[l].Forward(x, ids, T, Caches[l], next, trace);
            (_streams, _next) = (_next, _streams);
            x = _streams.AsSpan(0, T * hc * D);
            trace?.BlockOutputs.Add(x.ToArray());
        }
        _lastTokens = T;
        if (!logits.IsEmpty) Logits(_w.HcHead, _w.Norm, x, T, logits); // empty: the caller wants the cache only
    }

    /// <summary>The block-0 input: each id's embedding row repeated into every stream, [tokens, hc, D].</summary>
    public void Embed(ReadOnlySpan<int> ids, Span<float> streams)
    {
        int D = _c.HiddenSize, hc = _c.HcMult;
        for (int t = 0; t < ids.Length; t++)
        {
            int id = ids[t];
            if ((uint)id >= (uint)_c.VocabSize) throw new ArgumentOutOfRangeException(nameof(ids), $"token id {id} outside the vocabulary (0..{_c.VocabSize - 1})");
            var first = streams.Slice(t * hc * D, D);
            _w.Embed.DecodeRow(id, first);
            for (int k = 1; k < hc; k++) first.CopyTo(streams.Slice((t * hc + k) * D, D));
        }
    }

    /// <summary>Logits of given main-model streams [tokens, hc, D] (hc_head → norm → head), e.g. a reference's last block output.</summary>
    public void HeadLogits(ReadOnlySpan<float> streams, int tokens, Span<float> logits) => Logits(_w.HcHead, _w.Norm, streams, tokens, logits);

    /// <summary>hc_head → norm → head: all rows, or only the last when logits holds one row.</summary>
    private void Logits(HyperConnections hcHead, float[] norm, ReadOnlySpan<float> streams, int tokens, Span<float> logits)
    {
        int D = _c.HiddenSize, V = _c.VocabSize, hc = _c.HcMult;
        bool all = logits.Length >= tokens * V;
        int first = all ? 0 : tokens - 1, n = tokens - first;
        var h = Grow.Buf(ref _h, n * D);
        hcHead.Head(streams.Slice(first * hc * D, n * hc * D), n, h, _num.Bf16Activations, _pool);
        V4Ops.RmsNormRows(h, norm, _c.RmsNormEps, h, n, D, _num.Bf16Activations);
        Linear.Forward(_w.Head, h, logits, n, _pool);
    }

    /// <summary>
    /// The MTP head over the tokens of the last Forward call: row t combines the main streams at position t with
    /// <paramref name="nextIds"/>[t] (the token after it) and predicts the token after that.
    /// </summary>
    public void MtpForward(ReadOnlySpan<int> nextIds, Span<float> logits, int mtpIndex = 0)
    {
        if (nextIds.Length != _lastTokens) throw new ArgumentException($"MTP needs one next id per token of the last forward ({_lastTokens}), got {nextIds.Length}");
        MtpForward(LastStreams, nextIds, logits, mtpIndex);
    }

    /// <summary>The MTP head over given main streams [tokens, hc, D] (teacher forcing in tests), at the MTP cache's next positions.</summary>
    public void MtpForward(ReadOnlySpan<float> streams, ReadOnlySpan<int> nextIds, Span<float> logits, int mtpIndex = 0)
    {
        if (_mtp.Length == 0) throw new InvalidOperationException("this checkpoint has no MTP head");
        int T = nextIds.Length, D = _c.HiddenSize, hc = _c.HcMult;
        if (streams.Length < T * hc * D) throw new ArgumentException($"MTP needs {T}×{hc}×{D} stream values, got {streams.Length}");
        var b = _w.Mtp[mtpIndex];
        bool bf = _num.Bf16Activations;
        var e = Grow.Buf(ref _mtpE, T * D);
        for (int t = 0; t < T; t++) _w.Embed.DecodeRow(nextIds[t], e.Slice(t * D, D));
        V4Ops.RmsNormRows(e, b.ENorm, _c.RmsNormEps, e, T, D, bf);
        var ep = Grow.Buf(ref _mtpNext, T * D);
        b.EProj.Apply(e, ep, T, _num, _scratch, _pool);
        var hs = Grow.Buf(ref _mtpH, T * hc * D);
        V4Ops.RmsNormRows(streams[..(T * hc * D)], b.HNorm, _c.RmsNormEps, hs, T * hc, D, bf);
        var z = Grow.Buf(ref _mtpZ, T * hc * D);
        b.HProj.Apply(hs, z, T * hc, _num, _scratch, _pool);
        for (int t = 0; t < T; t++)
            for (int k = 0; k < hc; k++)
            {
                var zk = z.Slice((t * hc + k) * D, D);
                System.Numerics.Tensors.TensorPrimitives.Add(zk, ep.Slice(t * D, D), zk);
                if (bf) Bf16.Round(zk);
            }
        _mtp[mtpIndex].Forward(z, nextIds, T, MtpCaches[mtpIndex], hs, null);
        Logits(b.HcHead!, b.Norm!, hs, T, logits);
    }

    /// <summary>Runs one main block on given input streams (teacher forcing in tests), [tokens, hc, D] → output.</summary>
    public void ForwardBlock(int layer, ReadOnlySpan<float> streams, ReadOnlySpan<int> ids, Span<float> output, ForwardTrace? trace = null)
        => _blocks[layer].Forward(streams, ids, ids.Length, Caches[layer], output, trace);

    private sealed class BlockRunner
    {
        private readonly BlockWeights _b;
        private readonly V4Config _c;
        private readonly V4Numerics _num;
        private readonly WorkerPool _pool;
        private readonly Attention _attn;
        private readonly MoeLayer _moe;
        private float[]? _y, _n, _o, _mid, _post, _comb;

        public BlockRunner(BlockWeights b, V4Config c, V4Numerics num, WorkerPool pool)
        {
            _b = b; _c = c; _num = num; _pool = pool;
            _attn = new Attention(b.Attn, c, b.LayerId, b.Ratio, num, pool, b.Rope);
            _moe = new MoeLayer(b.Ffn, c, num, pool);
        }

        public void Forward(ReadOnlySpan<float> x, ReadOnlySpan<int> ids, int T, AttentionCache cache, Span<float> output, ForwardTrace? trace)
        {
            int D = _c.HiddenSize, hc = _c.HcMult;
            bool bf = _num.Bf16Activations;
            var y = Grow.Buf(ref _y, T * D);
            var n = Grow.Buf(ref _n, T * D);
            var o = Grow.Buf(ref _o, T * D);
            var post = Grow.Buf(ref _post, T * hc);
            var comb = Grow.Buf(ref _comb, T * hc * hc);
            var mid = Grow.Buf(ref _mid, T * hc * D);

            _b.HcAttn.Pre(x, T, y, post, comb, bf, _pool);
            V4Ops.RmsNormRows(y, _b.AttnNorm, _c.RmsNormEps, n, T, D, bf);
            _attn.Forward(n, T, cache, o, trace?.IndexerOf(_b.LayerId));
            _b.HcAttn.Post(o, x, post, comb, T, mid, bf);

            _b.HcFfn.Pre(mid, T, y, post, comb, bf, _pool);
            V4Ops.RmsNormRows(y, _b.FfnNorm, _c.RmsNormEps, n, T, D, bf);
            _moe.Forward(n, ids, T, o, trace?.MoeOf(_b.LayerId));
            _b.HcFfn.Post(o, mid, post, comb, T, output, bf);
        }
    }
}
