namespace SharpSeek.Engine;

/// <summary>
/// A fixed set of sessions shared by concurrent requests. A request takes the free session whose cached tokens share
/// the longest prefix with its prompt (so a conversation's next turn lands where its KV already is); callers beyond the
/// pool wait in a bounded queue.
/// </summary>
public sealed class SessionPool : IDisposable
{
    private readonly IInferenceSession[] _sessions;
    private readonly bool[] _busy;
    private readonly SemaphoreSlim _free;
    private readonly object _lock = new();
    private int _waiting;

    public int Capacity => _sessions.Length;
    public int MaxQueue { get; }
    public int Active { get { lock (_lock) return _busy.Count(b => b); } }
    /// <summary>Requests waiting for a session (or about to take a free one).</summary>
    public int Waiting => Volatile.Read(ref _waiting);

    public SessionPool(IInferenceEngine engine, int parallel, int maxQueue = 64)
    {
        _sessions = Enumerable.Range(0, Math.Max(1, parallel)).Select(_ => engine.CreateSession()).ToArray();
        _busy = new bool[_sessions.Length];
        _free = new SemaphoreSlim(_sessions.Length);
        MaxQueue = maxQueue;
    }

    /// <summary>Null when the queue is full (the caller answers 429).</summary>
    public async Task<Lease?> AcquireAsync(ReadOnlyMemory<int> prompt, CancellationToken ct)
    {
        // waiters beyond the free sessions are queued; more than MaxQueue of them are refused
        if (Interlocked.Increment(ref _waiting) > MaxQueue + _free.CurrentCount) { Interlocked.Decrement(ref _waiting); return null; }
        try { await _free.WaitAsync(ct); }
        finally { Interlocked.Decrement(ref _waiting); }
        lock (_lock)
        {
            int best = -1, bestLen = -1;
            for (int i = 0; i < _sessions.Length; i++)
            {
                if (_busy[i]) continue;
                var t = _sessions[i].Tokens;
                int n = 0, max = Math.Min(t.Length, prompt.Length);
                var p = prompt.Span;
                while (n < max && t[n] == p[n]) n++;
                if (n > bestLen) { best = i; bestLen = n; }
            }
            _busy[best] = true;
            return new Lease(this, best);
        }
    }

    public sealed class Lease(SessionPool pool, int index) : IDisposable
    {
        public IInferenceSession Session => pool._sessions[index];
        public void Dispose()
        {
            lock (pool._lock) pool._busy[index] = false;
            pool._free.Release();
        }
    }

    public void Dispose() { foreach (var s in _sessions) s.Dispose(); }
}
