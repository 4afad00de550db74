using System.ComponentModel;
using System.Text.Json;
using System.Text.Json.Nodes;
using SharpSeek.Tokenizer;
using Spectre.Console.Cli;

namespace SharpSeek.Cli.Commands;

/// <summary>
/// `sharpseek tokenize --tokenizer DIR "text"` prints ids and pieces; without a text it reads JSON lines
/// {"text": ...} on stdin and writes {"ids": [...]} (or {"error": ...}) per line, carrying on after bad lines.
/// </summary>
public sealed class TokenizeCommand : Command<TokenizeCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandOption("--tokenizer <DIR>")] [Description("Folder with tokenizer.json (a model directory)")] public string Tokenizer { get; set; } = "";
        [CommandArgument(0, "[TEXT]")] public string? Text { get; set; }
    }

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        if (s.Tokenizer.Length == 0) throw new ArgumentException("tokenize needs --tokenizer DIR");
        var tok = BpeTokenizer.Load(s.Tokenizer);
        if (s.Text != null)
        {
            int[] ids = tok.Encode(s.Text);
            Console.WriteLine(string.Join(",", ids));
            var relaxed = new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
            foreach (int id in ids) Console.WriteLine($"{id,8}  {JsonSerializer.Serialize(tok.Decode([id]), relaxed)}");
            return 0;
        }
        return RunJsonLines(tok, Console.In, Console.Out);
    }

    public static int RunJsonLines(BpeTokenizer tok, TextReader input, TextWriter output) =>
        JsonLines.Run(input, output, node =>
            new JsonObject { ["ids"] = new JsonArray(tok.Encode(JsonLines.RequiredString(node, "text")).Select(i => (JsonNode)i).ToArray()) });
}
