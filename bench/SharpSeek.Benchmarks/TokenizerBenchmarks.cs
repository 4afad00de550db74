using System.Text;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using SharpSeek.Tokenizer;

namespace SharpSeek.Benchmarks;

/// <summary>
/// Encode throughput on a mixed corpus (every text of the tokenizer fixtures: English, code, CJK, emoji, RTL,
/// whitespace, specials). MB/s = corpus UTF-8 bytes ÷ mean time. `Cold` clears the piece cache each run.
/// </summary>
[MemoryDiagnoser]
public class TokenizerBenchmarks
{
    private BpeTokenizer _tok = null!;
    private Microsoft.ML.Tokenizers.BpeTokenizer _ml = null!;
    private string[] _texts = [];
    public long CorpusBytes;

    [GlobalSetup]
    public void Setup()
    {
        string dir = Environment.GetEnvironmentVariable("SHARPSEEK_TOKENIZER") ?? FindFixtures();
        _tok = BpeTokenizer.Load(dir);
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(dir, "cases.json")));
        _texts = doc.RootElement.GetProperty("cases").EnumerateArray().Select(c => c.GetProperty("text").GetString()!).ToArray();
        CorpusBytes = _texts.Sum(t => (long)Encoding.UTF8.GetByteCount(t));
        _ml = MlTokenizersAdapter.Create(Path.Combine(dir, "tokenizer.json"));
        int same = _texts.Count(t => _ml.EncodeToIds(t).SequenceEqual(_tok.Encode(t)));
        Console.WriteLine($"// corpus: {_texts.Length} texts, {CorpusBytes} bytes; Microsoft.ML.Tokenizers gives our ids on {same} of {_texts.Length}");
    }

    private static string FindFixtures()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
        {
            string p = Path.Combine(d.FullName, "shared", "golden", "tokenizer");
            if (Directory.Exists(p)) return p;
            p = Path.Combine(d.FullName, "..", "shared", "golden", "tokenizer");
            if (Directory.Exists(p)) return Path.GetFullPath(p);
        }
        throw new DirectoryNotFoundException("set SHARPSEEK_TOKENIZER to a folder with tokenizer.json and cases.json");
    }

    [Benchmark(Baseline = true)]
    public int EncodeCorpus()
    {
        int n = 0;
        foreach (var t in _texts) n += _tok.Encode(t).Length;
        return n;
    }

    [Benchmark]
    public int EncodeCorpusMicrosoftMlTokenizers()
    {
        int n = 0;
        foreach (var t in _texts) n += _ml.EncodeToIds(t).Count;
        return n;
    }
}
