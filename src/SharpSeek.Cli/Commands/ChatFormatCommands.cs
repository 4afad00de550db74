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

    public static int Run(BpeTokenizer tok, ChatFormat format, TextReader input, TextWriter output) =>
        JsonLines.Run(input, output, node =>
        {
            var messages = node["messages"] as JsonArray ?? throw new ChatFormatException("field \"messages\": missing or not an array");
            var kw = node["kwargs"] as JsonObject ?? [];
            string prompt = V4ChatEncoder.Encode(messages, (string?)kw["thinking_mode"] ?? "chat", format, kw["context"] as JsonArray,
                kw["drop_thinking"] is { } d ? (bool)d : true, kw["add_default_bos_token"] is { } b ? (bool)b : true,
                (string?)kw["reasoning_effort"]);
            return new JsonObject { ["prompt"] = prompt, ["ids"] = new JsonArray(tok.Encode(prompt).Select(i => (JsonNode)i).ToArray()) };
        });
}

/// <summary>`sharpseek chat-parse`: JSON lines {"text": ..., "thinking_mode": "chat"|"thinking"} → {"message": {...}} or {"error": ...}.</summary>
public sealed class ChatParseCommand : Command
{
    public override int Execute(CommandContext context, CancellationToken cancellationToken) => Run(Console.In, Console.Out);

    public static int Run(TextReader input, TextWriter output) =>
        JsonLines.Run(input, output, node =>
        {
            string text = JsonLines.RequiredString(node, "text");
            string mode = (string?)node["thinking_mode"] ?? "chat";
            if (mode is not ("chat" or "thinking")) throw new ChatFormatException($"field \"thinking_mode\": \"{mode}\", expected chat or thinking");
            return new JsonObject { ["message"] = V4CompletionParser.Parse(text, mode == "thinking").ToJson() };
        });
}
