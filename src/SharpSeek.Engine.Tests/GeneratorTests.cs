using System.Text.Json.Nodes;
using SharpSeek.Engine;
using SharpSeek.Model.DeepSeekV4;
using SharpSeek.TestSupport;
using SharpSeek.Tokenizer;
using SharpSeek.Tokenizer.Chat;

namespace SharpSeek.Engine.Tests;

public sealed class GeneratorTests
{
    private static readonly Lazy<BpeTokenizer> Tok = new(() => BpeTokenizer.Load(Golden.Path("tokenizer")));

    /// <summary>A tiny random-weight V4 with the real 129,280-token vocabulary, written once per test run.</summary>
    /// <summary>A tiny random-weight V4 with the real 129,280-token vocabulary.</summary>
    private static readonly Lazy<V4Engine> Tiny = new(() => V4Engine.Open(TinyModel.Directory));

    private static JsonArray User(string text) => new(new JsonObject { ["role"] = "user", ["content"] = text });

    private static async Task<List<GenerationEvent>> Collect(Generator g, ChatRequest r, IInferenceSession s, CancellationToken ct = default)
    {
        var list = new List<GenerationEvent>();
        await foreach (var e in g.RunAsync(r, s, ct)) list.Add(e);
        return list;
    }

    [Fact]
    public async Task ScriptedReasoningAndToolCallStreamAsEvents()
    {
        var tok = Tok.Value;
        string script = "Let me check.</think>\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"get_weather\">\n<｜DSML｜parameter name=\"city\" string=\"true\">Paris</｜DSML｜parameter>\n<｜DSML｜parameter name=\"days\" string=\"false\">3</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>";
        using var engine = new ScriptedEngine(tok, script);
        var g = new Generator(engine, tok, ChatFormat.V4);
        var events = await Collect(g, new ChatRequest { Messages = User("Weather in Paris?"), Thinking = true, MaxTokens = 200 }, engine.CreateSession());
        Assert.Equal("Let me check.", string.Concat(events.Where(e => e.Kind == GenerationEventKind.ReasoningDelta).Select(e => e.Text)));
        Assert.DoesNotContain(events, e => e.Kind == GenerationEventKind.ContentDelta && e.Text.Length > 0);
        var start = Assert.Single(events, e => e.Kind == GenerationEventKind.ToolCallStart);
        Assert.Equal("get_weather", start.ToolName);
        Assert.Equal("{\"city\": \"Paris\", \"days\": 3}", string.Concat(events.Where(e => e.Kind == GenerationEventKind.ToolCallArgumentsDelta).Select(e => e.Text)));
        Assert.True(events.Count(e => e.Kind == GenerationEventKind.ToolCallArgumentsDelta) > 1, "arguments stream in pieces");
        Assert.Equal("tool_calls", events[^1].FinishReason);
        Assert.Null(events[^1].Error);
    }

    private static readonly JsonArray WeatherTools = JsonNode.Parse(
        "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":\"Weather\",\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}}}]")!.AsArray();

    private const string CallRest = "<｜DSML｜parameter name=\"city\" string=\"true\">Paris</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>";

    /// <summary>
    /// The scripted model says filler (one special token each) where the forced tool-call opening goes, then the rest of
    /// the call: only if the generator forces the opening do the two halves make a call.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task NamedToolChoiceForcesTheCallOpening(bool thinking)
    {
        var tok = Tok.Value;
        var request = new ChatRequest { Messages = User("Weather in Paris?"), Tools = WeatherTools, ToolChoice = ToolChoice.Function("get_weather"), Thinking = thinking, MaxTokens = 200 };
        int[] forced = tok.Encode(Generator.ForcedToolCallText(request)!);
        string filler = string.Concat(Enumerable.Repeat(V4ChatEncoder.User, forced.Length));
        using var engine = new ScriptedEngine(tok, (thinking ? "Hmm.</think>" : "") + filler + CallRest);
        var g = new Generator(engine, tok, ChatFormat.V4);
        using var session = engine.CreateSession();
        var events = await Collect(g, request, session);
        Assert.Equal("get_weather", Assert.Single(events, e => e.Kind == GenerationEventKind.ToolCallStart).ToolName);
        Assert.Equal("{\"city\": \"Paris\"}", string.Concat(events.Where(e => e.Kind == GenerationEventKind.ToolCallArgumentsDelta).Select(e => e.Text)));
        Assert.Equal("tool_calls", events[^1].FinishReason);
        Assert.Null(events[^1].Error);
        if (thinking) Assert.Equal("Hmm.", string.Concat(events.Where(e => e.Kind == GenerationEventKind.ReasoningDelta).Select(e => e.Text)));
        // the tools block is in the prompt, and the forced ids follow the prompt (and the thinking) in the timeline
        int[] prompt = g.EncodePrompt(request);
        Assert.Contains("get_weather", tok.Decode(prompt));
        int start = prompt.Length + (thinking ? tok.Encode("Hmm.</think>").Length : 0);
        Assert.Equal(forced, session.Tokens.Slice(start, forced.Length).ToArray());

        // tool_choice none leaves the tools out of the prompt; auto keeps them and forces nothing
        Assert.DoesNotContain("get_weather", tok.Decode(g.EncodePrompt(request with { ToolChoice = ToolChoice.None })));
        Assert.Null(Generator.ForcedToolCallText(request with { ToolChoice = ToolChoice.Auto }));
    }

