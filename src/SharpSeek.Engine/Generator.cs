using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text.Json.Nodes;
using SharpSeek.Tokenizer;
using SharpSeek.Tokenizer.Chat;

namespace SharpSeek.Engine;

/// <summary>How the model may use the request's tools (OpenAI's tool_choice, Anthropic's tool_choice).</summary>
public sealed record ToolChoice(string Mode, string? FunctionName = null)
{
    /// <summary>The model decides.</summary>
    public static readonly ToolChoice Auto = new("auto");
    /// <summary>The tools are left out of the prompt: the model answers in text.</summary>
    public static readonly ToolChoice None = new("none");
    /// <summary>The answer is forced to open a tool-call block; the model picks the tool.</summary>
    public static readonly ToolChoice Required = new("required");
    /// <summary>The answer is forced to open a call of this tool.</summary>
    public static ToolChoice Function(string name) => new("function", name);
}

/// <summary>A chat request in the engine's terms (the HTTP layers and the IChatClient map their DTOs onto it).</summary>
public sealed record ChatRequest
{
    /// <summary>OpenAI-style messages (system/user/assistant/tool/developer/latest_reminder), as V4ChatEncoder takes them.</summary>
    public required JsonArray Messages { get; init; }
    /// <summary>OpenAI-style tool declarations ({type:"function", function:{name, description, parameters}}); rendered
    /// into the system message as V4's tools block.</summary>
    public JsonArray? Tools { get; init; }
    public ToolChoice ToolChoice { get; init; } = ToolChoice.Auto;
    /// <summary>A response_format object for the system message (e.g. {type:"json_object"}), or null.</summary>
    public JsonNode? ResponseFormat { get; init; }
    public bool Thinking { get; init; }
    /// <summary>null, "low", "high" or "max" (the chat format decides what each adds to the prompt).</summary>
    public string? ReasoningEffort { get; init; }
    public SamplingOptions Sampling { get; init; } = new();
    public int MaxTokens { get; init; } = 256;
    public IReadOnlyList<string> Stop { get; init; } = [];
    public IReadOnlyList<int> StopIds { get; init; } = [];
    /// <summary>-1: no log-probabilities; 0..20: each token's log-probability with that many alternatives.</summary>
    public int TopLogprobs { get; init; } = -1;
}

/// <summary>A raw-text completion (OpenAI's legacy /v1/completions): no chat template, no DSML parsing.</summary>
public sealed record CompletionRequest
{
    /// <summary>Prompt ids, BOS included when wanted.</summary>
    public required int[] PromptIds { get; init; }
    public SamplingOptions Sampling { get; init; } = new();
    public int MaxTokens { get; init; } = 16;
    public IReadOnlyList<string> Stop { get; init; } = [];
    public IReadOnlyList<int> StopIds { get; init; } = [];
    public int TopLogprobs { get; init; } = -1;
}

public enum GenerationEventKind { ReasoningDelta, ContentDelta, ToolCallStart, ToolCallArgumentsDelta, TokenLogprob, Usage, Finish }

/// <summary>Token counts of one answer, and where its time went.</summary>
public sealed record Usage(int PromptTokens, int CachedTokens, int CompletionTokens, int ReasoningTokens)
{
    /// <summary>Prompt tokens actually run through the model (PromptTokens − CachedTokens).</summary>
    public int PrefilledTokens => PromptTokens - CachedTokens;
    /// <summary>From the start of the generation to the first sampled token (prefill included).</summary>
    public double TimeToFirstTokenMs { get; init; }
    public double PrefillMs { get; init; }
    /// <summary>From the first sampled token to the last.</summary>
    public double DecodeMs { get; init; }
    public double DecodeTokensPerSecond => CompletionTokens > 1 && DecodeMs > 0 ? (CompletionTokens - 1) / (DecodeMs / 1000) : 0;
}

/// <summary>One alternative in a token's top log-probabilities.</summary>
public sealed record TopLogprob(int Id, string Token, byte[] Bytes, float Logprob);

/// <summary>The sampled token's log-probability (of the model's distribution before penalties and filters).</summary>
public sealed record TokenLogprob(int Id, string Token, byte[] Bytes, float Logprob, IReadOnlyList<TopLogprob> Top);

