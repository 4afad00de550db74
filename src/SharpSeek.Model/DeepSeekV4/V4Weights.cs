using SharpSeek.Kernels.Formats;
using SharpSeek.Model.Checkpoint;

namespace SharpSeek.Model.DeepSeekV4;

/// <summary>One transformer block's weights (model.py: Block; MTPBlock adds the fields at the end).</summary>
public sealed class BlockWeights
{
    public required int LayerId, Ratio;
    public required float[] AttnNorm, FfnNorm;
    public required HyperConnections HcAttn, HcFfn;
    public required AttentionWeights Attn;
    public required MoeWeights Ffn;
    public required YarnRope Rope;
    // MTP block only
    public V4Linear EProj, HProj;
    public float[]? ENorm, HNorm, Norm;
    public HyperConnections? HcHead;

    public static BlockWeights Bind(CheckpointReader r, string prefix, V4Config c, int layerId, bool mtp)
    {
        int ratio = c.CompressRatio(layerId);
        var rope = YarnRope.ForLayer(c, ratio);
        var b = new BlockWeights
        {
            LayerId = layerId, Ratio = ratio, Rope = rope,
            AttnNorm = r.Get(prefix + "attn_norm.weight").ToFloatArray(),
            FfnNorm = r.Get(prefix + "ffn_norm.weight").ToFloatArray(),
            HcAttn = new HyperConnections(r, prefix + "hc_attn", c),
            HcFfn = new HyperConnections(r, prefix + "hc_ffn", c),
            Attn = AttentionWeights.Bind(r, prefix + "attn.", c, ratio, rope),
            Ffn = MoeWeights.Bind(r, prefix + "ffn.", c, hash: !mtp && layerId < c.NumHashLayers),
        };
        if (mtp)
        {
            V4Linear Lin(string name) => V4Linear.Bind(r, prefix + name);
            b.EProj = Lin("e_proj");
            b.HProj = Lin("h_proj");
            b.ENorm = r.Get(prefix + "enorm.weight").ToFloatArray();
            b.HNorm = r.Get(prefix + "hnorm.weight").ToFloatArray();
            b.Norm = r.Get(prefix + "norm.weight").ToFloatArray();
            b.HcHead = new HyperConnections(r, prefix + "hc_head", c);
        }
        return b;
    }
}

/// <summary>All weights of a V4 checkpoint, bound once into fields: nothing is looked up by name in the forward pass.</summary>
public sealed class V4Weights
{
    public required V4Config Config;
    public required WeightMatrix Embed, Head;   // [vocab, D]
    public required float[] Norm;
    public required HyperConnections HcHead;
    public required BlockWeights[] Layers;
    public required BlockWeights[] Mtp;

    public static V4Weights Bind(CheckpointReader r)
    {
        var c = r.Config;
        var layers = new BlockWeights[c.NumHiddenLayers];
        for (int l = 0; l < layers.Length; l++) layers[l] = BlockWeights.Bind(r, $"layers.{l}.", c, l, mtp: false);
        var mtp = new BlockWeights[c.NumMtpLayers];
        for (int m = 0; m < mtp.Length; m++) mtp[m] = BlockWeights.Bind(r, $"mtp.{m}.", c, c.NumHiddenLayers + m, mtp: true);
        return new V4Weights
        {
            Config = c,
            Embed = r.Get("embed.weight").AsWeightMatrix(),
            Head = r.Get("head.weight").AsWeightMatrix(),
            Norm = r.Get("norm.weight").ToFloatArray(),
            HcHead = new HyperConnections(r, "hc_head", c),
            Layers = layers,
            Mtp = mtp,
        };
    }
}
