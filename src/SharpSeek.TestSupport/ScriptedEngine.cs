using SharpSeek.Engine;
using SharpSeek.Tokenizer;

namespace SharpSeek.TestSupport;

/// <summary>A model stand-in that "generates" a fixed text: its logits put all mass on the next scripted token.
/// <paramref name="tokenDelayMs"/> makes every Append take that long (a slow model, for streaming and shutdown tests).</summary>
public sealed class ScriptedEngine(BpeTokenizer tok, string script, int maxContext = 1 << 20, int tokenDelayMs = 0) : IInferenceEngine
{
    public int VocabSize => tok.VocabSize;
    public int MaxContext => maxContext;
    public string ModelName => "scripted";
    public string? ModelDirectory => null;
    private readonly int _delay = tokenDelayMs;
    public IInferenceSession CreateSession() => new ScriptedSession(this, tok.Encode(script).Append(tok.EosId).ToArray());
    public void Dispose() { }

    private sealed class ScriptedSession(ScriptedEngine e, int[] script) : IInferenceSession
    {
        private readonly List<int> _tokens = [];
        private readonly float[] _logits = new float[e.VocabSize];
        private int _promptLength = -1;
        public ReadOnlySpan<int> Tokens => _tokens.ToArray();
        public int Length => _tokens.Count;
        public ReadOnlySpan<float> Logits => _logits;
        public int Reuse(ReadOnlySpan<int> prompt) { Reset(); return 0; }
        public void Append(ReadOnlySpan<int> ids, CancellationToken ct = default)
        {
            if (e._delay > 0) Thread.Sleep(e._delay);
            if (_promptLength < 0) _promptLength = ids.Length;
            foreach (int id in ids) _tokens.Add(id);
            int next = _tokens.Count - _promptLength;
            Array.Clear(_logits);
            _logits[script[Math.Min(next, script.Length - 1)]] = 100f;
        }
        public void Reset() { _tokens.Clear(); _promptLength = -1; }
        public void Dispose() { }
    }
}

