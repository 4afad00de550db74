using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using SharpSeek.Engine;
using SharpSeek.Tokenizer;
using SharpSeek.Tokenizer.Chat;

namespace SharpSeek.Server;

public sealed record ServerOptions
{
    public string Urls { get; init; } = "http://127.0.0.1:8000";
    public string ServedModelName { get; init; } = "deepseek-v4";
    public string? ApiKey { get; init; }
    public int Parallel { get; init; } = 1;
    public int MaxQueue { get; init; } = 64;
    /// <summary>USD per 1M tokens; defaults are DeepSeek's V4-Flash list prices.</summary>
    public double PriceInputMiss { get; init; } = 0.14;
    public double PriceInputHit { get; init; } = 0.0028;
    public double PriceOutput { get; init; } = 0.28;
}

/// <summary>
/// The OpenAI-compatible HTTP surface (thin: DTO → ChatRequest → Generator → JSON or SSE). Routes: GET /health,
/// GET /v1/models, POST /v1/chat/completions (non-streamed and `stream: true` SSE). Errors use OpenAI's envelope.
/// </summary>
public static class OpenAiServer
{
    public static WebApplication Build(IInferenceEngine engine, BpeTokenizer tokenizer, ChatFormat format, ServerOptions options)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls(options.Urls);
        var app = builder.Build();
        var generator = new Generator(engine, tokenizer, format);
        var pool = new SessionPool(engine, options.Parallel, options.MaxQueue);
        string[] names = [options.ServedModelName, "deepseek-chat", "deepseek-reasoner"];

        app.Use(async (ctx, next) =>
        {
            if (options.ApiKey != null && ctx.Request.Path.StartsWithSegments("/v1"))
            {
                string? auth = ctx.Request.Headers.Authorization.FirstOrDefault();
                string? key = auth?.StartsWith("Bearer ", StringComparison.Ordinal) == true ? auth[7..] : ctx.Request.Headers["x-api-key"].FirstOrDefault();
                if (key != options.ApiKey)
                {
                    if (ctx.Request.Path.StartsWithSegments("/v1/messages"))
                    {
                        ctx.Response.StatusCode = 401;
                        await ctx.Response.WriteAsJsonAsync(new JsonObject { ["type"] = "error", ["error"] = new JsonObject { ["type"] = "authentication_error", ["message"] = "missing or wrong API key (x-api-key or Authorization: Bearer …)" } });
                    }
                    else await Error(ctx, 401, "invalid_api_key", "missing or wrong API key (Authorization: Bearer … or x-api-key)");
                    return;
                }
            }
            await next(ctx);
        });

        AnthropicApi.Map(app, generator, pool, options, names.Contains);

        app.MapGet("/health", () => Results.Json(new { status = "ok", model = options.ServedModelName }));
        app.MapGet("/v1/models", () => Results.Json(new
        {
            @object = "list",
            data = names.Select(n => new { id = n, @object = "model", owned_by = "sharpseek" }),
        }));

