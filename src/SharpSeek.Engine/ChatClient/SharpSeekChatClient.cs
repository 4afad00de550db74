using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.AI;
using SharpSeek.Tokenizer;
using SharpSeek.Tokenizer.Chat;

namespace SharpSeek.Engine.ChatClient;

/// <summary>Settings of a <see cref="SharpSeekChatClient"/> that no single request carries.</summary>
public sealed record SharpSeekChatClientOptions
{
    /// <summary>Sessions in the pool the client creates when none is given (each holds one conversation's cache).</summary>
    public int Parallel { get; init; } = 1;
    /// <summary>Output token limit when <see cref="ChatOptions.MaxOutputTokens"/> is not set.</summary>
    public int DefaultMaxOutputTokens { get; init; } = 2048;
    /// <summary>Model id reported on responses and in <see cref="ChatClientMetadata"/>; defaults to the engine's name.</summary>
    public string? ModelId { get; init; }
}

/// <summary>
/// Microsoft.Extensions.AI <see cref="IChatClient"/> over the engine, in process: <see cref="ChatMessage"/>s become the
/// OpenAI-style V4 messages the chat encoder takes (reasoning replayed as reasoning_content, function calls as
/// tool_calls, function results as tool messages, declared functions as the system message's tools block), the request
/// runs through <see cref="Generator"/> on a pooled session chosen by longest cached prefix, and the generation events
/// come back as updates: <see cref="TextReasoningContent"/>, <see cref="TextContent"/>, one
/// <see cref="FunctionCallContent"/> per call once its arguments are complete, and a last update with
/// <see cref="UsageContent"/> and the <see cref="ChatFinishReason"/>.
/// </summary>
/// <remarks>
/// Thinking is on when <c>ChatOptions.Reasoning.Effort</c> is set to anything but <see cref="ReasoningEffort.None"/>
/// (Low/Medium: the default effort, High: "high", ExtraHigh: "max") or when
/// <c>AdditionalProperties["thinking"]</c> is true; <c>Reasoning.Output = None</c> keeps the reasoning out of the
/// updates. <see cref="ChatToolMode.None"/> leaves the tools out of the prompt; <see cref="ChatToolMode.RequireAny"/> and
/// <c>RequireSpecific(name)</c> force the answer to open a tool call (of that function).
/// </remarks>
public sealed class SharpSeekChatClient : IChatClient
{
    public const string ProviderName = "sharpseek";

    private readonly IInferenceEngine _engine;
    private readonly SharpSeekChatClientOptions _options;
    private readonly bool _ownsPool;

    public Generator Generator { get; }
    public SessionPool Pool { get; }
    public ChatClientMetadata Metadata { get; }
    public string ModelId { get; }

