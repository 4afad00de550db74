using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace SharpSeek.Tokenizer;

/// <summary>
/// DeepSeek-V4's byte-level BPE, loaded from a Hugging Face tokenizer.json: added tokens are cut out of the text first
/// (leftmost, longest), the rest goes through the regex pre-tokenizer, each piece's UTF-8 bytes are mapped to
/// GPT-2's printable byte alphabet and merged by rank. Decoding maps the alphabet back to bytes.
/// </summary>
public sealed class BpeTokenizer
{
    private readonly Dictionary<string, int> _vocab;
    private readonly string[] _idToToken;
    private readonly Dictionary<long, (int Rank, int Merged)> _merges;
    private readonly SplitPreTokenizer _pre;
    private readonly Dictionary<char, string[]> _addedByFirstChar;   // longest first
    private readonly Dictionary<string, int> _added;
    private readonly HashSet<int> _special;
    private readonly int[] _byteToId = new int[256];
    private readonly char[] _byteToChar = new char[256];
    private readonly Dictionary<char, byte> _charToByte = new();
    private readonly Dictionary<string, int[]> _pieceCache = new();
    private readonly object _cacheLock = new();

    public int VocabSize => _idToToken.Length;
    public int BosId { get; }
    public int EosId { get; }

    private BpeTokenizer(JsonElement root, string? bosToken, string? eosToken)
    {
        var model = root.GetProperty("model");
        if (model.GetProperty("type").GetString() != "BPE") throw new InvalidDataException("tokenizer.json: model.type: expected BPE");
        _vocab = new Dictionary<string, int>(model.GetProperty("vocab").GetRawText().Length / 16);
        int maxId = 0;
        foreach (var p in model.GetProperty("vocab").EnumerateObject()) { _vocab[p.Name] = p.Value.GetInt32(); maxId = Math.Max(maxId, p.Value.GetInt32()); }
        _added = new Dictionary<string, int>();
        _special = new HashSet<int>();
        foreach (var t in root.GetProperty("added_tokens").EnumerateArray())
        {
            string content = t.GetProperty("content").GetString()!;
            int id = t.GetProperty("id").GetInt32();
            _added[content] = id;
            if (t.TryGetProperty("special", out var sp) && sp.GetBoolean()) _special.Add(id);
            maxId = Math.Max(maxId, id);
        }
        _idToToken = new string[maxId + 1];
        foreach (var (k, v) in _vocab) _idToToken[v] = k;
        foreach (var (k, v) in _added) _idToToken[v] = k;
        _addedByFirstChar = _added.Keys.GroupBy(k => k[0]).ToDictionary(g => g.Key, g => g.OrderByDescending(s => s.Length).ToArray());

        // GPT-2 byte alphabet: printable bytes map to themselves, the rest to U+0100 upwards
        int n = 0;
        for (int b = 0; b < 256; b++)
        {
            bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            _byteToChar[b] = printable ? (char)b : (char)(256 + n++);
            _charToByte[_byteToChar[b]] = (byte)b;
        }
        for (int b = 0; b < 256; b++)
            _byteToId[b] = _vocab.TryGetValue(_byteToChar[b].ToString(), out int id) ? id : throw new InvalidDataException($"tokenizer.json: byte {b} has no token");

        _merges = new Dictionary<long, (int, int)>();
        int rank = 0;
        foreach (var m in model.GetProperty("merges").EnumerateArray())
        {
            string a, b;
            if (m.ValueKind == JsonValueKind.Array) { a = m[0].GetString()!; b = m[1].GetString()!; }
            else { var s = m.GetString()!; int sp = s.IndexOf(' ', 1); a = s[..sp]; b = s[(sp + 1)..]; }
            if (_vocab.TryGetValue(a, out int ia) && _vocab.TryGetValue(b, out int ib) && _vocab.TryGetValue(a + b, out int im))
                _merges.TryAdd(Key(ia, ib), (rank, im));
            rank++;
        }

        var patterns = new List<string>();
        CollectSplits(root.GetProperty("pre_tokenizer"), patterns);
        _pre = new SplitPreTokenizer(patterns);
        BosId = bosToken != null && _added.TryGetValue(bosToken, out int bos) ? bos : 0;
        EosId = eosToken != null && _added.TryGetValue(eosToken, out int eos) ? eos : 1;
    }

