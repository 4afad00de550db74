using SharpSeek.Model.DeepSeekV4;
using Xunit.Abstractions;

namespace SharpSeek.Model.Tests.Checkpoint;

public sealed class FootprintTests(ITestOutputHelper output)
{
    /// <summary>The published sizes: V4-Flash 284B total / 13B active; the spec's count from shapes: ≈284.5B / ≈14.0B incl. embed+head.</summary>
    [Fact]
    public void FlashParameterCounts()
    {
        var flash = SyntheticCheckpoint.FlashConfig(layers: 43, experts: 256);
        var f = V4Footprint.Of(flash);
        output.WriteLine($"total {f.TotalParams / 1e9:F2}B active {f.ActiveParams / 1e9:F2}B mtp {f.MtpParams / 1e9:F2}B bytes/token {f.ActiveBytesPerToken / 1e9:F2} GB kv/token f32 {f.KvBytesPerTokenF32} fp8 {f.KvBytesPerTokenFp8}");
        Assert.InRange(f.TotalParams / 1e9, 280, 289);
        Assert.InRange(f.ActiveParams / 1e9, 12.5, 14.5);
        // spec §10: FP8 (584 B per CSA/HCA entry) + FP4-ish indexer ≈ 3.5 KB per token for Flash
        Assert.InRange(f.KvBytesPerTokenFp8, 3000, 4000);
    }
}
