using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace SharpSeek.Server.Tests;

/// <summary>The real Kestrel server on 127.0.0.1 (port 0), driven over HTTP: JSON and SSE answers, usage and cost, errors.</summary>
public sealed class OpenAiServerTests
{
    private static StringContent Json(string s) => new(s, Encoding.UTF8, "application/json");

    [Fact]
    public async Task RealTinyModelAnswersTwiceWithCachedTokensAndCost()
    {
        await using var server = await TestServer.Start(TestServer.Tiny.Value);
        var http = server.Http;
        var body = "{\"model\":\"deepseek-chat\",\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}],\"max_tokens\":4,\"seed\":1}";
        var r1 = await http.PostAsync("/v1/chat/completions", Json(body));
        Assert.Equal(HttpStatusCode.OK, r1.StatusCode);
        var j1 = JsonNode.Parse(await r1.Content.ReadAsStringAsync())!;
        Assert.Equal("chat.completion", (string)j1["object"]!);
        Assert.Equal(0, (int)j1["usage"]!["prompt_tokens_details"]!["cached_tokens"]!);
        Assert.True((double)j1["usage"]!["cost"]!["total"]! > 0);
        string answer = (string)j1["choices"]![0]!["message"]!["content"]!;
        var body2 = "{\"model\":\"deepseek-chat\",\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"},{\"role\":\"assistant\",\"content\":" + System.Text.Json.JsonSerializer.Serialize(answer) + "},{\"role\":\"user\",\"content\":\"More\"}],\"max_tokens\":2}";
        var j2 = JsonNode.Parse(await (await http.PostAsync("/v1/chat/completions", Json(body2))).Content.ReadAsStringAsync())!;
        Assert.True((int)j2["usage"]!["prompt_cache_hit_tokens"]! > 0, j2.ToJsonString());
    }

    [Fact]
    public async Task StreamsReasoningAndToolCallsAsSse()
    {
        string script = "Thinking.</think>\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"lookup\">\n<｜DSML｜parameter name=\"q\" string=\"true\">V4</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>";
        await using var server = await TestServer.Start(TestServer.Scripted(script));
        var http = server.Http;
        var body = "{\"model\":\"deepseek-reasoner\",\"messages\":[{\"role\":\"user\",\"content\":\"Look it up\"}],\"stream\":true,\"stream_options\":{\"include_usage\":true},\"max_tokens\":100}";
        var resp = await http.PostAsync("/v1/chat/completions", Json(body));
        Assert.Equal("text/event-stream", resp.Content.Headers.ContentType!.MediaType);
        var lines = (await resp.Content.ReadAsStringAsync()).Split('\n').Where(l => l.StartsWith("data: ")).Select(l => l[6..]).ToList();
        Assert.Equal("[DONE]", lines[^1]);
        var chunks = lines.SkipLast(1).Select(l => JsonNode.Parse(l)!).ToList();
        string reasoning = string.Concat(chunks.Select(c => (string?)c["choices"]!.AsArray().FirstOrDefault()?["delta"]?["reasoning_content"] ?? ""));
        Assert.Equal("Thinking.", reasoning);
        string args = string.Concat(chunks.Select(c => (string?)c["choices"]!.AsArray().FirstOrDefault()?["delta"]?["tool_calls"]?[0]?["function"]?["arguments"] ?? ""));
        Assert.Equal("{\"q\": \"V4\"}", args);
        Assert.Contains(chunks, c => (string?)c["choices"]!.AsArray().FirstOrDefault()?["finish_reason"] == "tool_calls");
        Assert.NotNull(chunks[^1]["usage"]);
        Assert.DoesNotContain(chunks, c => ((string?)c["choices"]!.AsArray().FirstOrDefault()?["delta"]?["content"] ?? "").Contains("DSML"));
    }

