using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace SharpSeek.Tokenizer.Chat;

/// <summary>The two published encoder variants: the April preview and V4-Flash-0731 (reasoning-effort table).</summary>
public enum ChatFormat { V4, V4_0731 }

public sealed class ChatFormatException(string message) : Exception(message);

/// <summary>
/// DeepSeek-V4's chat encoding (encoding/encoding_dsv4.py: encode_messages). There is no Jinja template: the Python
/// encoder is normative and this follows it step by step — tool messages merged into user turns and re-ordered by
/// call id, reasoning of earlier turns dropped, each message rendered with its role token, DSML tool calls and the
/// transition tokens that open the next assistant turn. Messages are OpenAI-style JSON objects.
/// </summary>
public static class V4ChatEncoder
{
    public const string Bos = "<｜begin▁of▁sentence｜>";
    public const string Eos = "<｜end▁of▁sentence｜>";
    public const string ThinkStart = "<think>";
    public const string ThinkEnd = "</think>";
    public const string Dsml = "｜DSML｜";
    public const string User = "<｜User｜>";
    public const string Assistant = "<｜Assistant｜>";
    public const string LatestReminder = "<｜latest_reminder｜>";
    public const string ToolCallsOpen = "<" + Dsml + "tool_calls>";
    public const string ToolCallsClose = "</" + Dsml + "tool_calls>";

    private static readonly Dictionary<string, string> TaskTokens = new()
    {
        ["action"] = "<｜action｜>", ["query"] = "<｜query｜>", ["authority"] = "<｜authority｜>",
        ["domain"] = "<｜domain｜>", ["title"] = "<｜title｜>", ["read_url"] = "<｜read_url｜>",
    };

    private const string EffortAbsoluteMax =
        "Reasoning Effort: Absolute maximum with no shortcuts permitted.\n" +
        "You MUST be very thorough in your thinking and comprehensively decompose the problem to resolve the root cause, rigorously stress-testing your logic against all potential paths, edge cases, and adversarial scenarios.\n" +
        "Explicitly write out your entire deliberation process, documenting every intermediate step, considered alternative, and rejected hypothesis to ensure absolutely no assumption is left unchecked.\n\n";

    private const string EffortBeyondMax =
        "Reasoning Effort: Beyond maximum — exhaustive, relentless, and uncompromising.\n" +
        "You MUST reason with the utmost depth and rigor, leaving absolutely nothing to chance: exhaustively decompose the problem into its most fundamental components, trace every causal chain to its root, and resolve the underlying cause rather than any surface symptom.\n" +
        "Do not stop reasoning until you have independently verified the solution from multiple angles and are certain that no assumption remains unchecked and no error remains undiscovered.\n\n";

    private const string ToolsTemplate = """
## Tools

You have access to a set of tools to help answer the user's question. You can invoke tools by writing a "<｜DSML｜tool_calls>" block like the following:

<｜DSML｜tool_calls>
<｜DSML｜invoke name="$TOOL_NAME">
<｜DSML｜parameter name="$PARAMETER_NAME" string="true|false">$PARAMETER_VALUE</｜DSML｜parameter>
...
</｜DSML｜invoke>
<｜DSML｜invoke name="$TOOL_NAME2">
...
</｜DSML｜invoke>
</｜DSML｜tool_calls>

String parameters should be specified as is and set `string="true"`. For all other types (numbers, booleans, arrays, objects), pass the value in JSON format and set `string="false"`.

If thinking_mode is enabled (triggered by <think>), you MUST output your complete reasoning inside <think>...</think> BEFORE any tool calls or final response.

Otherwise, output directly after </think> with tool calls or final response.

### Available Tool Schemas

{tool_schemas}

You MUST strictly follow the above defined tool name and parameter schemas to invoke tool calls.

""";

    /// <summary>0731 checkpoints carry the DSpark drafter's `dspark_*` fields in config.json; the preview does not.</summary>
    public static ChatFormat DetectFormat(string modelDirectory)
    {
        string config = Path.Combine(modelDirectory, "config.json");
        if (!File.Exists(config)) return ChatFormat.V4;
        using var doc = JsonDocument.Parse(File.ReadAllBytes(config));
        return doc.RootElement.EnumerateObject().Any(p => p.Name.StartsWith("dspark_", StringComparison.Ordinal)) ? ChatFormat.V4_0731 : ChatFormat.V4;
    }

