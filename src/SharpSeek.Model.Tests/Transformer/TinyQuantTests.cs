using SharpSeek.Kernels.Threading;
using SharpSeek.Model.Checkpoint;
using SharpSeek.Model.DeepSeekV4;
using SharpSeek.TestSupport;
using Xunit.Abstractions;

namespace SharpSeek.Model.Tests.Transformer;

/// <summary>
/// tiny-quant: FP8/FP4 weights, bf16 activations, every quant-dequant step active, run with reference numerics, checked
/// the ways its README recommends, with the bounds it derives:
/// - block by block (teacher forced: block l gets the reference streams of block l−1), prefill and decode:
///   mean|Δ|/rms ≤ 0.01 (a second independent run: ≤ 0.000342 prefill, ≤ 0.00451 decode; the known revision mistakes
///   ≥ 0.0125 in every block), and for the prefill a median over positions of the per-position max |Δ| of 0 (the
///   mistakes: 0.0625 to 0.688);
/// - logits of the reference's last block output: mean |Δ| under half the mistakes' 0.0135 (second run 0.000519);
/// - end to end (prefill, then the reference's ids through the cache): prefill and decode logits' mean |Δ| under half
///   the mistakes' smallest (0.196 prefill, 0.237 decode), and the first greedy id equal;
/// - teacher forced, routed experts and indexer selections equal wherever the reference's gap is above noise.
/// Every size comes from the fixture files, so held-back sets with other shapes run unchanged.
/// </summary>
public sealed class TinyQuantTests(ITestOutputHelper output)
{
    private const double BlockRelativeTolerance = 0.01;
    private const double TeacherForcedLogitMeanTolerance = 0.0135 / 2;
    private const double PrefillLogitMeanTolerance = 0.196 / 2;
    private const double DecodeLogitMeanTolerance = 0.237 / 2;
    /// <summary>Decisions whose score gap in the reference is below this may flip with rounding noise.</summary>
    private const float DecisionGapNoise = 0.01f;

    private sealed record Fixture(int[] Prompt, int[] Fed, float[] Pre, float[] Dec, int L, int S, int Row, int Steps);

    private static Fixture Load()
    {
        var prefillRef = Golden.Npy("tiny-quant", "block_outputs.npy");        // [L, S, hc, D]
        var decodeRef = Golden.Npy("tiny-quant", "decode_block_outputs.npy");  // [steps, L, hc, D]
        return new Fixture(Golden.Npy("tiny-quant", "prompt_ids.npy").AsInt32(), Golden.Npy("tiny-quant", "generated_ids.npy").AsInt32(),
            prefillRef.AsFloat32(), decodeRef.AsFloat32(), prefillRef.Shape[0], prefillRef.Shape[1],
            prefillRef.Shape[2] * prefillRef.Shape[3], decodeRef.Shape[0]);
    }

    /// <summary>Runs block l teacher forced over the prompt and then every decode step; returns the streams and traces.</summary>
    private static (float[] Prefill, float[] Decode, ForwardTrace PrefillTrace, List<ForwardTrace> DecodeTraces) RunBlock(V4Weights w, Fixture f, int l)
    {
        var model = new V4Transformer(w, V4Numerics.Reference, WorkerPool.Shared);
        var input = new float[f.S * f.Row];
        if (l == 0) model.Embed(f.Prompt, input); else f.Pre.AsSpan((l - 1) * f.S * f.Row, f.S * f.Row).CopyTo(input);
        var prefill = new float[f.S * f.Row];
        var trace = new ForwardTrace();
        model.ForwardBlock(l, input, f.Prompt, prefill, trace);
        var decode = new float[f.Steps * f.Row];
        var stepIn = new float[f.Row];
        var traces = new List<ForwardTrace>();
        for (int k = 0; k < f.Steps; k++)
        {
            if (l == 0) model.Embed([f.Fed[k]], stepIn); else f.Dec.AsSpan((k * f.L + l - 1) * f.Row, f.Row).CopyTo(stepIn);
            var tr = new ForwardTrace();
            model.ForwardBlock(l, stepIn, [f.Fed[k]], decode.AsSpan(k * f.Row, f.Row), tr);
            traces.Add(tr);
        }
        return (prefill, decode, trace, traces);
    }