    private static void CollectSplits(JsonElement pre, List<string> patterns)
    {
        switch (pre.GetProperty("type").GetString())
        {
            case "Sequence":
                foreach (var p in pre.GetProperty("pretokenizers").EnumerateArray()) CollectSplits(p, patterns);
                break;
            case "Split":
                if (pre.GetProperty("behavior").GetString() != "Isolated" || (pre.TryGetProperty("invert", out var inv) && inv.GetBoolean()))
                    throw new NotSupportedException("tokenizer.json: only Split with behavior Isolated, invert false is supported");
                patterns.Add(pre.GetProperty("pattern").GetProperty("Regex").GetString()!);
                break;
            case "ByteLevel":
                if (pre.TryGetProperty("use_regex", out var ur) && ur.GetBoolean())
                    throw new NotSupportedException("tokenizer.json: ByteLevel with use_regex true is not supported");
                break;
            default:
                throw new NotSupportedException($"tokenizer.json: pre-tokenizer {pre.GetProperty("type").GetString()} is not supported");
        }
    }

    private static long Key(int a, int b) => ((long)a << 32) | (uint)b;

    /// <summary>Loads tokenizer.json (and tokenizer_config.json for BOS/EOS names, when present) from a model directory or a file path.</summary>
    public static BpeTokenizer Load(string modelDirOrTokenizerJson)
    {
        string path = Directory.Exists(modelDirOrTokenizerJson) ? Path.Combine(modelDirOrTokenizerJson, "tokenizer.json") : modelDirOrTokenizerJson;
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: tokenizer.json not found");
        string? bos = "<｜begin▁of▁sentence｜>", eos = "<｜end▁of▁sentence｜>";
        string cfg = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, "tokenizer_config.json");
        if (File.Exists(cfg))
        {
            using var c = JsonDocument.Parse(File.ReadAllBytes(cfg));
            bos = TokenName(c.RootElement, "bos_token") ?? bos;
            eos = TokenName(c.RootElement, "eos_token") ?? eos;
        }
        using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
        return new BpeTokenizer(doc.RootElement, bos, eos);
    }

    private static string? TokenName(JsonElement cfg, string key) =>
        !cfg.TryGetProperty(key, out var v) ? null : v.ValueKind == JsonValueKind.String ? v.GetString()
        : v.ValueKind == JsonValueKind.Object && v.TryGetProperty("content", out var c) ? c.GetString() : null;

    public int? TokenToId(string token) => _added.TryGetValue(token, out int a) ? a : _vocab.TryGetValue(token, out int v) ? v : null;
    public string IdToToken(int id) => (uint)id < (uint)_idToToken.Length && _idToToken[id] != null ? _idToToken[id] : throw new ArgumentOutOfRangeException(nameof(id), $"token id {id} outside the vocabulary");
    public bool IsSpecial(int id) => _special.Contains(id);
    public bool IsAdded(int id) => (uint)id < (uint)_idToToken.Length && _idToToken[id] != null && _added.ContainsKey(_idToToken[id]);

    public int[] Encode(string text)
    {
        var ids = new List<int>(text.Length / 3 + 4);
        Encode(text, ids);
        return ids.ToArray();
    }

    public void Encode(string text, List<int> ids)
    {
        int start = 0;
        for (int i = 0; i < text.Length; i++)
        {
            if (!_addedByFirstChar.TryGetValue(text[i], out var candidates)) continue;
            foreach (var token in candidates)
                if (string.CompareOrdinal(text, i, token, 0, token.Length) == 0)
                {
                    if (i > start) EncodePlain(text.Substring(start, i - start), ids);
                    ids.Add(_added[token]);
                    start = i + token.Length;
                    i = start - 1;
                    break;
                }
        }
        if (start < text.Length) EncodePlain(start == 0 ? text : text[start..], ids);
    }

    private readonly ThreadLocal<List<(int, int)>> _pieces = new(() => new List<(int, int)>());

    private void EncodePlain(string text, List<int> ids)
    {
        var pieces = _pieces.Value!;
        pieces.Clear();
        _pre.Split(text, pieces);
        foreach (var (start, length) in pieces)
        {
            string piece = text.Substring(start, length);
            int[]? cached;
            lock (_cacheLock) _pieceCache.TryGetValue(piece, out cached);
            if (cached == null)
            {
                cached = Merge(piece);
                lock (_cacheLock) { if (_pieceCache.Count < 200_000) _pieceCache[piece] = cached; }
            }
            ids.AddRange(cached);
        }
    }

    /// <summary>BPE on one piece: start from its bytes, repeatedly merge the adjacent pair with the lowest rank.</summary>
    private int[] Merge(string piece)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(piece);
        var symbols = new List<int>(bytes.Length);
        foreach (byte b in bytes) symbols.Add(_byteToId[b]);
        while (symbols.Count > 1)
        {
            int bestRank = int.MaxValue, bestAt = -1, bestId = 0;
            for (int i = 0; i + 1 < symbols.Count; i++)
                if (_merges.TryGetValue(Key(symbols[i], symbols[i + 1]), out var m) && m.Rank < bestRank)
                    (bestRank, bestAt, bestId) = (m.Rank, i, m.Merged);
            if (bestAt < 0) break;
            symbols[bestAt] = bestId;
            symbols.RemoveAt(bestAt + 1);
        }
        return symbols.ToArray();
    }

    /// <summary>Appends the bytes a token stands for (added tokens: their UTF-8 text).</summary>
    public void AppendBytes(int id, List<byte> bytes)
    {
        string token = IdToToken(id);
        if (_added.ContainsKey(token)) { bytes.AddRange(Encoding.UTF8.GetBytes(token)); return; }
        foreach (char c in token) bytes.Add(_charToByte.TryGetValue(c, out byte b) ? b : (byte)'?');
    }

    public string Decode(ReadOnlySpan<int> ids, bool skipSpecialTokens = false)
    {
        var bytes = new List<byte>(ids.Length * 4);
        foreach (int id in ids)
        {
            if (skipSpecialTokens && _special.Contains(id)) continue;
            AppendBytes(id, bytes);
        }
        return Encoding.UTF8.GetString(CollectionsMarshal.AsSpan(bytes));
    }

    public StreamingDetokenizer CreateStreamingDecoder(bool skipSpecialTokens = false) => new(this, skipSpecialTokens);
}

