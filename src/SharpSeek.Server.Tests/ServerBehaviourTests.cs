using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using SharpSeek.Server;

namespace SharpSeek.Server.Tests;

/// <summary>What a production server must get right beyond the happy path: limits, queueing, disconnects, many
/// streams at once, shutdown, raw completions and metrics.</summary>
public sealed class ServerBehaviourTests
{
    private static StringContent Json(string s) => new(s, Encoding.UTF8, "application/json");
    private const string Hello = "{\"model\":\"deepseek-chat\",\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]";
    private static readonly string Long = string.Concat(Enumerable.Repeat("word ", 400));

    /// <summary>Reads SSE data lines until the stream ends or <paramref name="stopAfter"/> lines have arrived.</summary>
    private static async Task<List<string>> ReadSse(Stream body, int stopAfter = int.MaxValue)
    {
        var lines = new List<string>();
        using var reader = new StreamReader(body);
        while (lines.Count < stopAfter && await reader.ReadLineAsync() is { } line)
            if (line.StartsWith("data: ")) lines.Add(line[6..]);
        return lines;
    }

    private static async Task<HttpResponseMessage> PostStream(HttpClient http, string path, string body, CancellationToken ct = default) =>
        await http.SendAsync(new HttpRequestMessage(HttpMethod.Post, path) { Content = Json(body) }, HttpCompletionOption.ResponseHeadersRead, ct);