    [Fact]
    public void BlocksTeacherForced()
    {
        using var reader = CheckpointReader.Open(Golden.Path("tiny-quant", "model"));
        var w = V4Weights.Bind(reader);
        var f = Load();
        for (int l = 0; l < f.L; l++)
        {
            var (prefill, decode, _, _) = RunBlock(w, f, l);
            var expectedDecode = new float[f.Steps * f.Row];
            for (int k = 0; k < f.Steps; k++) f.Dec.AsSpan((k * f.L + l) * f.Row, f.Row).CopyTo(expectedDecode.AsSpan(k * f.Row, f.Row));
            var expectedPrefill = f.Pre.AsSpan(l * f.S * f.Row, f.S * f.Row);

            double prefillRel = Relative(expectedPrefill, prefill), decodeRel = Relative(expectedDecode, decode);
            var (prefillMedian, prefillSame) = PerPosition(expectedPrefill, prefill, f.Row);
            var (decodeMedian, decodeSame) = PerPosition(expectedDecode, decode, f.Row);
            output.WriteLine($"block {l} prefill: mean|Δ|/rms {prefillRel:G3}, median per-position max|Δ| {prefillMedian:G3}, {prefillSame}/{f.S} positions bit-identical");
            output.WriteLine($"block {l} decode:  mean|Δ|/rms {decodeRel:G3}, median per-position max|Δ| {decodeMedian:G3}, {decodeSame}/{f.Steps} steps bit-identical");
            Assert.True(prefillRel <= BlockRelativeTolerance, $"block {l} prefill: mean|Δ|/rms {prefillRel:G4} > {BlockRelativeTolerance}");
            Assert.True(decodeRel <= BlockRelativeTolerance, $"block {l} decode: mean|Δ|/rms {decodeRel:G4} > {BlockRelativeTolerance}");
            Assert.True(prefillMedian == 0, $"block {l} prefill: median per-position max|Δ| {prefillMedian:G4}, expected 0 (most positions bit-identical)");
        }
    }

    [Fact]
    public void DecisionsTeacherForced()
    {
        using var reader = CheckpointReader.Open(Golden.Path("tiny-quant", "model"));
        var c = reader.Config;
        var w = V4Weights.Bind(reader);
        var f = Load();
        var experts = Golden.Npy("tiny-quant", "moe_prefill_experts.npy"); // [blocks incl. MTP, S, k]
        int blocks = experts.Shape[0], K = experts.Shape[2];
        int[] pe = experts.AsInt32(), de = Golden.Npy("tiny-quant", "moe_decode_experts.npy").AsInt32();
        float[] pg = Golden.Npy("tiny-quant", "moe_prefill_gap.npy").AsFloat32(), dg = Golden.Npy("tiny-quant", "moe_decode_gap.npy").AsFloat32();
        int checkedMoe = 0, checkedIndexer = 0;
        for (int l = 0; l < f.L; l++)
        {
            var (_, _, trace, traces) = RunBlock(w, f, l);
            for (int t = 0; t < f.S; t++)
                if (pg[l * f.S + t] > DecisionGapNoise)
                {
                    checkedMoe++;
                    Assert.True(pe.AsSpan((l * f.S + t) * K, K).SequenceEqual(trace.Moe[l].Experts[t]), $"block {l} position {t}: experts [{string.Join(",", trace.Moe[l].Experts[t])}]");
                }
            for (int k = 0; k < f.Steps; k++)
                if (dg[k * blocks + l] > DecisionGapNoise)
                {
                    checkedMoe++;
                    Assert.True(de.AsSpan((k * blocks + l) * K, K).SequenceEqual(traces[k].Moe[l].Experts[0]), $"block {l} decode step {k}: experts");
                }
            if (c.CompressRatio(l) != 4) continue;
            var top = Golden.Npy("tiny-quant", $"indexer_prefill_topk_layer{l}.npy");
            int[] p = top.AsInt32(), d = Golden.Npy("tiny-quant", $"indexer_decode_topk_layer{l}.npy").AsInt32();
            float[] ipg = Golden.Npy("tiny-quant", $"indexer_prefill_gap_layer{l}.npy").AsFloat32();
            float[] idg = Golden.Npy("tiny-quant", $"indexer_decode_gap_layer{l}.npy").AsFloat32();
            int IK = top.Shape[1];
            for (int t = 0; t < f.S; t++)
                if (ipg[t] > DecisionGapNoise)
                {
                    checkedIndexer++;
                    Assert.True(p.AsSpan(t * IK, IK).SequenceEqual(trace.Indexer[l].IndexerTopk[t]), $"layer {l} position {t}: indexer top-k");
                }
            for (int k = 0; k < f.Steps; k++)
                if (idg[k] > DecisionGapNoise)
                {
                    checkedIndexer++;
                    Assert.True(d.AsSpan(k * IK, IK).SequenceEqual(traces[k].Indexer[l].IndexerTopk[0]), $"layer {l} decode step {k}: indexer top-k");
                }
        }
        output.WriteLine($"{checkedMoe} routing and {checkedIndexer} indexer decisions above the noise gap {DecisionGapNoise}, all equal");
        Assert.True(checkedMoe > 0 && checkedIndexer > 0, "the fixture has score-routed and CSA decisions to check");
    }