/// <summary>
/// Feeds ids one at a time and returns text only once it is complete UTF-8: a character split across tokens is
/// held back (never emitted as U+FFFD) until its last byte arrives; <see cref="Flush"/> releases whatever is left.
/// </summary>
public sealed class StreamingDetokenizer
{
    private readonly BpeTokenizer _tokenizer;
    private readonly bool _skipSpecial;
    private readonly List<byte> _pending = new(16);

    internal StreamingDetokenizer(BpeTokenizer tokenizer, bool skipSpecial) { _tokenizer = tokenizer; _skipSpecial = skipSpecial; }

    public string Push(int id)
    {
        if (_skipSpecial && _tokenizer.IsSpecial(id)) return "";
        _tokenizer.AppendBytes(id, _pending);
        int complete = CompletePrefix(CollectionsMarshal.AsSpan(_pending));
        if (complete == 0) return "";
        string text = Encoding.UTF8.GetString(CollectionsMarshal.AsSpan(_pending)[..complete]);
        _pending.RemoveRange(0, complete);
        return text;
    }

    public string Flush()
    {
        string text = Encoding.UTF8.GetString(CollectionsMarshal.AsSpan(_pending));
        _pending.Clear();
        return text;
    }

    public void Reset() => _pending.Clear();

    /// <summary>Length of the longest prefix that does not end inside a multi-byte sequence.</summary>
    private static int CompletePrefix(ReadOnlySpan<byte> b)
    {
        int n = b.Length;
        // look back at most 3 bytes for the start of the last sequence
        for (int back = 1; back <= Math.Min(4, n); back++)
        {
            byte c = b[n - back];
            if ((c & 0xC0) == 0x80) continue;          // continuation byte
            int need = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
            return back >= need ? n : n - back;
        }
        return n; // only continuation bytes: invalid input, let the decoder show it
    }
}
