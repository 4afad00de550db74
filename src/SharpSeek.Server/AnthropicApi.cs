using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using SharpSeek.Engine;
using SharpSeek.Tokenizer.Chat;

namespace SharpSeek.Server;

/// <summary>
/// Anthropic Messages API: POST /v1/messages (JSON and SSE: message_start, content_block_start/delta/stop for thinking,
/// text and tool_use, message_delta, message_stop) and POST /v1/messages/count_tokens. Anthropic content blocks are
/// mapped onto the OpenAI-style messages the V4 encoder takes (tool_use → tool_calls, tool_result → tool messages).
/// </summary>
internal static class AnthropicApi
{
    public static void Map(WebApplication app, Generator generator, SessionPool pool, ServerOptions options, Func<string, bool> knownModel)
    {
        app.MapPost("/v1/messages/count_tokens", async (HttpContext ctx) =>
        {
            var body = await Read(ctx);
            if (body == null) return;
            try { await ctx.Response.WriteAsJsonAsync(new { input_tokens = generator.EncodePrompt(ToRequest(body)).Length }); }
            catch (Exception e) when (e is ArgumentException or ChatFormatException) { await Error(ctx, 400, e.Message); }
        });

        app.MapPost("/v1/messages", async (HttpContext ctx) =>
        {
            var body = await Read(ctx);
            if (body == null) return;
            string model = (string?)body["model"] ?? options.ServedModelName;
            if (!knownModel(model)) { await Error(ctx, 404, $"model \"{model}\" is not served here", "not_found_error"); return; }
            ChatRequest request;
            int[] prompt;
            try { request = ToRequest(body); prompt = generator.EncodePrompt(request); }
            catch (Exception e) when (e is ArgumentException or ChatFormatException or InvalidOperationException) { await Error(ctx, 400, e.Message); return; }
            using var lease = await pool.AcquireAsync(prompt, ctx.RequestAborted);
            if (lease == null) { ctx.Response.Headers.RetryAfter = "1"; await Error(ctx, 429, "the request queue is full; retry shortly", "rate_limit_error"); return; }
            bool stream = (bool?)body["stream"] ?? false;
            string id = "msg_" + Guid.NewGuid().ToString("N")[..24];
            var blocks = new List<JsonObject>();
            int open = -1; string? openKind = null;
            Usage? usage = null; string finish = "stop";
            if (stream) { ctx.Response.ContentType = "text/event-stream"; ctx.Response.Headers.CacheControl = "no-cache"; }
            async Task Event(string name, JsonObject data)
            {
                if (!stream) return;
                data["type"] = name;
                await ctx.Response.WriteAsync($"event: {name}\ndata: {data.ToJsonString()}\n\n", ctx.RequestAborted);
                await ctx.Response.Body.FlushAsync(ctx.RequestAborted);
            }
            async Task OpenBlock(string kind, JsonObject block)
            {
                if (open >= 0) await Event("content_block_stop", new JsonObject { ["index"] = open });
                blocks.Add(block); open = blocks.Count - 1; openKind = kind;
                await Event("content_block_start", new JsonObject { ["index"] = open, ["content_block"] = block.DeepClone() });
            }
            await Event("message_start", new JsonObject { ["message"] = new JsonObject { ["id"] = id, ["type"] = "message", ["role"] = "assistant", ["model"] = model, ["content"] = new JsonArray(), ["stop_reason"] = null, ["usage"] = new JsonObject { ["input_tokens"] = prompt.Length, ["output_tokens"] = 0 } } });
            try
            {
                await foreach (var e in generator.RunAsync(request, lease.Session, ctx.RequestAborted))
                {
                    switch (e.Kind)
                    {
                        case GenerationEventKind.ReasoningDelta:
                            if (openKind != "thinking") await OpenBlock("thinking", new JsonObject { ["type"] = "thinking", ["thinking"] = "" });
                            blocks[open]["thinking"] = (string)blocks[open]["thinking"]! + e.Text;
                            await Event("content_block_delta", new JsonObject { ["index"] = open, ["delta"] = new JsonObject { ["type"] = "thinking_delta", ["thinking"] = e.Text } });
                            break;
                        case GenerationEventKind.ContentDelta:
                            if (openKind != "text") await OpenBlock("text", new JsonObject { ["type"] = "text", ["text"] = "" });
                            blocks[open]["text"] = (string)blocks[open]["text"]! + e.Text;
                            await Event("content_block_delta", new JsonObject { ["index"] = open, ["delta"] = new JsonObject { ["type"] = "text_delta", ["text"] = e.Text } });
                            break;
                        case GenerationEventKind.ToolCallStart:
                            await OpenBlock("tool_use", new JsonObject { ["type"] = "tool_use", ["id"] = "toolu_" + e.ToolId, ["name"] = e.ToolName, ["input"] = new JsonObject(), ["_args"] = "" });
                            break;
                        case GenerationEventKind.ToolCallArgumentsDelta:
                            blocks[open]["_args"] = (string)blocks[open]["_args"]! + e.Text;
                            await Event("content_block_delta", new JsonObject { ["index"] = open, ["delta"] = new JsonObject { ["type"] = "input_json_delta", ["partial_json"] = e.Text } });
                            break;
                        case GenerationEventKind.Usage: usage = e.Usage; break;
                        case GenerationEventKind.Finish: finish = e.FinishReason!; break;
                    }
                }
            }
            catch (OperationCanceledException) when (ctx.RequestAborted.IsCancellationRequested) { return; }
            if (open >= 0) await Event("content_block_stop", new JsonObject { ["index"] = open });
            foreach (var b in blocks.Where(b => (string?)b["type"] == "tool_use"))
            {
                b["input"] = JsonNode.Parse((string)b["_args"]! is { Length: > 0 } a ? a : "{}");
                b.Remove("_args");
            }
            string stopReason = finish switch { "length" => "max_tokens", "tool_calls" => "tool_use", _ => "end_turn" };
            var usageJson = new JsonObject
            {
                ["input_tokens"] = usage!.PromptTokens - usage.CachedTokens, ["cache_read_input_tokens"] = usage.CachedTokens,
                ["cache_creation_input_tokens"] = 0, ["output_tokens"] = usage.CompletionTokens,
                ["cost"] = new JsonObject { ["currency"] = "USD", ["total"] = ((usage.PromptTokens - usage.CachedTokens) * options.PriceInputMiss + usage.CachedTokens * options.PriceInputHit + usage.CompletionTokens * options.PriceOutput) / 1e6 },
            };
            if (stream)
            {
                await Event("message_delta", new JsonObject { ["delta"] = new JsonObject { ["stop_reason"] = stopReason }, ["usage"] = usageJson });
                await Event("message_stop", new JsonObject());
                return;
            }
            await ctx.Response.WriteAsJsonAsync(new JsonObject
            {
                ["id"] = id, ["type"] = "message", ["role"] = "assistant", ["model"] = model,
                ["content"] = new JsonArray(blocks.Select(b => (JsonNode)b.DeepClone()).ToArray()),
                ["stop_reason"] = stopReason, ["stop_sequence"] = null, ["usage"] = usageJson,
            });
        });
    }

