using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using SharpSeek.Engine;
using SharpSeek.Tokenizer.Chat;

namespace SharpSeek.Server;

/// <summary>A request field with a bad value: the 400 names it.</summary>
internal sealed class ParameterException(string param, string message) : Exception($"{param}: {message}")
{
    public string Param => param;
}

/// <summary>
/// OpenAI-compatible routes: POST /v1/chat/completions (JSON, or SSE `chat.completion.chunk` … `[DONE]`) and the legacy
/// POST /v1/completions for raw prompts. DeepSeek's extensions are honoured: reasoning_content out and back in,
/// thinking {type}, reasoning_effort, prompt_cache_hit/miss_tokens; usage also carries a USD `cost` object and
/// `timings` (llama.cpp style).
/// </summary>
internal static class OpenAiApi
{
    public static void Map(WebApplication app, ServerContext sc)
    {
        app.MapPost("/v1/chat/completions", ctx => ChatCompletions(ctx, sc));
        app.MapPost("/v1/completions", ctx => Completions(ctx, sc));
    }

    /// <summary>The JSON body and the served model a request names; null once the error has been answered.</summary>
    private static async Task<(JsonObject Body, string Model)?> ReadRequestAsync(HttpContext ctx, ServerContext sc)
    {
        var (body, status, message) = await ServerContext.ReadJsonAsync(ctx);
        if (body == null) { await Error(ctx, status, status == 413 ? "request_too_large" : "invalid_request_error", message); return null; }
        string model = Str(body, "model") ?? sc.Options.ServedModelName;
        if (!sc.KnownModel(model)) { await Error(ctx, 404, "model_not_found", $"model \"{model}\" is not served here (try {sc.Options.ServedModelName})", "model"); return null; }
        return (body, model);
    }

    private static async Task ChatCompletions(HttpContext ctx, ServerContext sc)
    {
        if (await ReadRequestAsync(ctx, sc) is not var (body, model)) return;
        ChatRequest request;
        int[] prompt;
        bool stream, includeUsage;
        try
        {
            request = ToChatRequest(body, model);
            stream = Bool(body, "stream") ?? false;
            includeUsage = body["stream_options"] is JsonObject so && (Bool(so, "include_usage") ?? false);
            prompt = sc.Generator.EncodePrompt(request);
        }
        catch (ParameterException e) { await Error(ctx, 400, "invalid_request_error", e.Message, e.Param); return; }
        catch (ChatFormatException e) { await Error(ctx, 400, "invalid_request_error", e.Message, "messages"); return; }
        string id = "chatcmpl-" + Guid.NewGuid().ToString("N")[..24];
        long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var stream_ = new OpenAiStream(ctx, stream, includeUsage, id, created, model, "chat.completion.chunk");
        await Generate(ctx, sc, prompt, "messages", stream_, (s, ct) => sc.Generator.RunAsync(request, s, ct), async (answer, usage, finish) =>
        {
            var usageJson = UsageJson(usage, sc.Options);
            if (stream)
            {
                await stream_.Finish(stream_.Chunk(new JsonObject(), finish, request.TopLogprobs >= 0 ? answer.TakePendingLogprobs() : null), usage, usageJson);
                return;
            }
            var logprobs = request.TopLogprobs >= 0 ? new JsonObject { ["content"] = ChatLogprobs(answer.Logprobs), ["refusal"] = null } : null;
            var messageJson = new JsonObject { ["role"] = "assistant", ["content"] = answer.Content.ToString() };
            if (answer.Reasoning.Length > 0) messageJson["reasoning_content"] = answer.Reasoning.ToString();
            if (answer.Tools.Count > 0)
                messageJson["tool_calls"] = new JsonArray(answer.Tools.Select(t => (JsonNode)new JsonObject
                { ["id"] = t.Id, ["type"] = "function", ["function"] = new JsonObject { ["name"] = t.Name, ["arguments"] = t.Args.ToString() } }).ToArray());
            await Results.Json(new JsonObject
            {
                ["id"] = id, ["object"] = "chat.completion", ["created"] = created, ["model"] = model,
                ["choices"] = new JsonArray(new JsonObject { ["index"] = 0, ["message"] = messageJson, ["logprobs"] = logprobs, ["finish_reason"] = finish }),
                ["usage"] = usageJson, ["timings"] = Timings(usage),
            }).ExecuteAsync(ctx);
        }, request.TopLogprobs >= 0 ? ChatLogprobs : null);
    }

