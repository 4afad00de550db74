using System.Text;
using SharpSeek.Model.Checkpoint;
using SharpSeek.Model.DeepSeekV4;
using SharpSeek.TestSupport;

namespace SharpSeek.Model.Tests.Checkpoint;

/// <summary>Loading the release layout, and a clear error (naming file, tensor, expected and actual) for every kind of damage.</summary>
public sealed class CheckpointTests : IDisposable
{
    private readonly string _tmp = Directory.CreateTempSubdirectory("sharpseek-ckpt-").FullName;
    public void Dispose() => Directory.Delete(_tmp, recursive: true);

    private static V4Config SmallConfig(bool quantized = true) => SyntheticCheckpoint.TinyConfig(vocabSize: 512, quantized: quantized);

    [Theory]
    [InlineData("tiny-f32")]
    [InlineData("tiny-quant")]
    public void FixtureCheckpointsOpenAndValidate(string fixture)
    {
        using var r = CheckpointReader.Open(Golden.Path(fixture, "model"));
        CheckpointValidator.Validate(r);
        Assert.Equal(V4TensorLayout.Expected(r.Config).Count, r.Tensors.Count);
        Assert.Equal(fixture == "tiny-quant", r.Config.IsFp8);
        Assert.Equal(r.Config.NumHiddenLayers + r.Config.NumNextnPredictLayers, r.Config.CompressRatios.Length);
    }

    [Fact]
    public void ConfigFieldsRoundTrip()
    {
        var c = V4Config.Load(Golden.Path("tiny-quant", "model", "config.json"));
        Assert.Equal("fp4", c.ExpertDtype);
        Assert.Equal([128, 128], c.QuantizationConfig!.WeightBlockSize!);
        Assert.Equal(65536, c.RopeScaling!.OriginalMaxPositionEmbeddings);
        string path = Path.Combine(_tmp, "config.json");
        File.WriteAllText(path, c.ToJson());
        Assert.Equal(c.ToJson(), V4Config.Load(path).ToJson());
    }

    [Fact]
    public void FlashAndDSparkConfigs()
    {
        var flash = SyntheticCheckpoint.FlashConfig(layers: 43, experts: 256) with { NumHashLayers = 3 };
        flash.Validate();
        Assert.Equal(44, flash.CompressRatios.Length);
        Assert.Equal([0, 0, 4, 128, 4], flash.CompressRatios[..5]);
        Assert.Equal(4, flash.CompressRatios[42]);
        string path = Path.Combine(_tmp, "config.json");
        var node = System.Text.Json.Nodes.JsonNode.Parse(flash.ToJson())!;
        node["dspark_block_size"] = 5; node["dspark_markov_rank"] = 256; node["dspark_noise_token_id"] = 128799;
        node["dspark_target_layer_ids"] = new System.Text.Json.Nodes.JsonArray(40, 41, 42);
        File.WriteAllText(path, node.ToJsonString());
        var c = V4Config.Load(path);
        Assert.True(c.HasDSpark);
        Assert.Equal([40, 41, 42], c.DsparkTargetLayerIds!);
        Assert.Equal(0, c.NumMtpLayers); // 0731's mtp.* are DSpark stages
    }

    private string CopyFixture(string fixture)
    {
        string dir = Path.Combine(_tmp, fixture);
        Directory.CreateDirectory(dir);
        foreach (var f in Directory.GetFiles(Golden.Path(fixture, "model"))) File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
        foreach (var f in Directory.GetFiles(dir)) File.SetAttributes(f, FileAttributes.Normal);
        return dir;
    }

    private static string OpenError(string dir)
    {
        string Message(bool resident) =>
            Assert.Throws<CheckpointException>(() => { using var r = CheckpointReader.Open(dir, resident: resident); CheckpointValidator.Validate(r); }).Message;
        string mapped = Message(resident: false);
        Assert.Equal(mapped, Message(resident: true)); // a resident load fails the same way
        return mapped;
    }

    /// <summary>A resident load larger than the memory available fails up front with a message (a sparse file stands in
    /// for a checkpoint bigger than RAM).</summary>
    [Fact]
    public void ResidentLoadThatCannotFit()
    {
        string dir = Path.Combine(_tmp, "huge");
        Directory.CreateDirectory(dir);
        File.Copy(Golden.Path("tiny-f32", "model", "config.json"), Path.Combine(dir, "config.json"));
        long available = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        using (var fs = new FileStream(Path.Combine(dir, "model.safetensors"), FileMode.CreateNew)) fs.SetLength(2 * available + (1L << 30));
        var e = Assert.Throws<CheckpointException>(() => CheckpointReader.Open(dir, resident: true));
        Assert.Contains("resident needs", e.Message);
        Assert.Contains("open it mapped instead", e.Message);
    }