    /// <summary>encode_messages(messages, thinking_mode, context, drop_thinking, add_default_bos_token, reasoning_effort).</summary>
    public static string Encode(JsonArray messages, string thinkingMode, ChatFormat format = ChatFormat.V4, JsonArray? context = null,
                                bool dropThinking = true, bool addDefaultBos = true, string? reasoningEffort = null)
    {
        var ctxOriginal = context?.Select(m => Obj(m, "context")).ToList() ?? [];
        var msgs = MergeToolMessages(messages.Select(m => Obj(m, "messages")).ToList());
        SortToolResultsByCallOrder([.. ctxOriginal, .. msgs]);
        var ctx = ctxOriginal.Count > 0 ? SortToolResultsByCallOrder(MergeToolMessages(ctxOriginal)) : [];
        var full = new List<JsonObject>([.. ctx, .. msgs]);

        var sb = new StringBuilder();
        if (addDefaultBos && ctx.Count == 0) sb.Append(Bos);
        bool effectiveDrop = dropThinking && !full.Any(m => Truthy(m["tools"]));
        int numToRender, contextLen;
        if (thinkingMode == "thinking" && effectiveDrop)
        {
            full = DropThinkingMessages(full);
            numToRender = full.Count - DropThinkingMessages(ctx).Count;
            contextLen = full.Count - numToRender;
        }
        else { numToRender = msgs.Count; contextLen = ctx.Count; }
        for (int i = 0; i < numToRender; i++)
            sb.Append(RenderMessage(i + contextLen, full, thinkingMode, effectiveDrop, reasoningEffort, format));
        return sb.ToString();
    }

    private static JsonObject Obj(JsonNode? n, string where) =>
        n as JsonObject ?? throw new ChatFormatException($"{where}: every message must be a JSON object");

    private static string? Str(JsonNode? n) => n is JsonValue v && v.TryGetValue(out string? s) ? s : null;

    /// <summary>Python truthiness of a JSON value.</summary>
    private static bool Truthy(JsonNode? n) => n switch
    {
        null => false,
        JsonArray a => a.Count > 0,
        JsonObject o => o.Count > 0,
        JsonValue v => v.GetValueKind() switch
        {
            JsonValueKind.String => v.GetValue<string>().Length > 0,
            JsonValueKind.False or JsonValueKind.Null => false,
            JsonValueKind.Number => double.Parse(v.ToJsonString(), System.Globalization.CultureInfo.InvariantCulture) != 0,
            _ => true,
        },
        _ => true,
    };

    /// <summary>Python's str() of a value formatted into a template (None → "None").</summary>
    private static string PyStr(JsonNode? n) => n == null ? "None" : Str(n) ?? throw new ChatFormatException($"expected a string, got {n.ToJsonString()}");

    private static List<JsonObject> MergeToolMessages(List<JsonObject> messages)
    {
        var merged = new List<JsonObject>();
        foreach (var original in messages)
        {
            var msg = (JsonObject)original.DeepClone();
            string? role = Str(msg["role"]);
            if (role == "tool")
            {
                var block = new JsonObject
                {
                    ["type"] = "tool_result",
                    ["tool_use_id"] = msg.ContainsKey("tool_call_id") ? msg["tool_call_id"]?.DeepClone() : "",
                    ["content"] = msg.ContainsKey("content") ? msg["content"]?.DeepClone() : "",
                };
                if (merged.Count > 0 && Str(merged[^1]["role"]) == "user" && merged[^1].ContainsKey("content_blocks"))
                    merged[^1]["content_blocks"]!.AsArray().Add(block);
                else merged.Add(new JsonObject { ["role"] = "user", ["content_blocks"] = new JsonArray(block) });
            }
            else if (role == "user")
            {
                var content = msg.ContainsKey("content") ? msg["content"]?.DeepClone() : "";
                var text = new JsonObject { ["type"] = "text", ["text"] = content };
                if (merged.Count > 0 && Str(merged[^1]["role"]) == "user" && merged[^1].ContainsKey("content_blocks") && merged[^1]["task"] == null)
                    merged[^1]["content_blocks"]!.AsArray().Add(text);
                else
                {
                    var m = new JsonObject { ["role"] = "user", ["content"] = content?.DeepClone(), ["content_blocks"] = new JsonArray(text) };
                    foreach (var key in new[] { "task", "wo_eos", "mask" })
                        if (msg.ContainsKey(key)) m[key] = msg[key]?.DeepClone();
                    merged.Add(m);
                }
            }
            else merged.Add(msg);
        }
        return merged;
    }

