using System.Runtime.CompilerServices;
using System.Text.Json.Nodes;
using SharpSeek.Tokenizer;
using SharpSeek.Tokenizer.Chat;

namespace SharpSeek.Engine;

/// <summary>A chat request in the engine's terms (the HTTP layers map their DTOs onto it).</summary>
public sealed record ChatRequest
{
    /// <summary>OpenAI-style messages (system/user/assistant/tool/developer/latest_reminder), as V4ChatEncoder takes them.</summary>
    public required JsonArray Messages { get; init; }
    public bool Thinking { get; init; }
    public string? ReasoningEffort { get; init; }
    public SamplingOptions Sampling { get; init; } = new();
    public int MaxTokens { get; init; } = 256;
    public IReadOnlyList<string> Stop { get; init; } = [];
    public IReadOnlyList<int> StopIds { get; init; } = [];
}

public enum GenerationEventKind { ReasoningDelta, ContentDelta, ToolCallStart, ToolCallArgumentsDelta, Usage, Finish }

public sealed record Usage(int PromptTokens, int CachedTokens, int CompletionTokens, int ReasoningTokens);

/// <summary>One step of a streamed answer; FinishReason is "stop", "length", "tool_calls" or "cancelled".</summary>
public sealed record GenerationEvent(GenerationEventKind Kind, string Text = "", int ToolIndex = -1, string? ToolId = null,
                                     string? ToolName = null, Usage? Usage = null, string? FinishReason = null, string? Error = null);

/// <summary>
/// The generation loop: chat encoding → prefill that reuses the session's cached prefix → sampled decode → streaming
/// detokenizer → streaming DSML parser → typed events. Cancellation is checked before every token.
/// </summary>
public sealed class Generator(IInferenceEngine engine, BpeTokenizer tokenizer, ChatFormat format)
{
    public ChatFormat Format => format;

    /// <summary>Prompt ids for a request (BOS included by the encoder).</summary>
    public int[] EncodePrompt(ChatRequest request) =>
        tokenizer.Encode(V4ChatEncoder.Encode(request.Messages, request.Thinking ? "thinking" : "chat", format, reasoningEffort: request.ReasoningEffort));

    public async IAsyncEnumerable<GenerationEvent> RunAsync(ChatRequest request, IInferenceSession session,
                                                            [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        int[] prompt = EncodePrompt(request);
        if (prompt.Length + 1 > engine.MaxContext)
            throw new InvalidOperationException($"prompt is {prompt.Length} tokens; the maximum context is {engine.MaxContext}");
        int cached = session.Reuse(prompt);
        await Task.Yield(); // the caller's thread is free while the prefill runs
        session.Append(prompt.AsSpan(cached), cancellationToken);

        var sampler = new Sampler(request.Sampling, engine.VocabSize);
        var detok = tokenizer.CreateStreamingDecoder();
        var parser = new DsmlStreamParser(request.Thinking);
        var events = new List<ChatStreamEvent>();
        int eos = tokenizer.EosId, completion = 0, reasoningTokens = 0;
        int thinkEnd = tokenizer.TokenToId(V4ChatEncoder.ThinkEnd) ?? -1;
        string finish = "length";
        var one = new int[1];
        var text = new System.Text.StringBuilder();
        bool inReasoning = request.Thinking;
        for (int step = 0; step < request.MaxTokens; step++)
        {
            if (cancellationToken.IsCancellationRequested) { finish = "cancelled"; break; }
            int id = sampler.Sample(session.Logits);
            sampler.Observe(id);
            completion++;
            if (inReasoning)
            {
                reasoningTokens++;
                if (id == thinkEnd) inReasoning = false; // the tokens after `</think>` are the answer's
            }
            if (id == eos) { parser.Push(V4ChatEncoder.Eos, events); finish = "stop"; break; }
            if (request.StopIds.Contains(id)) { finish = "stop"; break; }
            string piece = detok.Push(id);
            bool stopped = false;
            if (piece.Length > 0)
            {
                // stop strings: text that could still become one is held back; a completed one ends the answer
                // without being emitted (as the OpenAI API does)
                if (request.Stop.Count == 0) parser.Push(piece, events);
                else
                {
                    text.Append(piece);
                    string held = text.ToString();
                    int at = FirstStop(held, request.Stop);
                    if (at >= 0) { parser.Push(held.AsSpan(0, at), events); text.Clear(); stopped = true; }
                    else
                    {
                        int keep = StopPrefixLength(held, request.Stop);
                        parser.Push(held.AsSpan(0, held.Length - keep), events);
                        text.Remove(0, held.Length - keep);
                    }
                }
            }
            foreach (var e in Drain(events, ref inReasoning)) yield return e;
            if (stopped) { finish = "stop"; break; }
            if (step + 1 < request.MaxTokens)
            {
                one[0] = id;
                session.Append(one, cancellationToken);
            }
        }
        string rest = text.ToString() + detok.Flush();
        if (rest.Length > 0) parser.Push(rest, events);
        parser.Finish(events);
        var end = events.Last(e => e.Kind == ChatStreamEventKind.End);
        foreach (var e in Drain(events, ref inReasoning)) yield return e;
        if (finish == "stop" && end.Final is { ToolCalls.Count: > 0 }) finish = "tool_calls";
        yield return new GenerationEvent(GenerationEventKind.Usage, Usage: new Usage(prompt.Length, cached, completion, reasoningTokens));
        yield return new GenerationEvent(GenerationEventKind.Finish, FinishReason: finish, Error: end.Error);
    }

    private static int FirstStop(string text, IReadOnlyList<string> stops)
    {
        int best = -1;
        foreach (var s in stops)
        {
            if (s.Length == 0) continue;
            int at = text.IndexOf(s, StringComparison.Ordinal);
            if (at >= 0 && (best < 0 || at < best)) best = at;
        }
        return best;
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

    private static IEnumerable<GenerationEvent> Drain(List<ChatStreamEvent> events, ref bool inReasoning)
    {
        var list = new List<GenerationEvent>(events.Count);
        foreach (var e in events)
        {
            if (e.Kind != ChatStreamEventKind.ReasoningDelta) inReasoning = false;
            switch (e.Kind)
            {
                case ChatStreamEventKind.ReasoningDelta: list.Add(new(GenerationEventKind.ReasoningDelta, e.Text)); break;
                case ChatStreamEventKind.ContentDelta: list.Add(new(GenerationEventKind.ContentDelta, e.Text)); break;
                case ChatStreamEventKind.ToolCallStart: list.Add(new(GenerationEventKind.ToolCallStart, ToolIndex: e.ToolIndex, ToolId: e.ToolId, ToolName: e.ToolName)); break;
                case ChatStreamEventKind.ToolCallArgumentsDelta: list.Add(new(GenerationEventKind.ToolCallArgumentsDelta, e.Text, e.ToolIndex)); break;
            }
        }
        events.RemoveAll(e => e.Kind != ChatStreamEventKind.End);
        return list;
    }
}
