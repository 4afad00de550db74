using System.Text.Json;
using System.Text.Json.Nodes;
using SharpSeek.Kernels.Formats;
using SharpSeek.Model.Checkpoint;

namespace SharpSeek.Model.DeepSeekV4;

/// <summary>
/// Random-weight V4 checkpoints in the official layout and native formats (FP8 e4m3 + UE8M0 128×128 scales, FP4
/// e2m1 experts + UE8M0 per 32), for demos, benchmarks and tests. The weights are random: the model speaks noise,
/// but every byte path the real release takes is exercised. Deterministic for a seed.
/// </summary>
public static class SyntheticCheckpoint
{
    /// <summary>A small V4 covering every layer kind: window-only + hash MoE, CSA, HCA, CSA, and an MTP block.</summary>
    public static V4Config TinyConfig(int vocabSize = 129280, bool quantized = true) => new()
    {
        ModelType = "deepseek_v4", HiddenSize = 256, NumHiddenLayers = 4, NumAttentionHeads = 4, NumKeyValueHeads = 1,
        HeadDim = 128, QkRopeHeadDim = 64, QLoraRank = 128, OGroups = 2, OLoraRank = 128, CompressRatios = [0, 4, 16, 4, 0],
        SlidingWindow = 16, IndexNHeads = 4, IndexHeadDim = 128, IndexTopk = 8, NRoutedExperts = 8, NSharedExperts = 1,
        NumExpertsPerTok = 2, MoeIntermediateSize = 128, ScoringFunc = "sqrtsoftplus", TopkMethod = "noaux_tc",
        RoutedScalingFactor = 1.5f, NumHashLayers = 1, SwigluLimit = 10f, HcMult = 4, HcSinkhornIters = 20,
        RopeTheta = 10000, CompressRopeTheta = 160000, RopeScaling = Yarn, NumNextnPredictLayers = 1,
        MaxPositionEmbeddings = 4096, VocabSize = vocabSize, BosTokenId = 0, EosTokenId = 1,
        QuantizationConfig = quantized ? Fp8 : null, ExpertDtype = quantized ? "fp4" : null,
    };

    /// <summary>V4-Flash's real dimensions with fewer layers and experts (its compress_ratios pattern, truncated).</summary>
    public static V4Config FlashConfig(int layers = 4, int experts = 16)
    {
        int[] flash = [0, 0, .. Enumerable.Range(0, 40).Select(i => i % 2 == 0 ? 4 : 128), 4];
        return new V4Config
        {
            ModelType = "deepseek_v4", HiddenSize = 4096, NumHiddenLayers = layers, NumAttentionHeads = 64, NumKeyValueHeads = 1,
            HeadDim = 512, QkRopeHeadDim = 64, QLoraRank = 1024, OGroups = 8, OLoraRank = 1024,
            CompressRatios = [.. flash.Take(layers), 0], SlidingWindow = 128, IndexNHeads = 64, IndexHeadDim = 128, IndexTopk = 512,
            NRoutedExperts = experts, NSharedExperts = 1, NumExpertsPerTok = Math.Min(6, experts), MoeIntermediateSize = 2048,
            ScoringFunc = "sqrtsoftplus", TopkMethod = "noaux_tc", RoutedScalingFactor = 1.5f, NumHashLayers = Math.Min(3, layers),
            SwigluLimit = 10f, HcMult = 4, HcSinkhornIters = 20, RopeTheta = 10000, CompressRopeTheta = 160000, RopeScaling = Yarn,
            NumNextnPredictLayers = 1, MaxPositionEmbeddings = 1048576, VocabSize = 129280, BosTokenId = 0, EosTokenId = 1,
            QuantizationConfig = Fp8, ExpertDtype = "fp4",
        };
    }

    private static readonly RopeScalingConfig Yarn = new() { Type = "yarn", Factor = 16, OriginalMaxPositionEmbeddings = 65536, BetaFast = 32, BetaSlow = 1 };
    private static readonly QuantizationConfig Fp8 = new() { QuantMethod = "fp8", Fmt = "e4m3", ActivationScheme = "dynamic", ScaleFmt = "ue8m0", WeightBlockSize = [128, 128] };

    private const long ShardBytes = 2L << 30;

