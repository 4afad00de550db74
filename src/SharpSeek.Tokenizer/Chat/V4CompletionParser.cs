using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace SharpSeek.Tokenizer.Chat;

/// <summary>One parsed tool call: arguments is the JSON text exactly as the official decoder assembles it.</summary>
public sealed record ParsedToolCall(string Name, string ArgumentsJson);

/// <summary>An assistant turn parsed from model output.</summary>
public sealed record ParsedCompletion(string Content, string ReasoningContent, IReadOnlyList<ParsedToolCall> ToolCalls)
{
    /// <summary>{role, content, reasoning_content, tool_calls: [{type, function: {name, arguments}}]} as the official parser returns.</summary>
    public JsonObject ToJson() => new()
    {
        ["role"] = "assistant",
        ["content"] = Content,
        ["reasoning_content"] = ReasoningContent,
        ["tool_calls"] = new JsonArray(ToolCalls.Select(t => (JsonNode)new JsonObject
        {
            ["type"] = "function",
            ["function"] = new JsonObject { ["name"] = t.Name, ["arguments"] = t.ArgumentsJson },
        }).ToArray()),
    };
}

/// <summary>
/// encoding_dsv4.py parse_message_from_completion_text: the strict whole-text parser of one assistant turn (the text
/// after `<｜Assistant｜><think>` or `<｜Assistant｜></think>`, normally ending in EOS). Malformed output is rejected with
/// a <see cref="ChatFormatException"/>, exactly where the official parser raises.
/// </summary>
public static class V4CompletionParser
{
    private const string ToolCallsStart = "\n\n<" + V4ChatEncoder.Dsml + "tool_calls";
    private const string InvokeOpen = "<" + V4ChatEncoder.Dsml + "invoke";
    private const string InvokeClose = "</" + V4ChatEncoder.Dsml + "invoke";
    private const string ParamOpen = "<" + V4ChatEncoder.Dsml + "parameter";
    private const string ParamClose = "/" + V4ChatEncoder.Dsml + "parameter";
    private static readonly Regex ToolName = new("^\\s*name=\"(.*?)\">\\n$", RegexOptions.Singleline | RegexOptions.Compiled);
    private static readonly Regex Param = new("^ name=\"(.*?)\" string=\"(true|false)\">(.*?)<$", RegexOptions.Singleline | RegexOptions.Compiled);

    public static ParsedCompletion Parse(string text, bool thinking)
    {
        string reasoning = "", content;
        int index = 0;
        string? stop;
        if (thinking)
        {
            (index, reasoning, stop) = ReadUntil(index, text, V4ChatEncoder.ThinkEnd, ToolCallsStart);
            if (stop != V4ChatEncoder.ThinkEnd) throw new ChatFormatException("Invalid thinking format: missing </think>");
        }
        (index, content, stop) = ReadUntil(index, text, V4ChatEncoder.Eos, ToolCallsStart);
        var calls = new List<ParsedToolCall>();
        if (stop == ToolCallsStart)
        {
            (index, stop) = ParseToolCalls(index, text, calls);
            (index, string after, stop) = ReadUntil(index, text, V4ChatEncoder.Eos);
            if (after.Length > 0) throw new ChatFormatException("Unexpected content after tool calls");
        }
        else if (stop != V4ChatEncoder.Eos) throw new ChatFormatException("Invalid format: missing EOS token");
        if (index != text.Length || stop is not (V4ChatEncoder.Eos or null)) throw new ChatFormatException("Unexpected content at end");
        foreach (var sp in new[] { V4ChatEncoder.Bos, V4ChatEncoder.Eos, V4ChatEncoder.ThinkStart, V4ChatEncoder.ThinkEnd, V4ChatEncoder.Dsml })
            if (content.Contains(sp, StringComparison.Ordinal) || reasoning.Contains(sp, StringComparison.Ordinal))
                throw new ChatFormatException($"Unexpected special token '{sp}' in content");
        return new ParsedCompletion(content, reasoning, calls);
    }

    private static (int, string?) ParseToolCalls(int index, string text, List<ParsedToolCall> calls)
    {
        string? stop = null;
        string end = V4ChatEncoder.ToolCallsClose;
        while (index < text.Length)
        {
            (index, string gap, stop) = ReadUntil(index, text, InvokeOpen, end);
            if (gap != ">\n") throw new ChatFormatException($"Tool call format error: expected '>\\n' but got '{gap}'");
            if (stop == end) break;
            if (stop == null) throw new ChatFormatException("Missing special token in tool calls");
            (index, string nameContent, stop) = ReadUntil(index, text, ParamOpen, InvokeClose);
            var nm = ToolName.Matches(nameContent);
            if (nm.Count != 1) throw new ChatFormatException($"Tool name format error: '{nameContent}'");
            string name = nm[0].Groups[1].Value;
            var args = new List<(string Name, string Value, bool IsString)>();
            while (stop == ParamOpen)
            {
                (index, string paramContent, stop) = ReadUntil(index, text, ParamClose);
                var pm = Param.Matches(paramContent);
                if (pm.Count != 1) throw new ChatFormatException($"Parameter format error: '{paramContent}'");
                string pn = pm[0].Groups[1].Value;
                if (args.Any(a => a.Name == pn)) throw new ChatFormatException($"Duplicate parameter name: '{pn}'");
                args.Add((pn, pm[0].Groups[3].Value, pm[0].Groups[2].Value == "true"));
                (index, string rest, stop) = ReadUntil(index, text, ParamOpen, InvokeClose);
                if (rest != ">\n") throw new ChatFormatException($"Parameter format error: expected '>\\n' but got '{rest}'");
            }
            calls.Add(new ParsedToolCall(name, ArgumentsJson(args)));
        }
        return (index, stop);
    }

    /// <summary>{"key": value, …}: string parameters JSON-encoded, others inserted verbatim (even if not valid JSON).</summary>
    public static string ArgumentsJson(IEnumerable<(string Name, string Value, bool IsString)> args)
    {
        var sb = new StringBuilder("{");
        bool first = true;
        foreach (var (n, v, isString) in args)
        {
            if (!first) sb.Append(", ");
            first = false;
            PythonJson.WriteString(n, sb);
            sb.Append(": ");
            if (isString) PythonJson.WriteString(v, sb); else sb.Append(v);
        }
        return sb.Append('}').ToString();
    }

    /// <summary>_read_until_stop: the earliest of the stop strings from index; (index after it, text before it, which one).</summary>
    private static (int, string, string?) ReadUntil(int index, string text, params string[] stops)
    {
        int min = text.Length;
        string? matched = null;
        foreach (var s in stops)
        {
            int pos = text.IndexOf(s, index, StringComparison.Ordinal);
            if (pos != -1 && pos < min) { min = pos; matched = s; }
        }
        return matched != null ? (min + matched.Length, text[index..min], matched) : (text.Length, text[index..], null);
    }
}