    [Fact]
    public void LogitsOfReferenceStreams()
    {
        using var reader = CheckpointReader.Open(Golden.Path("tiny-quant", "model"));
        var c = reader.Config;
        var model = new V4Transformer(V4Weights.Bind(reader), V4Numerics.Reference, WorkerPool.Shared);
        var f = Load();
        int V = c.VocabSize;
        var logits = new float[f.S * V];
        model.HeadLogits(f.Pre.AsSpan((f.L - 1) * f.S * f.Row, f.S * f.Row), f.S, logits);
        double prefillMean = MeanAbs(Golden.Npy("tiny-quant", "prefill_logits.npy").AsFloat32(), logits);
        var last = new float[f.Steps * f.Row];
        for (int k = 0; k < f.Steps; k++) f.Dec.AsSpan((k * f.L + f.L - 1) * f.Row, f.Row).CopyTo(last.AsSpan(k * f.Row, f.Row));
        var decodeLogits = new float[f.Steps * V];
        model.HeadLogits(last, f.Steps, decodeLogits);
        double decodeMean = MeanAbs(Golden.Npy("tiny-quant", "decode_logits.npy").AsFloat32(), decodeLogits);
        // MTP over the reference's streams and ids: prefill row t gets the id of token t+1, decode step k generated_ids[k+1]
        var mtp = new float[f.S * V];
        model.MtpForward(f.Pre.AsSpan((f.L - 1) * f.S * f.Row, f.S * f.Row), [.. f.Prompt[1..], f.Fed[0]], mtp);
        double mtpPrefillMean = MeanAbs(Golden.Npy("tiny-quant", "mtp_prefill_logits.npy").AsFloat32(), mtp);
        var mtpDecode = new float[f.Steps * V];
        for (int k = 0; k < f.Steps; k++) model.MtpForward(last.AsSpan(k * f.Row, f.Row), [f.Fed[k + 1]], mtpDecode.AsSpan(k * V, V));
        double mtpDecodeMean = MeanAbs(Golden.Npy("tiny-quant", "mtp_decode_logits.npy").AsFloat32(), mtpDecode);
        output.WriteLine($"logits of the reference's last block output: mean |Δ| prefill {prefillMean:G3}, decode {decodeMean:G3}; MTP prefill {mtpPrefillMean:G3}, decode {mtpDecodeMean:G3}");
        Assert.True(mtpPrefillMean <= TeacherForcedLogitMeanTolerance, $"MTP prefill: mean |Δ| {mtpPrefillMean:G4} > {TeacherForcedLogitMeanTolerance}");
        Assert.True(mtpDecodeMean <= TeacherForcedLogitMeanTolerance, $"MTP decode: mean |Δ| {mtpDecodeMean:G4} > {TeacherForcedLogitMeanTolerance}");
        Assert.True(prefillMean <= TeacherForcedLogitMeanTolerance, $"prefill: mean |Δ| {prefillMean:G4} > {TeacherForcedLogitMeanTolerance}");
        Assert.True(decodeMean <= TeacherForcedLogitMeanTolerance, $"decode: mean |Δ| {decodeMean:G4} > {TeacherForcedLogitMeanTolerance}");
    }