    private static async Task Completions(HttpContext ctx, ServerContext sc)
    {
        if (await ReadRequestAsync(ctx, sc) is not var (body, model)) return;
        CompletionRequest request;
        bool stream, includeUsage;
        try
        {
            if (Bool(body, "echo") == true) throw new ParameterException("echo", "not supported");
            if (body["suffix"] is JsonValue) throw new ParameterException("suffix", "not supported (V4 has no fill-in-the-middle format)");
            int n = Int(body, "n", 1, 1) ?? 1;
            int top = Int(body, "logprobs", 0, 20) ?? -1;
            var tok = sc.Generator.Tokenizer;
            int[] ids = body["prompt"] switch
            {
                JsonValue v when v.TryGetValue(out string? s) => WithBos(tok.Encode(s), tok.BosId),
                JsonArray a when a.Count > 0 && a.All(x => x is JsonValue xv && xv.TryGetValue(out int _)) => a.Select(x => (int)x!).ToArray(),
                JsonArray a when a.Count == 1 && a[0] is JsonValue v1 && v1.TryGetValue(out string? s1) => WithBos(tok.Encode(s1), tok.BosId),
                JsonArray { Count: > 1 } => throw new ParameterException("prompt", "a batch of prompts is not supported; send one prompt per request"),
                _ => throw new ParameterException("prompt", "required: a string or an array of token ids"),
            };
            foreach (int i in ids)
                if ((uint)i >= (uint)sc.Generator.Engine.VocabSize) throw new ParameterException("prompt", $"token id {i} is outside the vocabulary (0..{sc.Generator.Engine.VocabSize - 1})");
            request = new CompletionRequest
            {
                PromptIds = ids, Sampling = Sampling(body), MaxTokens = Int(body, "max_tokens", 1, int.MaxValue) ?? 16,
                Stop = Stops(body), StopIds = StopIds(body), TopLogprobs = top,
            };
            stream = Bool(body, "stream") ?? false;
            includeUsage = body["stream_options"] is JsonObject so && (Bool(so, "include_usage") ?? false);
        }
        catch (ParameterException e) { await Error(ctx, 400, "invalid_request_error", e.Message, e.Param); return; }
        int[] prompt = request.PromptIds;

        string id = "cmpl-" + Guid.NewGuid().ToString("N")[..24];
        long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var stream_ = new OpenAiStream(ctx, stream, includeUsage, id, created, model, "text_completion");
        await Generate(ctx, sc, prompt, "prompt", stream_, (s, ct) => sc.Generator.CompleteAsync(request, s, ct), async (answer, usage, finish) =>
        {
            var usageJson = UsageJson(usage, sc.Options);
            if (stream)
            {
                await stream_.Finish(stream_.Chunk(null, finish, request.TopLogprobs >= 0 ? answer.TakePendingLogprobs() : null), usage, usageJson);
                return;
            }
            await Results.Json(new JsonObject
            {
                ["id"] = id, ["object"] = "text_completion", ["created"] = created, ["model"] = model,
                ["choices"] = new JsonArray(new JsonObject
                {
                    ["index"] = 0, ["text"] = answer.Content.ToString(),
                    ["logprobs"] = request.TopLogprobs >= 0 ? CompletionLogprobs(answer.Logprobs) : null, ["finish_reason"] = finish,
                }),
                ["usage"] = usageJson, ["timings"] = Timings(usage),
            }).ExecuteAsync(ctx);
        }, request.TopLogprobs >= 0 ? CompletionLogprobs : null);
    }

    /// <summary>What an answer has accumulated while it streams.</summary>
    private sealed class Answer
    {
        public readonly StringBuilder Content = new(), Reasoning = new();
        public readonly List<(string Id, string Name, StringBuilder Args)> Tools = [];
        public readonly List<TokenLogprob> Logprobs = [];
        private int _sent;
        /// <summary>Logprobs of tokens not yet attached to a streamed chunk.</summary>
        public List<TokenLogprob> TakePendingLogprobs() { var p = Logprobs.GetRange(_sent, Logprobs.Count - _sent); _sent = Logprobs.Count; return p; }
    }