/// <summary>One step of a streamed answer; FinishReason is "stop", "length", "tool_calls" or "cancelled".</summary>
public sealed record GenerationEvent(GenerationEventKind Kind, string Text = "", int ToolIndex = -1, string? ToolId = null,
                                     string? ToolName = null, Usage? Usage = null, string? FinishReason = null, string? Error = null,
                                     TokenLogprob? Logprob = null);

/// <summary>
/// The generation loop: chat encoding → prefill that reuses the session's cached prefix → sampled decode → streaming
/// detokenizer → streaming DSML parser → typed events. Cancellation is checked before every token.
/// </summary>
public sealed class Generator(IInferenceEngine engine, BpeTokenizer tokenizer, ChatFormat format)
{
    public ChatFormat Format => format;
    public BpeTokenizer Tokenizer => tokenizer;
    public IInferenceEngine Engine => engine;

    /// <summary>Prompt ids for a request (BOS included by the encoder).</summary>
    public int[] EncodePrompt(ChatRequest request) =>
        tokenizer.Encode(V4ChatEncoder.Encode(PromptMessages(request), request.Thinking ? "thinking" : "chat", format, reasoningEffort: Effort(request.ReasoningEffort)));

    /// <summary>Efforts low / high / max; the preview format knows only high (its default) and max.</summary>
    private string? Effort(string? effort) => format == ChatFormat.V4 && effort is "low" or "high" ? null : effort;

    /// <summary>The messages as encoded: tools (unless tool_choice is none) and response_format join the system
    /// message, which is added empty when the conversation has none (V4 renders tools only there).</summary>
    public static JsonArray PromptMessages(ChatRequest request)
    {
        bool tools = request.Tools is { Count: > 0 } && request.ToolChoice.Mode != "none";
        if (!tools && request.ResponseFormat == null) return request.Messages;
        var messages = (JsonArray)request.Messages.DeepClone();
        if (messages.Count == 0 || (string?)messages[0]?["role"] != "system")
            messages.Insert(0, new JsonObject { ["role"] = "system", ["content"] = "" });
        if (tools) messages[0]!["tools"] = request.Tools!.DeepClone();
        if (request.ResponseFormat != null) messages[0]!["response_format"] = request.ResponseFormat.DeepClone();
        return messages;
    }

    /// <summary>The text forced into the answer by tool_choice required / a named function, or null.</summary>
    public static string? ForcedToolCallText(ChatRequest request)
    {
        if (request.Tools is not { Count: > 0 }) return null;
        return request.ToolChoice.Mode switch
        {
            // the same bytes V4's encoder writes in front of an assistant turn's calls
            "required" => "\n\n" + V4ChatEncoder.ToolCallsOpen + "\n",
            "function" => "\n\n" + V4ChatEncoder.ToolCallsOpen + "\n<" + V4ChatEncoder.Dsml + "invoke name=\"" + request.ToolChoice.FunctionName + "\">\n",
            _ => null,
        };
    }

    public IAsyncEnumerable<GenerationEvent> RunAsync(ChatRequest request, IInferenceSession session, CancellationToken cancellationToken = default)
    {
        int[] prompt = EncodePrompt(request);
        string? forced = ForcedToolCallText(request);
        var settings = new Settings(request.Sampling, request.MaxTokens, request.Stop, request.StopIds, request.TopLogprobs,
                                    forced == null ? null : tokenizer.Encode(forced), request.Thinking);
        return RunCoreAsync(prompt, settings, new DsmlStreamParser(request.Thinking), session, cancellationToken);
    }

    /// <summary>Raw completion: every generated character is content.</summary>
    public IAsyncEnumerable<GenerationEvent> CompleteAsync(CompletionRequest request, IInferenceSession session, CancellationToken cancellationToken = default) =>
        RunCoreAsync(request.PromptIds, new Settings(request.Sampling, request.MaxTokens, request.Stop, request.StopIds, request.TopLogprobs, null, false),
                     null, session, cancellationToken);

    private sealed record Settings(SamplingOptions Sampling, int MaxTokens, IReadOnlyList<string> Stop, IReadOnlyList<int> StopIds,
                                   int TopLogprobs, int[]? ForcedIds, bool Thinking);