    /// <param name="engine">The model; it stays the caller's to dispose.</param>
    /// <param name="pool">Sessions to run on (share one with a server to share its caches); without one the client
    /// makes (and disposes) its own of <see cref="SharpSeekChatClientOptions.Parallel"/> sessions.</param>
    public SharpSeekChatClient(IInferenceEngine engine, BpeTokenizer tokenizer, ChatFormat format, SessionPool? pool = null,
                               SharpSeekChatClientOptions? options = null)
    {
        _engine = engine;
        _options = options ?? new SharpSeekChatClientOptions();
        Generator = new Generator(engine, tokenizer, format);
        _ownsPool = pool == null;
        Pool = pool ?? new SessionPool(engine, _options.Parallel);
        ModelId = _options.ModelId ?? engine.ModelName;
        Metadata = new ChatClientMetadata(ProviderName, defaultModelId: ModelId);
    }

    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
                                                     CancellationToken cancellationToken = default) =>
        await GetStreamingResponseAsync(messages, options, cancellationToken).ToChatResponseAsync(cancellationToken);

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
                                                                                [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var request = CreateRequest(messages, options);
        int[] prompt;
        try { prompt = Generator.EncodePrompt(request); }
        catch (ChatFormatException e) { throw new ArgumentException(e.Message, nameof(messages), e); }
        if (prompt.Length + 1 > _engine.MaxContext)
            throw new InvalidOperationException($"the prompt is {prompt.Length} tokens; the maximum context is {_engine.MaxContext}");
        request = request with { MaxTokens = Math.Min(request.MaxTokens, _engine.MaxContext - prompt.Length) };

        using var lease = await Pool.AcquireAsync(prompt, cancellationToken)
                          ?? throw new InvalidOperationException($"all {Pool.Capacity} sessions are busy and {Pool.MaxQueue} requests are already waiting");
        string responseId = "chatcmpl-" + Guid.NewGuid().ToString("N")[..24];
        string callPrefix = "call_" + responseId[^8..] + "_";
        var created = DateTimeOffset.UtcNow;
        bool showReasoning = options?.Reasoning?.Output != ReasoningOutput.None;
        var calls = new List<(string Id, string Name, StringBuilder Arguments)>();
        int callsSent = 0;
        Usage? usage = null;

        ChatResponseUpdate Update(AIContent content) => new(ChatRole.Assistant, [content])
        {
            ResponseId = responseId, MessageId = responseId, ModelId = ModelId, CreatedAt = created,
        };

        await foreach (var e in Generator.RunAsync(request, lease.Session, cancellationToken))
        {
            switch (e.Kind)
            {
                case GenerationEventKind.ReasoningDelta:
                    if (showReasoning && e.Text.Length > 0) yield return Update(new TextReasoningContent(e.Text));
                    break;
                case GenerationEventKind.ContentDelta:
                    if (e.Text.Length > 0) yield return Update(new TextContent(e.Text));
                    break;
                case GenerationEventKind.ToolCallStart:
                    // a new call starts: the one before it has all its arguments
                    if (callsSent < calls.Count) yield return Update(FunctionCall(calls[callsSent++]));
                    calls.Add((callPrefix + e.ToolIndex, e.ToolName ?? "", new StringBuilder()));
                    break;
                case GenerationEventKind.ToolCallArgumentsDelta:
                    calls[e.ToolIndex].Arguments.Append(e.Text);
                    break;
                case GenerationEventKind.Usage:
                    usage = e.Usage;
                    break;
                case GenerationEventKind.Finish:
                    if (e.FinishReason == "cancelled") cancellationToken.ThrowIfCancellationRequested();
                    while (callsSent < calls.Count) yield return Update(FunctionCall(calls[callsSent++]));
                    var last = Update(new UsageContent(ToUsageDetails(usage!)));
                    last.FinishReason = e.FinishReason switch
                    {
                        "length" => ChatFinishReason.Length,
                        "tool_calls" => ChatFinishReason.ToolCalls,
                        _ => ChatFinishReason.Stop,
                    };
                    if (e.Error != null) (last.AdditionalProperties ??= new())["parse_error"] = e.Error;
                    yield return last;
                    break;
            }
        }
    }

    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey != null) return null;
        if (serviceType == typeof(ChatClientMetadata)) return Metadata;
        if (serviceType.IsInstanceOfType(this)) return this;
        if (serviceType.IsInstanceOfType(_engine)) return _engine;
        if (serviceType == typeof(SessionPool)) return Pool;
        if (serviceType == typeof(Generator)) return Generator;
        return null;
    }

    public void Dispose()
    {
        if (_ownsPool) Pool.Dispose();
    }

    /// <summary>The engine request a call would run: V4 messages, thinking and effort, sampling, limits, stop strings.</summary>
    public ChatRequest CreateRequest(IEnumerable<ChatMessage> messages, ChatOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var tools = options?.ToolMode is NoneChatToolMode ? null : options?.Tools;
        // RequireAny / RequireSpecific: the generator forces the DSML tool-call opening (and the named invoke)
        var toolChoice = options?.ToolMode switch
        {
            RequiredChatToolMode { RequiredFunctionName: { } name } => ToolChoice.Function(name),
            RequiredChatToolMode => ToolChoice.Required,
            _ => ToolChoice.Auto,
        };
        if (toolChoice != ToolChoice.Auto)
        {
            if (tools is not { Count: > 0 }) throw new ArgumentException("ChatToolMode.RequireAny / RequireSpecific needs ChatOptions.Tools", nameof(options));
            if (toolChoice.FunctionName is string fn && !tools.Any(t => t.Name == fn))
                throw new ArgumentException($"ChatToolMode.RequireSpecific: \"{fn}\" is not among ChatOptions.Tools", nameof(options));
        }
        var v4 = ToV4Messages(messages, tools, options?.Instructions, options?.ResponseFormat);
        if (v4.Count == 0) throw new ArgumentException("messages: at least one message is needed", nameof(messages));

        var extra = options?.AdditionalProperties;
        bool thinking = Flag(extra, "thinking") ?? options?.Reasoning switch
        {
            null => false,
            { Effort: { } effort } => effort != ReasoningEffort.None,
            var r => r.Output is ReasoningOutput.Summary or ReasoningOutput.Full,
        };
        string? reasoningEffort = String(extra, "reasoning_effort") switch
        {
            null => options?.Reasoning?.Effort switch { ReasoningEffort.High => "high", ReasoningEffort.ExtraHigh => "max", _ => null },
            "none" => null,
            "low" => "low",
            "medium" or "high" or "xhigh" => "high",
            "max" or "ultra" => "max",
            var x => throw new ArgumentException($"AdditionalProperties[\"reasoning_effort\"]: \"{x}\" is not one of low, medium, high, max"),
        };
        int maxTokens = options?.MaxOutputTokens ?? _options.DefaultMaxOutputTokens;
        if (maxTokens <= 0) throw new ArgumentException("MaxOutputTokens: must be positive", nameof(options));
        return new ChatRequest
        {
            Messages = v4,
            Tools = toolChoice != ToolChoice.Auto ? new JsonArray(tools!.Select(ToolJson).ToArray()) : null,
            ToolChoice = toolChoice,
            Thinking = thinking,
            ReasoningEffort = reasoningEffort,
            MaxTokens = maxTokens,
            Stop = options?.StopSequences?.Where(s => s.Length > 0).ToArray() ?? [],
            Sampling = new SamplingOptions
            {
                Temperature = options?.Temperature ?? 1f,
                TopP = options?.TopP ?? 1f,
                TopK = options?.TopK ?? 0,
                PresencePenalty = options?.PresencePenalty ?? 0f,
                FrequencyPenalty = options?.FrequencyPenalty ?? 0f,
                MinP = Number(extra, "min_p") ?? 0f,
                RepetitionPenalty = Number(extra, "repetition_penalty") ?? 1f,
                Seed = options?.Seed is long seed ? unchecked((int)(seed ^ (seed >> 32))) : null,
            },
        };
    }

    /// <summary>
    /// Chat messages → the OpenAI-style messages the V4 encoder takes. System and user text pass through; an assistant
    /// message's reasoning becomes reasoning_content and its function calls tool_calls (arguments as JSON text); each
    /// function result becomes a tool message. Tools, instructions and a JSON response format go on the leading system
    /// message (one is added when the conversation has none).
    /// </summary>
    public static JsonArray ToV4Messages(IEnumerable<ChatMessage> messages, IList<AITool>? tools = null, string? instructions = null,
                                         ChatResponseFormat? responseFormat = null)
    {
        var result = new JsonArray();
        foreach (var message in messages)
        {
            string role = message.Role.Value;
            var text = new StringBuilder();
            var reasoning = new StringBuilder();
            var toolCalls = new JsonArray();
            var toolResults = new List<JsonObject>();
            bool hasText = false;
            foreach (var content in message.Contents)
            {
                switch (content)
                {
                    case TextContent t: text.Append(t.Text); hasText = true; break;
                    case TextReasoningContent r: reasoning.Append(r.Text); break;
                    case FunctionCallContent call:
                        toolCalls.Add(new JsonObject
                        {
                            ["id"] = call.CallId, ["type"] = "function",
                            ["function"] = new JsonObject { ["name"] = call.Name, ["arguments"] = ArgumentsJson(call.Arguments) },
                        });
                        break;
                    case FunctionResultContent fr:
                        toolResults.Add(new JsonObject { ["role"] = "tool", ["tool_call_id"] = fr.CallId, ["content"] = ResultText(fr) });
                        break;
                    case UsageContent or ErrorContent:
                        break; // bookkeeping of an earlier response, not conversation
                    default:
                        throw new NotSupportedException($"{content.GetType().Name} in a {role} message: the model reads text only");
                }
            }
            bool isAssistant = role == ChatRole.Assistant.Value;
            if (!isAssistant) foreach (var r in toolResults) result.Add(r); // results answer the calls before them
            if (role == ChatRole.Tool.Value)
            {
                if (hasText) result.Add(new JsonObject { ["role"] = "tool", ["content"] = text.ToString() });
                continue;
            }
            if (!isAssistant && (toolCalls.Count > 0 || reasoning.Length > 0))
                throw new ArgumentException($"a {role} message cannot carry function calls or reasoning", nameof(messages));
            if (isAssistant)
            {
                if (hasText || toolCalls.Count > 0 || reasoning.Length > 0)
                {
                    var m = new JsonObject { ["role"] = "assistant", ["content"] = text.ToString() };
                    if (reasoning.Length > 0) m["reasoning_content"] = reasoning.ToString();
                    if (toolCalls.Count > 0) m["tool_calls"] = toolCalls;
                    result.Add(m);
                }
                foreach (var r in toolResults) result.Add(r);
            }
            else if (role == ChatRole.System.Value || role == ChatRole.User.Value || role is "developer" or "latest_reminder")
            {
                if (hasText || message.Contents.Count == 0) result.Add(new JsonObject { ["role"] = role, ["content"] = text.ToString() });
            }
            else throw new ArgumentException($"role \"{role}\": expected system, user, assistant or tool", nameof(messages));
        }

        int leadingSystems = 0;
        while (leadingSystems < result.Count && (string?)result[leadingSystems]!["role"] == "system") leadingSystems++;
        if (!string.IsNullOrEmpty(instructions))
            result.Insert(leadingSystems++, new JsonObject { ["role"] = "system", ["content"] = instructions });

        var declarations = tools?.Select(ToolJson).ToArray() ?? [];
        JsonObject? format = responseFormat is ChatResponseFormatJson json ? ResponseFormatJson(json) : null;
        if (declarations.Length > 0 || format != null)
        {
            if (leadingSystems == 0) result.Insert(0, new JsonObject { ["role"] = "system", ["content"] = "" });
            var system = result[0]!.AsObject();
            if (declarations.Length > 0) system["tools"] = new JsonArray(declarations);
            if (format != null) system["response_format"] = format;
        }
        return result;
    }

    private static JsonNode ToolJson(AITool tool)
    {
        if (tool is not AIFunctionDeclaration f)
            throw new NotSupportedException($"tool \"{tool.Name}\" ({tool.GetType().Name}): only function declarations can be offered to the model");
        var function = new JsonObject { ["name"] = f.Name };
        if (!string.IsNullOrEmpty(f.Description)) function["description"] = f.Description;
        function["parameters"] = JsonNode.Parse(f.JsonSchema.GetRawText());
        return new JsonObject { ["type"] = "function", ["function"] = function };
    }

    private static JsonObject ResponseFormatJson(ChatResponseFormatJson json)
    {
        if (json.Schema is not { } schema) return new JsonObject { ["type"] = "json_object" };
        var spec = new JsonObject { ["name"] = json.SchemaName ?? "response" };
        if (!string.IsNullOrEmpty(json.SchemaDescription)) spec["description"] = json.SchemaDescription;
        spec["schema"] = JsonNode.Parse(schema.GetRawText());
        return new JsonObject { ["type"] = "json_schema", ["json_schema"] = spec };
    }

    private static string ArgumentsJson(IDictionary<string, object?>? arguments)
    {
        var obj = new JsonObject();
        if (arguments != null)
            foreach (var (name, value) in arguments)
                obj[name] = value switch
                {
                    null => null,
                    JsonNode node => node.DeepClone(),
                    _ => JsonSerializer.SerializeToNode(value, value.GetType(), AIJsonUtilities.DefaultOptions),
                };
        return obj.ToJsonString();
    }

    private static string ResultText(FunctionResultContent result) => result.Result switch
    {
        null when result.Exception != null => "Error: " + result.Exception.Message,
        null => "",
        string s => s,
        JsonElement { ValueKind: JsonValueKind.String } e => e.GetString()!,
        JsonElement e => e.GetRawText(),
        JsonNode n => n is JsonValue v && v.TryGetValue(out string? s) ? s : n.ToJsonString(),
        TextContent t => t.Text,
        var other => JsonSerializer.Serialize(other, other.GetType(), AIJsonUtilities.DefaultOptions),
    };

    private static FunctionCallContent FunctionCall((string Id, string Name, StringBuilder Arguments) call) =>
        FunctionCallContent.CreateFromParsedArguments(call.Arguments.Length > 0 ? call.Arguments.ToString() : "{}", call.Id, call.Name, ParseArguments);

    private static IDictionary<string, object?>? ParseArguments(string json)
    {
        using var doc = JsonDocument.Parse(json);
        if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new JsonException("tool call arguments: expected a JSON object");
        var arguments = new Dictionary<string, object?>();
        foreach (var p in doc.RootElement.EnumerateObject()) arguments[p.Name] = p.Value.Clone();
        return arguments;
    }

    private static UsageDetails ToUsageDetails(Usage u) => new()
    {
        InputTokenCount = u.PromptTokens,
        OutputTokenCount = u.CompletionTokens,
        TotalTokenCount = u.PromptTokens + u.CompletionTokens,
        CachedInputTokenCount = u.CachedTokens,
        ReasoningTokenCount = u.ReasoningTokens,
    };

    private static bool? Flag(AdditionalPropertiesDictionary? extra, string key) =>
        extra == null || !extra.TryGetValue(key, out var v) ? null : v switch
        {
            null or JsonElement { ValueKind: JsonValueKind.Null } => null,
            bool b => b,
            string s => s is "true" or "enabled",
            JsonElement { ValueKind: JsonValueKind.True } => true,
            JsonElement { ValueKind: JsonValueKind.False } => false,
            JsonElement { ValueKind: JsonValueKind.String } e => e.GetString() is "true" or "enabled",
            JsonElement { ValueKind: JsonValueKind.Object } e => e.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String && t.GetString() == "enabled",
            _ => throw new ArgumentException($"AdditionalProperties[\"{key}\"]: expected true or false"),
        };

    private static string? String(AdditionalPropertiesDictionary? extra, string key) =>
        extra == null || !extra.TryGetValue(key, out var v) ? null : v switch
        {
            null => null,
            string s => s,
            JsonElement { ValueKind: JsonValueKind.String } e => e.GetString(),
            _ => throw new ArgumentException($"AdditionalProperties[\"{key}\"]: expected a string"),
        };

    private static float? Number(AdditionalPropertiesDictionary? extra, string key) =>
        extra == null || !extra.TryGetValue(key, out var v) ? null : v switch
        {
            null => null,
            JsonElement { ValueKind: JsonValueKind.Number } e => e.GetSingle(),
            IConvertible c => c.ToSingle(System.Globalization.CultureInfo.InvariantCulture),
            _ => throw new ArgumentException($"AdditionalProperties[\"{key}\"]: expected a number"),
        };
}