        app.MapPost("/v1/chat/completions", async (HttpContext ctx) =>
        {
            JsonObject body;
            try { body = await JsonNode.ParseAsync(ctx.Request.Body, cancellationToken: ctx.RequestAborted) as JsonObject ?? throw new JsonException("expected a JSON object"); }
            catch (JsonException e) { await Error(ctx, 400, "invalid_request_error", $"malformed JSON body: {e.Message}"); return; }
            string model = (string?)body["model"] ?? options.ServedModelName;
            if (!names.Contains(model)) { await Error(ctx, 404, "model_not_found", $"model \"{model}\" is not served here (try {options.ServedModelName})"); return; }
            if (body["messages"] is not JsonArray messages || messages.Count == 0) { await Error(ctx, 400, "invalid_request_error", "messages: required, a non-empty array", "messages"); return; }
            bool thinking = model == "deepseek-reasoner" || (string?)body["thinking"]?["type"] == "enabled";
            ChatRequest request;
            try
            {
                request = new ChatRequest
                {
                    Messages = ToV4Messages(messages),
                    Thinking = thinking,
                    ReasoningEffort = (string?)body["reasoning_effort"] switch { null => null, "low" or "medium" => null, "high" or "xhigh" => "high", "max" => "max", var x => throw new ArgumentException($"reasoning_effort: \"{x}\" is not one of low, medium, high, max") },
                    MaxTokens = (int?)body["max_completion_tokens"] ?? (int?)body["max_tokens"] ?? 256,
                    Sampling = new SamplingOptions
                    {
                        Temperature = (float?)body["temperature"] ?? 1f, TopP = (float?)body["top_p"] ?? 1f, TopK = (int?)body["top_k"] ?? 0,
                        MinP = (float?)body["min_p"] ?? 0f, PresencePenalty = (float?)body["presence_penalty"] ?? 0f,
                        FrequencyPenalty = (float?)body["frequency_penalty"] ?? 0f, Seed = (int?)body["seed"],
                    },
                    Stop = body["stop"] switch { JsonValue v => [(string)v!], JsonArray a => a.Select(x => (string)x!).ToArray(), _ => [] },
                };
                if (request.MaxTokens <= 0) throw new ArgumentException("max_tokens: must be positive");
            }
            catch (Exception e) when (e is ArgumentException or FormatException or InvalidOperationException or ChatFormatException)
            { await Error(ctx, 400, "invalid_request_error", e.Message); return; }

            int[] prompt;
            try { prompt = generator.EncodePrompt(request); }
            catch (ChatFormatException e) { await Error(ctx, 400, "invalid_request_error", e.Message, "messages"); return; }
            if (prompt.Length + request.MaxTokens > engine.MaxContext && prompt.Length + 1 > engine.MaxContext)
            { await Error(ctx, 400, "context_length_exceeded", $"the prompt is {prompt.Length} tokens; this model's maximum context is {engine.MaxContext}"); return; }

            using var lease = await pool.AcquireAsync(prompt, ctx.RequestAborted);
            if (lease == null) { ctx.Response.Headers.RetryAfter = "1"; await Error(ctx, 429, "rate_limit_exceeded", "the request queue is full; retry shortly"); return; }
            string id = "chatcmpl-" + Guid.NewGuid().ToString("N")[..24];
            long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
            bool stream = (bool?)body["stream"] ?? false;
            bool includeUsage = (bool?)body["stream_options"]?["include_usage"] ?? false;
            var content = new System.Text.StringBuilder();
            var reasoning = new System.Text.StringBuilder();
            var tools = new List<(string Id, string Name, System.Text.StringBuilder Args)>();
            Usage? usage = null; string finish = "stop";
            if (stream)
            {
                ctx.Response.ContentType = "text/event-stream";
                ctx.Response.Headers.CacheControl = "no-cache";
            }
            try
            {
                await foreach (var e in generator.RunAsync(request, lease.Session, ctx.RequestAborted))
                {
                    JsonObject? delta = null;
                    switch (e.Kind)
                    {
                        case GenerationEventKind.ReasoningDelta: reasoning.Append(e.Text); delta = new() { ["reasoning_content"] = e.Text }; break;
                        case GenerationEventKind.ContentDelta: content.Append(e.Text); delta = new() { ["content"] = e.Text }; break;
                        case GenerationEventKind.ToolCallStart:
                            tools.Add((e.ToolId!, e.ToolName!, new()));
                            delta = new() { ["tool_calls"] = new JsonArray(new JsonObject { ["index"] = e.ToolIndex, ["id"] = e.ToolId, ["type"] = "function", ["function"] = new JsonObject { ["name"] = e.ToolName, ["arguments"] = "" } }) };
                            break;
                        case GenerationEventKind.ToolCallArgumentsDelta:
                            tools[e.ToolIndex].Args.Append(e.Text);
                            delta = new() { ["tool_calls"] = new JsonArray(new JsonObject { ["index"] = e.ToolIndex, ["function"] = new JsonObject { ["arguments"] = e.Text } }) };
                            break;
                        case GenerationEventKind.Usage: usage = e.Usage; break;
                        case GenerationEventKind.Finish: finish = e.FinishReason == "cancelled" ? "stop" : e.FinishReason!; break;
                    }
                    if (stream && delta != null) await Sse(ctx, Chunk(id, created, model, delta, null));
                }
            }
            catch (OperationCanceledException) when (ctx.RequestAborted.IsCancellationRequested) { return; } // client went away: the lease frees the session
            var usageJson = UsageJson(usage!, options);
            if (stream)
            {
                await Sse(ctx, Chunk(id, created, model, new JsonObject(), finish));
                if (includeUsage) { var u = Chunk(id, created, model, null, null); u["choices"] = new JsonArray(); u["usage"] = usageJson; await Sse(ctx, u); }
                await ctx.Response.WriteAsync("data: [DONE]\n\n");
                return;
            }
            var message = new JsonObject { ["role"] = "assistant", ["content"] = content.ToString() };
            if (reasoning.Length > 0) message["reasoning_content"] = reasoning.ToString();
            if (tools.Count > 0)
                message["tool_calls"] = new JsonArray(tools.Select(t => (JsonNode)new JsonObject { ["id"] = t.Id, ["type"] = "function", ["function"] = new JsonObject { ["name"] = t.Name, ["arguments"] = t.Args.ToString() } }).ToArray());
            await Results.Json(new JsonObject
            {
                ["id"] = id, ["object"] = "chat.completion", ["created"] = created, ["model"] = model,
                ["choices"] = new JsonArray(new JsonObject { ["index"] = 0, ["message"] = message, ["finish_reason"] = finish }),
                ["usage"] = usageJson,
            }).ExecuteAsync(ctx);
        });
        return app;
    }

    /// <summary>OpenAI history → V4 messages: reasoning_content and tool calls pass through; content arrays become text.</summary>
    private static JsonArray ToV4Messages(JsonArray messages)
    {
        var result = new JsonArray();
        foreach (var m in messages)
        {
            if (m is not JsonObject o) throw new ArgumentException("messages: every item must be an object");
            var copy = (JsonObject)o.DeepClone();
            if (copy["content"] is JsonArray parts && (string?)copy["role"] != "tool")
                copy["content"] = string.Concat(parts.Select(p => (string?)p?["text"] ?? ""));
            result.Add(copy);
        }
        return result;
    }

    private static JsonObject UsageJson(Usage u, ServerOptions o)
    {
        int miss = u.PromptTokens - u.CachedTokens;
        double cost = (miss * o.PriceInputMiss + u.CachedTokens * o.PriceInputHit + u.CompletionTokens * o.PriceOutput) / 1e6;
        return new JsonObject
        {
            ["prompt_tokens"] = u.PromptTokens, ["completion_tokens"] = u.CompletionTokens, ["total_tokens"] = u.PromptTokens + u.CompletionTokens,
            ["prompt_tokens_details"] = new JsonObject { ["cached_tokens"] = u.CachedTokens },
            ["completion_tokens_details"] = new JsonObject { ["reasoning_tokens"] = u.ReasoningTokens },
            ["prompt_cache_hit_tokens"] = u.CachedTokens, ["prompt_cache_miss_tokens"] = miss,
            ["cost"] = new JsonObject
            {
                ["currency"] = "USD", ["input_cache_miss"] = miss * o.PriceInputMiss / 1e6, ["input_cache_hit"] = u.CachedTokens * o.PriceInputHit / 1e6,
                ["output"] = u.CompletionTokens * o.PriceOutput / 1e6, ["total"] = cost,
            },
        };
    }

    private static JsonObject Chunk(string id, long created, string model, JsonObject? delta, string? finish) => new()
    {
        ["id"] = id, ["object"] = "chat.completion.chunk", ["created"] = created, ["model"] = model,
        ["choices"] = new JsonArray(new JsonObject { ["index"] = 0, ["delta"] = delta ?? new JsonObject(), ["finish_reason"] = finish }),
    };

    private static async Task Sse(HttpContext ctx, JsonObject data)
    {
        await ctx.Response.WriteAsync("data: " + data.ToJsonString() + "\n\n", ctx.RequestAborted);
        await ctx.Response.Body.FlushAsync(ctx.RequestAborted);
    }

    private static Task Error(HttpContext ctx, int status, string code, string message, string? param = null)
    {
        ctx.Response.StatusCode = status;
        return ctx.Response.WriteAsJsonAsync(new JsonObject
        {
            ["error"] = new JsonObject { ["message"] = message, ["type"] = status == 401 ? "authentication_error" : "invalid_request_error", ["param"] = param, ["code"] = code },
        });
    }
}
