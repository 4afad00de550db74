using SharpSeek.Engine;
using SharpSeek.TestSupport;

namespace SharpSeek.Cli.Tests;

/// <summary>`sharpseek logits` on tiny-f32 reproduces the fixture files (same names, shapes and meanings).</summary>
public sealed class LogitsCommandTests
{
    private const float Tolerance = 1e-4f;
    private static int[] Prompt => Golden.Npy("tiny-f32", "prompt_ids.npy").AsInt32();
    private static int[] Generated => Golden.Npy("tiny-f32", "generated_ids.npy").AsInt32();

    private static void AssertClose(ReadOnlySpan<float> a, ReadOnlySpan<float> b, string what)
    {
        int i = Golden.FirstMismatch(a, b, Tolerance);
        Assert.True(i < 0, i < 0 ? "" : $"{what}[{i}]: {(i < a.Length ? a[i] : float.NaN)} vs {(i < b.Length ? b[i] : float.NaN)}");
    }

    [Fact]
    public void LogitsCommandWritesTheFixtureFormat()
    {
        string dir = Directory.CreateTempSubdirectory("sharpseek-logits-").FullName;
        try
        {
            int steps = Golden.Npy("tiny-f32", "decode_logits.npy").Shape[0];
            using var engine = V4Engine.Open(Golden.Path("tiny-f32", "model"));
            SharpSeek.Cli.Commands.LogitsCommand.Run(engine, Prompt, steps, dir);
            foreach (var f in new[] { "prefill_logits.npy", "decode_logits.npy", "mtp_prefill_logits.npy", "mtp_decode_logits.npy" })
            {
                var ours = SharpSeek.Model.Checkpoint.NpyFile.Read(Path.Combine(dir, f));
                var theirs = Golden.Npy("tiny-f32", f);
                Assert.Equal(theirs.Shape, ours.Shape);
                AssertClose(theirs.AsFloat32(), ours.AsFloat32(), f);
            }
            Assert.Equal(Generated, SharpSeek.Model.Checkpoint.NpyFile.Read(Path.Combine(dir, "generated_ids.npy")).AsInt32());
            Assert.Equal(System.Text.Json.JsonSerializer.Serialize(Generated), File.ReadAllText(Path.Combine(dir, "decode_ids.json")));
        }
        finally { Directory.Delete(dir, true); }
    }
}
