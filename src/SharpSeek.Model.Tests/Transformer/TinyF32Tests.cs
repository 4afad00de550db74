using SharpSeek.Kernels.Threading;
using SharpSeek.Model.Checkpoint;
using SharpSeek.Model.DeepSeekV4;
using SharpSeek.TestSupport;
using Xunit.Abstractions;

namespace SharpSeek.Model.Tests.Transformer;

/// <summary>
/// tiny-f32: the official reference with float32 activations and no quantisation. Tolerances from its README:
/// logits 1e-4 absolute, block streams 1e-3, greedy ids, routed experts and indexer selections identical.
/// Every shape comes from the fixture files, so held-back sets with other sizes run unchanged.
/// </summary>
public sealed class TinyF32Tests(ITestOutputHelper output)
{
    private const float LogitTolerance = 1e-4f;
    private const float StreamTolerance = 1e-3f;
    private const float RoutingWeightTolerance = 1e-4f;

    private sealed record Run(float[] Prefill, float[] Decode, int[] Greedy, float[] MtpPrefill, float[] MtpDecode,
                              ForwardTrace PrefillTrace, List<ForwardTrace> DecodeTraces, V4Config Config);

    private static readonly Lazy<Run> Result = new(Execute);

    private static Run Execute()
    {
        using var reader = CheckpointReader.Open(Golden.Path("tiny-f32", "model"));
        var c = reader.Config;
        var w = V4Weights.Bind(reader);
        var model = new V4Transformer(w, V4Numerics.Fast, WorkerPool.Shared);
        int[] prompt = Golden.Npy("tiny-f32", "prompt_ids.npy").AsInt32();
        int[] fed = Golden.Npy("tiny-f32", "generated_ids.npy").AsInt32();
        int S = prompt.Length, V = c.VocabSize, steps = fed.Length - 1;

        var prefill = new float[S * V];
        var trace = new ForwardTrace();
        model.Forward(prompt, prefill, trace);
        var greedy = new int[fed.Length];
        greedy[0] = ArgMax(prefill.AsSpan((S - 1) * V, V));
        bool hasMtp = w.Mtp.Length > 0;
        var mtpPrefill = new float[hasMtp ? S * V : 0];
        if (hasMtp) model.MtpForward([.. prompt[1..], fed[0]], mtpPrefill);

        var decode = new float[steps * V];
        var mtpDecode = new float[hasMtp ? steps * V : 0];
        var traces = new List<ForwardTrace>();
        for (int k = 0; k < steps; k++)
        {
            var tr = new ForwardTrace();
            model.Forward([fed[k]], decode.AsSpan(k * V, V), tr);
            traces.Add(tr);
            greedy[k + 1] = ArgMax(decode.AsSpan(k * V, V));
            if (hasMtp) model.MtpForward([fed[k + 1]], mtpDecode.AsSpan(k * V, V));
        }
        return new Run(prefill, decode, greedy, mtpPrefill, mtpDecode, trace, traces, c);
    }

    internal static int ArgMax(ReadOnlySpan<float> v)
    {
        int best = 0;
        for (int i = 1; i < v.Length; i++) if (v[i] > v[best]) best = i;
        return best;
    }

    private void AssertClose(string what, float[] expected, float[] actual, float tol)
    {
        Assert.Equal(expected.Length, actual.Length);
        double maxDiff = 0; int at = -1;
        for (int i = 0; i < expected.Length; i++)
        {
            double d = Math.Abs(expected[i] - actual[i]);
            if (!(d <= maxDiff)) { maxDiff = d; at = i; }
        }
        output.WriteLine($"{what}: max |Δ| {maxDiff:G3} at {at}");
        Assert.True(maxDiff <= tol, $"{what}: max |Δ| {maxDiff:G4} at flat index {at} (expected {expected[Math.Max(at, 0)]}, got {actual[Math.Max(at, 0)]}), tolerance {tol}");
    }

    [Fact]
    public void PrefillLogits() => AssertClose("prefill_logits", Golden.Npy("tiny-f32", "prefill_logits.npy").AsFloat32(), Result.Value.Prefill, LogitTolerance);

    [Fact]
    public void DecodeLogits() => AssertClose("decode_logits", Golden.Npy("tiny-f32", "decode_logits.npy").AsFloat32(), Result.Value.Decode, LogitTolerance);

