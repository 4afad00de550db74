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
    public static void Map(WebApplication app, ServerContext sc)
    {
        var generator = sc.Generator;
        var pool = sc.Pool;
        var options = sc.Options;
        app.MapPost("/v1/messages/count_tokens", async (HttpContext ctx) =>
        {
            var body = await Read(ctx);
            if (body == null) return;
            try { await ctx.Response.WriteAsJsonAsync(new { input_tokens = generator.EncodePrompt(ToRequest(body)).Length }); }
            catch (Exception e) when (e is ArgumentException or ChatFormatException or ParameterException) { await Error(ctx, 400, e.Message); }
        });

        app.MapPost("/v1/messages", async (HttpContext ctx) =>
        {
            var body = await Read(ctx);
            if (body == null) return;
            string model = (string?)body["model"] ?? options.ServedModelName;
            if (!sc.KnownModel(model)) { await Error(ctx, 404, $"model \"{model}\" is not served here (try {options.ServedModelName})"); return; }
            ChatRequest request;
            int[] prompt;
            try { request = ToRequest(body); prompt = generator.EncodePrompt(request); }
            catch (Exception e) when (e is ArgumentException or ChatFormatException or ParameterException) { await Error(ctx, 400, e.Message); return; }
            if (prompt.Length + 1 > generator.Engine.MaxContext)
            { await Error(ctx, 400, $"prompt is too long: {prompt.Length} tokens > {generator.Engine.MaxContext - 1} maximum (the model's context is {generator.Engine.MaxContext} tokens)"); return; }
            using var lease = await pool.AcquireAsync(prompt, ctx.RequestAborted);
            if (lease == null) { ctx.Response.Headers.RetryAfter = "1"; await Error(ctx, 429, $"all {pool.Capacity} sessions are busy and {pool.MaxQueue} requests are queued; retry shortly"); return; }
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted, sc.Stopping);
            bool stream = (bool?)body["stream"] ?? false;
            string id = "msg_" + Guid.NewGuid().ToString("N")[..24];
            var blocks = new List<JsonObject>();
            int open = -1; string? openKind = null;
            Usage? usage = null; string finish = "stop"; string? stopSequence = null;
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
                await foreach (var e in generator.RunAsync(request, lease.Session, cts.Token))
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
                        case GenerationEventKind.Finish: finish = e.FinishReason!; if (e.Text.Length > 0) stopSequence = e.Text; break;
                    }
                }
            }
            catch (OperationCanceledException) when (ctx.RequestAborted.IsCancellationRequested) { return; }
            catch (OperationCanceledException) when (sc.Stopping.IsCancellationRequested) { finish = "cancelled"; }
            if (ctx.RequestAborted.IsCancellationRequested) return; // the client went away; the lease frees the session
            usage ??= new Usage(prompt.Length, 0, 0, 0);
            sc.Metrics.CountGeneration(usage);
            if (open >= 0) await Event("content_block_stop", new JsonObject { ["index"] = open });
            foreach (var b in blocks.Where(b => (string?)b["type"] == "tool_use"))
            {
                b["input"] = JsonNode.Parse((string)b["_args"]! is { Length: > 0 } a ? a : "{}");
                b.Remove("_args");
            }
            // cut short by shutdown: the answer is incomplete, as when max_tokens is hit
            string stopReason = finish switch { "length" or "cancelled" => "max_tokens", "tool_calls" => "tool_use", _ when stopSequence != null => "stop_sequence", _ => "end_turn" };
            var cost = Cost.Of(usage, options);
            var usageJson = new JsonObject
            {
                ["input_tokens"] = usage!.PromptTokens - usage.CachedTokens, ["cache_read_input_tokens"] = usage.CachedTokens,
                ["cache_creation_input_tokens"] = 0, ["output_tokens"] = usage.CompletionTokens,
                ["cost"] = new JsonObject { ["currency"] = "USD", ["input_cache_miss"] = cost.InputMiss, ["input_cache_hit"] = cost.InputHit, ["output"] = cost.Output, ["total"] = cost.Total },
            };
            if (stream)
            {
                await Event("message_delta", new JsonObject { ["delta"] = new JsonObject { ["stop_reason"] = stopReason, ["stop_sequence"] = stopSequence }, ["usage"] = usageJson });
                await Event("message_stop", new JsonObject());
                return;
            }
            await ctx.Response.WriteAsJsonAsync(new JsonObject
            {
                ["id"] = id, ["type"] = "message", ["role"] = "assistant", ["model"] = model,
                ["content"] = new JsonArray(blocks.Select(b => (JsonNode)b.DeepClone()).ToArray()),
                ["stop_reason"] = stopReason, ["stop_sequence"] = stopSequence, ["usage"] = usageJson,
            });
        });
    }

    private static async Task<JsonObject?> Read(HttpContext ctx)
    {
        var (body, status, message) = await ServerContext.ReadJsonAsync(ctx);
        if (body == null) await Error(ctx, status, message);
        return body;
    }

    /// <summary>Anthropic request → engine request: system prompt, content blocks, thinking, tools.</summary>
    internal static ChatRequest ToRequest(JsonObject body)
    {
        var messages = new JsonArray();
        if (body["system"] is { } sys)
            messages.Add(new JsonObject { ["role"] = "system", ["content"] = sys is JsonArray sa ? string.Concat(sa.Select(b => (string?)b?["text"] ?? "")) : (string?)sys });
        JsonArray? openAiTools = null;
        if (body["tools"] is JsonArray tools && tools.Count > 0)
            openAiTools = new JsonArray(tools.Select((t, i) => (JsonNode)new JsonObject
            {
                ["type"] = "function",
                ["function"] = new JsonObject
                {
                    ["name"] = (t?["name"] as JsonValue)?.DeepClone() ?? throw new ParameterException($"tools[{i}].name", "required"),
                    ["description"] = t?["description"]?.DeepClone(), ["parameters"] = t?["input_schema"]?.DeepClone(),
                },
            }).ToArray());
        var toolChoice = body["tool_choice"] switch
        {
            null => ToolChoice.Auto,
            JsonObject tc => OpenAiApi.Str(tc, "type") switch
            {
                "auto" => ToolChoice.Auto, "none" => ToolChoice.None, "any" => ToolChoice.Required,
                "tool" => ToolChoice.Function(OpenAiApi.Str(tc, "name") ?? throw new ParameterException("tool_choice.name", "required for type tool")),
                var x => throw new ParameterException("tool_choice.type", $"\"{x}\" is not one of auto, any, tool, none"),
            },
            _ => throw new ParameterException("tool_choice", "expected an object {\"type\": auto|any|tool|none}"),
        };
        if (toolChoice.Mode is "required" or "function" && openAiTools == null) throw new ParameterException("tool_choice", "needs tools");
        if (toolChoice.FunctionName is string fn && !openAiTools!.Any(x => (string?)x?["function"]?["name"] == fn))
            throw new ParameterException("tool_choice.name", $"\"{fn}\" is not among the tools");
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
            Thinking = body["thinking"] is JsonObject th && OpenAiApi.Str(th, "type") switch
            {
                "enabled" => true, "disabled" or null => false,
                var x => throw new ParameterException("thinking.type", $"\"{x}\" is not one of enabled, disabled"),
            },
            Tools = openAiTools, ToolChoice = toolChoice,
            MaxTokens = OpenAiApi.Int(body, "max_tokens", 1, int.MaxValue) ?? throw new ParameterException("max_tokens", "required"),
            Sampling = new SamplingOptions
            {
                Temperature = OpenAiApi.Float(body, "temperature", 0, 1) ?? 1f, TopP = OpenAiApi.Float(body, "top_p", 0, 1) ?? 1f,
                TopK = OpenAiApi.Int(body, "top_k", 0, int.MaxValue) ?? 0,
            },
            Stop = body["stop_sequences"] switch
            {
                null => [],
                JsonArray st when st.All(x => x is JsonValue v && v.TryGetValue(out string? _)) => st.Select(x => (string)x!).ToArray(),
                _ => throw new ParameterException("stop_sequences", "expected an array of strings"),
            },
        };
    }

    /// <summary>Anthropic's error envelope; the type follows the status as in Anthropic's API.</summary>
    internal static Task Error(HttpContext ctx, int status, string message)
    {
        ctx.Response.StatusCode = status;
        string type = status switch
        {
            401 => "authentication_error", 403 => "permission_error", 404 => "not_found_error", 413 => "request_too_large",
            429 => "rate_limit_error", 503 or 529 => "overloaded_error", >= 500 => "api_error", _ => "invalid_request_error",
        };
        return ctx.Response.WriteAsJsonAsync(new JsonObject { ["type"] = "error", ["error"] = new JsonObject { ["type"] = type, ["message"] = message } });
    }
}
