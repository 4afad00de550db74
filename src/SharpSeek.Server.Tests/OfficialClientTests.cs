using System.ClientModel;
using System.Text.Json;
using Anthropic;
using Anthropic.Models.Messages;
using Microsoft.Extensions.AI;
using OpenAI;
using OpenAI.Chat;
using AiChatMessage = Microsoft.Extensions.AI.ChatMessage;
using AiChatRole = Microsoft.Extensions.AI.ChatRole;
using OpenAiChatMessage = OpenAI.Chat.ChatMessage;
using ChatFinishReason = OpenAI.Chat.ChatFinishReason;

namespace SharpSeek.Server.Tests;

/// <summary>The server driven by the official OpenAI and Anthropic .NET SDKs and Microsoft.Extensions.AI.OpenAI.</summary>
public sealed class OfficialClientTests
{
    private const string WeatherScript =
        "Let me check the weather.</think>\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"get_weather\">\n"
        + "<｜DSML｜parameter name=\"city\" string=\"true\">Paris</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>";

    private static ChatClient OpenAiChat(TestServer s, string model, string key = "unused") =>
        new(model, new ApiKeyCredential(key), new OpenAIClientOptions { Endpoint = new Uri(s.BaseUri, "/v1"), NetworkTimeout = TimeSpan.FromSeconds(120) });

    private static ChatTool WeatherTool() => ChatTool.CreateFunctionTool("get_weather", "Current weather of a city",
        BinaryData.FromString("{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"]}"));

    [Fact]
    public async Task OpenAiSdkChatsWithTheRealTinyModelAndSeesCachedTokens()
    {
        await using var s = await TestServer.Start(TestServer.Tiny.Value);
        var chat = OpenAiChat(s, "deepseek-chat");
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 4, Seed = 7, Temperature = 0.7f };
        List<OpenAiChatMessage> history = [new UserChatMessage("Hello, who are you?")];
        ChatCompletion first = await chat.CompleteChatAsync(history, options);
        Assert.Contains(first.FinishReason, new[] { ChatFinishReason.Length, ChatFinishReason.Stop });
        int promptTokens = first.Usage.InputTokenCount;
        Assert.True(promptTokens > 5);
        Assert.InRange(first.Usage.OutputTokenCount, 1, 4);
        Assert.Equal(0, first.Usage.InputTokenDetails.CachedTokenCount);

