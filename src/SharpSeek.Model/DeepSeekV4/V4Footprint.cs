using SharpSeek.Model.Checkpoint;

namespace SharpSeek.Model.DeepSeekV4;

/// <summary>
/// Parameter counts, bytes read per decoded token and KV-cache size, derived from config.json alone (so `inspect`
/// can size V4-Pro without the weights). Active = everything a token touches: all dense weights, the shared expert,
/// num_experts_per_tok routed experts, one embedding row; the MTP block is counted apart.
/// </summary>
public sealed record V4Footprint(long TotalParams, long ActiveParams, long MtpParams, long ActiveBytesPerToken, long TotalBytes,
                                 long KvBytesPerTokenF32, long KvBytesPerTokenFp8, long WindowBytesF32)
{
    public static V4Footprint Of(V4Config c)
    {
        long total = 0, active = 0, mtp = 0, activeBytes = 0, totalBytes = 0;
        double expertShare = (double)c.NumExpertsPerTok / c.NRoutedExperts;
        foreach (var t in V4TensorLayout.Expected(c))
        {
            long elements = t.Shape.Aggregate(1L, (a, b) => a * b);
            long bytes = elements * TensorEntry.ElementSize(t.Dtype);
            totalBytes += bytes;
            bool scale = t.Name.EndsWith(".scale");
            long parameters = scale ? 0 : t.Dtype == TensorDtype.I8 ? elements * 2 : elements;
            if (t.Name.EndsWith("tid2eid")) parameters = 0;
            if (t.Name.StartsWith("mtp.")) { mtp += parameters; continue; }
            total += parameters;
            double share = t.Name.Contains(".experts.") ? expertShare : t.Name == "embed.weight" ? 1.0 / c.VocabSize : t.Name.EndsWith("tid2eid") ? 0 : 1.0;
            active += (long)(parameters * share);
            activeBytes += (long)(bytes * share);
        }
        // Per token: CSA keeps 1/4 of a head_dim entry plus 1/4 of an index key, HCA 1/ratio of an entry; the window is fixed.
        double perTokenF32 = 0, perTokenFp8 = 0;
        long window = 0;
        for (int l = 0; l < c.NumHiddenLayers; l++)
        {
            int r = c.CompressRatio(l);
            window += (long)c.SlidingWindow * c.HeadDim * 4;
            if (r == 0) continue;
            perTokenF32 += c.HeadDim * 4.0 / r;
            // FP8 layout as vLLM stores it: nope dims FP8 + rope dims BF16 + 8 bytes of scales
            perTokenFp8 += (c.NopeHeadDim + c.QkRopeHeadDim * 2 + 8.0) / r;
            if (r == 4) { perTokenF32 += c.IndexHeadDim * 4.0 / 4; perTokenFp8 += (c.IndexHeadDim / 2 + c.IndexHeadDim / 32) / 4.0; }
        }
        return new V4Footprint(total, active, mtp, activeBytes, totalBytes, (long)Math.Ceiling(perTokenF32), (long)Math.Ceiling(perTokenFp8), window);
    }
}