    [Fact]
    public async Task OversizedBodiesGet413InEachProtocolsEnvelope()
    {
        await using var s = await TestServer.Start(TestServer.Scripted("ok"), new ServerOptions { MaxRequestBodyBytes = 1024 });
        string big = "{\"model\":\"deepseek-chat\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"" + new string('x', 4096) + "\"}]}";
        var openAi = await s.Http.PostAsync("/v1/chat/completions", Json(big));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, openAi.StatusCode);
        var e1 = JsonNode.Parse(await openAi.Content.ReadAsStringAsync())!["error"]!;
        Assert.Equal("request_too_large", (string?)e1["code"]);
        Assert.Contains("1024", (string)e1["message"]!);
        var anthropic = await s.Http.PostAsync("/v1/messages", Json(big));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, anthropic.StatusCode);
        var e2 = JsonNode.Parse(await anthropic.Content.ReadAsStringAsync())!;
        Assert.Equal("error", (string?)e2["type"]);
        Assert.Equal("request_too_large", (string?)e2["error"]!["type"]);
        // a small request still works on the same server
        Assert.Equal(HttpStatusCode.OK, (await s.Http.PostAsync("/v1/chat/completions", Json(Hello + "}"))).StatusCode);
    }

    [Fact]
    public async Task InvalidParametersAreNamed()
    {
        await using var s = await TestServer.Start(TestServer.Scripted("ok"));
        async Task<JsonNode> Err(string body, string path = "/v1/chat/completions")
        {
            var r = await s.Http.PostAsync(path, Json(body));
            Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
            return JsonNode.Parse(await r.Content.ReadAsStringAsync())!["error"]!;
        }
        Assert.Equal("temperature", (string?)(await Err(Hello + ",\"temperature\":\"hot\"}"))["param"]);
        Assert.Equal("temperature", (string?)(await Err(Hello + ",\"temperature\":3}"))["param"]);
        Assert.Equal("max_tokens", (string?)(await Err(Hello + ",\"max_tokens\":0}"))["param"]);
        Assert.Equal("n", (string?)(await Err(Hello + ",\"n\":2}"))["param"]);
        Assert.Equal("top_logprobs", (string?)(await Err(Hello + ",\"top_logprobs\":3}"))["param"]);
        Assert.Equal("messages[0].role", (string?)(await Err("{\"messages\":[{\"role\":\"robot\",\"content\":\"x\"}]}"))["param"]);
        var tools = ",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"a\",\"parameters\":{}}}]";
        Assert.Equal("tool_choice.function.name", (string?)(await Err(Hello + tools + ",\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"b\"}}}"))["param"]);
        Assert.Equal("tool_choice", (string?)(await Err(Hello + ",\"tool_choice\":\"required\"}"))["param"]);
        Assert.Equal("prompt", (string?)(await Err("{\"prompt\":[\"a\",\"b\"]}", "/v1/completions"))["param"]);
        Assert.Equal("prompt", (string?)(await Err("{\"prompt\":[1,999999999]}", "/v1/completions"))["param"]);
    }

    [Fact]
    public async Task AnthropicErrorsUseAnthropicsEnvelope()
    {
        await using var s = await TestServer.Start(TestServer.Scripted("ok", maxContext: 64), new ServerOptions { ApiKey = "k" });
        async Task<JsonNode> Err(string body, HttpStatusCode code, string? key = "k")
        {
            var req = new HttpRequestMessage(HttpMethod.Post, "/v1/messages") { Content = Json(body) };
            if (key != null) req.Headers.Add("x-api-key", key);
            var r = await s.Http.SendAsync(req);
            Assert.Equal(code, r.StatusCode);
            var j = JsonNode.Parse(await r.Content.ReadAsStringAsync())!;
            Assert.Equal("error", (string?)j["type"]);
            return j["error"]!;
        }
        string ok = "{\"model\":\"deepseek-chat\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
        Assert.Equal("authentication_error", (string?)(await Err(ok, HttpStatusCode.Unauthorized, key: "wrong"))["type"]);
        Assert.Equal("authentication_error", (string?)(await Err(ok, HttpStatusCode.Unauthorized, key: null))["type"]);
        Assert.Equal("not_found_error", (string?)(await Err(ok.Replace("deepseek-chat", "claude-9"), HttpStatusCode.NotFound))["type"]);
        Assert.Contains("malformed JSON", (string)(await Err("{nope", HttpStatusCode.BadRequest))["message"]!);
        Assert.Contains("max_tokens", (string)(await Err("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", HttpStatusCode.BadRequest))["message"]!);
        Assert.Contains("tool_choice", (string)(await Err(ok.Replace("\"max_tokens\":5", "\"max_tokens\":5,\"tool_choice\":{\"type\":\"any\"}"), HttpStatusCode.BadRequest))["message"]!);
        var over = await Err(ok.Replace("hi", string.Concat(Enumerable.Repeat("word ", 100))), HttpStatusCode.BadRequest);
        Assert.Contains("the model's context is 64 tokens", (string)over["message"]!);
    }

    [Fact]
    public async Task FullQueueAnswers429WithRetryAfter()
    {
        await using var s = await TestServer.Start(TestServer.Scripted(Long, tokenDelayMs: 20), new ServerOptions { Parallel = 1, MaxQueue = 0 });
        using var first = await PostStream(s.Http, "/v1/chat/completions", Hello + ",\"stream\":true,\"max_tokens\":300}");
        var firstBody = await first.Content.ReadAsStreamAsync();
        await ReadSse(firstBody, stopAfter: 2); // the session is busy now
        var second = await s.Http.PostAsync("/v1/chat/completions", Json(Hello + ",\"max_tokens\":2}"));
        Assert.Equal((HttpStatusCode)429, second.StatusCode);
        Assert.NotNull(second.Headers.RetryAfter);
        Assert.Equal("rate_limit_exceeded", (string?)JsonNode.Parse(await second.Content.ReadAsStringAsync())!["error"]!["code"]);
        var anthropic = await s.Http.PostAsync("/v1/messages", Json(Hello + ",\"max_tokens\":2}"));
        Assert.Equal((HttpStatusCode)429, anthropic.StatusCode);
        Assert.Equal("rate_limit_error", (string?)JsonNode.Parse(await anthropic.Content.ReadAsStringAsync())!["error"]!["type"]);
    }

    [Fact]
    public async Task ClientDisconnectMidStreamFreesTheSession()
    {
        // one session, a slow model (20 ms a token) with 400 words to say
        await using var s = await TestServer.Start(TestServer.Scripted(Long, tokenDelayMs: 20), new ServerOptions { Parallel = 1 });
        using (var cts = new CancellationTokenSource())
        {
            var response = await PostStream(s.Http, "/v1/chat/completions", Hello + ",\"stream\":true,\"max_tokens\":400}", cts.Token);
            var chunks = await ReadSse(await response.Content.ReadAsStreamAsync(), stopAfter: 3);
            Assert.Equal(3, chunks.Count);
            cts.Cancel();
            response.Dispose();
        }
        // the next request gets the only session long before the first answer could have finished (400 × 20 ms = 8 s)
        var clock = Stopwatch.StartNew();
        var next = await s.Http.PostAsync("/v1/chat/completions", Json(Hello + ",\"max_tokens\":2}"));
        Assert.Equal(HttpStatusCode.OK, next.StatusCode);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(4), $"waited {clock.Elapsed.TotalSeconds:F1} s for the session");
        string metrics = await s.Http.GetStringAsync("/metrics");
        Assert.Contains("sharpseek_active_sessions 0\n", metrics);
        Assert.Contains("sharpseek_queue_depth 0\n", metrics);
    }

    [Fact]
    public async Task SixteenConcurrentStreamsOnTheRealTinyModelAllComplete()
    {
        await using var s = await TestServer.Start(TestServer.Tiny.Value, new ServerOptions { Parallel = 4 });
        var tasks = Enumerable.Range(0, 16).Select(async i =>
        {
            string body = "{\"model\":\"deepseek-chat\",\"stream\":true,\"stream_options\":{\"include_usage\":true},\"max_tokens\":4,\"seed\":" + i
                          + ",\"messages\":[{\"role\":\"user\",\"content\":\"Question number " + i + "\"}]}";
            using var r = await PostStream(s.Http, "/v1/chat/completions", body);
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            return await ReadSse(await r.Content.ReadAsStreamAsync());
        }).ToArray();
        var streams = await Task.WhenAll(tasks);
        foreach (var lines in streams)
        {
            Assert.Equal("[DONE]", lines[^1]);
            var chunks = lines.SkipLast(1).Select(l => JsonNode.Parse(l)!).ToList();
            Assert.Equal("assistant", (string?)chunks[0]["choices"]![0]!["delta"]!["role"]);
            Assert.Contains(chunks, c => c["choices"]!.AsArray().FirstOrDefault()?["finish_reason"] is JsonValue);
            Assert.InRange((int)chunks[^1]["usage"]!["completion_tokens"]!, 1, 4);
        }
        string metrics = await s.Http.GetStringAsync("/metrics");
        Assert.Contains("sharpseek_requests_total{endpoint=\"/v1/chat/completions\",status=\"200\"} 16\n", metrics);
        Assert.Contains("sharpseek_generations_total 16\n", metrics);
        Assert.Contains("sharpseek_sessions 4\n", metrics);
    }

    [Fact]
    public async Task ShutdownLetsStreamsFinishThenCutsThemCleanly()
    {
        var grace = TimeSpan.FromMilliseconds(400);
        var s = await TestServer.Start(TestServer.Scripted(Long, tokenDelayMs: 20), new ServerOptions { ShutdownGrace = grace });
        var response = await PostStream(s.Http, "/v1/chat/completions", Hello + ",\"stream\":true,\"max_tokens\":400}");
        var body = await response.Content.ReadAsStreamAsync();
        using var reader = new StreamReader(body);
        string? line;
        while ((line = await reader.ReadLineAsync()) != null && !line.Contains("\"content\":\"word")) { }
        var clock = Stopwatch.StartNew();
        var stop = s.App.StopAsync();
        var rest = new List<string>();
        while ((line = await reader.ReadLineAsync()) != null) if (line.StartsWith("data: ")) rest.Add(line[6..]);
        await stop;
        Assert.True(clock.Elapsed < grace + TimeSpan.FromSeconds(3), $"shutdown took {clock.Elapsed.TotalSeconds:F1} s");
        Assert.Equal("[DONE]", rest[^1]);
        var last = JsonNode.Parse(rest[^2])!;
        Assert.Equal("length", (string?)last["choices"]![0]!["finish_reason"]);
        // the cut answer still reports what it generated
        Assert.True((int)last["timings"]!["predicted_n"]! > 5, last.ToJsonString());
        // the stream kept going during the grace period: tokens arrived after the stop was requested
        Assert.True(rest.Count > 5, $"only {rest.Count} chunks after the stop");
        await s.DisposeAsync();
    }

    [Fact]
    public async Task RawCompletionsWithLogprobsOnTheRealTinyModel()
    {
        await using var s = await TestServer.Start(TestServer.Tiny.Value);
        var r = await s.Http.PostAsync("/v1/completions", Json("{\"model\":\"deepseek-chat\",\"prompt\":\"The capital of France is\",\"max_tokens\":3,\"temperature\":0,\"logprobs\":2}"));
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        var j = JsonNode.Parse(await r.Content.ReadAsStringAsync())!;
        Assert.Equal("text_completion", (string?)j["object"]);
        var choice = j["choices"]![0]!;
        int completion = (int)j["usage"]!["completion_tokens"]!;
        var tokens = choice["logprobs"]!["tokens"]!.AsArray();
        Assert.Equal(completion, tokens.Count);
        Assert.Equal(string.Concat(tokens.Select(t => (string)t!)), (string)choice["text"]!);
        foreach (var top in choice["logprobs"]!["top_logprobs"]!.AsArray()) Assert.InRange(top!.AsObject().Count, 1, 2);
        // BOS + the prompt's tokens
        Assert.Equal(TestServer.Tok.Value.Encode("The capital of France is").Length + 1, (int)j["usage"]!["prompt_tokens"]!);

        // the same prompt as ids, streamed: same greedy text
        var ids = new[] { TestServer.Tok.Value.BosId }.Concat(TestServer.Tok.Value.Encode("The capital of France is"));
        using var sr = await PostStream(s.Http, "/v1/completions", "{\"prompt\":[" + string.Join(",", ids) + "],\"max_tokens\":3,\"temperature\":0,\"stream\":true}");
        var lines = await ReadSse(await sr.Content.ReadAsStreamAsync());
        Assert.Equal("[DONE]", lines[^1]);
        string streamed = string.Concat(lines.SkipLast(1).Select(l => (string?)JsonNode.Parse(l)!["choices"]![0]!["text"] ?? ""));
        Assert.Equal((string)choice["text"]!, streamed);
    }

    [Fact]
    public async Task MetricsAndHealthSpeakPrometheusAndJson()
    {
        await using var s = await TestServer.Start(TestServer.Scripted("Hello there."));
        await s.Http.PostAsync("/v1/chat/completions", Json(Hello + "}"));
        await s.Http.PostAsync("/v1/chat/completions", Json("{nope"));
        var r = await s.Http.GetAsync("/metrics");
        Assert.StartsWith("text/plain", r.Content.Headers.ContentType!.ToString());
        string m = await r.Content.ReadAsStringAsync();
        Assert.Contains("# TYPE sharpseek_requests_total counter\n", m);
        Assert.Contains("sharpseek_requests_total{endpoint=\"/v1/chat/completions\",status=\"200\"} 1\n", m);
        Assert.Contains("sharpseek_requests_total{endpoint=\"/v1/chat/completions\",status=\"400\"} 1\n", m);
        var completion = System.Text.RegularExpressions.Regex.Match(m, "sharpseek_completion_tokens_total (\\d+)\n");
        Assert.True(completion.Success && int.Parse(completion.Groups[1].Value) > 0, m);
        Assert.Matches("sharpseek_cost_usd_total [0-9.eE-]+\n", m);
        Assert.Matches("sharpseek_decode_tokens_per_second [0-9.eE+-]+\n", m);
        var health = JsonNode.Parse(await s.Http.GetStringAsync("/health"))!;
        Assert.Equal("ok", (string?)health["status"]);
    }
}