    private async IAsyncEnumerable<GenerationEvent> RunCoreAsync(int[] prompt, Settings s, DsmlStreamParser? parser, IInferenceSession session,
                                                                [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        if (prompt.Length == 0) throw new ArgumentException("the prompt is empty");
        if (prompt.Length + 1 > engine.MaxContext)
            throw new InvalidOperationException($"prompt is {prompt.Length} tokens; the maximum context is {engine.MaxContext}");
        var clock = Stopwatch.StartNew();
        int cached = session.Reuse(prompt);
        await Task.Yield(); // the caller's thread is free while the prefill runs
        session.Append(prompt.AsSpan(cached), cancellationToken);
        double prefillMs = clock.Elapsed.TotalMilliseconds, firstTokenMs = 0;

        var sampler = new Sampler(s.Sampling, engine.VocabSize);
        var logprobs = s.TopLogprobs >= 0 ? new LogprobTable(tokenizer, engine.VocabSize) : null;
        var detok = tokenizer.CreateStreamingDecoder();
        var events = new List<ChatStreamEvent>();
        var output = new List<GenerationEvent>();
        int eos = tokenizer.EosId, completion = 0, reasoningTokens = 0;
        int thinkEnd = tokenizer.TokenToId(V4ChatEncoder.ThinkEnd) ?? -1;
        // tool_choice forcing: in chat mode the answer starts with the call; in thinking mode it follows </think>
        var forced = new Queue<int>();
        if (s.ForcedIds != null && !s.Thinking) foreach (int f in s.ForcedIds) forced.Enqueue(f);
        string finish = "length";
        string? stopText = null;
        var one = new int[1];
        var text = new System.Text.StringBuilder();
        bool inReasoning = parser != null && s.Thinking;
        int maxTokens = Math.Min(s.MaxTokens, engine.MaxContext - session.Length);
        for (int step = 0; step < maxTokens; step++)
        {
            if (cancellationToken.IsCancellationRequested) { finish = "cancelled"; break; }
            int id;
            if (forced.Count > 0) id = forced.Dequeue();
            else
            {
                id = sampler.Sample(session.Logits);
                if (id == thinkEnd && s.ForcedIds != null && s.Thinking) foreach (int f in s.ForcedIds) forced.Enqueue(f);
            }
            if (step == 0) firstTokenMs = clock.Elapsed.TotalMilliseconds;
            sampler.Observe(id);
            if (logprobs != null) output.Add(new(GenerationEventKind.TokenLogprob, Logprob: logprobs.Describe(session.Logits, id, s.TopLogprobs)));
            completion++;
            if (inReasoning)
            {
                reasoningTokens++;
                if (id == thinkEnd) inReasoning = false; // the tokens after `</think>` are the answer's
            }
            if (id == eos) { parser?.Push(V4ChatEncoder.Eos, events); finish = "stop"; }
            else if (s.StopIds.Contains(id)) finish = "stop";
            else
            {
                string piece = detok.Push(id);
                if (piece.Length > 0)
                {
                    // stop strings: text that could still become one is held back; a completed one ends the answer
                    // without being emitted (as the OpenAI API does)
                    if (s.Stop.Count == 0) Emit(piece, parser, events, output);
                    else
                    {
                        text.Append(piece);
                        string held = text.ToString();
                        var (at, which) = FirstStop(held, s.Stop);
                        if (at >= 0) { Emit(held.AsSpan(0, at), parser, events, output); text.Clear(); finish = "stop"; stopText = which; }
                        else
                        {
                            int keep = StopPrefixLength(held, s.Stop);
                            Emit(held.AsSpan(0, held.Length - keep), parser, events, output);
                            text.Remove(0, held.Length - keep);
                        }
                    }
                }
            }
            Drain(events, output, ref inReasoning);
            foreach (var e in output) yield return e;
            output.Clear();
            if (finish == "stop") break;
            if (step + 1 < maxTokens)
            {
                one[0] = id;
                session.Append(one); // cancellation is checked at the top of the loop, so usage is still reported
            }
        }
        string rest = text.ToString() + detok.Flush();
        if (rest.Length > 0) Emit(rest, parser, events, output);
        string? error = null;
        if (parser != null)
        {
            parser.Finish(events);
            var end = events.Last(e => e.Kind == ChatStreamEventKind.End);
            error = end.Error;
            if (finish == "stop" && end.Final is { ToolCalls.Count: > 0 }) finish = "tool_calls";
        }
        Drain(events, output, ref inReasoning);
        foreach (var e in output) yield return e;
        double totalMs = clock.Elapsed.TotalMilliseconds;
        yield return new GenerationEvent(GenerationEventKind.Usage, Usage: new Usage(prompt.Length, cached, completion, reasoningTokens)
        {
            TimeToFirstTokenMs = firstTokenMs, PrefillMs = prefillMs, DecodeMs = completion > 0 ? totalMs - firstTokenMs : 0,
        });
        // the matched stop string rides in Text (Anthropic reports it as stop_sequence)
        yield return new GenerationEvent(GenerationEventKind.Finish, stopText ?? "", FinishReason: finish, Error: error);
    }

    private static void Emit(ReadOnlySpan<char> text, DsmlStreamParser? parser, List<ChatStreamEvent> events, List<GenerationEvent> output)
    {
        if (text.Length == 0) return;
        if (parser != null) parser.Push(text, events);
        else output.Add(new(GenerationEventKind.ContentDelta, text.ToString()));
    }

    private static (int At, string? Stop) FirstStop(string text, IReadOnlyList<string> stops)
    {
        int best = -1;
        string? which = null;
        foreach (var s in stops)
        {
            if (s.Length == 0) continue;
            int at = text.IndexOf(s, StringComparison.Ordinal);
            if (at >= 0 && (best < 0 || at < best)) { best = at; which = s; }
        }
        return (best, which);
    }

    /// <summary>Longest tail of text that is a proper prefix of a stop string (it may still complete).</summary>
    private static int StopPrefixLength(string text, IReadOnlyList<string> stops)
    {
        int best = 0;
        foreach (var s in stops)
            for (int n = Math.Min(s.Length - 1, text.Length); n > best; n--)
                if (string.CompareOrdinal(text, text.Length - n, s, 0, n) == 0) { best = n; break; }
        return best;
    }

    private static void Drain(List<ChatStreamEvent> events, List<GenerationEvent> output, ref bool inReasoning)
    {
        foreach (var e in events)
        {
            if (e.Kind is not (ChatStreamEventKind.ReasoningDelta or ChatStreamEventKind.End)) inReasoning = false;
            switch (e.Kind)
            {
                case ChatStreamEventKind.ReasoningDelta: output.Add(new(GenerationEventKind.ReasoningDelta, e.Text)); break;
                case ChatStreamEventKind.ContentDelta: output.Add(new(GenerationEventKind.ContentDelta, e.Text)); break;
                case ChatStreamEventKind.ToolCallStart: output.Add(new(GenerationEventKind.ToolCallStart, ToolIndex: e.ToolIndex, ToolId: e.ToolId, ToolName: e.ToolName)); break;
                case ChatStreamEventKind.ToolCallArgumentsDelta: output.Add(new(GenerationEventKind.ToolCallArgumentsDelta, e.Text, e.ToolIndex)); break;
            }
        }
        events.RemoveAll(e => e.Kind != ChatStreamEventKind.End);
    }
}

/// <summary>Log-softmax of a logit row and its most probable alternatives (only when a request asks for logprobs).</summary>
internal sealed class LogprobTable(BpeTokenizer tokenizer, int vocabSize)
{
    private readonly List<byte> _bytes = [];
    private readonly int[] _top = new int[21];

