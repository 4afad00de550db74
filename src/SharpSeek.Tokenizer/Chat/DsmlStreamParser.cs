using System.Text;
using System.Text.RegularExpressions;

namespace SharpSeek.Tokenizer.Chat;

public enum ChatStreamEventKind { ReasoningDelta, ContentDelta, ToolCallStart, ToolCallArgumentsDelta, End }

/// <summary>
/// One streaming event. Deltas carry <see cref="Text"/>; ToolCallStart carries the call's index, id and name; its
/// argument deltas concatenate to the final arguments JSON. End carries the whole-text parse (or the error) and whether
/// the turn ended with EOS.
/// </summary>
public sealed record ChatStreamEvent(ChatStreamEventKind Kind, string Text = "", int ToolIndex = -1, string? ToolId = null,
                                     string? ToolName = null, ParsedCompletion? Final = null, string? Error = null, bool SawEos = false);

/// <summary>
/// The completion grammar of <see cref="V4CompletionParser"/>, fed decoded text chunk by chunk. It never lets `</think>`
/// or DSML markup reach reasoning or content: a chunk tail that could be the start of a tag is held back until the next
/// chunk decides. Tool calls stream as a start event (index, id, name) and argument deltas that grow into the same
/// JSON text the whole-text parser produces. <see cref="Finish"/> validates the whole turn with the strict parser.
/// </summary>
public sealed class DsmlStreamParser
{
    private const string ToolCallsStart = "\n\n<" + V4ChatEncoder.Dsml + "tool_calls";
    private const string ParamClose = "</" + V4ChatEncoder.Dsml + "parameter>";
    private static readonly Regex InvokeHeader = new("\\G>\\n<｜DSML｜invoke name=\"(.*?)\">\\n", RegexOptions.Singleline);
    private static readonly Regex ParamHeader = new("\\G<｜DSML｜parameter name=\"(.*?)\" string=\"(true|false)\">", RegexOptions.Singleline);
    private static readonly Regex InvokeEnd = new("\\G</｜DSML｜invoke", RegexOptions.Singleline);

    private enum Phase { Reasoning, Content, ToolCalls, Done }

    private readonly bool _thinking;
    private readonly StringBuilder _all = new();
    private readonly StringBuilder _pending = new();   // text not yet emitted in reasoning/content
    private Phase _phase;
    private string _tools = "";                         // the tool-call block text seen so far
    private int _toolPos, _toolIndex = -1, _paramCount;
    private bool _inParam, _paramIsString, _skipNewline;
    private readonly string _idPrefix;

    public DsmlStreamParser(bool thinking, string? toolCallIdPrefix = null)
    {
        _thinking = thinking;
        _phase = thinking ? Phase.Reasoning : Phase.Content;
        _idPrefix = toolCallIdPrefix ?? "call_";
    }

    public void Push(ReadOnlySpan<char> chunk, List<ChatStreamEvent> events)
    {
        _all.Append(chunk);
        if (_phase == Phase.ToolCalls) { _tools += chunk.ToString(); AdvanceTools(events); return; }
        if (_phase == Phase.Done) return;
        _pending.Append(chunk);
        Advance(events, final: false);
    }

    private void Advance(List<ChatStreamEvent> events, bool final)
    {
        while (_phase is Phase.Reasoning or Phase.Content)
        {
            string text = _pending.ToString();
            bool reasoning = _phase == Phase.Reasoning;
            // terminators end the part; forbidden markers make the turn invalid (the strict parser rejects them), so
            // nothing from them on is emitted
            string[] stops = reasoning
                ? [V4ChatEncoder.ThinkEnd, ToolCallsStart, V4ChatEncoder.Bos, V4ChatEncoder.Eos, V4ChatEncoder.ThinkStart, V4ChatEncoder.Dsml]
                : [V4ChatEncoder.Eos, ToolCallsStart, V4ChatEncoder.Bos, V4ChatEncoder.ThinkStart, V4ChatEncoder.ThinkEnd, V4ChatEncoder.Dsml];
            int at = -1; string? stop = null;
            foreach (var s in stops)
            {
                int p = text.IndexOf(s, StringComparison.Ordinal);
                if (p >= 0 && (at < 0 || p < at)) { at = p; stop = s; }
            }
            var kind = reasoning ? ChatStreamEventKind.ReasoningDelta : ChatStreamEventKind.ContentDelta;
            if (stop == null)
            {
                int keep = final ? 0 : HeldBack(text, stops);
                Emit(events, kind, text[..(text.Length - keep)]);
                _pending.Clear().Append(text[(text.Length - keep)..]);
                return;
            }
            if (stop == V4ChatEncoder.Dsml && !final)
            {
                // "｜DSML｜" inside a still-incomplete "\n\n<｜DSML｜tool_calls" is the tool block opening, not an error
                for (int p = Math.Max(0, at - 3); p < at; p++)
                    if (text.Length - p < ToolCallsStart.Length && string.CompareOrdinal(text, p, ToolCallsStart, 0, text.Length - p) == 0)
                    {
                        Emit(events, kind, text[..p]);
                        _pending.Clear().Append(text[p..]);
                        return;
                    }
            }
            Emit(events, kind, text[..at]);
            string rest = text[(at + stop.Length)..];
            _pending.Clear();
            if (reasoning && stop == V4ChatEncoder.ThinkEnd) { _phase = Phase.Content; _pending.Append(rest); continue; }
            if (!reasoning && stop == ToolCallsStart) { _phase = Phase.ToolCalls; _tools = rest; AdvanceTools(events); return; }
            _phase = Phase.Done; // EOS ends the turn; anything else is invalid and Finish reports it
            return;
        }
    }