    [Fact]
    public async Task ErrorsUseTheOpenAiEnvelope()
    {
        await using var server = await TestServer.Start(TestServer.Scripted("ok", maxContext: 64), new ServerOptions { ApiKey = "sekret" });
        var http = server.Http;
        var unauth = await http.PostAsync("/v1/chat/completions", Json("{}"));
        Assert.Equal(HttpStatusCode.Unauthorized, unauth.StatusCode);
        http.DefaultRequestHeaders.Authorization = new("Bearer", "sekret");
        async Task<JsonNode> Err(string body, HttpStatusCode code)
        {
            var r = await http.PostAsync("/v1/chat/completions", Json(body));
            Assert.Equal(code, r.StatusCode);
            return JsonNode.Parse(await r.Content.ReadAsStringAsync())!["error"]!;
        }
        Assert.Contains("malformed JSON", (string)(await Err("{nope", HttpStatusCode.BadRequest))["message"]!);
        Assert.Equal("messages", (string?)(await Err("{\"messages\":[]}", HttpStatusCode.BadRequest))["param"]);
        Assert.Equal("model_not_found", (string?)(await Err("{\"model\":\"gpt-9\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", HttpStatusCode.NotFound))["code"]);
        var over = await Err("{\"messages\":[{\"role\":\"user\",\"content\":\"" + string.Concat(Enumerable.Repeat("word ", 100)) + "\"}]}", HttpStatusCode.BadRequest);
        Assert.Contains("maximum context is 64", (string)over["message"]!);
        var models = JsonNode.Parse(await http.GetStringAsync("/v1/models"))!;
        Assert.Contains(models["data"]!.AsArray(), m => (string?)m!["id"] == "deepseek-reasoner");
    }
}

public sealed class AnthropicApiTests
{
    [Fact]
    public async Task ThinkingAndToolUseStreamAsAnthropicEvents()
    {
        string script = "Plan.</think>\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"lookup\">\n<｜DSML｜parameter name=\"q\" string=\"true\">V4</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>";
        await using var server = await TestServer.Start(TestServer.Scripted(script));
        var http = server.Http;
        string body = "{\"model\":\"deepseek-reasoner\",\"max_tokens\":100,\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":50},\"stream\":true,"
            + "\"tools\":[{\"name\":\"lookup\",\"description\":\"Look up\",\"input_schema\":{\"type\":\"object\",\"properties\":{\"q\":{\"type\":\"string\"}}}}],"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"Find V4\"}]}";
        var text = await (await http.PostAsync("/v1/messages", new StringContent(body, Encoding.UTF8, "application/json"))).Content.ReadAsStringAsync();
        var events = text.Split("\n\n", StringSplitOptions.RemoveEmptyEntries).Select(e => e.Split('\n')).Select(l => (Name: l[0][7..], Data: JsonNode.Parse(l[1][6..])!)).ToList();
        Assert.Equal("message_start", events[0].Name);
        Assert.Equal("message_stop", events[^1].Name);
        Assert.Contains(events, e => e.Name == "content_block_start" && (string?)e.Data["content_block"]!["type"] == "thinking");
        Assert.Equal("Plan.", string.Concat(events.Where(e => (string?)e.Data["delta"]?["type"] == "thinking_delta").Select(e => (string)e.Data["delta"]!["thinking"]!)));
        Assert.Contains(events, e => e.Name == "content_block_start" && (string?)e.Data["content_block"]!["name"] == "lookup");
        Assert.Equal("{\"q\": \"V4\"}", string.Concat(events.Where(e => (string?)e.Data["delta"]?["type"] == "input_json_delta").Select(e => (string)e.Data["delta"]!["partial_json"]!)));
        Assert.Equal("tool_use", (string?)events.Single(e => e.Name == "message_delta").Data["delta"]!["stop_reason"]);

        // the tool result goes back in as a tool_result block; count_tokens sees it
        string follow = "{\"model\":\"deepseek-reasoner\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"Find V4\"},"
            + "{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\",\"id\":\"t1\",\"name\":\"lookup\",\"input\":{\"q\":\"V4\"}}]},"
            + "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"t1\",\"content\":\"found\"}]}]}";
        var count = JsonNode.Parse(await (await http.PostAsync("/v1/messages/count_tokens", new StringContent(follow, Encoding.UTF8, "application/json"))).Content.ReadAsStringAsync())!;
        Assert.True((int)count["input_tokens"]! > 10);
        var nonStream = JsonNode.Parse(await (await http.PostAsync("/v1/messages", new StringContent(follow, Encoding.UTF8, "application/json"))).Content.ReadAsStringAsync())!;
        Assert.Equal("message", (string?)nonStream["type"]);
        Assert.NotNull(nonStream["usage"]!["cache_read_input_tokens"]);
        var bad = await http.PostAsync("/v1/messages", new StringContent("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Equal("error", (string?)JsonNode.Parse(await bad.Content.ReadAsStringAsync())!["type"]);
    }
}
