using System.Text.Json;
using SharpSeek.Tokenizer;

namespace SharpSeek.Benchmarks;

/// <summary>
/// Microsoft.ML.Tokenizers' BpeTokenizer built from the same tokenizer.json (vocabulary, merges, added tokens as special
/// tokens, byte-level), with our split pre-tokenizer plugged in since the library has no equivalent of DeepSeek's
/// sequence of regex Splits. Used only to compare ids and speed side by side.
/// </summary>
public static class MlTokenizersAdapter
{
    private sealed class SplitAdapter(SplitPreTokenizer inner) : Microsoft.ML.Tokenizers.PreTokenizer
    {
        private readonly List<(int, int)> _pieces = new();
        public override IEnumerable<(int Offset, int Length)> PreTokenize(string text)
        {
            _pieces.Clear();
            inner.Split(text, _pieces);
            return _pieces.ToArray();
        }
        public override IEnumerable<(int Offset, int Length)> PreTokenize(ReadOnlySpan<char> text) => PreTokenize(text.ToString());
    }

    public static Microsoft.ML.Tokenizers.BpeTokenizer Create(string tokenizerJson)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(tokenizerJson));
        var root = doc.RootElement;
        var model = root.GetProperty("model");
        var vocab = model.GetProperty("vocab").EnumerateObject().Select(p => new KeyValuePair<string, int>(p.Name, p.Value.GetInt32())).ToList();
        var merges = model.GetProperty("merges").EnumerateArray()
            .Select(m => m.ValueKind == JsonValueKind.Array ? m[0].GetString() + " " + m[1].GetString() : m.GetString()!).ToList();
        var special = root.GetProperty("added_tokens").EnumerateArray().ToDictionary(t => t.GetProperty("content").GetString()!, t => t.GetProperty("id").GetInt32());
        var patterns = root.GetProperty("pre_tokenizer").GetProperty("pretokenizers").EnumerateArray()
            .Where(p => p.GetProperty("type").GetString() == "Split").Select(p => p.GetProperty("pattern").GetProperty("Regex").GetString()!);
        var options = new Microsoft.ML.Tokenizers.BpeOptions(vocab)
        {
            Merges = merges,
            SpecialTokens = special,
            PreTokenizer = new SplitAdapter(new SplitPreTokenizer(patterns)),
            ByteLevel = true,
        };
        return Microsoft.ML.Tokenizers.BpeTokenizer.Create(options);
    }
}