    [Fact]
    public void EndToEnd()
    {
        using var reader = CheckpointReader.Open(Golden.Path("tiny-quant", "model"));
        var c = reader.Config;
        var model = new V4Transformer(V4Weights.Bind(reader), V4Numerics.Reference, WorkerPool.Shared);
        var f = Load();
        int V = c.VocabSize;
        var logits = new float[f.S * V];
        model.Forward(f.Prompt, logits);
        double prefillMean = MeanAbs(Golden.Npy("tiny-quant", "prefill_logits.npy").AsFloat32(), logits);
        Assert.Equal(f.Fed[0], TinyF32Tests.ArgMax(logits.AsSpan((f.S - 1) * V, V)));
        var mtp = new float[f.S * V];
        model.MtpForward([.. f.Prompt[1..], f.Fed[0]], mtp);
        var decode = new float[f.Steps * V];
        var mtpDecode = new float[f.Steps * V];
        int greedySame = 0;
        for (int k = 0; k < f.Steps; k++)
        {
            model.Forward([f.Fed[k]], decode.AsSpan(k * V, V));
            model.MtpForward([f.Fed[k + 1]], mtpDecode.AsSpan(k * V, V));
            if (TinyF32Tests.ArgMax(decode.AsSpan(k * V, V)) == f.Fed[k + 1]) greedySame++;
        }
        double decodeMean = MeanAbs(Golden.Npy("tiny-quant", "decode_logits.npy").AsFloat32(), decode);
        // MTP end to end has no known-mistake figure to bound it by; reported next to the independent run's 0.12 / 0.0743
        double mtpMean = MeanAbs(Golden.Npy("tiny-quant", "mtp_prefill_logits.npy").AsFloat32(), mtp);
        double mtpDecodeMean = MeanAbs(Golden.Npy("tiny-quant", "mtp_decode_logits.npy").AsFloat32(), mtpDecode);
        output.WriteLine($"end to end: prefill logits mean |Δ| {prefillMean:G3}, decode logits mean |Δ| {decodeMean:G3}, greedy id equal at {greedySame}/{f.Steps} decode steps; MTP prefill {mtpMean:G3}, decode {mtpDecodeMean:G3}");
        Assert.True(prefillMean <= PrefillLogitMeanTolerance, $"prefill logits mean |Δ| {prefillMean:G4} > {PrefillLogitMeanTolerance}");
        Assert.True(decodeMean <= DecodeLogitMeanTolerance, $"decode logits mean |Δ| {decodeMean:G4} > {DecodeLogitMeanTolerance}");
    }

    /// <summary>mean|Δ| / rms(reference).</summary>
    private static double Relative(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual)
    {
        double sumAbs = 0, sumSq = 0;
        for (int i = 0; i < expected.Length; i++) { sumAbs += Math.Abs(expected[i] - actual[i]); sumSq += (double)expected[i] * expected[i]; }
        return sumAbs / expected.Length / Math.Sqrt(sumSq / expected.Length);
    }

    private static double MeanAbs(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual)
    {
        double sum = 0;
        for (int i = 0; i < expected.Length; i++) sum += Math.Abs(expected[i] - actual[i]);
        return sum / expected.Length;
    }

    /// <summary>The median over positions of each position's max |Δ|, and how many positions are bit-identical.</summary>
    private static (double Median, int Identical) PerPosition(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, int row)
    {
        int n = expected.Length / row;
        var max = new double[n];
        for (int p = 0; p < n; p++)
            for (int i = 0; i < row; i++) max[p] = Math.Max(max[p], Math.Abs(expected[p * row + i] - actual[p * row + i]));
        Array.Sort(max);
        double median = n % 2 == 1 ? max[n / 2] : (max[n / 2 - 1] + max[n / 2]) / 2;
        return (median, max.Count(v => v == 0));
    }
}
