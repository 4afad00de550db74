using System.Text.Json;
using System.Text.Json.Nodes;
using SharpSeek.Tokenizer.Chat;

namespace SharpSeek.Cli.Commands;

/// <summary>
/// The conformance commands' shared loop: one JSON object per input line, one JSON object per output line; a bad line
/// gets {"error": "line N: …"} and the loop carries on.
/// </summary>
internal static class JsonLines
{
    private static readonly JsonSerializerOptions Relaxed = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static int Run(TextReader input, TextWriter output, Func<JsonObject, JsonObject> handle)
    {
        string? line;
        int lineNo = 0;
        while ((line = input.ReadLine()) != null)
        {
            lineNo++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            JsonObject result;
            try { result = handle(JsonNode.Parse(line) as JsonObject ?? throw new FormatException("expected a JSON object")); }
            catch (Exception e) when (e is JsonException or ChatFormatException or InvalidOperationException or FormatException)
            {
                result = new JsonObject { ["error"] = $"line {lineNo}: {e.Message}" };
            }
            output.WriteLine(result.ToJsonString(Relaxed));
        }
        return 0;
    }

    /// <summary>A required string field, or a FormatException naming it.</summary>
    public static string RequiredString(JsonObject o, string field) =>
        o[field] is JsonValue v && v.TryGetValue(out string? s) ? s : throw new FormatException($"field \"{field}\": missing or not a string");
}