    /// <param name="alter">Tests only: edits the tensor list before writing (drop a tensor, change a dtype or shape).</param>
    public static void Write(string directory, V4Config config, int seed, IProgress<double>? progress = null,
                             Func<IReadOnlyList<ExpectedTensor>, IReadOnlyList<ExpectedTensor>>? alter = null)
    {
        config.Validate();
        Directory.CreateDirectory(directory);
        var expected = V4TensorLayout.Expected(config);
        if (alter != null) expected = alter(expected);
        var tensors = expected.Select(e => new SafetensorsWriter.Tensor(e.Name, e.Dtype, e.Shape)).ToList();
        long total = tensors.Sum(t => t.ByteLength), done = 0;

        // split into shards of ~2 GB, keeping a weight and its .scale together
        var shards = new List<List<SafetensorsWriter.Tensor>> { new() };
        long size = 0;
        foreach (var t in tensors)
        {
            if (size > 0 && size + t.ByteLength > ShardBytes && !t.Name.EndsWith(".scale")) { shards.Add([]); size = 0; }
            shards[^1].Add(t); size += t.ByteLength;
        }
        var weightMap = new JsonObject();
        for (int s = 0; s < shards.Count; s++)
        {
            string file = shards.Count == 1 ? "model.safetensors" : $"model-{s + 1:D5}-of-{shards.Count:D5}.safetensors";
            SafetensorsWriter.Write(Path.Combine(directory, file), shards[s], (t, stream) =>
            {
                Fill(t, config, seed, stream);
                done += t.ByteLength;
                progress?.Report((double)done / total);
            });
            foreach (var t in shards[s]) weightMap[t.Name] = file;
        }
        var index = new JsonObject { ["metadata"] = new JsonObject { ["total_size"] = total }, ["weight_map"] = weightMap };
        File.WriteAllText(Path.Combine(directory, "model.safetensors.index.json"), index.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        File.WriteAllText(Path.Combine(directory, "config.json"), config.ToJson());
        File.WriteAllText(Path.Combine(directory, "generation_config.json"),
            $"{{\n  \"bos_token_id\": {config.BosTokenId},\n  \"eos_token_id\": {config.EosTokenId},\n  \"do_sample\": true,\n  \"temperature\": 1.0,\n  \"top_p\": 1.0\n}}\n");
    }

    /// <summary>splitmix64: fast, seedable, good enough for weights.</summary>
    private struct Rng(ulong seed)
    {
        private ulong _s = seed;
        public ulong Next() { ulong z = _s += 0x9E3779B97F4A7C15UL; z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL; z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL; return z ^ (z >> 31); }
        /// <summary>Uniform in [-√3, √3): mean 0, variance 1.</summary>
        public float Unit() => ((Next() >> 40) * (1f / (1 << 24)) * 2f - 1f) * 1.7320508f;
    }

    // e4m3 codes whose values are ~U(-√3, √3): a 4096-entry lookup keeps multi-GB writes fast
    private static readonly byte[] Fp8Codes = Enumerable.Range(0, 4096).Select(i => Fp8E4M3.Encode(((i + 0.5f) / 4096f * 2f - 1f) * 1.7320508f)).ToArray();

    private static void Fill(SafetensorsWriter.Tensor t, V4Config c, int seed, Stream stream)
    {
        var rng = new Rng((ulong)seed * 0x100000001B3UL ^ (ulong)t.Name.GetHashCode(StringComparison.Ordinal) * 0x9E3779B97F4A7C15UL);
        string n = t.Name;
        long count = t.Shape.Aggregate(1L, (a, b) => a * b);
        var buffer = new byte[1 << 20];
        void Emit(Func<int, byte> next, int elementSize)
        {
            long bytes = count * elementSize;
            for (long off = 0; off < bytes; off += buffer.Length)
            {
                int len = (int)Math.Min(buffer.Length, bytes - off);
                for (int i = 0; i < len; i++) buffer[i] = next(i);
                stream.Write(buffer, 0, len);
            }
        }
        void Floats(Func<float> value)
        {
            if (t.Dtype == TensorDtype.F32)
            {
                float pending = 0; int k = 0;
                Emit(_ => { if (k == 0) pending = value(); byte b = (byte)(BitConverter.SingleToInt32Bits(pending) >> (8 * k)); k = (k + 1) & 3; return b; }, 4);
            }
            else
            {
                ushort pending = 0; int k = 0;
                Emit(_ => { if (k == 0) pending = Bf16.FromFloat(value()); byte b = (byte)(pending >> (8 * k)); k ^= 1; return b; }, 2);
            }
        }
        long inFeatures = t.Shape.Length == 2 ? t.Shape[1] : 1;
        if (n.EndsWith(".scale"))
        {
            // weight std 1/sqrt(in): FP8 codes carry std 1 (scale 2^-k); FP4 nibbles carry std ≈ 2.9
            bool fp4 = c.Fp4Experts && n.Contains(".experts.");
            double inF = fp4 ? t.Shape[1] * 32 : Math.Max(1, t.Shape[1] * 128);
            double std = 1 / Math.Sqrt(inF) / (fp4 ? 2.9 : 1.0);
            byte b = (byte)Math.Clamp(127 + (int)Math.Round(Math.Log2(std)), 1, 254);
            Emit(_ => b, 1);
        }
        else if (t.Dtype == TensorDtype.F8_E4M3) Emit(_ => Fp8Codes[rng.Next() & 4095], 1);
        else if (t.Dtype is TensorDtype.I8 or TensorDtype.U8) Emit(_ => (byte)rng.Next(), 1);
        else if (t.Dtype == TensorDtype.I64)
        {
            // tid2eid: distinct experts per token
            int k = (int)t.Shape[1], e = c.NRoutedExperts;
            var row = new long[k];
            for (long v = 0; v < t.Shape[0]; v++)
            {
                for (int j = 0; j < k; j++)
                {
                    long pick;
                    do pick = (long)(rng.Next() % (ulong)e); while (row.AsSpan(0, j).Contains(pick));
                    row[j] = pick;
                }
                foreach (long x in row) stream.Write(BitConverter.GetBytes(x));
            }
        }
        else if (n == "embed.weight") Floats(() => rng.Unit());
        else if (n.EndsWith("norm.weight")) Floats(() => 1f + 0.1f * rng.Unit() * 0.1f);
        else if (n.EndsWith("_fn")) Floats(() => rng.Unit() / MathF.Sqrt(inFeatures));
        else if (n.EndsWith("_base") || n.EndsWith(".ape")) Floats(() => 0.5f * rng.Unit());
        else if (n.EndsWith("_scale")) Floats(() => 1f + 0.5f * rng.Unit() / 1.7320508f);
        else if (n.EndsWith("attn_sink")) Floats(() => rng.Unit());
        else if (n.EndsWith("gate.bias")) Floats(() => 0.1f * rng.Unit());
        else Floats(() => rng.Unit() / MathF.Sqrt(inFeatures));
    }
}
