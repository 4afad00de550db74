using System.Text.Json;
using SharpSeek.TestSupport;
using SharpSeek.Tokenizer;
using Xunit.Abstractions;

namespace SharpSeek.Tokenizer.Tests;

/// <summary>Every case of golden/tokenizer/cases.json: exact ids, round trip, and streaming decode without U+FFFD.</summary>
public sealed class TokenizerCaseTests(ITestOutputHelper output)
{
    private static readonly Lazy<BpeTokenizer> Tok = new(() => BpeTokenizer.Load(Golden.Path("tokenizer")));

    private static IEnumerable<(string Id, string Category, string Text, int[] Ids)> Cases()
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Golden.Path("tokenizer", "cases.json")));
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
            yield return (c.GetProperty("id").GetString()!, c.GetProperty("category").GetString()!, c.GetProperty("text").GetString()!,
                c.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray());
    }

    [Fact]
    public void EveryCaseEncodesExactly()
    {
        var tok = Tok.Value;
        var failures = new List<string>();
        int count = 0;
        foreach (var c in Cases())
        {
            count++;
            var ids = tok.Encode(c.Text);
            if (!ids.SequenceEqual(c.Ids)) failures.Add($"{c.Id} ({c.Category}): got [{string.Join(",", ids.Take(20))}] expected [{string.Join(",", c.Ids.Take(20))}]");
        }
        foreach (var f in failures.Take(20)) output.WriteLine(f);
        Assert.True(count > 0);
        Assert.True(failures.Count == 0, $"{failures.Count} of {count} cases differ; first: {failures.FirstOrDefault()}");
    }

    [Fact]
    public void EveryCaseRoundTripsAndStreams()
    {
        var tok = Tok.Value;
        var rng = new Random(5);
        foreach (var c in Cases())
        {
            Assert.Equal(c.Text, tok.Decode(c.Ids));
            var s = tok.CreateStreamingDecoder();
            var text = new System.Text.StringBuilder();
            foreach (int id in c.Ids)
            {
                string piece = s.Push(id);
                if (!c.Text.Contains('\uFFFD')) Assert.DoesNotContain('\uFFFD', piece); // one case has U+FFFD in its text
                text.Append(piece);
            }
            text.Append(s.Flush());
            Assert.Equal(c.Text, text.ToString());
        }
    }

    [Fact]
    public void SpecialTokensAreSingleIds()
    {
        var tok = Tok.Value;
        Assert.Equal(129280, tok.VocabSize);
        Assert.Equal(0, tok.BosId);
        Assert.Equal(1, tok.EosId);
        var ids = tok.Encode("<｜User｜>Hi<｜Assistant｜><think>");
        Assert.Equal(128803, ids[0]);
        Assert.Equal([128804, 128821], ids[^2..]);
        Assert.DoesNotContain(ids[1..^2], id => tok.IsAdded(id));
        Assert.Equal(128822, tok.TokenToId("</think>"));
        Assert.Equal(128825, tok.TokenToId("｜DSML｜"));
    }
}
