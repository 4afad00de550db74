using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.AI;
using SharpSeek.Engine.ChatClient;
using SharpSeek.TestSupport;
using SharpSeek.Tokenizer;
using SharpSeek.Tokenizer.Chat;

namespace SharpSeek.Engine.Tests;

/// <summary><see cref="SharpSeekChatClient"/> as an <see cref="IChatClient"/>: scripted answers through the real
/// generation loop, and the tiny random-weight V4 end to end.</summary>
public sealed class ChatClientTests
{
    private static readonly Lazy<BpeTokenizer> Tok = new(() => BpeTokenizer.Load(Golden.Path("tokenizer")));
    private static readonly Lazy<V4Engine> Tiny = new(() => V4Engine.Open(TinyModel.Directory));

    private const string ToolCallScript =
        "Let me check.</think>\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"get_weather\">\n" +
        "<｜DSML｜parameter name=\"city\" string=\"true\">Paris</｜DSML｜parameter>\n" +
        "<｜DSML｜parameter name=\"days\" string=\"false\">3</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>";

    private static SharpSeekChatClient Client(params string[] scripts) =>
        new(new ScriptedEngine(Tok.Value, scripts), Tok.Value, ChatFormat.V4);

    private static AIFunction Weather(List<(string City, int Days)>? calls = null) => AIFunctionFactory.Create(
        (string city, int days) => { calls?.Add((city, days)); return $"{city}: 18°C and sunny for {days} days"; },
        "get_weather", "Weather forecast for a city");

    private static async Task<List<ChatResponseUpdate>> Stream(IChatClient client, IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken ct = default)
    {
        var list = new List<ChatResponseUpdate>();
        await foreach (var u in client.GetStreamingResponseAsync(messages, options, ct)) list.Add(u);
        return list;
    }

    private static string Reasoning(IEnumerable<AIContent> contents) => string.Concat(contents.OfType<TextReasoningContent>().Select(r => r.Text));

    [Fact]
    public async Task ReasoningThenContentStreamAsTypedUpdatesWithUsageLast()
    {
        using var client = Client("I should greet back.</think>Hello! How can I help?");
        ChatMessage[] messages = [new(ChatRole.System, "Be brief."), new(ChatRole.User, "Hi")];
        var options = new ChatOptions { Reasoning = new ReasoningOptions { Effort = ReasoningEffort.Medium }, MaxOutputTokens = 100 };
        var updates = await Stream(client, messages, options);

        Assert.Equal("I should greet back.", Reasoning(updates.SelectMany(u => u.Contents)));
        Assert.Equal("Hello! How can I help?", string.Concat(updates.Select(u => u.Text)));
        int firstText = updates.FindIndex(u => u.Contents.OfType<TextContent>().Any());
        Assert.True(firstText > 0);
        Assert.DoesNotContain(updates.Skip(firstText), u => u.Contents.OfType<TextReasoningContent>().Any());
        Assert.All(updates, u => { Assert.Equal(ChatRole.Assistant, u.Role); Assert.Equal(updates[0].ResponseId, u.ResponseId); Assert.Equal("scripted", u.ModelId); });

        var last = updates[^1];
        Assert.Equal(ChatFinishReason.Stop, last.FinishReason);
        Assert.All(updates.SkipLast(1), u => Assert.Null(u.FinishReason));
        var usage = Assert.Single(last.Contents.OfType<UsageContent>()).Details;
        var request = client.CreateRequest(messages, options);
        Assert.True(request.Thinking);
        string prompt = V4ChatEncoder.Encode(request.Messages, "thinking");
        Assert.Equal("<｜begin▁of▁sentence｜>Be brief.<｜User｜>Hi<｜Assistant｜><think>", prompt);
        Assert.Equal(Tok.Value.Encode(prompt).Length, usage.InputTokenCount);
        int scriptTokens = Tok.Value.Encode("I should greet back.</think>Hello! How can I help?").Length + 1; // + EOS
        Assert.Equal(scriptTokens, usage.OutputTokenCount);
        Assert.Equal(usage.InputTokenCount + usage.OutputTokenCount, usage.TotalTokenCount);
        Assert.Equal(Tok.Value.Encode("I should greet back.</think>").Length, usage.ReasoningTokenCount);
        Assert.Equal(0, usage.CachedInputTokenCount);
    }

