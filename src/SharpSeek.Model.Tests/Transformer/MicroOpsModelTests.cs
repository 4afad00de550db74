using SharpSeek.Kernels.Formats;
using SharpSeek.Kernels.Threading;
using SharpSeek.Model.Checkpoint;
using SharpSeek.Model.DeepSeekV4;
using SharpSeek.TestSupport;
using Xunit.Abstractions;

namespace SharpSeek.Model.Tests.Transformer;

/// <summary>
/// micro-ops fixtures for the model's building blocks. README tolerances: integer outputs exact; bf16 outputs of sums
/// equal in almost every element, otherwise one bf16 step (after FP8/FP4 QDQ, one FP8/FP4 step of that element);
/// fp32 outputs to about 1e-6 relative.
/// </summary>
public sealed class MicroOpsModelTests(ITestOutputHelper output)
{
    private static NpyArray Npy(string folder, string file) => Golden.Npy("micro-ops", folder, file);

    /// <summary>Counts elements that are not bit-equal and checks each is within <paramref name="steps"/> bf16 steps.</summary>
    private int AssertBf16Close(float[] expected, ReadOnlySpan<float> actual, string what, float steps = 1, double maxFractionOff = 0.02, float absoluteFloor = 0)
    {
        Assert.Equal(expected.Length, actual.Length);
        int off = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            if (expected[i] == actual[i]) continue;
            off++;
            float step = BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(expected[i]) & 0x7F800000) / 128f; // one bf16 ulp
            Assert.True(MathF.Abs(expected[i] - actual[i]) <= MathF.Max(steps * step * 1.01f, absoluteFloor), $"{what}[{i}]: {actual[i]:R} vs {expected[i]:R}");
        }
        output.WriteLine($"{what}: {off} of {expected.Length} differ");
        Assert.True(off <= maxFractionOff * expected.Length, $"{what}: {off} of {expected.Length} elements differ");
        return off;
    }

    [Fact]
    public unsafe void SparseAttentionKernel()
    {
        var qa = Npy("sparse_attn", "q.npy");
        float[] q = qa.AsFloat32(), kv = Npy("sparse_attn", "kv.npy").AsFloat32(), sink = Npy("sparse_attn", "attn_sink.npy").AsFloat32();
        var idxA = Npy("sparse_attn", "topk_idxs.npy");
        int[] idx = idxA.AsInt32();
        int Q = qa.Shape[0], H = qa.Shape[1], hd = qa.Shape[2], K = idxA.Shape[1];
        var o = new float[Q * H * hd];
        var acc = new float[hd];
        fixed (float* k = kv)
            for (int t = 0; t < Q; t++)
                for (int h = 0; h < H; h++)
                    SparseAttention.Attend(q.AsSpan((t * H + h) * hd, hd), k, int.MaxValue, null, idx.AsSpan(t * K, K), sink[h], true, acc, o.AsSpan((t * H + h) * hd, hd));
        AssertBf16Close(Npy("sparse_attn", "out.npy").AsFloat32(), o, "sparse_attn");
    }

    private static HyperConnections Hc(string folder, int hc, int dim, int iters = 20) =>
        HyperConnections.FromArrays(Npy(folder, folder == "hc_sinkhorn" ? "hc_base.npy" : "hc_fn.npy").AsFloat32(), Npy(folder, "hc_base.npy").AsFloat32(),
            Npy(folder, "hc_scale.npy").AsFloat32(), hc, dim, iters, 1e-6f, 1e-6f);

    [Fact]
    public void SinkhornSplit()
    {
        var mixesA = Npy("hc_sinkhorn", "mixes.npy");
        float[] mixes = mixesA.AsFloat32();
        int n = mixesA.Shape[0], m = mixesA.Shape[1], hc = Npy("hc_sinkhorn", "pre.npy").Shape[1];
        var h = Hc("hc_sinkhorn", hc, 1);
        float[] pre = Npy("hc_sinkhorn", "pre.npy").AsFloat32(), post = Npy("hc_sinkhorn", "post.npy").AsFloat32(), comb = Npy("hc_sinkhorn", "comb.npy").AsFloat32();
        Span<float> p = stackalloc float[hc], q = stackalloc float[hc], c = stackalloc float[hc * hc];
        for (int t = 0; t < n; t++)
        {
            h.SplitSinkhorn(mixes.AsSpan(t * m, m), p, q, c);
            for (int j = 0; j < hc; j++)
            {
                Assert.True(MathF.Abs(p[j] - pre[t * hc + j]) <= 1e-6f * (1 + MathF.Abs(pre[t * hc + j])), $"pre[{t},{j}]");
                Assert.True(MathF.Abs(q[j] - post[t * hc + j]) <= 1e-6f * (1 + MathF.Abs(post[t * hc + j])), $"post[{t},{j}]");
            }
            for (int j = 0; j < hc * hc; j++) Assert.True(MathF.Abs(c[j] - comb[t * hc * hc + j]) <= 2e-6f, $"comb[{t},{j}]: {c[j]} vs {comb[t * hc * hc + j]}");
            // doubly stochastic within eps
            for (int j = 0; j < hc; j++)
            {
                float row = 0, col = 0;
                for (int k = 0; k < hc; k++) { row += c[j * hc + k]; col += c[k * hc + j]; }
                Assert.InRange(col, 1 - 1e-4f, 1 + 1e-4f);
                Assert.InRange(row, 0.95f, 1.05f); // rows converge more slowly; columns are normalised last
            }
        }
    }

    [Fact]
    public void HcPreAndPost()
    {
        var xa = Npy("hc_pre_post", "x_streams.npy");
        float[] x = xa.AsFloat32();
        int T = xa.Shape[0], hc = xa.Shape[1], D = xa.Shape[2];
        var h = Hc("hc_pre_post", hc, D);
        var y = new float[T * D];
        var post = new float[T * hc];
        var comb = new float[T * hc * hc];
        h.Pre(x, T, y, post, comb, bf16: true, WorkerPool.Shared);
        // a weighted sum of streams of magnitude ~1 can cancel to ~1e-5, where f32 summation order moves the bf16 result by
        // more than one of its tiny ulps: allow 1e-6 absolute there
        AssertBf16Close(Npy("hc_pre_post", "pre_mix_out.npy").AsFloat32(), y, "pre_mix_out", maxFractionOff: 0.005, absoluteFloor: 1e-6f);
        float[] postRef = Npy("hc_pre_post", "post.npy").AsFloat32(), combRef = Npy("hc_pre_post", "comb.npy").AsFloat32();
        for (int i = 0; i < post.Length; i++) Assert.True(MathF.Abs(post[i] - postRef[i]) <= 2e-6f, $"post[{i}]");
        for (int i = 0; i < comb.Length; i++) Assert.True(MathF.Abs(comb[i] - combRef[i]) <= 2e-6f, $"comb[{i}]");
        var outp = new float[T * hc * D];
        // hc_post from the reference's own post/comb, so this checks the post step alone
        h.Post(Npy("hc_pre_post", "sublayer_out.npy").AsFloat32(), x, postRef, combRef, T, outp, bf16: true);
        AssertBf16Close(Npy("hc_pre_post", "hc_post_out.npy").AsFloat32(), outp, "hc_post_out", maxFractionOff: 0.005);
    }

    [Fact]
    public void MoeGateHashAndScore()
    {
        using var r = CheckpointReader.Open(Golden.Path("tiny-quant", "model"));
        var c = r.Config;
        var xa = Npy("moe_gate", "x.npy");
        float[] x = xa.AsFloat32();
        int[] ids = Npy("moe_gate", "token_ids.npy").AsInt32();
        int T = xa.Shape[0];
        foreach (var (layer, prefix) in new[] { (0, "layer0_hash"), (1, "layer1") })
        {
            var moe = new MoeLayer(MoeWeights.Bind(r, $"layers.{layer}.ffn.", c, hash: layer < c.NumHashLayers), c, V4Numerics.Reference, WorkerPool.Shared);
            var trace = new MoeTrace();
            moe.Forward(x, ids, T, new float[T * c.HiddenSize], trace);
            int[] experts = Npy("moe_gate", $"{prefix}_experts.npy").AsInt32();
            float[] weights = Npy("moe_gate", $"{prefix}_weights.npy").AsFloat32();
            int K = c.NumExpertsPerTok;
            for (int t = 0; t < T; t++)
                for (int k = 0; k < K; k++)
                {
                    Assert.Equal(experts[t * K + k], trace.Experts[t][k]);
                    Assert.True(MathF.Abs(weights[t * K + k] - trace.Weights[t][k]) <= 3e-7f * (1 + weights[t * K + k]), $"{prefix} weight [{t},{k}]");
                }
        }
    }

    [Theory]
    [InlineData("compressor_layer1_main_ratio4", 1, false)]
    [InlineData("compressor_layer1_indexer_ratio4", 1, true)]
    [InlineData("compressor_layer2_main_ratio16", 2, false)]
    public void Compressor(string folder, int layer, bool indexer)
    {
        using var r = CheckpointReader.Open(Golden.Path("tiny-quant", "model"));
        var c = r.Config;
        int ratio = c.CompressRatio(layer);
        var aw = AttentionWeights.Bind(r, $"layers.{layer}.attn.", c, ratio, YarnRope.ForLayer(c, ratio));
        var comp = indexer ? aw.IndexCompressor! : aw.Compressor!;
        var xa = Npy(folder, "x.npy");
        float[] x = xa.AsFloat32();
        int D = xa.Shape[1], total = xa.Shape[0];
        var prefillRef = Npy(folder, "prefill_entries.npy");
        int width = prefillRef.Shape[1];
        var decodePositions = Npy(folder, "decode_emit_positions.npy").AsInt32();
        // The fixture's prefill emitted n entries, so it covered between n·ratio and (n+1)·ratio−1 positions; the
        // compressor's state makes every split in that range equivalent, so start decoding at n·ratio.
        int prefillLen = prefillRef.Shape[0] * ratio;
        Assert.True(decodePositions.Length == 0 || decodePositions[0] >= prefillLen, "decode emissions start after the prefill");
        var state = comp.NewState();
        var entries = new GrowingMatrix(width);
        comp.Forward(x.AsSpan(0, prefillLen * D), 0, prefillLen, state, entries, V4Numerics.Reference, WorkerPool.Shared);
        AssertBf16Close(prefillRef.AsFloat32(), entries.All, $"{folder} prefill", steps: indexer ? 64 : 16, maxFractionOff: 0.02);
        var emitted = new List<int>();
        for (int p = prefillLen; p < total; p++)
        {
            int before = entries.Rows;
            comp.Forward(x.AsSpan(p * D, D), p, 1, state, entries, V4Numerics.Reference, WorkerPool.Shared);
            if (entries.Rows > before) emitted.Add(p);
        }
        Assert.Equal(decodePositions, emitted.ToArray());
        AssertBf16Close(Npy(folder, "all_entries.npy").AsFloat32(), entries.All, $"{folder} all", steps: indexer ? 64 : 16, maxFractionOff: 0.02);
    }

    /// <summary>
    /// indexer_layer1: the lightning indexer of layer 1 on stand-in x / qr, a prefill of positions 0..59 then single-token
    /// decode steps 60..65. Top-k ids must match exactly; scores and keys are bf16 results of sums (after FP4 QDQ a
    /// differing key element may be one FP4 step off).
    /// </summary>
    [Fact]
    public void Indexer()
    {
        const string folder = "indexer_layer1";
        using var r = CheckpointReader.Open(Golden.Path("tiny-quant", "model"));
        var c = r.Config;
        const int layer = 1;
        int ratio = c.CompressRatio(layer);
        var rope = YarnRope.ForLayer(c, ratio);
        var attn = new Attention(AttentionWeights.Bind(r, $"layers.{layer}.attn.", c, ratio, rope), c, layer, ratio, V4Numerics.Reference, WorkerPool.Shared, rope);
        var cache = new AttentionCache(c, ratio);
        var xa = Npy(folder, "x.npy");
        float[] x = xa.AsFloat32(), qr = Npy(folder, "qr.npy").AsFloat32();
        int D = xa.Shape[1], total = xa.Shape[0], Q = c.QLoraRank;
        var prefillTopk = Npy(folder, "prefill_topk.npy");
        var prefillScores = Npy(folder, "prefill_scores.npy");
        var decodeScores = Npy(folder, "decode_scores.npy");
        int prefillLen = prefillTopk.Shape[0], k = prefillTopk.Shape[1];

        var trace = new AttentionTrace();
        var scores = new List<float[]>();
        attn.RunIndexer(x.AsSpan(0, prefillLen * D), qr.AsSpan(0, prefillLen * Q), prefillLen, cache, trace, scores);
        for (int p = prefillLen; p < total; p++)
            attn.RunIndexer(x.AsSpan(p * D, D), qr.AsSpan(p * Q, Q), 1, cache, trace, scores);

        int[] expectedTopk = [.. prefillTopk.AsInt32(), .. Npy(folder, "decode_topk.npy").AsInt32()];
        for (int t = 0; t < total; t++)
            Assert.True(expectedTopk.AsSpan(t * k, k).SequenceEqual(trace.IndexerTopk[t]),
                $"position {t}: top-k {string.Join(",", trace.IndexerTopk[t])} vs {string.Join(",", expectedTopk.Skip(t * k).Take(k))}");

        // scores: −inf where an entry is not yet complete
        float[] Padded(int from, int to, int width)
        {
            var all = new float[(to - from) * width];
            Array.Fill(all, float.NegativeInfinity);
            for (int t = from; t < to; t++) scores[t].CopyTo(all.AsSpan((t - from) * width, width));
            return all;
        }
        // the README's rule for bf16 sums: exact in almost every element, otherwise one bf16 step
        AssertBf16Close(prefillScores.AsFloat32(), Padded(0, prefillLen, prefillScores.Shape[1]), $"{folder} prefill scores");
        AssertBf16Close(decodeScores.AsFloat32(), Padded(prefillLen, total, decodeScores.Shape[1]), $"{folder} decode scores");
        AssertBf16Close(Npy(folder, "index_key_cache.npy").AsFloat32(), cache.IndexKeys!.All, $"{folder} key cache", steps: 64);
    }
}