    private static async Task<JsonObject?> Read(HttpContext ctx)
    {
        try { return await JsonNode.ParseAsync(ctx.Request.Body, cancellationToken: ctx.RequestAborted) as JsonObject ?? throw new JsonException("expected a JSON object"); }
        catch (JsonException e) { await Error(ctx, 400, $"malformed JSON body: {e.Message}"); return null; }
    }

    /// <summary>Anthropic request → engine request: system prompt, content blocks, thinking, tools.</summary>
    internal static ChatRequest ToRequest(JsonObject body)
    {
        var messages = new JsonArray();
        if (body["system"] is { } sys)
            messages.Add(new JsonObject { ["role"] = "system", ["content"] = sys is JsonArray sa ? string.Concat(sa.Select(b => (string?)b?["text"] ?? "")) : (string?)sys });
        if (body["tools"] is JsonArray tools && tools.Count > 0)
        {
            var openAiTools = new JsonArray(tools.Select(t => (JsonNode)new JsonObject
            {
                ["type"] = "function",
                ["function"] = new JsonObject { ["name"] = t?["name"]?.DeepClone(), ["description"] = t?["description"]?.DeepClone(), ["parameters"] = t?["input_schema"]?.DeepClone() },
            }).ToArray());
            if (messages.Count == 0) messages.Add(new JsonObject { ["role"] = "system", ["content"] = "" });
            messages[0]!["tools"] = openAiTools;
        }
        if (body["messages"] is not JsonArray input || input.Count == 0) throw new ArgumentException("messages: required, a non-empty array");
        foreach (var m in input)
        {
            string role = (string?)m?["role"] ?? throw new ArgumentException("messages[].role: required");
            if (m!["content"] is not JsonArray content) { messages.Add(new JsonObject { ["role"] = role, ["content"] = (string?)m["content"] }); continue; }
            var text = new System.Text.StringBuilder();
            string? reasoning = null;
            var calls = new JsonArray();
            foreach (var b in content)
            {
                switch ((string?)b?["type"])
                {
                    case "text": text.Append((string?)b!["text"]); break;
                    case "thinking": reasoning = (string?)b!["thinking"]; break;
                    case "tool_use":
                        calls.Add(new JsonObject { ["id"] = b!["id"]?.DeepClone(), ["type"] = "function", ["function"] = new JsonObject { ["name"] = b["name"]?.DeepClone(), ["arguments"] = b["input"]?.ToJsonString() ?? "{}" } });
                        break;
                    case "tool_result":
                        var rc = b!["content"];
                        messages.Add(new JsonObject { ["role"] = "tool", ["tool_call_id"] = b["tool_use_id"]?.DeepClone(), ["content"] = rc is JsonArray ra ? string.Concat(ra.Select(x => (string?)x?["text"] ?? "")) : (string?)rc });
                        break;
                    default: throw new ArgumentException($"messages[].content: unsupported block type \"{(string?)b?["type"]}\"");
                }
            }
            if (text.Length > 0 || calls.Count > 0 || reasoning != null)
            {
                var msg = new JsonObject { ["role"] = role, ["content"] = text.ToString() };
                if (reasoning != null) msg["reasoning_content"] = reasoning;
                if (calls.Count > 0) msg["tool_calls"] = calls;
                messages.Add(msg);
            }
        }
        return new ChatRequest
        {
            Messages = messages,
            Thinking = (string?)body["thinking"]?["type"] == "enabled",
            MaxTokens = (int?)body["max_tokens"] ?? throw new ArgumentException("max_tokens: required"),
            Sampling = new SamplingOptions { Temperature = (float?)body["temperature"] ?? 1f, TopP = (float?)body["top_p"] ?? 1f, TopK = (int?)body["top_k"] ?? 0 },
            Stop = body["stop_sequences"] is JsonArray st ? st.Select(x => (string)x!).ToArray() : [],
        };
    }

    private static Task Error(HttpContext ctx, int status, string message, string type = "invalid_request_error")
    {
        ctx.Response.StatusCode = status;
        return ctx.Response.WriteAsJsonAsync(new JsonObject { ["type"] = "error", ["error"] = new JsonObject { ["type"] = type, ["message"] = message } });
    }
}
