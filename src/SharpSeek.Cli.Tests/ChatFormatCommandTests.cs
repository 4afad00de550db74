using System.Text.Json.Nodes;
using SharpSeek.Cli.Commands;
using SharpSeek.TestSupport;
using SharpSeek.Tokenizer;
using SharpSeek.Tokenizer.Chat;

namespace SharpSeek.Cli.Tests;

public sealed class ChatFormatCommandTests
{
    [Fact]
    public void ChatEncodeLinesAndErrors()
    {
        var tok = BpeTokenizer.Load(Golden.Path("tokenizer"));
        var input = new StringReader(
            "{\"messages\": [{\"role\": \"user\", \"content\": \"What is the capital of Japan?\"}], \"kwargs\": {\"thinking_mode\": \"chat\"}}\n" +
            "{oops\n" +
            "{\"messages\": [{\"role\": \"narrator\", \"content\": \"x\"}], \"kwargs\": {\"thinking_mode\": \"chat\"}}\n" +
            "{\"kwargs\": {}}\n");
        var output = new StringWriter();
        ChatEncodeCommand.Run(tok, ChatFormat.V4, input, output);
        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!).ToArray();
        Assert.Equal(4, lines.Length);
        Assert.Equal("<｜begin▁of▁sentence｜><｜User｜>What is the capital of Japan?<｜Assistant｜></think>", (string)lines[0]["prompt"]!);
        Assert.Equal([0, 128803, 3085, 344, 270, 6102, 294, 6310, 33, 128804, 128822], lines[0]["ids"]!.AsArray().Select(n => (int)n!).ToArray());
        Assert.StartsWith("line 2:", (string)lines[1]["error"]!);
        Assert.Contains("Unknown role: narrator", (string)lines[2]["error"]!);
        Assert.Contains("field \"messages\"", (string)lines[3]["error"]!);
    }

    [Fact]
    public void ChatParseLinesAndErrors()
    {
        var input = new StringReader(
            "{\"text\": \"plan</think>Answer<｜end▁of▁sentence｜>\", \"thinking_mode\": \"thinking\"}\n" +
            "{\"text\": \"no end\", \"thinking_mode\": \"chat\"}\n" +
            "{\"thinking_mode\": \"chat\"}\n");
        var output = new StringWriter();
        ChatParseCommand.Run(input, output);
        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!).ToArray();
        Assert.Equal("Answer", (string)lines[0]["message"]!["content"]!);
        Assert.Equal("plan", (string)lines[0]["message"]!["reasoning_content"]!);
        Assert.Contains("missing EOS", (string)lines[1]["error"]!);
        Assert.Contains("field \"text\"", (string)lines[2]["error"]!);
    }
}