    private static List<JsonObject> SortToolResultsByCallOrder(List<JsonObject> messages)
    {
        var order = new Dictionary<string, int>();
        foreach (var msg in messages)
        {
            string? role = Str(msg["role"]);
            if (role == "assistant" && Truthy(msg["tool_calls"]))
            {
                order = new Dictionary<string, int>();
                int idx = 0;
                foreach (var tc in msg["tool_calls"]!.AsArray())
                {
                    string? id = Str(tc?["id"]);
                    if (string.IsNullOrEmpty(id)) id = Str(tc?["function"]?["id"]);
                    if (!string.IsNullOrEmpty(id)) order[id] = idx;
                    idx++;
                }
            }
            else if (role == "user" && Truthy(msg["content_blocks"]))
            {
                var blocks = msg["content_blocks"]!.AsArray();
                var tools = blocks.Where(b => Str(b?["type"]) == "tool_result").ToList();
                if (tools.Count > 1 && order.Count > 0)
                {
                    var sorted = tools.Select((b, i) => (b, i)).OrderBy(x => order.GetValueOrDefault(Str(x.b?["tool_use_id"]) ?? "", 0)).ThenBy(x => x.i).Select(x => x.b).ToList();
                    var rebuilt = new JsonArray();
                    int k = 0;
                    foreach (var b in blocks.ToList())
                        rebuilt.Add((Str(b?["type"]) == "tool_result" ? sorted[k++] : b)?.DeepClone());
                    msg["content_blocks"] = rebuilt;
                }
            }
        }
        return messages;
    }

    private static int LastUserIndex(List<JsonObject> messages)
    {
        for (int i = messages.Count - 1; i >= 0; i--)
            if (Str(messages[i]["role"]) is "user" or "developer") return i;
        return -1;
    }

    private static List<JsonObject> DropThinkingMessages(List<JsonObject> messages)
    {
        int last = LastUserIndex(messages);
        var result = new List<JsonObject>();
        for (int i = 0; i < messages.Count; i++)
        {
            string? role = Str(messages[i]["role"]);
            if (role is "user" or "system" or "tool" or "latest_reminder" or "direct_search_results" || i >= last) result.Add(messages[i]);
            else if (role == "assistant")
            {
                var copy = (JsonObject)messages[i].DeepClone();
                copy.Remove("reasoning_content");
                result.Add(copy);
            }
        }
        return result;
    }

    private static string RenderTools(JsonArray tools)
    {
        var schemas = tools.Select(t => PythonJson.Dumps(t?["function"] ?? throw new ChatFormatException("tools: each tool needs a \"function\" object")));
        return ToolsTemplate.Replace("{tool_schemas}", string.Join("\n", schemas));
    }

    private static string EncodeArguments(string arguments)
    {
        JsonObject args;
        JsonNode? parsed;
        try { parsed = JsonNode.Parse(arguments); }
        catch (JsonException) { parsed = null; }
        if (parsed == null && !IsJsonNull(arguments)) args = new JsonObject { ["arguments"] = arguments };
        else args = parsed as JsonObject ?? throw new ChatFormatException($"tool_calls.function.arguments: expected a JSON object, got {arguments}");
        var lines = new List<string>();
        foreach (var (k, v) in args)
        {
            bool isStr = v is JsonValue jv && jv.GetValueKind() == JsonValueKind.String;
            string value = isStr ? Str(v)! : PythonJson.Dumps(v);
            lines.Add($"<{Dsml}parameter name=\"{k}\" string=\"{(isStr ? "true" : "false")}\">{value}</{Dsml}parameter>");
        }
        return string.Join("\n", lines);
    }

    private static bool IsJsonNull(string s) => s.Trim() == "null";