    [Fact]
    public async Task ThinkingSwitchesAndHiddenReasoning()
    {
        using var client = Client("plan</think>done");
        ChatMessage[] messages = [new(ChatRole.User, "Go")];
        Assert.False(client.CreateRequest(messages).Thinking);
        Assert.False(client.CreateRequest(messages, new ChatOptions { Reasoning = new ReasoningOptions { Effort = ReasoningEffort.None } }).Thinking);
        var viaProperty = new ChatOptions { AdditionalProperties = new() { ["thinking"] = true } };
        Assert.True(client.CreateRequest(messages, viaProperty).Thinking);
        var viaJson = new ChatOptions { AdditionalProperties = new() { ["thinking"] = JsonDocument.Parse("{\"type\":\"enabled\"}").RootElement } };
        Assert.True(client.CreateRequest(messages, viaJson).Thinking);
        Assert.Equal("max", client.CreateRequest(messages, new ChatOptions { Reasoning = new ReasoningOptions { Effort = ReasoningEffort.ExtraHigh } }).ReasoningEffort);
        Assert.Equal("high", client.CreateRequest(messages, new ChatOptions { Reasoning = new ReasoningOptions { Effort = ReasoningEffort.High } }).ReasoningEffort);

        var shown = await client.GetResponseAsync(messages, viaProperty);
        Assert.Equal("plan", Reasoning(shown.Messages.SelectMany(m => m.Contents)));
        Assert.Equal("done", shown.Text);

        // reasoning still happens (and is counted) but stays out of the answer
        var hidden = await client.GetResponseAsync(messages, new ChatOptions { Reasoning = new ReasoningOptions { Effort = ReasoningEffort.Low, Output = ReasoningOutput.None } });
        Assert.Empty(hidden.Messages.SelectMany(m => m.Contents).OfType<TextReasoningContent>());
        Assert.Equal("done", hidden.Text);
        Assert.True(hidden.Usage!.ReasoningTokenCount > 0);
    }

    [Fact]
    public async Task ToolCallThenToolResultRoundTripReplaysReasoningFromTheCache()
    {
        using var client = Client(ToolCallScript, "Paris will be sunny.</think>It will be sunny in Paris, 18°C.");
        var options = new ChatOptions { Tools = [Weather()], Reasoning = new ReasoningOptions { Effort = ReasoningEffort.Medium } };
        var history = new List<ChatMessage> { new(ChatRole.User, "Weather in Paris for 3 days?") };

        // the tools block of the system message carries each declaration's name, description and JSON schema
        var v4 = client.CreateRequest(history, options).Messages;
        var tool = v4[0]!["tools"]![0]!["function"]!;
        Assert.Equal("system", (string)v4[0]!["role"]!);
        Assert.Equal("get_weather", (string)tool["name"]!);
        Assert.Equal("Weather forecast for a city", (string)tool["description"]!);
        Assert.Equal("string", (string)tool["parameters"]!["properties"]!["city"]!["type"]!);
        Assert.Equal("integer", (string)tool["parameters"]!["properties"]!["days"]!["type"]!);

        var first = await client.GetResponseAsync(history, options);
        Assert.Equal(ChatFinishReason.ToolCalls, first.FinishReason);
        var assistant = Assert.Single(first.Messages);
        Assert.Equal("Let me check.", Reasoning(assistant.Contents));
        Assert.Equal("", assistant.Text);
        var call = Assert.Single(assistant.Contents.OfType<FunctionCallContent>());
        Assert.Equal("get_weather", call.Name);
        Assert.StartsWith("call_", call.CallId);
        Assert.Null(call.Exception);
        Assert.Equal("Paris", ((JsonElement)call.Arguments!["city"]!).GetString());
        Assert.Equal(3, ((JsonElement)call.Arguments!["days"]!).GetInt32());

        history.AddMessages(first);
        history.Add(new ChatMessage(ChatRole.Tool, [new FunctionResultContent(call.CallId, "18°C and sunny")]));
        var request = client.CreateRequest(history, options);
        var replayed = request.Messages.Single(m => (string?)m!["role"] == "assistant")!;
        Assert.Equal("Let me check.", (string)replayed["reasoning_content"]!);
        Assert.Equal(call.CallId, (string)replayed["tool_calls"]![0]!["id"]!);
        Assert.Equal(call.CallId, (string)request.Messages.Single(m => (string?)m!["role"] == "tool")!["tool_call_id"]!);
        string prompt = V4ChatEncoder.Encode(request.Messages, "thinking");
        // the earlier turn is rendered exactly as it was generated, then the result, then a new thinking turn
        string firstPrompt = V4ChatEncoder.Encode(client.CreateRequest(history.Take(1), options).Messages, "thinking");
        Assert.Equal(firstPrompt + ToolCallScript + V4ChatEncoder.Eos + "<｜User｜><tool_result>18°C and sunny</tool_result><｜Assistant｜><think>", prompt);

        var second = await client.GetResponseAsync(history, options);
        Assert.Equal(ChatFinishReason.Stop, second.FinishReason);
        Assert.Equal("It will be sunny in Paris, 18°C.", second.Text);
        Assert.Equal("Paris will be sunny.", Reasoning(second.Messages.SelectMany(m => m.Contents)));
        Assert.Equal(Tok.Value.Encode(prompt).Length, second.Usage!.InputTokenCount);
        // the whole first turn is still in the session: its prompt and every generated token but the final EOS
        Assert.Equal(first.Usage!.InputTokenCount + first.Usage.OutputTokenCount - 1, second.Usage.CachedInputTokenCount);
    }

