using System.Text.Json.Nodes;
using SharpSeek.TestSupport;
using SharpSeek.Tokenizer.Chat;
using Xunit.Abstractions;

namespace SharpSeek.Tokenizer.Tests;

/// <summary>Every encode case of official_cases.json and encode_cases.json: exact prompt text and ids, and the same refusals.</summary>
public sealed class ChatEncoderTests(ITestOutputHelper output)
{
    private static readonly Lazy<BpeTokenizer> Tok = new(() => BpeTokenizer.Load(Golden.Path("tokenizer")));

    [Theory]
    [InlineData("official_cases.json")]
    [InlineData("encode_cases.json")]
    public void EveryCaseMatches(string file)
    {
        var root = JsonNode.Parse(File.ReadAllText(Golden.Path("chat-encoding", file)))!;
        var cases = (root["cases"] ?? root["encode_cases"])!.AsArray();
        var failures = new List<string>();
        int count = 0;
        foreach (var c in cases)
        {
            if ((string?)c!["function"] is { } fn && fn != "encode_messages") continue;
            count++;
            string id = (string)c["id"]!;
            var kw = c["kwargs"]?.AsObject() ?? new JsonObject();
            var format = (string?)c["encoder"] == "v4-0731-reconstructed" ? ChatFormat.V4_0731 : ChatFormat.V4;
            string? prompt = null, error = null;
            try
            {
                prompt = V4ChatEncoder.Encode(c["messages"]!.AsArray(), (string?)kw["thinking_mode"] ?? "chat", format,
                    kw["context"] as JsonArray, kw["drop_thinking"] is { } d ? (bool)d : true,
                    kw["add_default_bos_token"] is { } b ? (bool)b : true, (string?)kw["reasoning_effort"]);
            }
            catch (ChatFormatException e) { error = e.Message; }
            var expected = c["expected"];
            if (c["expected_error"] != null)
            {
                if (error == null) failures.Add($"{id}: expected a refusal ({c["expected_error"]!["message"]}), got a prompt");
                continue;
            }
            string want = (string)expected!["prompt"]!;
            if (error != null) { failures.Add($"{id}: refused: {error}"); continue; }
            if (prompt != want)
            {
                int at = 0;
                while (at < Math.Min(prompt!.Length, want.Length) && prompt[at] == want[at]) at++;
                failures.Add($"{id}: differs at {at}: got «{Snip(prompt, at)}» expected «{Snip(want, at)}»");
                continue;
            }
            var ids = Tok.Value.Encode(prompt);
            var wantIds = expected["ids"]!.AsArray().Select(n => (int)n!).ToArray();
            if (!ids.SequenceEqual(wantIds)) failures.Add($"{id}: ids differ");
        }
        output.WriteLine($"{count} encode cases checked");
        foreach (var f in failures.Take(15)) output.WriteLine(f);
        Assert.True(count > 0);
        Assert.True(failures.Count == 0, $"{failures.Count} of {count} cases fail; first: {failures.FirstOrDefault()}");
    }

    private static string Snip(string s, int at) => s.Substring(Math.Max(0, at - 20), Math.Min(60, s.Length - Math.Max(0, at - 20))).Replace("\n", "\\n");
}

public sealed class ChatFormatDetectionTests
{
    [Fact]
    public void DsparkFieldsMean0731()
    {
        Assert.Equal(ChatFormat.V4, V4ChatEncoder.DetectFormat(Golden.Path("tiny-f32", "model")));
        string dir = Directory.CreateTempSubdirectory("sharpseek-fmt-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "config.json"), "{\"hidden_size\": 4096, \"dspark_block_size\": 5}");
            Assert.Equal(ChatFormat.V4_0731, V4ChatEncoder.DetectFormat(dir));
        }
        finally { Directory.Delete(dir, true); }
    }
}