    /// <summary>Longest tail of text that is a proper prefix of one of the stop strings.</summary>
    private static int HeldBack(string text, string[] stops)
    {
        int best = 0;
        foreach (var s in stops)
            for (int n = Math.Min(s.Length - 1, text.Length); n > best; n--)
                if (string.CompareOrdinal(text, text.Length - n, s, 0, n) == 0) { best = n; break; }
        return best;
    }

    private static void Emit(List<ChatStreamEvent> events, ChatStreamEventKind kind, string text)
    {
        if (text.Length > 0) events.Add(new ChatStreamEvent(kind, text));
    }

    private void AdvanceTools(List<ChatStreamEvent> events)
    {
        while (true)
        {
            if (_inParam)
            {
                int end = _tools.IndexOf(ParamClose, _toolPos, StringComparison.Ordinal);
                int stopAt = end >= 0 ? end : _tools.Length - HeldBack(_tools[_toolPos..], [ParamClose]);
                if (stopAt > _toolPos) ArgDelta(events, _tools[_toolPos..stopAt], escape: _paramIsString);
                _toolPos = stopAt;
                if (end < 0) break;
                if (_paramIsString) ArgDelta(events, "\"", escape: false);
                _toolPos = end + ParamClose.Length;
                _inParam = false;
                _skipNewline = true; // the strict parser wants ">\n" after the closing tag; Finish validates it
                continue;
            }
            if (_skipNewline)
            {
                if (_toolPos >= _tools.Length) break;
                if (_tools[_toolPos] == '\n') _toolPos++;
                _skipNewline = false;
            }
            Match m;
            if ((m = InvokeHeader.Match(_tools, _toolPos)).Success)
            {
                _toolIndex++;
                _paramCount = 0;
                events.Add(new ChatStreamEvent(ChatStreamEventKind.ToolCallStart, ToolIndex: _toolIndex, ToolId: $"{_idPrefix}{_toolIndex}", ToolName: m.Groups[1].Value));
                _toolPos += m.Length;
                continue;
            }
            if (_toolIndex >= 0 && (m = ParamHeader.Match(_tools, _toolPos)).Success)
            {
                _paramIsString = m.Groups[2].Value == "true";
                var sb = new StringBuilder(_paramCount++ == 0 ? "{" : ", ");
                PythonJson.WriteString(m.Groups[1].Value, sb);
                sb.Append(": ");
                if (_paramIsString) sb.Append('"');
                ArgDelta(events, sb.ToString(), escape: false);
                _toolPos += m.Length;
                _inParam = true;
                continue;
            }
            if (_toolIndex >= 0 && (m = InvokeEnd.Match(_tools, _toolPos)).Success)
            {
                ArgDelta(events, _paramCount == 0 ? "{}" : "}", escape: false);
                _toolPos += m.Length;
                continue;
            }
            break; // wait for more text (or a format error Finish reports)
        }
        // drop what is consumed, so each chunk costs O(its length): only an undecided tail is carried over
        _tools = _tools[_toolPos..];
        _toolPos = 0;
    }

    private void ArgDelta(List<ChatStreamEvent> events, string text, bool escape)
    {
        if (text.Length == 0) return;
        if (escape)
        {
            var sb = new StringBuilder();
            PythonJson.WriteString(text, sb);
            text = sb.ToString(1, sb.Length - 2);
        }
        events.Add(new ChatStreamEvent(ChatStreamEventKind.ToolCallArgumentsDelta, text, ToolIndex: _toolIndex));
    }

    /// <summary>
    /// Ends the turn: releases held-back text and reports End with the strict whole-text parse. A turn cut off without
    /// EOS (max_tokens) is parsed as if it had ended there; if even that fails the End event carries the error.
    /// </summary>
    public void Finish(List<ChatStreamEvent> events)
    {
        if (_phase is Phase.Reasoning or Phase.Content) Advance(events, final: true);
        string text = _all.ToString();
        bool sawEos = text.Contains(V4ChatEncoder.Eos, StringComparison.Ordinal);
        try
        {
            var parsed = V4CompletionParser.Parse(sawEos ? text : text + V4ChatEncoder.Eos, _thinking);
            events.Add(new ChatStreamEvent(ChatStreamEventKind.End, Final: parsed, SawEos: sawEos));
        }
        catch (ChatFormatException e)
        {
            events.Add(new ChatStreamEvent(ChatStreamEventKind.End, Error: e.Message, SawEos: sawEos));
        }
        _phase = Phase.Done;
    }
}