    [Fact]
    public async Task FunctionInvokingClientRunsTheToolLoop()
    {
        var calls = new List<(string City, int Days)>();
        using var inner = Client(ToolCallScript, "Sunny.</think>It is sunny in Paris.");
        using var client = new ChatClientBuilder(inner).UseFunctionInvocation().Build();
        var response = await client.GetResponseAsync([new ChatMessage(ChatRole.User, "Weather in Paris?")],
            new ChatOptions { Tools = [Weather(calls)], AdditionalProperties = new() { ["thinking"] = true } });
        Assert.Equal(("Paris", 3), Assert.Single(calls));
        Assert.Equal("It is sunny in Paris.", response.Text);
        var result = Assert.Single(response.Messages.SelectMany(m => m.Contents).OfType<FunctionResultContent>());
        Assert.Contains("18°C", result.Result?.ToString());
        Assert.Equal(2, ((ScriptedEngine)inner.GetService<IInferenceEngine>()!).Turns);
    }

    [Fact]
    public async Task StreamingAndNonStreamingGiveTheSameAnswer()
    {
        var options = new ChatOptions { Tools = [Weather()], AdditionalProperties = new() { ["thinking"] = true }, Temperature = 0.7f, Seed = 5 };
        ChatMessage[] messages = [new(ChatRole.User, "Weather?")];
        using var a = Client(ToolCallScript);
        using var b = Client(ToolCallScript);
        var streamed = (await Stream(a, messages, options)).ToChatResponse();
        var whole = await b.GetResponseAsync(messages, options);
        Assert.Equal(streamed.Text, whole.Text);
        Assert.Equal(Reasoning(streamed.Messages.SelectMany(m => m.Contents)), Reasoning(whole.Messages.SelectMany(m => m.Contents)));
        Assert.Equal(streamed.FinishReason, whole.FinishReason);
        Assert.Equal(ChatFinishReason.ToolCalls, whole.FinishReason);
        static string Calls(ChatResponse r) => string.Join("|", r.Messages.SelectMany(m => m.Contents).OfType<FunctionCallContent>()
            .Select(c => c.Name + "(" + string.Join(", ", c.Arguments!.Select(a => $"{a.Key}={a.Value}")) + ")"));
        Assert.Equal("get_weather(city=Paris, days=3)", Calls(whole));
        Assert.Equal(Calls(streamed), Calls(whole));
        foreach (var u in new[] { streamed.Usage!, whole.Usage! })
        {
            Assert.Equal(whole.Usage!.InputTokenCount, u.InputTokenCount);
            Assert.Equal(whole.Usage.OutputTokenCount, u.OutputTokenCount);
            Assert.Equal(whole.Usage.ReasoningTokenCount, u.ReasoningTokenCount);
            Assert.Equal(whole.Usage.TotalTokenCount, u.TotalTokenCount);
        }
        Assert.Equal("scripted", whole.ModelId);
        Assert.NotNull(whole.ResponseId);
    }

