using System.Text.Json.Nodes;
using SharpSeek.TestSupport;
using SharpSeek.Tokenizer.Chat;
using Xunit.Abstractions;

namespace SharpSeek.Tokenizer.Tests;

/// <summary>Every case of parse_cases.json (and official_cases.json's parse_cases): same accepted results, same rejections.</summary>
public sealed class CompletionParserTests(ITestOutputHelper output)
{
    public static IEnumerable<JsonNode> Cases()
    {
        var a = JsonNode.Parse(File.ReadAllText(Golden.Path("chat-encoding", "parse_cases.json")))!;
        var b = JsonNode.Parse(File.ReadAllText(Golden.Path("chat-encoding", "official_cases.json")))!;
        foreach (var c in (a["cases"] ?? a["parse_cases"])!.AsArray()) yield return c!;
        foreach (var c in b["parse_cases"]!.AsArray()) yield return c!;
    }

    [Fact]
    public void EveryCaseMatches()
    {
        var failures = new List<string>();
        int count = 0;
        foreach (var c in Cases())
        {
            count++;
            string id = (string)c["id"]!;
            bool thinking = (string?)c["kwargs"]?["thinking_mode"] == "thinking";
            JsonObject? got = null;
            string? error = null;
            try { got = V4CompletionParser.Parse((string)c["text"]!, thinking).ToJson(); }
            catch (ChatFormatException e) { error = e.Message; }
            if (c["expected_error"] != null)
            {
                if (error == null) failures.Add($"{id}: expected rejection ({c["expected_error"]!["message"]}), got {got!.ToJsonString()}");
                continue;
            }
            if (error != null) { failures.Add($"{id}: rejected: {error}"); continue; }
            var want = c["expected"]!;
            if (!JsonNode.DeepEquals(Normalize(want), Normalize(got)))
                failures.Add($"{id}: got {got!.ToJsonString()} expected {want.ToJsonString()}");
        }
        output.WriteLine($"{count} parse cases checked");
        foreach (var f in failures.Take(10)) output.WriteLine(f);
        Assert.True(count > 0);
        Assert.True(failures.Count == 0, $"{failures.Count} of {count} fail; first: {failures.FirstOrDefault()}");
    }

    /// <summary>Compare role, content, reasoning_content and each call's name and arguments text.</summary>
    private static JsonNode Normalize(JsonNode? m) => new JsonObject
    {
        ["role"] = m?["role"]?.DeepClone(),
        ["content"] = m?["content"]?.DeepClone(),
        ["reasoning_content"] = m?["reasoning_content"]?.DeepClone() ?? "",
        ["tool_calls"] = new JsonArray((m?["tool_calls"]?.AsArray() ?? []).Select(t => (JsonNode)new JsonObject
        {
            ["name"] = t?["function"]?["name"]?.DeepClone(),
            ["arguments"] = t?["function"]?["arguments"]?.DeepClone(),
        }).ToArray()),
    };
}