    private static string RenderMessage(int index, List<JsonObject> messages, string thinkingMode, bool dropThinking, string? effort, ChatFormat format)
    {
        if (thinkingMode is not ("chat" or "thinking")) throw new ChatFormatException($"Invalid thinking_mode `{thinkingMode}`");
        var sb = new StringBuilder();
        var msg = messages[index];
        int lastUser = LastUserIndex(messages);
        string? role = Str(msg["role"]);
        var content = msg["content"];
        var tools = msg["tools"];
        var responseFormat = msg["response_format"];
        var toolCalls = msg["tool_calls"];

        string prefix;
        if (format == ChatFormat.V4)
        {
            if (effort is not (null or "max" or "high")) throw new ChatFormatException($"Invalid reasoning effort: {effort}");
            prefix = effort == "max" ? EffortAbsoluteMax : "";
        }
        else
        {
            string e = effort ?? "low";
            prefix = e switch
            {
                "low" => "", "high" => EffortAbsoluteMax, "max" => EffortBeyondMax,
                _ => throw new ChatFormatException($"Invalid reasoning effort: {e}, expected one of ['low', 'high', 'max']"),
            };
        }
        if (index == 0 && thinkingMode == "thinking") sb.Append(prefix);

        switch (role)
        {
            case "system":
                sb.Append(Truthy(content) ? PyStr(content) : "");
                if (Truthy(tools)) sb.Append("\n\n").Append(RenderTools(tools!.AsArray()));
                if (Truthy(responseFormat)) sb.Append("\n\n## Response Format:\n\nYou MUST strictly adhere to the following schema to reply:\n").Append(PythonJson.Dumps(responseFormat));
                break;
            case "developer":
                if (!Truthy(content)) throw new ChatFormatException($"Invalid message for role `developer`: content is empty");
                sb.Append(User).Append(PyStr(content));
                if (Truthy(tools)) sb.Append("\n\n").Append(RenderTools(tools!.AsArray()));
                if (Truthy(responseFormat)) sb.Append("\n\n## Response Format:\n\nYou MUST strictly adhere to the following schema to reply:\n").Append(PythonJson.Dumps(responseFormat));
                break;
            case "user":
                sb.Append(User);
                if (Truthy(msg["content_blocks"]))
                {
                    var parts = new List<string>();
                    foreach (var block in msg["content_blocks"]!.AsArray())
                    {
                        string? type = Str(block?["type"]);
                        if (type == "text")
                            parts.Add(block!.AsObject().ContainsKey("text") ? Str(block["text"]) ?? throw new ChatFormatException("user message content: expected a string") : "");
                        else if (type == "tool_result")
                        {
                            var tc = block!.AsObject().ContainsKey("content") ? block["content"] : "";
                            string text;
                            if (tc is JsonArray list)
                                text = string.Join("\n\n", list.Select(b => Str(b?["type"]) == "text"
                                    ? (b!.AsObject().ContainsKey("text") ? PyStr(b["text"]) : "")
                                    : $"[Unsupported {Str(b?["type"]) ?? "None"}]"));
                            else text = PyStr(tc);
                            parts.Add($"<tool_result>{text}</tool_result>");
                        }
                        else parts.Add($"[Unsupported {type ?? "None"}]");
                    }
                    sb.Append(string.Join("\n\n", parts));
                }
                else sb.Append(Truthy(content) ? PyStr(content) : "");
                break;
            case "latest_reminder":
                sb.Append(LatestReminder).Append(PyStr(content));
                break;
            case "tool":
                throw new ChatFormatException("deepseek_v4 merges tool messages into user; please preprocess with merge_tool_messages()");
            case "assistant":
            {
                string tc = "";
                if (Truthy(toolCalls))
                {
                    var list = toolCalls!.AsArray().Select(t =>
                    {
                        var fn = t?["function"] ?? throw new ChatFormatException("tool_calls: each call needs a \"function\" object");
                        string name = PyStr(fn["name"]);
                        string args = Str(fn["arguments"]) ?? throw new ChatFormatException("tool_calls.function.arguments: expected a JSON string");
                        return $"<{Dsml}invoke name=\"{name}\">\n{EncodeArguments(args)}\n</{Dsml}invoke>";
                    });
                    tc = "\n\n" + ToolCallsOpen + "\n" + string.Join("\n", list) + "\n" + ToolCallsClose;
                }
                string summary = Truthy(content) ? PyStr(content) : "";
                string rc = Truthy(msg["reasoning_content"]) ? PyStr(msg["reasoning_content"]) : "";
                bool prevHasTask = index - 1 >= 0 && messages[index - 1]["task"] != null;
                string thinking = "";
                if (thinkingMode == "thinking" && !prevHasTask && (!dropThinking || index > lastUser)) thinking = rc + ThinkEnd;
                sb.Append(thinking).Append(summary).Append(tc);
                if (!Truthy(msg["wo_eos"])) sb.Append(Eos);
                break;
            }
            default:
                throw new ChatFormatException($"Unknown role: {role ?? "None"}");
        }

        if (index + 1 < messages.Count && Str(messages[index + 1]["role"]) is not ("assistant" or "latest_reminder")) return sb.ToString();

        var task = msg["task"];
        if (task != null)
        {
            string t = PyStr(task);
            if (!TaskTokens.TryGetValue(t, out var token))
                throw new ChatFormatException($"Invalid task: '{t}'. Valid tasks are: {string.Join(", ", TaskTokens.Keys)}");
            if (t != "action") sb.Append(token);
            else sb.Append(Assistant).Append(thinkingMode != "thinking" ? ThinkEnd : ThinkStart).Append(token);
        }
        else if (role is "user" or "developer")
        {
            sb.Append(Assistant);
            if (thinkingMode == "thinking" && (!dropThinking || index >= lastUser)) sb.Append(ThinkStart);
            else sb.Append(ThinkEnd);
        }
        return sb.ToString();
    }
}