    /// <summary>Loaded into huge-page memory, every tensor holds the same bytes as through the file mapping.</summary>
    [Theory]
    [InlineData("tiny-f32")]
    [InlineData("tiny-quant")]
    public unsafe void ResidentLoadHoldsTheSameBytes(string fixture)
    {
        using var mapped = CheckpointReader.Open(Golden.Path(fixture, "model"));
        using var resident = CheckpointReader.Open(Golden.Path(fixture, "model"), resident: true);
        CheckpointValidator.Validate(resident);
        Assert.Equal(mapped.Tensors.Count, resident.Tensors.Count);
        foreach (var t in mapped.Tensors)
        {
            var r = resident.Get(t.Name);
            Assert.True(r.Pointer != t.Pointer, $"{t.Name}: resident tensor still points into the mapping");
            Assert.True(new ReadOnlySpan<byte>(t.Pointer, (int)t.ByteLength).SequenceEqual(new ReadOnlySpan<byte>(r.Pointer, (int)r.ByteLength)), $"{t.Name}: bytes differ");
        }
    }

    [Fact]
    public void TruncatedShard()
    {
        string dir = CopyFixture("tiny-f32");
        string shard = Path.Combine(dir, "model.safetensors");
        using (var fs = new FileStream(shard, FileMode.Open)) fs.SetLength(fs.Length - 1000);
        string m = OpenError(dir);
        Assert.Contains("model.safetensors", m);
        Assert.Contains("truncated", m);
        Assert.Contains("but the file has", m); // names the tensor that runs past the end
    }

    [Fact]
    public void HeaderLengthPastEnd()
    {
        string dir = CopyFixture("tiny-f32");
        using (var fs = new FileStream(Path.Combine(dir, "model.safetensors"), FileMode.Open)) fs.Write(BitConverter.GetBytes(1L << 40));
        string m = OpenError(dir);
        Assert.Contains("model.safetensors: header length", m);
    }

    [Fact]
    public void UnknownDtype()
    {
        string dir = CopyFixture("tiny-f32");
        string shard = Path.Combine(dir, "model.safetensors");
        byte[] bytes = File.ReadAllBytes(shard);
        int at = bytes.AsSpan().IndexOf("\"BF16\""u8);
        "\"BX16\""u8.CopyTo(bytes.AsSpan(at));
        File.WriteAllBytes(shard, bytes);
        string m = OpenError(dir);
        Assert.Contains("unknown dtype \"BX16\"", m);
    }

    [Fact]
    public void MissingTensor()
    {
        string dir = Path.Combine(_tmp, "missing");
        SyntheticCheckpoint.Write(dir, SmallConfig(), 1, alter: l => l.Where(t => t.Name != "layers.1.attn.wkv.weight").ToList());
        string m = OpenError(dir);
        Assert.Contains("layers.1.attn.wkv.weight: missing (expected F8_E4M3 [128, 256])", m);
    }

    [Fact]
    public void WrongDtype()
    {
        string dir = Path.Combine(_tmp, "dtype");
        SyntheticCheckpoint.Write(dir, SmallConfig(), 1, alter: l => l.Select(t => t.Name == "layers.2.ffn.experts.3.w1.weight"
            ? t with { Dtype = TensorDtype.BF16, Shape = [128, 256] } : t).ToList());
        string m = OpenError(dir);
        Assert.Contains("model.safetensors: layers.2.ffn.experts.3.w1.weight: expected I8 [128, 128], got BF16 [128, 256]", m);
    }

    [Fact]
    public void ShapeMismatch()
    {
        string dir = Path.Combine(_tmp, "shape");
        SyntheticCheckpoint.Write(dir, SmallConfig(quantized: false), 1, alter: l => l.Select(t => t.Name == "layers.0.attn.attn_sink"
            ? t with { Shape = [5] } : t).ToList());
        string m = OpenError(dir);
        Assert.Contains("layers.0.attn.attn_sink: expected F32 [4], got F32 [5]", m);
    }

    [Fact]
    public void BadConfig()
    {
        string dir = CopyFixture("tiny-f32");
        string path = Path.Combine(dir, "config.json");
        File.WriteAllText(path, File.ReadAllText(path).Replace("\"compress_ratios\": [0, 4, 16, 4, 0]", "\"compress_ratios\": [0, 4]"));
        Assert.Contains("compress_ratios: 2 entries, expected 5", OpenError(dir));
        File.WriteAllText(path, File.ReadAllText(path).Replace("\"compress_ratios\": [0, 4]", "\"compress_ratios\": [0, 4, 16, 4, 0]").Replace("\"hidden_size\": 256,", ""));
        Assert.Contains("hidden_size: missing", OpenError(dir));
        File.WriteAllText(path, "{ not json");
        Assert.Contains("config.json", OpenError(dir));
    }

    [Fact]
    public void SyntheticCheckpointRoundTrips()
    {
        string dir = Path.Combine(_tmp, "synthetic");
        var config = SmallConfig();
        SyntheticCheckpoint.Write(dir, config, 3);
        using var r = CheckpointReader.Open(dir);
        CheckpointValidator.Validate(r);
        var w = V4Weights.Bind(r);
        var model = new V4Transformer(w, V4Numerics.Fast, SharpSeek.Kernels.Threading.WorkerPool.Shared);
        var logits = new float[config.VocabSize];
        model.Forward([0, 5, 17, 42, 99, 7, 3, 250, 11], logits);
        Assert.All(logits, v => Assert.True(float.IsFinite(v)));
        Assert.True(logits.Max() - logits.Min() > 1e-3f, "random weights give varied logits");
    }
}
