using System.Text.Json;
using System.Text.Json.Serialization;
using SharpSeek.Model.Checkpoint;

namespace SharpSeek.Model.DeepSeekV4;

/// <summary>config.json of a DeepSeek-V4 release (Hugging Face field names, verbatim). model.py: ModelArgs.</summary>
public sealed record V4Config
{
    [JsonPropertyName("model_type")] public string? ModelType { get; init; }
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; init; }
    [JsonPropertyName("num_hidden_layers")] public int NumHiddenLayers { get; init; }
    [JsonPropertyName("num_attention_heads")] public int NumAttentionHeads { get; init; }
    [JsonPropertyName("num_key_value_heads")] public int NumKeyValueHeads { get; init; } = 1;
    [JsonPropertyName("head_dim")] public int HeadDim { get; init; }
    [JsonPropertyName("qk_rope_head_dim")] public int QkRopeHeadDim { get; init; }
    [JsonPropertyName("q_lora_rank")] public int QLoraRank { get; init; }
    [JsonPropertyName("o_groups")] public int OGroups { get; init; }
    [JsonPropertyName("o_lora_rank")] public int OLoraRank { get; init; }
    [JsonPropertyName("compress_ratios")] public int[] CompressRatios { get; init; } = [];
    [JsonPropertyName("sliding_window")] public int SlidingWindow { get; init; }
    [JsonPropertyName("index_n_heads")] public int IndexNHeads { get; init; }
    [JsonPropertyName("index_head_dim")] public int IndexHeadDim { get; init; }
    [JsonPropertyName("index_topk")] public int IndexTopk { get; init; }
    [JsonPropertyName("n_routed_experts")] public int NRoutedExperts { get; init; }
    [JsonPropertyName("n_shared_experts")] public int NSharedExperts { get; init; } = 1;
    [JsonPropertyName("num_experts_per_tok")] public int NumExpertsPerTok { get; init; }
    [JsonPropertyName("moe_intermediate_size")] public int MoeIntermediateSize { get; init; }
    [JsonPropertyName("scoring_func")] public string ScoringFunc { get; init; } = "sqrtsoftplus";
    [JsonPropertyName("topk_method")] public string? TopkMethod { get; init; }
    [JsonPropertyName("norm_topk_prob")] public bool NormTopkProb { get; init; } = true;
    [JsonPropertyName("routed_scaling_factor")] public float RoutedScalingFactor { get; init; } = 1f;
    [JsonPropertyName("num_hash_layers")] public int NumHashLayers { get; init; }
    [JsonPropertyName("swiglu_limit")] public float SwigluLimit { get; init; }
    [JsonPropertyName("hc_mult")] public int HcMult { get; init; } = 4;
    [JsonPropertyName("hc_sinkhorn_iters")] public int HcSinkhornIters { get; init; } = 20;
    [JsonPropertyName("hc_eps")] public float HcEps { get; init; } = 1e-6f;
    [JsonPropertyName("rope_theta")] public float RopeTheta { get; init; } = 10000f;
    [JsonPropertyName("compress_rope_theta")] public float CompressRopeTheta { get; init; } = 160000f;
    [JsonPropertyName("rope_scaling")] public RopeScalingConfig? RopeScaling { get; init; }
    [JsonPropertyName("rms_norm_eps")] public float RmsNormEps { get; init; } = 1e-6f;
    [JsonPropertyName("num_nextn_predict_layers")] public int NumNextnPredictLayers { get; init; }
    [JsonPropertyName("max_position_embeddings")] public int MaxPositionEmbeddings { get; init; }
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; }
    [JsonPropertyName("bos_token_id")] public int BosTokenId { get; init; }
    [JsonPropertyName("eos_token_id")] public int EosTokenId { get; init; } = 1;
    [JsonPropertyName("tie_word_embeddings")] public bool TieWordEmbeddings { get; init; }
    [JsonPropertyName("quantization_config")] public QuantizationConfig? QuantizationConfig { get; init; }
    [JsonPropertyName("expert_dtype")] public string? ExpertDtype { get; init; }
    // V4-Flash-0731: the DSpark drafter. Recognised and reported; the drafter itself does not run yet.
    [JsonPropertyName("dspark_block_size")] public int? DsparkBlockSize { get; init; }
    [JsonPropertyName("dspark_markov_rank")] public int? DsparkMarkovRank { get; init; }
    [JsonPropertyName("dspark_noise_token_id")] public int? DsparkNoiseTokenId { get; init; }
    [JsonPropertyName("dspark_target_layer_ids")] public int[]? DsparkTargetLayerIds { get; init; }

    [JsonIgnore] public int NopeHeadDim => HeadDim - QkRopeHeadDim;
    [JsonIgnore] public bool IsFp8 => QuantizationConfig != null;
    [JsonIgnore] public bool Fp4Experts => ExpertDtype == "fp4";
    [JsonIgnore] public bool HasDSpark => DsparkBlockSize != null;
    /// <summary>MTP blocks that run as a next-token head (0731's mtp.* are DSpark stages instead).</summary>
    [JsonIgnore] public int NumMtpLayers => HasDSpark ? 0 : NumNextnPredictLayers;

    /// <summary>Attention kind of a layer: 0 = sliding window only, 4 = CSA (indexer), other = HCA. MTP layers follow the main ones.</summary>
    public int CompressRatio(int layer) => layer < CompressRatios.Length ? CompressRatios[layer] : 0;

    private static readonly JsonSerializerOptions Options = new() { NumberHandling = JsonNumberHandling.AllowReadingFromString, WriteIndented = true };

    public static V4Config Load(string configJsonPath)
    {
        if (!File.Exists(configJsonPath)) throw new CheckpointException($"{configJsonPath}: config.json not found");
        V4Config? config;
        try { config = JsonSerializer.Deserialize<V4Config>(File.ReadAllBytes(configJsonPath), Options); }
        catch (JsonException e) { throw new CheckpointException($"config.json: {e.Path}: {e.Message}"); }
        if (config == null) throw new CheckpointException("config.json: empty");
        config.Validate();
        return config;
    }

    public string ToJson() => JsonSerializer.Serialize(this, Options);

    public void Validate()
    {
        void Need(bool ok, string message) { if (!ok) throw new CheckpointException("config.json: " + message); }
        Need(HiddenSize > 0, "hidden_size: missing or not positive");
        Need(NumHiddenLayers > 0, "num_hidden_layers: missing or not positive");
        Need(NumAttentionHeads > 0, "num_attention_heads: missing or not positive");
        Need(HeadDim > 0 && HeadDim % 2 == 0, "head_dim: missing or odd");
        Need(QkRopeHeadDim > 0 && QkRopeHeadDim % 2 == 0 && QkRopeHeadDim <= HeadDim, $"qk_rope_head_dim: {QkRopeHeadDim}, expected an even number ≤ head_dim {HeadDim}");
        Need(QLoraRank > 0, "q_lora_rank: missing or not positive");
        Need(OGroups > 0 && NumAttentionHeads % OGroups == 0, $"o_groups: {OGroups} must divide num_attention_heads {NumAttentionHeads}");
        Need(OLoraRank > 0, "o_lora_rank: missing or not positive");
        Need(SlidingWindow > 0, "sliding_window: missing or not positive");
        Need(VocabSize > 0, "vocab_size: missing or not positive");
        Need(NRoutedExperts > 0, "n_routed_experts: missing or not positive");
        Need(NumExpertsPerTok > 0 && NumExpertsPerTok <= NRoutedExperts, $"num_experts_per_tok: {NumExpertsPerTok}, expected 1..n_routed_experts ({NRoutedExperts})");
        Need(NSharedExperts is 0 or 1, $"n_shared_experts: {NSharedExperts}, expected 0 or 1");
        Need(MoeIntermediateSize > 0, "moe_intermediate_size: missing or not positive");
        Need(HcMult > 0, "hc_mult: not positive");
        Need(HcSinkhornIters > 0, "hc_sinkhorn_iters: not positive");
        Need(ScoringFunc is "sqrtsoftplus" or "sigmoid" or "softmax", $"scoring_func: \"{ScoringFunc}\", expected sqrtsoftplus, sigmoid or softmax");
        Need(NumHashLayers >= 0 && NumHashLayers <= NumHiddenLayers, $"num_hash_layers: {NumHashLayers}, expected 0..num_hidden_layers");
        int minRatios = NumHiddenLayers, withMtp = NumHiddenLayers + NumNextnPredictLayers;
        Need(CompressRatios.Length >= minRatios,
            $"compress_ratios: {CompressRatios.Length} entries, expected {withMtp} (num_hidden_layers {NumHiddenLayers} + {NumNextnPredictLayers} MTP)");
        for (int i = 0; i < CompressRatios.Length; i++)
        {
            int r = CompressRatios[i];
            Need(r == 0 || (r >= 2 && (r & (r - 1)) == 0), $"compress_ratios[{i}]: {r}, expected 0 or a power of two ≥ 2");
        }
        if (CompressRatios.Any(r => r == 4))
        {
            Need(IndexNHeads > 0 && IndexHeadDim > 0 && IndexTopk > 0, "index_n_heads/index_head_dim/index_topk: required when a layer has compress ratio 4");
            Need((IndexHeadDim & (IndexHeadDim - 1)) == 0, $"index_head_dim: {IndexHeadDim}, expected a power of two (Hadamard rotation)");
            Need(QkRopeHeadDim <= IndexHeadDim, $"index_head_dim: {IndexHeadDim} is smaller than qk_rope_head_dim {QkRopeHeadDim}");
        }
        if (ExpertDtype != null) Need(ExpertDtype is "fp4" or "fp8", $"expert_dtype: \"{ExpertDtype}\", expected fp4 or fp8");
        if (QuantizationConfig is { } q && q.WeightBlockSize is { } b)
            Need(b.Length == 2 && b[0] == 128 && b[1] == 128, $"quantization_config.weight_block_size: [{string.Join(", ", b)}], expected [128, 128]");
    }
}

public sealed record RopeScalingConfig
{
    [JsonPropertyName("type")] public string? Type { get; init; }
    [JsonPropertyName("factor")] public float Factor { get; init; } = 1f;
    [JsonPropertyName("original_max_position_embeddings")] public int OriginalMaxPositionEmbeddings { get; init; }
    [JsonPropertyName("beta_fast")] public float BetaFast { get; init; } = 32f;
    [JsonPropertyName("beta_slow")] public float BetaSlow { get; init; } = 1f;
}

public sealed record QuantizationConfig
{
    [JsonPropertyName("quant_method")] public string? QuantMethod { get; init; }
    [JsonPropertyName("fmt")] public string? Fmt { get; init; }
    [JsonPropertyName("activation_scheme")] public string? ActivationScheme { get; init; }
    [JsonPropertyName("scale_fmt")] public string? ScaleFmt { get; init; }
    [JsonPropertyName("weight_block_size")] public int[]? WeightBlockSize { get; init; }
}
