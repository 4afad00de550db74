using SharpSeek.Model.Checkpoint;

namespace SharpSeek.Model.DeepSeekV4;

/// <summary>One tensor a config implies. <see cref="Accepts"/> lists the dtypes a loader takes for it.</summary>
public sealed record ExpectedTensor(string Name, TensorDtype Dtype, long[] Shape)
{
    public string Describe() => $"{Dtype} [{string.Join(", ", Shape)}]";

    /// <summary>Float vectors and unquantised matrices may come as BF16, F16 or F32; tid2eid as I64 or I32.</summary>
    public bool Accepts(TensorDtype d) => d == Dtype
        || (Dtype is TensorDtype.BF16 or TensorDtype.F32 && d is TensorDtype.BF16 or TensorDtype.F16 or TensorDtype.F32)
        || (Dtype == TensorDtype.I64 && d == TensorDtype.I32)
        || (Dtype == TensorDtype.I8 && d == TensorDtype.U8);
}

/// <summary>
/// Every tensor of a V4 checkpoint, by the official names (spec §7), derived from config.json alone. The loader checks
/// a checkpoint against it before the first token; synthetic checkpoints are written from it.
/// </summary>
public static class V4TensorLayout
{
    public static IReadOnlyList<ExpectedTensor> Expected(V4Config c)
    {
        var list = new List<ExpectedTensor>();
        long D = c.HiddenSize, V = c.VocabSize, hc = c.HcMult, mix = (2 + hc) * hc;
        void Add(string name, TensorDtype dtype, params long[] shape) => list.Add(new ExpectedTensor(name, dtype, shape));
        void Proj(string name, long outF, long inF)
        {
            if (c.IsFp8)
            {
                Add(name + ".weight", TensorDtype.F8_E4M3, outF, inF);
                Add(name + ".scale", TensorDtype.F8_E8M0, (outF + 127) / 128, (inF + 127) / 128);
            }
            else Add(name + ".weight", TensorDtype.BF16, outF, inF);
        }
        void ExpertProj(string name, long outF, long inF)
        {
            if (c.Fp4Experts)
            {
                Add(name + ".weight", TensorDtype.I8, outF, inF / 2);
                Add(name + ".scale", TensorDtype.F8_E8M0, outF, inF / 32);
            }
            else Proj(name, outF, inF);
        }
        void Block(string p, int layerId, bool mtp)
        {
            int ratio = c.CompressRatio(layerId);
            long H = c.NumAttentionHeads, hd = c.HeadDim, q = c.QLoraRank, G = c.OGroups, ol = c.OLoraRank, I = c.MoeIntermediateSize;
            Add(p + "attn_norm.weight", TensorDtype.BF16, D);
            Add(p + "ffn_norm.weight", TensorDtype.BF16, D);
            foreach (var s in new[] { "hc_attn", "hc_ffn" })
            {
                Add(p + s + "_fn", TensorDtype.F32, mix, hc * D);
                Add(p + s + "_base", TensorDtype.F32, mix);
                Add(p + s + "_scale", TensorDtype.F32, 3);
            }
            Proj(p + "attn.wq_a", q, D);
            Add(p + "attn.q_norm.weight", TensorDtype.BF16, q);
            Proj(p + "attn.wq_b", H * hd, q);
            Proj(p + "attn.wkv", hd, D);
            Add(p + "attn.kv_norm.weight", TensorDtype.BF16, hd);
            Proj(p + "attn.wo_a", G * ol, H * hd / G);
            Proj(p + "attn.wo_b", D, G * ol);
            Add(p + "attn.attn_sink", TensorDtype.F32, H);
            if (ratio > 0)
            {
                long coff = ratio == 4 ? 2 : 1;
                Add(p + "attn.compressor.wkv.weight", TensorDtype.BF16, coff * hd, D);
                Add(p + "attn.compressor.wgate.weight", TensorDtype.BF16, coff * hd, D);
                Add(p + "attn.compressor.ape", TensorDtype.F32, ratio, coff * hd);
                Add(p + "attn.compressor.norm.weight", TensorDtype.BF16, hd);
                if (ratio == 4)
                {
                    long HI = c.IndexNHeads, dI = c.IndexHeadDim;
                    Proj(p + "attn.indexer.wq_b", HI * dI, q);
                    Add(p + "attn.indexer.weights_proj.weight", TensorDtype.BF16, HI, D);
                    Add(p + "attn.indexer.compressor.wkv.weight", TensorDtype.BF16, 2 * dI, D);
                    Add(p + "attn.indexer.compressor.wgate.weight", TensorDtype.BF16, 2 * dI, D);
                    Add(p + "attn.indexer.compressor.ape", TensorDtype.F32, 4, 2 * dI);
                    Add(p + "attn.indexer.compressor.norm.weight", TensorDtype.BF16, dI);
                }
            }
            Add(p + "ffn.gate.weight", TensorDtype.BF16, c.NRoutedExperts, D);
            if (!mtp && layerId < c.NumHashLayers) Add(p + "ffn.gate.tid2eid", TensorDtype.I64, V, c.NumExpertsPerTok);
            else Add(p + "ffn.gate.bias", TensorDtype.F32, c.NRoutedExperts);
            for (int e = 0; e < c.NRoutedExperts; e++)
            {
                ExpertProj($"{p}ffn.experts.{e}.w1", I, D);
                ExpertProj($"{p}ffn.experts.{e}.w2", D, I);
                ExpertProj($"{p}ffn.experts.{e}.w3", I, D);
            }
            if (c.NSharedExperts > 0)
            {
                Proj(p + "ffn.shared_experts.w1", I * c.NSharedExperts, D);
                Proj(p + "ffn.shared_experts.w2", D, I * c.NSharedExperts);
                Proj(p + "ffn.shared_experts.w3", I * c.NSharedExperts, D);
            }
            if (mtp)
            {
                Proj(p + "e_proj", D, D);
                Proj(p + "h_proj", D, D);
                Add(p + "enorm.weight", TensorDtype.BF16, D);
                Add(p + "hnorm.weight", TensorDtype.BF16, D);
                Add(p + "norm.weight", TensorDtype.BF16, D);
                Add(p + "hc_head_fn", TensorDtype.F32, hc, hc * D);
                Add(p + "hc_head_base", TensorDtype.F32, hc);
                Add(p + "hc_head_scale", TensorDtype.F32, 1);
            }
        }
        Add("embed.weight", TensorDtype.BF16, V, D);
        for (int l = 0; l < c.NumHiddenLayers; l++) Block($"layers.{l}.", l, mtp: false);
        for (int m = 0; m < c.NumMtpLayers; m++) Block($"mtp.{m}.", c.NumHiddenLayers + m, mtp: true);
        Add("norm.weight", TensorDtype.BF16, D);
        Add("head.weight", TensorDtype.BF16, V, D);
        Add("hc_head_fn", TensorDtype.F32, hc, hc * D);
        Add("hc_head_base", TensorDtype.F32, hc);
        Add("hc_head_scale", TensorDtype.F32, 1);
        return list;
    }
}

/// <summary>Checks presence, dtype and shape of every tensor the config implies, before the first token.</summary>
public static class CheckpointValidator
{
    public static void Validate(CheckpointReader r)
    {
        var errors = new List<string>();
        foreach (var e in V4TensorLayout.Expected(r.Config))
        {
            if (!r.TryGet(e.Name, out var t)) { errors.Add($"{e.Name}: missing (expected {e.Describe()})"); continue; }
            if (!e.Accepts(t.Dtype) || !t.Shape.SequenceEqual(e.Shape))
                errors.Add($"{t.ShardFile}: {e.Name}: expected {e.Describe()}, got {t.Describe()}");
        }
        if (errors.Count > 0)
            throw new CheckpointException($"checkpoint {r.Directory} does not match its config.json ({errors.Count} problem{(errors.Count > 1 ? "s" : "")}):\n  "
                + string.Join("\n  ", errors.Take(20)) + (errors.Count > 20 ? $"\n  … and {errors.Count - 20} more" : ""));
    }
}
