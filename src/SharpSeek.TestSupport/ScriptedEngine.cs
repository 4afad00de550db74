using SharpSeek.Engine;
using SharpSeek.Tokenizer;

namespace SharpSeek.TestSupport;

/// <summary>
/// A model stand-in that "generates" a fixed text: its logits put all mass on the next scripted token. With several
/// scripts the engine answers its n-th request (counted over all its sessions) with script n, the last one repeating.
/// Sessions keep the longest common prefix of the previous timeline and the new prompt, as a real cache would.
/// <c>tokenDelayMs</c> makes every Append take that long (a slow model, for streaming and shutdown tests).
/// </summary>
public sealed class ScriptedEngine : IInferenceEngine
{
    private readonly BpeTokenizer _tok;
    private readonly int[][] _scripts;
    private int _turns;

    private readonly int _delay;

    public ScriptedEngine(BpeTokenizer tok, string script, int maxContext = 1 << 20, int tokenDelayMs = 0) : this(tok, [script], maxContext, tokenDelayMs) { }

    public ScriptedEngine(BpeTokenizer tok, IReadOnlyList<string> scripts, int maxContext = 1 << 20, int tokenDelayMs = 0)
    {
        _delay = tokenDelayMs;
        if (scripts.Count == 0) throw new ArgumentException("at least one script", nameof(scripts));
        _tok = tok;
        _scripts = scripts.Select(s => tok.Encode(s).Append(tok.EosId).ToArray()).ToArray();
        MaxContext = maxContext;
    }

    public int VocabSize => _tok.VocabSize;
    public int MaxContext { get; }
    public string ModelName => "scripted";
    public string? ModelDirectory => null;
    /// <summary>Requests answered so far (Reuse calls over all sessions).</summary>
    public int Turns => Volatile.Read(ref _turns);
    public IInferenceSession CreateSession() => new ScriptedSession(this);
    public void Dispose() { }

    private int[] NextScript() => _scripts[Math.Min(Interlocked.Increment(ref _turns) - 1, _scripts.Length - 1)];

    private sealed class ScriptedSession(ScriptedEngine e) : IInferenceSession
    {
        private readonly List<int> _tokens = [];
        private readonly float[] _logits = new float[e.VocabSize];
        private int[] _script = e._scripts[0];
        private int _promptLength = -1;
        public ReadOnlySpan<int> Tokens => _tokens.ToArray();
        public int Length => _tokens.Count;
        public ReadOnlySpan<float> Logits => _logits;

        public int Reuse(ReadOnlySpan<int> prompt)
        {
            _script = e.NextScript();
            int common = 0, max = Math.Min(_tokens.Count, prompt.Length - 1);
            while (common < max && _tokens[common] == prompt[common]) common++;
            _tokens.RemoveRange(common, _tokens.Count - common);
            _promptLength = -1;
            return common;
        }

        public void Append(ReadOnlySpan<int> ids, CancellationToken ct = default)
        {
            if (e._delay > 0) Thread.Sleep(e._delay);
            foreach (int id in ids) _tokens.Add(id);
            if (_promptLength < 0) _promptLength = _tokens.Count;
            int next = _tokens.Count - _promptLength;
            Array.Clear(_logits);
            _logits[_script[Math.Min(next, _script.Length - 1)]] = 100f;
        }

        public void Reset() { _tokens.Clear(); _promptLength = -1; }
        public void Dispose() { }
    }
}