    [Fact]
    public async Task RawCompletionStreamsTextAndLogprobs()
    {
        var tok = Tok.Value;
        using var engine = new ScriptedEngine(tok, "plain text, no <｜DSML｜tool_calls> parsing");
        var g = new Generator(engine, tok, ChatFormat.V4);
        var events = new List<GenerationEvent>();
        await foreach (var e in g.CompleteAsync(new CompletionRequest { PromptIds = [tok.BosId, .. tok.Encode("Say:")], MaxTokens = 100, TopLogprobs = 2 }, engine.CreateSession()))
            events.Add(e);
        Assert.Equal("plain text, no <｜DSML｜tool_calls> parsing", string.Concat(events.Where(e => e.Kind == GenerationEventKind.ContentDelta).Select(e => e.Text)));
        var logprobs = events.Where(e => e.Kind == GenerationEventKind.TokenLogprob).Select(e => e.Logprob!).ToList();
        var usage = events.Single(e => e.Kind == GenerationEventKind.Usage).Usage!;
        Assert.Equal(usage.CompletionTokens, logprobs.Count);
        // the scripted logits put (almost) all mass on the scripted token
        Assert.All(logprobs, l => { Assert.InRange(l.Logprob, -1e-3f, 0f); Assert.Equal(l.Id, l.Top[0].Id); Assert.Equal(2, l.Top.Count); });
        Assert.True(usage.TimeToFirstTokenMs > 0 && usage.DecodeMs >= 0);
    }

    [Fact]
    public async Task RealTinyModelGeneratesReusesAndStops()
    {
        var tok = Tok.Value;
        var engine = Tiny.Value;
        var g = new Generator(engine, tok, ChatFormat.V4);
        using var session = engine.CreateSession();
        var request = new ChatRequest { Messages = User("Hello there"), MaxTokens = 6, Sampling = new SamplingOptions { Temperature = 0.8f, TopP = 0.9f, Seed = 3 } };
        var first = await Collect(g, request, session);
        var usage = first.Single(e => e.Kind == GenerationEventKind.Usage).Usage!;
        Assert.Equal(0, usage.CachedTokens);
        Assert.Equal(g.EncodePrompt(request).Length, usage.PromptTokens);
        Assert.InRange(usage.CompletionTokens, 1, 6);
        Assert.Contains(first[^1].FinishReason, new[] { "length", "stop" });

        // same seed, fresh session: same output
        using var other = engine.CreateSession();
        var again = await Collect(g, request, other);
        Assert.Equal(string.Concat(first.Select(e => e.Text)), string.Concat(again.Select(e => e.Text)));

        // a follow-up turn that extends the conversation reuses the cached prefix
        var followUp = request with { Messages = new JsonArray(
            new JsonObject { ["role"] = "user", ["content"] = "Hello there" },
            new JsonObject { ["role"] = "assistant", ["content"] = "Hi." },
            new JsonObject { ["role"] = "user", ["content"] = "And now?" }) };
        var second = await Collect(g, followUp, session);
        Assert.True(second.Single(e => e.Kind == GenerationEventKind.Usage).Usage!.CachedTokens > 0, "second turn reuses the first turn's prompt");
    }

