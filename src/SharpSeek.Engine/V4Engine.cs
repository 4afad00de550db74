using SharpSeek.Kernels.Threading;
using SharpSeek.Model.Checkpoint;
using SharpSeek.Model.DeepSeekV4;

namespace SharpSeek.Engine;

/// <summary>
/// A loaded DeepSeek-V4 checkpoint: the memory-mapped weights, bound and validated once. Sessions share it.
/// </summary>
public sealed class V4Engine : IInferenceEngine
{
    private readonly CheckpointReader _reader;
    public V4Weights Weights { get; }
    public V4Config Config => Weights.Config;
    public V4Numerics Numerics { get; }
    public WorkerPool Pool { get; }
    public int VocabSize => Config.VocabSize;
    public int MaxContext { get; }
    public string ModelName { get; }
    public string? ModelDirectory => _reader.Directory;

    private V4Engine(CheckpointReader reader, V4Weights weights, V4Numerics numerics, WorkerPool pool, int maxContext, string name)
    {
        _reader = reader; Weights = weights; Numerics = numerics; Pool = pool; MaxContext = maxContext; ModelName = name;
    }

    /// <summary>Maps the checkpoint (or, <paramref name="resident"/>, loads it into huge-page memory), checks every tensor
    /// the config implies (presence, dtype, shape), binds the weights.</summary>
    public static V4Engine Open(string modelDirectory, V4Numerics? numerics = null, IProgress<(string file, int done, int total)>? progress = null,
                                int? maxContext = null, WorkerPool? pool = null, bool resident = false)
    {
        var reader = CheckpointReader.Open(modelDirectory, progress, resident);
        try
        {
            CheckpointValidator.Validate(reader);
            var weights = V4Weights.Bind(reader);
            int ctx = maxContext ?? (reader.Config.MaxPositionEmbeddings > 0 ? reader.Config.MaxPositionEmbeddings : 1 << 20);
            string name = Path.GetFileName(Path.GetFullPath(modelDirectory).TrimEnd(Path.DirectorySeparatorChar));
            return new V4Engine(reader, weights, numerics ?? V4Numerics.Fast, pool ?? WorkerPool.Shared, ctx, name);
        }
        catch { reader.Dispose(); throw; }
    }

    public Session CreateV4Session() => new(this);
    public IInferenceSession CreateSession() => CreateV4Session();

    public void Dispose() => _reader.Dispose();
}

/// <summary>
/// One mutable token timeline (like ds4_session): the per-layer caches, the tokens they hold and the last logits.
/// It keeps a snapshot near the end of its last multi-token append (one token before the prompt boundary), so the
/// next turn of a conversation can rewind there even though the window ring has moved on.
/// </summary>
public sealed class Session : IInferenceSession
{
    private readonly V4Engine _engine;
    private readonly V4Transformer _model;
    private readonly List<int> _tokens = new(4096);
    private readonly float[] _logits;
    private AttentionCache.Snapshot?[] _snapshot;
    private int _snapshotLength = -1;

    internal Session(V4Engine engine)
    {
        _engine = engine;
        _model = new V4Transformer(engine.Weights, engine.Numerics, engine.Pool);
        _logits = new float[engine.VocabSize];
        _snapshot = new AttentionCache.Snapshot?[_model.Caches.Length + _model.MtpCaches.Length];
    }