    [Fact]
    public void GreedyIds() => Assert.Equal(Golden.Npy("tiny-f32", "generated_ids.npy").AsInt32(), Result.Value.Greedy);

    [Fact]
    public void MtpLogits()
    {
        var r = Result.Value;
        Assert.True(r.Config.NumMtpLayers > 0, "fixture has an MTP head");
        AssertClose("mtp_prefill_logits", Golden.Npy("tiny-f32", "mtp_prefill_logits.npy").AsFloat32(), r.MtpPrefill, LogitTolerance);
        AssertClose("mtp_decode_logits", Golden.Npy("tiny-f32", "mtp_decode_logits.npy").AsFloat32(), r.MtpDecode, LogitTolerance);
    }

    [Fact]
    public void BlockStreams()
    {
        var r = Result.Value;
        var prefill = Golden.Npy("tiny-f32", "block_outputs.npy");       // [L, S, hc, D]
        var decode = Golden.Npy("tiny-f32", "decode_block_outputs.npy"); // [steps, L, hc, D]
        int L = prefill.Shape[0];
        AssertClose("block_outputs", prefill.AsFloat32(), r.PrefillTrace.BlockOutputs.SelectMany(b => b).ToArray(), StreamTolerance);
        var ours = r.DecodeTraces.SelectMany(t => t.BlockOutputs.Take(L).SelectMany(b => b)).ToArray();
        AssertClose("decode_block_outputs", decode.AsFloat32(), ours, StreamTolerance);
    }

    [Fact]
    public void RoutedExperts()
    {
        var r = Result.Value;
        var experts = Golden.Npy("tiny-f32", "moe_prefill_experts.npy"); // [blocks incl. MTP, S, k]
        var weights = Golden.Npy("tiny-f32", "moe_prefill_weights.npy").AsFloat32();
        int[] e = experts.AsInt32();
        int blocks = experts.Shape[0], S = experts.Shape[1], K = experts.Shape[2];
        for (int l = 0; l < r.Config.NumHiddenLayers; l++)
            for (int t = 0; t < S; t++)
                for (int k = 0; k < K; k++)
                {
                    int at = (l * S + t) * K + k;
                    Assert.True(e[at] == r.PrefillTrace.Moe[l].Experts[t][k], $"layer {l} position {t} slot {k}: expert {r.PrefillTrace.Moe[l].Experts[t][k]}, expected {e[at]}");
                    Assert.True(Math.Abs(weights[at] - r.PrefillTrace.Moe[l].Weights[t][k]) <= RoutingWeightTolerance, $"layer {l} position {t} slot {k}: weight");
                }
        var de = Golden.Npy("tiny-f32", "moe_decode_experts.npy").AsInt32(); // [steps, blocks, k]
        for (int s = 0; s < r.DecodeTraces.Count; s++)
            for (int l = 0; l < r.Config.NumHiddenLayers; l++)
                for (int k = 0; k < K; k++)
                    Assert.Equal(de[(s * blocks + l) * K + k], r.DecodeTraces[s].Moe[l].Experts[0][k]);
    }

    [Fact]
    public void IndexerSelections()
    {
        var r = Result.Value;
        int checkedLayers = 0;
        for (int l = 0; l < r.Config.NumHiddenLayers; l++)
        {
            if (r.Config.CompressRatio(l) != 4) continue;
            checkedLayers++;
            var pre = Golden.Npy("tiny-f32", $"indexer_prefill_topk_layer{l}.npy");
            int[] p = pre.AsInt32();
            int S = pre.Shape[0], K = pre.Shape[1];
            for (int t = 0; t < S; t++)
                Assert.True(p.AsSpan(t * K, K).SequenceEqual(r.PrefillTrace.Indexer[l].IndexerTopk[t]),
                    $"layer {l} position {t}: [{string.Join(",", r.PrefillTrace.Indexer[l].IndexerTopk[t])}] expected [{string.Join(",", p.AsSpan(t * K, K).ToArray())}]");
            int[] d = Golden.Npy("tiny-f32", $"indexer_decode_topk_layer{l}.npy").AsInt32();
            for (int s = 0; s < r.DecodeTraces.Count; s++)
                Assert.True(d.AsSpan(s * K, K).SequenceEqual(r.DecodeTraces[s].Indexer[l].IndexerTopk[0]), $"layer {l} decode step {s}");
        }
        Assert.True(checkedLayers > 0, "the fixture has CSA layers");
    }
}