    [Fact]
    public async Task ThinkingConversationReusesThePreviousPrompt()
    {
        // A thinking prompt ends with <think>; the next turn renders that assistant turn as </think>answer, so the
        // timelines part one token before the first prompt's end. The reuse must still cover all the rest.
        var tok = Tok.Value;
        var engine = Tiny.Value;
        var g = new Generator(engine, tok, ChatFormat.V4);
        using var session = engine.CreateSession();
        var first = new ChatRequest { Messages = User("Hello there"), Thinking = true, MaxTokens = 3, Sampling = new SamplingOptions { Seed = 1 } };
        int firstPrompt = g.EncodePrompt(first).Length;
        await Collect(g, first, session);
        var second = first with { Messages = new JsonArray(
            new JsonObject { ["role"] = "user", ["content"] = "Hello there" },
            new JsonObject { ["role"] = "assistant", ["content"] = "Hi.", ["reasoning_content"] = "greet" },
            new JsonObject { ["role"] = "user", ["content"] = "And now?" }) };
        int[] secondPrompt = g.EncodePrompt(second);
        Assert.NotEqual(g.EncodePrompt(first)[^1], secondPrompt[firstPrompt - 1]); // the timelines do part there
        var events = await Collect(g, second, session);
        Assert.Equal(firstPrompt - 1, events.Single(e => e.Kind == GenerationEventKind.Usage).Usage!.CachedTokens);
    }

    [Fact]
    public async Task CancellationStopsWithinOneToken()
    {
        var tok = Tok.Value;
        using var engine = new ScriptedEngine(tok, string.Concat(Enumerable.Repeat("word ", 200)));
        var g = new Generator(engine, tok, ChatFormat.V4);
        using var cts = new CancellationTokenSource();
        int deltas = 0;
        var events = new List<GenerationEvent>();
        await foreach (var e in g.RunAsync(new ChatRequest { Messages = User("Talk"), MaxTokens = 150 }, engine.CreateSession(), cts.Token))
        {
            events.Add(e);
            if (e.Kind == GenerationEventKind.ContentDelta && ++deltas == 3) cts.Cancel();
        }
        Assert.Equal("cancelled", events[^1].FinishReason);
        Assert.True(events.Single(e => e.Kind == GenerationEventKind.Usage).Usage!.CompletionTokens <= 6);
    }

    [Fact]
    public async Task PromptOverTheContextIsRefused()
    {
        var tok = Tok.Value;
        using var engine = new ScriptedEngine(tok, "x", maxContext: 5);
        var g = new Generator(engine, tok, ChatFormat.V4);
        var e = await Assert.ThrowsAsync<InvalidOperationException>(async () => await Collect(g, new ChatRequest { Messages = User("a long enough prompt") }, engine.CreateSession()));
        Assert.Contains("maximum context is 5", e.Message);
    }

    [Fact]
    public void SamplerIsSeededAndFiltersApply()
    {
        var logits = Enumerable.Range(0, 100).Select(i => (float)Math.Sin(i) * 3).ToArray();
        int Draw(SamplingOptions o) { var s = new Sampler(o, 100); return s.Sample(logits); }
        var opts = new SamplingOptions { Temperature = 1f, Seed = 42 };
        Assert.Equal(Draw(opts), Draw(opts));
        int argmax = Array.IndexOf(logits, logits.Max());
        Assert.Equal(argmax, Draw(new SamplingOptions { Temperature = 0 }));
        Assert.Equal(argmax, Draw(new SamplingOptions { TopK = 1, Seed = 1 }));
        // repetition penalties push an observed token down
        var penalised = new Sampler(new SamplingOptions { Temperature = 0, PresencePenalty = 100 }, 100);
        penalised.Observe(argmax);
        Assert.NotEqual(argmax, penalised.Sample(logits));
    }
}

public sealed class StopStringTests
{
    [Fact]
    public async Task StopStringEndsTheAnswerAndIsNotEmitted()
    {
        var tok = BpeTokenizer.Load(Golden.Path("tokenizer"));
        using var engine = new ScriptedEngine(tok, "Alpha beta gamma END delta epsilon");
        var g = new Generator(engine, tok, ChatFormat.V4);
        var events = new List<GenerationEvent>();
        await foreach (var e in g.RunAsync(new ChatRequest { Messages = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "go" }), Stop = ["END"], MaxTokens = 50 }, engine.CreateSession()))
            events.Add(e);
        Assert.Equal("Alpha beta gamma ", string.Concat(events.Where(e => e.Kind == GenerationEventKind.ContentDelta).Select(e => e.Text)));
        Assert.Equal("stop", events[^1].FinishReason);
    }
}
