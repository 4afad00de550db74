using System.Text;
using System.Text.Json.Nodes;
using SharpSeek.Tokenizer.Chat;
using Xunit.Abstractions;

namespace SharpSeek.Tokenizer.Tests;

/// <summary>
/// The streaming parser against the whole-text parser on every parse case: any chunking gives the same final message,
/// deltas concatenate to it, and neither `</think>` nor DSML markup ever reaches reasoning or content deltas.
/// </summary>
public sealed class StreamParserTests(ITestOutputHelper output)
{
    private static (string Reasoning, string Content, List<(string Name, string Args)> Calls, ChatStreamEvent End) Run(string text, bool thinking, IEnumerable<int> cuts)
    {
        var p = new DsmlStreamParser(thinking);
        var events = new List<ChatStreamEvent>();
        int prev = 0;
        foreach (int cut in cuts.Append(text.Length))
        {
            if (cut < prev) continue;
            p.Push(text.AsSpan(prev, cut - prev), events);
            prev = cut;
        }
        p.Finish(events);
        var r = new StringBuilder(); var c = new StringBuilder();
        var calls = new List<(string, StringBuilder)>();
        foreach (var e in events)
        {
            switch (e.Kind)
            {
                case ChatStreamEventKind.ReasoningDelta: r.Append(e.Text); break;
                case ChatStreamEventKind.ContentDelta: c.Append(e.Text); break;
                case ChatStreamEventKind.ToolCallStart: Assert.Equal(calls.Count, e.ToolIndex); calls.Add((e.ToolName!, new StringBuilder())); break;
                case ChatStreamEventKind.ToolCallArgumentsDelta: calls[e.ToolIndex].Item2.Append(e.Text); break;
            }
            if (e.Kind is ChatStreamEventKind.ReasoningDelta or ChatStreamEventKind.ContentDelta)
                foreach (var tag in new[] { V4ChatEncoder.ThinkEnd, V4ChatEncoder.Dsml, V4ChatEncoder.Eos })
                    Assert.DoesNotContain(tag, e.Text);
        }
        return (r.ToString(), c.ToString(), calls.Select(x => (x.Item1, x.Item2.ToString())).ToList(), events[^1]);
    }

    [Fact]
    public void AnyChunkingGivesTheWholeTextResult()
    {
        var rng = new Random(11);
        int accepted = 0, rejected = 0;
        foreach (var c in CompletionParserTests.Cases())
        {
            string text = (string)c["text"]!;
            bool thinking = (string?)c["kwargs"]?["thinking_mode"] == "thinking";
            ParsedCompletion? whole = null;
            try { whole = V4CompletionParser.Parse(text, thinking); } catch (ChatFormatException) { }
            var chunkings = new List<IEnumerable<int>> { Enumerable.Range(1, Math.Max(0, text.Length - 1)) };  // 1-char chunks
            for (int s = 0; s <= text.Length; s += Math.Max(1, text.Length / 40)) chunkings.Add([s]);       // two chunks
            for (int k = 0; k < 5; k++) chunkings.Add(Enumerable.Range(0, 8).Select(_ => rng.Next(text.Length + 1)).Order().ToArray());
            foreach (var cuts in chunkings)
            {
                var (reasoning, content, calls, end) = Run(text, thinking, cuts);
                if (whole == null)
                {
                    // the official parser rejects it; the stream must say so at the end unless only the EOS was missing
                    if (text.Contains(V4ChatEncoder.Eos)) Assert.True(end.Error != null, $"{c["id"]}: stream accepted a rejected text");
                    continue;
                }
                Assert.True(end.Error == null, $"{c["id"]}: {end.Error}");
                Assert.Equal(whole.ReasoningContent, reasoning);
                Assert.Equal(whole.Content, content);
                Assert.Equal(whole.ToolCalls.Count, calls.Count);
                for (int i = 0; i < calls.Count; i++)
                {
                    Assert.Equal(whole.ToolCalls[i].Name, calls[i].Name);
                    Assert.Equal(whole.ToolCalls[i].ArgumentsJson, calls[i].Args);
                }
            }
            if (whole == null) rejected++; else accepted++;
        }
        output.WriteLine($"{accepted} accepted and {rejected} rejected cases streamed under many chunkings");
        Assert.True(accepted > 0 && rejected > 0);
    }
}