    /// <summary>
    /// Longest piece a prompt is prefilled in when only the last row's logits are wanted. Activations grow with the
    /// tokens of one forward call (about 0.8 MB per token at V4-Flash's size), the caches only with the context, so a
    /// long prompt goes through in pieces of this many tokens. An append that asks for every row's logits (the
    /// conformance dump, and MTP over those rows) stays one call, as the reference's prefill is.
    /// </summary>
    public int PrefillChunkTokens
    {
        get => _prefillChunk;
        set => _prefillChunk = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(value), "a prefill piece needs at least one token");
    }
    private int _prefillChunk = 2048;

    public V4Transformer Model => _model;
    public ReadOnlySpan<int> Tokens => System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_tokens);
    public int Length => _tokens.Count;
    public ReadOnlySpan<float> Logits => _logits;
    public long CacheBytes => _model.Caches.Sum(c => c.Bytes) + _model.MtpCaches.Sum(c => c.Bytes);

    public void Append(ReadOnlySpan<int> ids, CancellationToken cancellationToken = default) => Append(ids, default, cancellationToken);

    /// <summary>Appends ids; with <paramref name="allLogits"/> [ids.Length × vocab] every row's logits are written too.</summary>
    public void Append(ReadOnlySpan<int> ids, Span<float> allLogits, CancellationToken cancellationToken = default)
    {
        if (ids.IsEmpty) return;
        if (Length + ids.Length > _engine.MaxContext)
            throw new InvalidOperationException($"context overflow: {Length} cached + {ids.Length} new tokens exceeds the maximum context of {_engine.MaxContext}");
        cancellationToken.ThrowIfCancellationRequested();
        try { Run(ids, allLogits, cancellationToken); }
        catch (OperationCanceledException)
        {
            // stopped between layers (a long prompt whose client went away): the caches are half-advanced
            Reset();
            throw;
        }
    }

    private void Run(ReadOnlySpan<int> ids, Span<float> allLogits, CancellationToken ct)
    {
        int V = _engine.VocabSize;
        if (!allLogits.IsEmpty)
        {
            _model.Forward(ids, allLogits, null, ct);
            allLogits.Slice((ids.Length - 1) * V, V).CopyTo(_logits);
        }
        else if (ids.Length > 2)
        {
            // The rewind point goes one token before the end: a thinking prompt ends with <think>, which the next turn's
            // history renders differently, so only a point before it lets that turn reuse the whole conversation.
            for (int at = 0; at < ids.Length - 1; at += _prefillChunk)
            {
                var piece = ids.Slice(at, Math.Min(_prefillChunk, ids.Length - 1 - at));
                _model.Forward(piece, default, null, ct);
                foreach (int id in piece) _tokens.Add(id);
            }
            TakeSnapshot();
            _model.Forward(ids[^1..], _logits, null, ct);
            _tokens.Add(ids[^1]);
            return;
        }
        else _model.Forward(ids, _logits, null, ct);
        foreach (int id in ids) _tokens.Add(id);
        if (ids.Length > 1) TakeSnapshot();
    }

    /// <summary>MTP logits for the tokens of the last Append, given each one's successor.</summary>
    public void MtpLogits(ReadOnlySpan<int> nextIds, Span<float> logits) => _model.MtpForward(nextIds, logits);

    public bool HasMtp => _engine.Weights.Mtp.Length > 0;

    private void TakeSnapshot()
    {
        var caches = _model.Caches.Concat(_model.MtpCaches).ToArray();
        for (int i = 0; i < caches.Length; i++) _snapshot[i] = caches[i].TakeSnapshot(_snapshot[i]);
        _snapshotLength = Length;
    }

    public int Reuse(ReadOnlySpan<int> prompt)
    {
        int common = 0, max = Math.Min(Length, prompt.Length - 1);
        while (common < max && _tokens[common] == prompt[common]) common++;
        if (common == Length) return common;                       // pure extension
        if (_snapshotLength > 0 && common >= _snapshotLength && _snapshotLength <= prompt.Length - 1)
        {
            var caches = _model.Caches.Concat(_model.MtpCaches).ToArray();
            for (int i = 0; i < caches.Length; i++) caches[i].Restore(_snapshot[i]!);
            _tokens.RemoveRange(_snapshotLength, _tokens.Count - _snapshotLength);
            return _snapshotLength;
        }
        Reset();
        return 0;
    }

    public void Reset()
    {
        _model.Reset();
        _tokens.Clear();
        _snapshotLength = -1;
    }

    public void Dispose() { }
}
