using System.ComponentModel;
using System.Text.Json;
using System.Text.Json.Nodes;
using SharpSeek.Tokenizer;
using SharpSeek.Tokenizer.Chat;
using Spectre.Console.Cli;

namespace SharpSeek.Cli.Commands;

/// <summary>
/// `sharpseek chat-encode --tokenizer DIR [--format v4|v4-0731]`: JSON lines {"messages": [...], "kwargs": {...}} (kwargs as
/// the official encode_messages takes them) → {"prompt": ..., "ids": [...]} or {"error": ...}, one line each.
/// </summary>
public sealed class ChatEncodeCommand : Command<ChatEncodeCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandOption("--tokenizer <DIR>")] [Description("Model directory with tokenizer.json (its config.json picks the format)")] public string Tokenizer { get; set; } = "";
        [CommandOption("--format <FORMAT>")] [Description("v4 (preview) or v4-0731; default: detected from config.json")] public string? Format { get; set; }
    }

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        if (s.Tokenizer.Length == 0) throw new ArgumentException("chat-encode needs --tokenizer DIR");
        var format = s.Format switch
        {
            null => V4ChatEncoder.DetectFormat(s.Tokenizer),
            "v4" => ChatFormat.V4,
            "v4-0731" => ChatFormat.V4_0731,
            _ => throw new ArgumentException($"--format: \"{s.Format}\", expected v4 or v4-0731"),
        };
        return Run(BpeTokenizer.Load(s.Tokenizer), format, Console.In, Console.Out);
    }

    public static int Run(BpeTokenizer tok, ChatFormat format, TextReader input, TextWriter output)
    {
        string? line;
        int lineNo = 0;
        var relaxed = new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        while ((line = input.ReadLine()) != null)
        {
            lineNo++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            JsonObject result;
            try
            {
                var node = JsonNode.Parse(line) as JsonObject ?? throw new ChatFormatException("expected a JSON object");
                var messages = node["messages"] as JsonArray ?? throw new ChatFormatException("field \"messages\": missing or not an array");
                var kw = node["kwargs"] as JsonObject ?? [];
                string prompt = V4ChatEncoder.Encode(messages, (string?)kw["thinking_mode"] ?? "chat", format, kw["context"] as JsonArray,
                    kw["drop_thinking"] is { } d ? (bool)d : true, kw["add_default_bos_token"] is { } b ? (bool)b : true,
                    (string?)kw["reasoning_effort"]);
                result = new JsonObject { ["prompt"] = prompt, ["ids"] = new JsonArray(tok.Encode(prompt).Select(i => (JsonNode)i).ToArray()) };
            }
            catch (Exception e) when (e is JsonException or ChatFormatException or InvalidOperationException or FormatException)
            {
                result = new JsonObject { ["error"] = $"line {lineNo}: {e.Message}" };
            }
            output.WriteLine(result.ToJsonString(relaxed));
        }
        return 0;
    }
}

/// <summary>`sharpseek chat-parse`: JSON lines {"text": ..., "thinking_mode": "chat"|"thinking"} → {"message": {...}} or {"error": ...}.</summary>
public sealed class ChatParseCommand : Command
{
    public override int Execute(CommandContext context, CancellationToken cancellationToken) => Run(Console.In, Console.Out);

    public static int Run(TextReader input, TextWriter output)
    {
        string? line;
        int lineNo = 0;
        var relaxed = new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        while ((line = input.ReadLine()) != null)
        {
            lineNo++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            JsonObject result;
            try
            {
                var node = JsonNode.Parse(line) as JsonObject ?? throw new ChatFormatException("expected a JSON object");
                string text = node["text"] is JsonValue v && v.TryGetValue(out string? t) ? t : throw new ChatFormatException("field \"text\": missing or not a string");
                string mode = (string?)node["thinking_mode"] ?? "chat";
                if (mode is not ("chat" or "thinking")) throw new ChatFormatException($"field \"thinking_mode\": \"{mode}\", expected chat or thinking");
                result = new JsonObject { ["message"] = V4CompletionParser.Parse(text, mode == "thinking").ToJson() };
            }
            catch (Exception e) when (e is JsonException or ChatFormatException or InvalidOperationException)
            {
                result = new JsonObject { ["error"] = $"line {lineNo}: {e.Message}" };
            }
            output.WriteLine(result.ToJsonString(relaxed));
        }
        return 0;
    }
}