    [Fact]
    public async Task CancellationStopsDecodingAndReturnsTheSession()
    {
        var tok = Tok.Value;
        var engine = new ScriptedEngine(tok, string.Concat(Enumerable.Repeat("word ", 200)));
        using var pool = new SessionPool(engine, 1);
        using var client = new SharpSeekChatClient(engine, tok, ChatFormat.V4, pool);
        ChatMessage[] messages = [new(ChatRole.User, "Talk")];
        using var cts = new CancellationTokenSource();
        int texts = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var u in client.GetStreamingResponseAsync(messages, new ChatOptions { MaxOutputTokens = 150 }, cts.Token))
                if (u.Text.Length > 0 && ++texts == 3) cts.Cancel();
        });
        Assert.Equal(3, texts);
        Assert.Equal(0, pool.Active);
        int prompt = client.Generator.EncodePrompt(client.CreateRequest(messages)).Length;
        using (var lease = await pool.AcquireAsync(new int[prompt], CancellationToken.None))
            Assert.Equal(3, lease!.Session.Length - prompt); // decoding stopped at the third word

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.GetResponseAsync(messages, cancellationToken: new CancellationToken(true)));
        Assert.Equal(0, pool.Active);
        var after = await client.GetResponseAsync(messages, new ChatOptions { MaxOutputTokens = 4 });
        Assert.Equal(ChatFinishReason.Length, after.FinishReason);
        Assert.Equal(4, after.Usage!.OutputTokenCount);
    }

    [Fact]
    public void OptionsMapOntoTheEngineRequest()
    {
        using var client = Client("x");
        ChatMessage[] messages = [new(ChatRole.User, "Hi")];
        var r = client.CreateRequest(messages, new ChatOptions
        {
            Temperature = 0.3f, TopP = 0.8f, TopK = 20, MaxOutputTokens = 77, StopSequences = ["END", "STOP"], Seed = 1234,
            FrequencyPenalty = 0.5f, PresencePenalty = 0.25f, Instructions = "Answer in French.",
            AdditionalProperties = new() { ["min_p"] = 0.05, ["repetition_penalty"] = 1.1f },
        });
        Assert.Equal(new SamplingOptions { Temperature = 0.3f, TopP = 0.8f, TopK = 20, Seed = 1234, FrequencyPenalty = 0.5f, PresencePenalty = 0.25f, MinP = 0.05f, RepetitionPenalty = 1.1f }, r.Sampling);
        Assert.Equal(77, r.MaxTokens);
        Assert.Equal(["END", "STOP"], r.Stop);
        Assert.False(r.Thinking);
        Assert.Equal("[{\"role\":\"system\",\"content\":\"Answer in French.\"},{\"role\":\"user\",\"content\":\"Hi\"}]", r.Messages.ToJsonString());

        // no tool mode: the model is not told about the tools
        var none = client.CreateRequest(messages, new ChatOptions { Tools = [Weather()], ToolMode = ChatToolMode.None });
        Assert.Equal("[{\"role\":\"user\",\"content\":\"Hi\"}]", none.Messages.ToJsonString());
        var auto = client.CreateRequest(messages, new ChatOptions { Tools = [Weather()], ToolMode = ChatToolMode.Auto });
        Assert.Equal("get_weather", (string)auto.Messages[0]!["tools"]![0]!["function"]!["name"]!);
        // required modes force the call's opening (the generator's tool_choice)
        var any = client.CreateRequest(messages, new ChatOptions { Tools = [Weather()], ToolMode = ChatToolMode.RequireAny });
        Assert.Equal(ToolChoice.Required, any.ToolChoice);
        Assert.EndsWith("<｜DSML｜tool_calls>\n", Generator.ForcedToolCallText(any));
        var named = client.CreateRequest(messages, new ChatOptions { Tools = [Weather()], ToolMode = ChatToolMode.RequireSpecific("get_weather") });
        Assert.Equal(ToolChoice.Function("get_weather"), named.ToolChoice);
        Assert.EndsWith("invoke name=\"get_weather\">\n", Generator.ForcedToolCallText(named));
        Assert.Equal(auto.Messages.ToJsonString(), Generator.PromptMessages(named).ToJsonString());
        Assert.Throws<ArgumentException>(() => client.CreateRequest(messages, new ChatOptions { Tools = [Weather()], ToolMode = ChatToolMode.RequireSpecific("other") }));
        Assert.Throws<ArgumentException>(() => client.CreateRequest(messages, new ChatOptions { ToolMode = ChatToolMode.RequireAny }));
        Assert.Throws<NotSupportedException>(() => client.CreateRequest([new ChatMessage(ChatRole.User, [new DataContent(new byte[] { 1 }, "image/png")])]));
        Assert.Throws<ArgumentException>(() => client.CreateRequest(messages, new ChatOptions { MaxOutputTokens = 0 }));

        // a JSON schema response format becomes the encoder's response_format
        var schema = JsonDocument.Parse("{\"type\":\"object\",\"properties\":{\"answer\":{\"type\":\"string\"}}}").RootElement;
        var json = client.CreateRequest(messages, new ChatOptions { ResponseFormat = ChatResponseFormat.ForJsonSchema(schema, "answer") });
        Assert.Equal("json_schema", (string)json.Messages[0]!["response_format"]!["type"]!);
        Assert.Equal("answer", (string)json.Messages[0]!["response_format"]!["json_schema"]!["name"]!);
        Assert.Contains("## Response Format:", V4ChatEncoder.Encode(json.Messages, "chat"));
    }

    [Fact]
    public void MessagesMapOntoTheEncodersMessages()
    {
        var arguments = new Dictionary<string, object?> { ["city"] = "Paris", ["days"] = 3, ["units"] = JsonDocument.Parse("{\"temp\":\"C\"}").RootElement };
        ChatMessage[] messages =
        [
            new(ChatRole.System, "Be brief."),
            new(ChatRole.User, [new TextContent("Weather in "), new TextContent("Paris and Rome?")]),
            new(ChatRole.Assistant, [new TextReasoningContent("Two calls."), new TextContent("Checking."),
                                     new FunctionCallContent("c1", "get_weather", arguments), new FunctionCallContent("c2", "get_weather", new Dictionary<string, object?> { ["city"] = "Rome" })]),
            new(ChatRole.Tool, [new FunctionResultContent("c1", JsonDocument.Parse("{\"t\":18}").RootElement),
                                new FunctionResultContent("c2", null) { Exception = new TimeoutException("no answer") }]),
            new(ChatRole.Assistant, [new TextContent("Paris 18°C; Rome unknown."), new UsageContent(new UsageDetails { InputTokenCount = 1 })]),
        ];
        var v4 = SharpSeekChatClient.ToV4Messages(messages);
        string Json(JsonNode? n) => n!.ToJsonString(new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        Assert.Equal(["system", "user", "assistant", "tool", "tool", "assistant"], v4.Select(m => (string)m!["role"]!));
        Assert.Equal("Be brief.", (string)v4[0]!["content"]!);
        Assert.Equal("Weather in Paris and Rome?", (string)v4[1]!["content"]!);
        var assistant = v4[2]!;
        Assert.Equal("Checking.", (string)assistant["content"]!);
        Assert.Equal("Two calls.", (string)assistant["reasoning_content"]!);
        Assert.Equal(["c1", "c2"], assistant["tool_calls"]!.AsArray().Select(c => (string)c!["id"]!));
        Assert.All(assistant["tool_calls"]!.AsArray(), c => Assert.Equal(("function", "get_weather"), ((string)c!["type"]!, (string)c["function"]!["name"]!)));
        Assert.Equal("{\"city\":\"Paris\",\"days\":3,\"units\":{\"temp\":\"C\"}}", (string)assistant["tool_calls"]![0]!["function"]!["arguments"]!);
        Assert.Equal("{\"city\":\"Rome\"}", (string)assistant["tool_calls"]![1]!["function"]!["arguments"]!);
        Assert.Equal("{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"{\\\"t\\\":18}\"}", Json(v4[3]));
        Assert.Equal("{\"role\":\"tool\",\"tool_call_id\":\"c2\",\"content\":\"Error: no answer\"}", Json(v4[4]));
        Assert.Equal("{\"role\":\"assistant\",\"content\":\"Paris 18°C; Rome unknown.\"}", Json(v4[5])); // usage is bookkeeping, not conversation
        // and the encoder renders it: the calls as DSML with typed parameters, the results as one user turn
        string prompt = V4ChatEncoder.Encode(v4, "chat");
        Assert.Contains("<｜DSML｜parameter name=\"days\" string=\"false\">3</｜DSML｜parameter>", prompt);
        Assert.Contains("<｜DSML｜parameter name=\"units\" string=\"false\">{\"temp\": \"C\"}</｜DSML｜parameter>", prompt);
        Assert.Contains("<｜User｜><tool_result>{\"t\":18}</tool_result>\n\n<tool_result>Error: no answer</tool_result>", prompt);
    }

    [Fact]
    public async Task StopSequencesAndTheTokenLimitEndTheAnswer()
    {
        using var client = Client("Alpha beta gamma END delta");
        ChatMessage[] messages = [new(ChatRole.User, "go")];
        var stopped = await client.GetResponseAsync(messages, new ChatOptions { StopSequences = ["END"] });
        Assert.Equal("Alpha beta gamma ", stopped.Text);
        Assert.Equal(ChatFinishReason.Stop, stopped.FinishReason);
        var cut = await client.GetResponseAsync(messages, new ChatOptions { MaxOutputTokens = 2 });
        Assert.Equal(ChatFinishReason.Length, cut.FinishReason);
        Assert.Equal(2, cut.Usage!.OutputTokenCount);
        Assert.Equal(Tok.Value.Decode(Tok.Value.Encode("Alpha beta gamma")[..2]), cut.Text);
    }

    [Fact]
    public void MetadataAndServices()
    {
        using var client = Client("x");
        IChatClient chat = client;
        var metadata = chat.GetService<ChatClientMetadata>()!;
        Assert.Equal("sharpseek", metadata.ProviderName);
        Assert.Equal("scripted", metadata.DefaultModelId);
        Assert.Same(client, chat.GetService<SharpSeekChatClient>());
        Assert.Same(client.Pool, chat.GetService<SessionPool>());
        Assert.IsType<ScriptedEngine>(chat.GetService<IInferenceEngine>());
        Assert.Null(chat.GetService<ChatClientMetadata>("some key"));
        using var named = new SharpSeekChatClient(new ScriptedEngine(Tok.Value, "x"), Tok.Value, ChatFormat.V4, options: new SharpSeekChatClientOptions { ModelId = "deepseek-v4-flash" });
        Assert.Equal("deepseek-v4-flash", named.GetService<ChatClientMetadata>()!.DefaultModelId);
    }

    [Fact]
    public async Task RealTinyModelAnswersAndReusesThePrefix()
    {
        var tok = Tok.Value;
        using var client = new SharpSeekChatClient(Tiny.Value, tok, ChatFormat.V4);
        var options = new ChatOptions { MaxOutputTokens = 5, Temperature = 0.8f, TopP = 0.95f, Seed = 3 };
        var history = new List<ChatMessage> { new(ChatRole.System, "You are terse."), new(ChatRole.User, "Hello there") };
        var first = await client.GetResponseAsync(history, options);

        // the prompt the encoder makes for the same conversation, written out by hand
        var expected = new JsonArray(new JsonObject { ["role"] = "system", ["content"] = "You are terse." }, new JsonObject { ["role"] = "user", ["content"] = "Hello there" });
        int promptTokens = tok.Encode(V4ChatEncoder.Encode(expected, "chat")).Length;
        var u1 = first.Usage!;
        Assert.Equal(promptTokens, u1.InputTokenCount);
        Assert.Equal(0, u1.CachedInputTokenCount);
        Assert.Equal(ChatFinishReason.Length, first.FinishReason); // random weights almost never sample EOS in 5 draws
        Assert.Equal(5, u1.OutputTokenCount);
        Assert.Equal(u1.InputTokenCount + u1.OutputTokenCount, u1.TotalTokenCount);
        Assert.Equal(0, u1.ReasoningTokenCount);
        var message = Assert.Single(first.Messages);
        Assert.Equal(ChatRole.Assistant, message.Role);
        Assert.NotEmpty(message.Text);
        Assert.Equal(Tiny.Value.ModelName, first.ModelId);

        history.AddMessages(first);
        history.Add(new ChatMessage(ChatRole.User, "And now?"));
        var shorter = options.Clone();
        shorter.MaxOutputTokens = 3;
        var second = await Stream(client, history, shorter);
        var u2 = Assert.Single(second.SelectMany(u => u.Contents).OfType<UsageContent>()).Details;
        Assert.True(u2.CachedInputTokenCount >= promptTokens, $"cached {u2.CachedInputTokenCount} of {u2.InputTokenCount}; the first prompt was {promptTokens}");
        Assert.True(u2.InputTokenCount > promptTokens + 2);
        Assert.Equal(3, u2.OutputTokenCount);
        Assert.Equal(ChatFinishReason.Length, second[^1].FinishReason);
    }
}