    /// <summary>
    /// The shared part of both routes: a session lease (429 when the queue is full), the event loop writing SSE deltas,
    /// client disconnects (the lease frees the session at once) and shutdown (streams cut after the grace period).
    /// </summary>
    private static async Task Generate(HttpContext ctx, ServerContext sc, int[] prompt, string promptParam, OpenAiStream stream,
                                       Func<IInferenceSession, CancellationToken, IAsyncEnumerable<GenerationEvent>> run,
                                       Func<Answer, Usage, string, Task> finish, Func<List<TokenLogprob>, JsonNode>? logprobsJson)
    {
        int maxContext = sc.Generator.Engine.MaxContext;
        if (prompt.Length + 1 > maxContext)
        { await Error(ctx, 400, "context_length_exceeded", $"the prompt is {prompt.Length} tokens; this model's maximum context is {maxContext} tokens", promptParam); return; }
        using var lease = await sc.Pool.AcquireAsync(prompt, ctx.RequestAborted);
        if (lease == null) { ctx.Response.Headers.RetryAfter = "1"; await Error(ctx, 429, "rate_limit_exceeded", $"all {sc.Pool.Capacity} sessions are busy and {sc.Pool.MaxQueue} requests are queued; retry shortly"); return; }
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted, sc.Stopping);
        var answer = new Answer();
        Usage? usage = null; string reason = "stop";
        if (stream.Enabled) await stream.Start();
        try
        {
            await foreach (var e in run(lease.Session, cts.Token))
            {
                JsonObject? delta = null;
                switch (e.Kind)
                {
                    case GenerationEventKind.ReasoningDelta: answer.Reasoning.Append(e.Text); delta = new() { ["reasoning_content"] = e.Text }; break;
                    case GenerationEventKind.ContentDelta: answer.Content.Append(e.Text); delta = new() { ["content"] = e.Text }; break;
                    case GenerationEventKind.ToolCallStart:
                        answer.Tools.Add((e.ToolId!, e.ToolName!, new()));
                        delta = new() { ["tool_calls"] = new JsonArray(new JsonObject { ["index"] = e.ToolIndex, ["id"] = e.ToolId, ["type"] = "function", ["function"] = new JsonObject { ["name"] = e.ToolName, ["arguments"] = "" } }) };
                        break;
                    case GenerationEventKind.ToolCallArgumentsDelta:
                        answer.Tools[e.ToolIndex].Args.Append(e.Text);
                        delta = new() { ["tool_calls"] = new JsonArray(new JsonObject { ["index"] = e.ToolIndex, ["function"] = new JsonObject { ["arguments"] = e.Text } }) };
                        break;
                    case GenerationEventKind.TokenLogprob: answer.Logprobs.Add(e.Logprob!); break;
                    case GenerationEventKind.Usage: usage = e.Usage; break;
                    case GenerationEventKind.Finish: reason = e.FinishReason!; break;
                }
                if (stream.Enabled && delta != null)
                {
                    var pending = logprobsJson != null ? answer.TakePendingLogprobs() : null;
                    await stream.Send(stream.Object == "text_completion"
                        ? stream.Chunk(null, null, pending, text: (string?)delta["content"] ?? "")
                        : stream.Chunk(delta, null, pending));
                }
            }
        }
        catch (OperationCanceledException) when (ctx.RequestAborted.IsCancellationRequested) { return; }
        catch (OperationCanceledException) when (sc.Stopping.IsCancellationRequested) { reason = "cancelled"; }
        if (ctx.RequestAborted.IsCancellationRequested) return; // the client went away; the lease frees the session
        // cut short by shutdown: the answer is incomplete, as when max_tokens is hit
        if (reason == "cancelled") reason = "length";
        usage ??= new Usage(prompt.Length, 0, 0, 0);
        sc.Metrics.CountGeneration(usage);
        await finish(answer, usage, reason);
    }

    /// <summary>SSE writer for one streamed answer.</summary>
    private sealed class OpenAiStream(HttpContext ctx, bool enabled, bool includeUsage, string id, long created, string model, string obj)
    {
        public bool Enabled => enabled;
        public string Object => obj;

        public async Task Start()
        {
            ctx.Response.ContentType = "text/event-stream";
            ctx.Response.Headers.CacheControl = "no-cache";
            if (obj == "chat.completion.chunk") await Send(Chunk(new JsonObject { ["role"] = "assistant", ["content"] = "" }, null, null));
            else await ctx.Response.Body.FlushAsync(ctx.RequestAborted);
        }

        public JsonObject Chunk(JsonObject? delta, string? finish, List<TokenLogprob>? logprobs, string? text = null)
        {
            var choice = new JsonObject { ["index"] = 0 };
            if (obj == "text_completion") choice["text"] = text ?? "";
            else choice["delta"] = delta ?? new JsonObject();
            if (logprobs != null)
                choice["logprobs"] = obj == "text_completion" ? CompletionLogprobs(logprobs) : new JsonObject { ["content"] = ChatLogprobs(logprobs) };
            choice["finish_reason"] = finish;
            return new JsonObject { ["id"] = id, ["object"] = obj, ["created"] = created, ["model"] = model, ["choices"] = new JsonArray(choice) };
        }

        /// <summary>The closing chunk (with the engine's timings), the usage chunk when asked for, then [DONE].</summary>
        public async Task Finish(JsonObject last, Usage usage, JsonObject usageJson)
        {
            last["timings"] = Timings(usage);
            await Send(last);
            if (includeUsage) { var u = Chunk(null, null, null); u["choices"] = new JsonArray(); u["usage"] = usageJson; await Send(u); }
            await ctx.Response.WriteAsync("data: [DONE]\n\n");
        }

        public async Task Send(JsonObject data)
        {
            await ctx.Response.WriteAsync("data: " + data.ToJsonString() + "\n\n", ctx.RequestAborted);
            await ctx.Response.Body.FlushAsync(ctx.RequestAborted);
        }
    }

    private static JsonNode ChatLogprobs(List<TokenLogprob> list) => new JsonArray(list.Select(l => (JsonNode)new JsonObject
    {
        ["token"] = l.Token, ["logprob"] = l.Logprob, ["bytes"] = Bytes(l.Bytes),
        ["top_logprobs"] = new JsonArray(l.Top.Select(t => (JsonNode)new JsonObject { ["token"] = t.Token, ["logprob"] = t.Logprob, ["bytes"] = Bytes(t.Bytes) }).ToArray()),
    }).ToArray());

    /// <summary>The legacy completions shape: parallel arrays plus a token → logprob map per position.</summary>
    private static JsonNode CompletionLogprobs(List<TokenLogprob> list)
    {
        var tops = new JsonArray();
        foreach (var l in list)
        {
            var map = new JsonObject();
            foreach (var t in l.Top) map[t.Token] = t.Logprob;
            tops.Add(map);
        }
        int offset = 0;
        var offsets = new JsonArray();
        foreach (var l in list) { offsets.Add(offset); offset += l.Token.Length; }
        return new JsonObject
        {
            ["tokens"] = new JsonArray(list.Select(l => (JsonNode)JsonValue.Create(l.Token)).ToArray()),
            ["token_logprobs"] = new JsonArray(list.Select(l => (JsonNode)JsonValue.Create(l.Logprob)).ToArray()),
            ["top_logprobs"] = tops, ["text_offset"] = offsets,
        };
    }

    private static JsonArray Bytes(byte[] b) => new(b.Select(x => (JsonNode)JsonValue.Create((int)x)).ToArray());

    private static int[] WithBos(int[] ids, int bos) => ids.Length > 0 && ids[0] == bos ? ids : [bos, .. ids];

    /// <summary>OpenAI chat body → engine request; every bad field is a ParameterException naming it.</summary>
    internal static ChatRequest ToChatRequest(JsonObject body, string model)
    {
        if (body["messages"] is not JsonArray messages || messages.Count == 0) throw new ParameterException("messages", "required, a non-empty array");
        Int(body, "n", 1, 1);
        bool thinking = model == "deepseek-reasoner" || body["thinking"] is JsonObject t && Str(t, "type") switch
        {
            "enabled" => true, "disabled" or null => false,
            var x => throw new ParameterException("thinking.type", $"\"{x}\" is not one of enabled, disabled"),
        };
        JsonArray? tools = null;
        if (body["tools"] is JsonArray ta && ta.Count > 0)
        {
            for (int i = 0; i < ta.Count; i++)
                if (ta[i]?["function"]?["name"] is not JsonValue nv || !nv.TryGetValue(out string? _))
                    throw new ParameterException($"tools[{i}].function.name", "required");
            tools = ta;
        }
        else if (body["tools"] is not (null or JsonArray)) throw new ParameterException("tools", "expected an array");
        var toolChoice = body["tool_choice"] switch
        {
            null => ToolChoice.Auto,
            JsonValue v when v.TryGetValue(out string? s) => s switch
            {
                "auto" => ToolChoice.Auto, "none" => ToolChoice.None, "required" => ToolChoice.Required,
                _ => throw new ParameterException("tool_choice", $"\"{s}\" is not one of auto, none, required or {{\"type\":\"function\",\"function\":{{\"name\":…}}}}"),
            },
            JsonObject o when Str(o["function"] as JsonObject ?? new JsonObject(), "name") is string name => ToolChoice.Function(name),
            _ => throw new ParameterException("tool_choice", "expected auto, none, required or {\"type\":\"function\",\"function\":{\"name\":…}}"),
        };
        if (toolChoice.Mode is "required" or "function" && tools == null) throw new ParameterException("tool_choice", $"\"{toolChoice.Mode}\" needs tools");
        if (toolChoice.FunctionName is string fn && !tools!.Any(x => (string?)x?["function"]?["name"] == fn))
            throw new ParameterException("tool_choice.function.name", $"\"{fn}\" is not among the tools");
        bool logprobs = Bool(body, "logprobs") ?? false;
        int? top = Int(body, "top_logprobs", 0, 20);
        if (top != null && !logprobs) throw new ParameterException("top_logprobs", "needs logprobs: true");
        var responseFormat = body["response_format"] switch
        {
            null => null,
            JsonObject rf when Str(rf, "type") == "text" => null,
            JsonObject rf when Str(rf, "type") is "json_object" or "json_schema" => rf,
            _ => throw new ParameterException("response_format.type", "expected text, json_object or json_schema"),
        };
        var request = new ChatRequest
        {
            Messages = ToV4Messages(messages),
            Tools = tools, ToolChoice = toolChoice, ResponseFormat = responseFormat,
            Thinking = thinking,
            // DeepSeek's mapping: medium and xhigh count as high, ultra as max
            ReasoningEffort = Str(body, "reasoning_effort") switch
            {
                null => null, "low" => "low", "medium" or "high" or "xhigh" => "high", "max" or "ultra" => "max",
                var x => throw new ParameterException("reasoning_effort", $"\"{x}\" is not one of low, medium, high, xhigh, max"),
            },
            MaxTokens = Int(body, "max_completion_tokens", 1, int.MaxValue) ?? Int(body, "max_tokens", 1, int.MaxValue) ?? 4096,
            Sampling = Sampling(body),
            Stop = Stops(body), StopIds = StopIds(body),
            TopLogprobs = logprobs ? top ?? 0 : -1,
        };
        return request;
    }

    private static SamplingOptions Sampling(JsonObject body) => new()
    {
        Temperature = Float(body, "temperature", 0, 2) ?? 1f, TopP = Float(body, "top_p", 0, 1) ?? 1f, TopK = Int(body, "top_k", 0, int.MaxValue) ?? 0,
        MinP = Float(body, "min_p", 0, 1) ?? 0f, PresencePenalty = Float(body, "presence_penalty", -2, 2) ?? 0f,
        FrequencyPenalty = Float(body, "frequency_penalty", -2, 2) ?? 0f, RepetitionPenalty = Float(body, "repetition_penalty", 0.01f, 10) ?? 1f,
        Seed = Int(body, "seed", int.MinValue, int.MaxValue),
    };

    private static string[] Stops(JsonObject body) => body["stop"] switch
    {
        null => [],
        JsonValue v when v.TryGetValue(out string? s) => [s],
        JsonArray a when a.All(x => x is JsonValue xv && xv.TryGetValue(out string? _)) => a.Select(x => (string)x!).ToArray(),
        _ => throw new ParameterException("stop", "expected a string or an array of strings"),
    };

    /// <summary>vLLM's stop_token_ids: ids that end the answer without being emitted.</summary>
    private static int[] StopIds(JsonObject body) => body["stop_token_ids"] switch
    {
        null => [],
        JsonArray a when a.All(x => x is JsonValue xv && xv.TryGetValue(out int _)) => a.Select(x => (int)x!).ToArray(),
        _ => throw new ParameterException("stop_token_ids", "expected an array of token ids"),
    };

    internal static string? Str(JsonObject o, string name) => o[name] switch
    {
        null => null,
        JsonValue v when v.TryGetValue(out string? s) => s,
        _ => throw new ParameterException(name, "expected a string"),
    };

    internal static bool? Bool(JsonObject o, string name) => o[name] switch
    {
        null => null,
        JsonValue v when v.TryGetValue(out bool b) => b,
        _ => throw new ParameterException(name, "expected true or false"),
    };

    internal static int? Int(JsonObject o, string name, int min, int max)
    {
        if (o[name] is null) return null;
        if (o[name] is not JsonValue v || !v.TryGetValue(out double d) || d != Math.Floor(d) || d < min || d > max)
            throw new ParameterException(name, max == int.MaxValue ? $"expected an integer ≥ {min}" : min == max ? $"only {min} is supported" : $"expected an integer in [{min}, {max}]");
        return (int)d;
    }

    internal static float? Float(JsonObject o, string name, float min, float max)
    {
        if (o[name] is null) return null;
        if (o[name] is not JsonValue v || !v.TryGetValue(out double d) || double.IsNaN(d) || d < min || d > max)
            throw new ParameterException(name, $"expected a number in [{min}, {max}]");
        return (float)d;
    }

    /// <summary>OpenAI history → V4 messages: reasoning_content and tool calls pass through; content arrays become text.</summary>
    private static JsonArray ToV4Messages(JsonArray messages)
    {
        var result = new JsonArray();
        for (int i = 0; i < messages.Count; i++)
        {
            if (messages[i] is not JsonObject o) throw new ParameterException($"messages[{i}]", "expected an object");
            string? role = (string?)(o["role"] as JsonValue);
            if (role is not ("system" or "user" or "assistant" or "tool" or "developer" or "latest_reminder"))
                throw new ParameterException($"messages[{i}].role", $"\"{role}\" is not one of system, user, assistant, tool, developer");
            var copy = (JsonObject)o.DeepClone();
            if (copy["content"] is JsonArray parts && role != "tool")
                copy["content"] = string.Concat(parts.Select(p => (string?)p?["text"] ?? ""));
            result.Add(copy);
        }
        return result;
    }

    internal static JsonObject UsageJson(Usage u, ServerOptions o)
    {
        var cost = Cost.Of(u, o);
        return new JsonObject
        {
            ["prompt_tokens"] = u.PromptTokens, ["completion_tokens"] = u.CompletionTokens, ["total_tokens"] = u.PromptTokens + u.CompletionTokens,
            ["prompt_tokens_details"] = new JsonObject { ["cached_tokens"] = u.CachedTokens },
            ["completion_tokens_details"] = new JsonObject { ["reasoning_tokens"] = u.ReasoningTokens },
            ["prompt_cache_hit_tokens"] = u.CachedTokens, ["prompt_cache_miss_tokens"] = u.PromptTokens - u.CachedTokens,
            ["cost"] = new JsonObject
            {
                ["currency"] = "USD", ["input_cache_miss"] = cost.InputMiss, ["input_cache_hit"] = cost.InputHit, ["output"] = cost.Output, ["total"] = cost.Total,
            },
        };
    }

    /// <summary>Engine timings of the answer (prompt = prefill of the uncached tokens).</summary>
    internal static JsonObject Timings(Usage u) => new()
    {
        ["prompt_n"] = u.PrefilledTokens, ["prompt_ms"] = Math.Round(u.PrefillMs, 3),
        ["predicted_n"] = u.CompletionTokens, ["predicted_ms"] = Math.Round(u.DecodeMs, 3),
        ["predicted_per_second"] = Math.Round(u.DecodeTokensPerSecond, 3), ["ttft_ms"] = Math.Round(u.TimeToFirstTokenMs, 3),
    };

    internal static Task Error(HttpContext ctx, int status, string code, string message, string? param = null)
    {
        ctx.Response.StatusCode = status;
        string type = status switch { 401 => "authentication_error", 429 => "rate_limit_error", >= 500 => "server_error", _ => "invalid_request_error" };
        return ctx.Response.WriteAsJsonAsync(new JsonObject
        {
            ["error"] = new JsonObject { ["message"] = message, ["type"] = type, ["param"] = param, ["code"] = code },
        });
    }
}