    public TokenLogprob Describe(ReadOnlySpan<float> logits, int id, int topN)
    {
        logits = logits[..vocabSize];
        float max = float.NegativeInfinity;
        foreach (float l in logits) max = MathF.Max(max, l);
        double sum = 0;
        foreach (float l in logits) sum += Math.Exp(l - max);
        float logZ = max + (float)Math.Log(sum);
        int n = Math.Min(Math.Min(topN, _top.Length), logits.Length);
        // insertion into a short sorted list: one pass over the vocabulary
        int filled = 0;
        for (int i = 0; i < logits.Length && n > 0; i++)
        {
            float l = logits[i];
            if (filled == n && l <= logits[_top[n - 1]]) continue;
            int at = filled < n ? filled++ : n - 1;
            while (at > 0 && logits[_top[at - 1]] < l) { _top[at] = _top[at - 1]; at--; }
            _top[at] = i;
        }
        var top = new TopLogprob[filled];
        for (int k = 0; k < filled; k++) { var (t, b) = Text(_top[k]); top[k] = new TopLogprob(_top[k], t, b, logits[_top[k]] - logZ); }
        var (token, bytes) = Text(id);
        return new TokenLogprob(id, token, bytes, logits[id] - logZ, top);
    }

    private (string, byte[]) Text(int id)
    {
        _bytes.Clear();
        tokenizer.AppendBytes(id, _bytes);
        var b = _bytes.ToArray();
        return (System.Text.Encoding.UTF8.GetString(b), b);
    }
}
