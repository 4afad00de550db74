using System.Text.Json.Nodes;
using SharpSeek.Cli.Commands;
using SharpSeek.TestSupport;
using SharpSeek.Tokenizer;

namespace SharpSeek.Cli.Tests;

public sealed class TokenizeCommandTests
{
    [Fact]
    public void JsonLinesGiveIdsAndOneLineErrors()
    {
        var tok = BpeTokenizer.Load(Golden.Path("tokenizer"));
        var input = new StringReader("{\"text\": \"Hello world\"}\nnot json\n{\"txt\": 1}\n{\"text\": \"<｜User｜>\"}\n");
        var output = new StringWriter();
        TokenizeCommand.RunJsonLines(tok, input, output);
        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(4, lines.Length);
        Assert.Equal(tok.Encode("Hello world"), JsonNode.Parse(lines[0])!["ids"]!.AsArray().Select(n => (int)n!).ToArray());
        Assert.StartsWith("line 2:", (string)JsonNode.Parse(lines[1])!["error"]!);
        Assert.Contains("field \"text\"", (string)JsonNode.Parse(lines[2])!["error"]!);
        Assert.Equal([128803], JsonNode.Parse(lines[3])!["ids"]!.AsArray().Select(n => (int)n!).ToArray());
    }
}