        // the same conversation, one turn on, streamed: the first turn's prompt comes from the session's cache
        history.Add(new AssistantChatMessage(first.Content.Count > 0 ? first.Content[0].Text : ""));
        history.Add(new UserChatMessage("Tell me more."));
        var text = new System.Text.StringBuilder();
        ChatTokenUsage? usage = null;
        ChatFinishReason? finish = null;
        await foreach (var update in chat.CompleteChatStreamingAsync(history, options))
        {
            foreach (var part in update.ContentUpdate) text.Append(part.Text);
            usage ??= update.Usage;
            if (update.FinishReason != null) finish = update.FinishReason;
        }
        Assert.NotNull(usage);
        Assert.NotNull(finish);
        Assert.True(usage!.InputTokenDetails.CachedTokenCount >= promptTokens - 1, $"cached {usage.InputTokenDetails.CachedTokenCount} of the first turn's {promptTokens}");
        Assert.True(usage.InputTokenCount > promptTokens);
    }

    [Fact]
    public async Task OpenAiSdkToolCallRoundTripReplaysReasoningContent()
    {
        await using var s = await TestServer.Start(TestServer.Scripted(WeatherScript));
        var chat = OpenAiChat(s, "deepseek-reasoner");
        var options = new ChatCompletionOptions { Tools = { WeatherTool() }, MaxOutputTokenCount = 200 };
        List<OpenAiChatMessage> history = [new UserChatMessage("What is the weather in Paris?")];
        ChatCompletion answer = await chat.CompleteChatAsync(history, options);
        Assert.Equal(ChatFinishReason.ToolCalls, answer.FinishReason);
        var call = Assert.Single(answer.ToolCalls);
        Assert.Equal("get_weather", call.FunctionName);
        Assert.Equal("Paris", JsonDocument.Parse(call.FunctionArguments).RootElement.GetProperty("city").GetString());
        Assert.True(answer.Patch.TryGetValue("$.choices[0].message.reasoning_content"u8, out string? reasoning));
        Assert.Equal("Let me check the weather.", reasoning);
        Assert.True(answer.Usage.OutputTokenDetails.ReasoningTokenCount > 0);

        // the tool result goes back with the assistant turn; reasoning_content replayed through the SDK's patch
        async Task<int> FollowUp(bool replay)
        {
            var assistant = new AssistantChatMessage(answer);
            if (replay) assistant.Patch.Set("$.reasoning_content"u8, reasoning!);
            List<OpenAiChatMessage> turn = [.. history, assistant, new ToolChatMessage(call.Id, "{\"sky\":\"sunny\",\"celsius\":21}")];
            ChatCompletion next = await chat.CompleteChatAsync(turn, options);
            return next.Usage.InputTokenCount;
        }
        int without = await FollowUp(replay: false), with = await FollowUp(replay: true);
        // with tools in the conversation V4 keeps earlier reasoning in the prompt, so the replay is visible in its length
        Assert.True(with > without, $"prompt with reasoning {with} tokens, without {without}");
    }

    [Fact]
    public async Task OpenAiSdkStreamsToolCallArgumentsAndReasoning()
    {
        await using var s = await TestServer.Start(TestServer.Scripted(WeatherScript));
        var chat = OpenAiChat(s, "deepseek-reasoner");
        var args = new System.Text.StringBuilder();
        var reasoning = new System.Text.StringBuilder();
        string? name = null, id = null;
        int argumentUpdates = 0;
        ChatFinishReason? finish = null;
        await foreach (var u in chat.CompleteChatStreamingAsync([new UserChatMessage("Weather in Paris?")], new ChatCompletionOptions { Tools = { WeatherTool() } }))
        {
            if (u.Patch.TryGetValue("$.choices[0].delta.reasoning_content"u8, out string? r)) reasoning.Append(r);
            foreach (var t in u.ToolCallUpdates)
            {
                name ??= t.FunctionName;
                id ??= t.ToolCallId;
                if (t.FunctionArgumentsUpdate is { } a && a.ToArray().Length > 0) { args.Append(a.ToString()); argumentUpdates++; }
            }
            if (u.FinishReason != null) finish = u.FinishReason;
        }
        Assert.Equal("Let me check the weather.", reasoning.ToString());
        Assert.Equal("get_weather", name);
        Assert.False(string.IsNullOrEmpty(id));
        Assert.Equal("{\"city\": \"Paris\"}", args.ToString());
        Assert.True(argumentUpdates > 1, "arguments arrive incrementally");
        Assert.Equal(ChatFinishReason.ToolCalls, finish);
    }

    [Fact]
    public async Task OpenAiSdkLogprobsAndNamedToolChoiceOnTheRealTinyModel()
    {
        await using var s = await TestServer.Start(TestServer.Tiny.Value);
        var chat = OpenAiChat(s, "deepseek-chat");
        ChatCompletion withLogprobs = await chat.CompleteChatAsync([new UserChatMessage("Count to three.")],
            new ChatCompletionOptions { MaxOutputTokenCount = 3, IncludeLogProbabilities = true, TopLogProbabilityCount = 3, Temperature = 0 });
        var lp = withLogprobs.ContentTokenLogProbabilities;
        Assert.Equal(withLogprobs.Usage.OutputTokenCount, lp.Count);
        foreach (var t in lp)
        {
            Assert.Equal(3, t.TopLogProbabilities.Count);
            Assert.True(t.LogProbability <= 0);
            Assert.True(t.TopLogProbabilities[0].LogProbability >= t.TopLogProbabilities[1].LogProbability);
            // greedy: the chosen token is the most probable one
            Assert.Equal(t.TopLogProbabilities[0].LogProbability, t.LogProbability, 5);
        }

        // tool_choice naming a function forces the call's opening, whatever the random weights would have said
        var forced = new ChatCompletionOptions
        {
            Tools = { WeatherTool() }, ToolChoice = ChatToolChoice.CreateFunctionChoice("get_weather"), MaxOutputTokenCount = 24,
        };
        string? calledName = null;
        await foreach (var u in chat.CompleteChatStreamingAsync([new UserChatMessage("Anything.")], forced))
            foreach (var t in u.ToolCallUpdates) calledName ??= t.FunctionName;
        Assert.Equal("get_weather", calledName);
    }

    [Fact]
    public async Task OpenAiSdkSurfacesErrorsWithStatus()
    {
        await using var s = await TestServer.Start(TestServer.Scripted("ok"), new ServerOptions { ApiKey = "right" });
        var wrongKey = await Assert.ThrowsAsync<ClientResultException>(() => OpenAiChat(s, "deepseek-chat", "wrong").CompleteChatAsync([new UserChatMessage("hi")]));
        Assert.Equal(401, wrongKey.Status);
        var unknown = await Assert.ThrowsAsync<ClientResultException>(() => OpenAiChat(s, "gpt-9", "right").CompleteChatAsync([new UserChatMessage("hi")]));
        Assert.Equal(404, unknown.Status);
        Assert.Contains("gpt-9", unknown.Message);
        ChatCompletion ok = await OpenAiChat(s, "deepseek-chat", "right").CompleteChatAsync([new UserChatMessage("hi")]);
        Assert.Equal("ok", ok.Content[0].Text);
    }

    [Fact]
    public async Task MicrosoftExtensionsAiClientGetsFunctionCallsAndUsage()
    {
        await using var s = await TestServer.Start(TestServer.Scripted(WeatherScript));
        IChatClient client = OpenAiChat(s, "deepseek-reasoner").AsIChatClient();
        var tool = AIFunctionFactory.Create((string city) => $"sunny in {city}", "get_weather", "Current weather of a city");
        var response = await client.GetResponseAsync([new AiChatMessage(AiChatRole.User, "Weather in Paris?")], new ChatOptions { Tools = [tool] });
        var call = Assert.Single(response.Messages.SelectMany(m => m.Contents).OfType<FunctionCallContent>());
        Assert.Equal("get_weather", call.Name);
        Assert.Equal("Paris", call.Arguments!["city"]?.ToString());
        Assert.Equal(Microsoft.Extensions.AI.ChatFinishReason.ToolCalls, response.FinishReason);
        Assert.True(response.Usage!.InputTokenCount > 0);
        Assert.True(response.Usage.OutputTokenCount > 0);

        var updates = new List<ChatResponseUpdate>();
        await foreach (var u in client.GetStreamingResponseAsync([new AiChatMessage(AiChatRole.User, "Weather in Paris?")], new ChatOptions { Tools = [tool] }))
            updates.Add(u);
        var streamed = updates.ToChatResponse();
        Assert.Equal("get_weather", Assert.Single(streamed.Messages.SelectMany(m => m.Contents).OfType<FunctionCallContent>()).Name);
    }

    private static AnthropicClient Anthropic(TestServer s) => new() { ApiKey = "unused", BaseUrl = s.BaseUri.ToString().TrimEnd('/'), MaxRetries = 0 };

    [Fact]
    public async Task AnthropicSdkGetsThinkingAndToolUse()
    {
        await using var s = await TestServer.Start(TestServer.Scripted(WeatherScript.Replace("Let me check the weather.", "Checking.")));
        var client = Anthropic(s);
        var tool = new Tool
        {
            Name = "get_weather", Description = "Current weather of a city",
            InputSchema = new InputSchema { Properties = new Dictionary<string, JsonElement> { ["city"] = JsonDocument.Parse("{\"type\":\"string\"}").RootElement } },
        };
        var parameters = new MessageCreateParams
        {
            Model = "deepseek-reasoner", MaxTokens = 200, Tools = [tool],
            Thinking = new ThinkingConfigEnabled { BudgetTokens = 1024 },
            Messages = [new UserMessageParam { Content = "Weather in Paris?" }],
        };
        var message = await client.Messages.Create(parameters);
        Assert.Equal("tool_use", message.StopReason?.Raw());
        Assert.Contains(message.Content, b => b.TryPickThinking(out var t) && t.Thinking == "Checking.");
        var use = message.Content.Select(b => b.TryPickToolUse(out var u) ? u : null).Single(u => u != null)!;
        Assert.Equal("get_weather", use.Name);
        Assert.Equal("Paris", use.Input["city"].GetString());
        Assert.NotNull(message.Usage.CacheReadInputTokens);

        var thinking = new System.Text.StringBuilder();
        var json = new System.Text.StringBuilder();
        string? stop = null, toolName = null;
        await foreach (var e in client.Messages.CreateStreaming(parameters))
        {
            if (e.TryPickContentBlockStart(out var start) && start.ContentBlock.TryPickToolUse(out var tu)) toolName = tu.Name;
            if (e.TryPickContentBlockDelta(out var d))
            {
                if (d.Delta.TryPickThinking(out var td)) thinking.Append(td.Thinking);
                if (d.Delta.TryPickInputJson(out var jd)) json.Append(jd.PartialJson);
            }
            if (e.TryPickDelta(out var md)) stop = md.Delta.StopReason?.Raw();
        }
        Assert.Equal("Checking.", thinking.ToString());
        Assert.Equal("get_weather", toolName);
        Assert.Equal("{\"city\": \"Paris\"}", json.ToString());
        Assert.Equal("tool_use", stop);
    }

    [Fact]
    public async Task AnthropicSdkChatsWithTheRealTinyModel()
    {
        await using var s = await TestServer.Start(TestServer.Tiny.Value);
        var message = await Anthropic(s).Messages.Create(new MessageCreateParams
        {
            Model = "deepseek-chat", MaxTokens = 3, Messages = [new UserMessageParam { Content = "Hello" }],
        });
        Assert.Contains(message.StopReason?.Raw(), new[] { "max_tokens", "end_turn" });
        Assert.True(message.Usage.InputTokens > 3);
        Assert.InRange(message.Usage.OutputTokens, 1, 3);
    }
}
