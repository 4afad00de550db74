namespace SharpSeek.Engine;

/// <summary>
/// The boundary the generation loop and the server see (like ds4.h): an engine owns weights, a session owns one
/// mutable token timeline and its cache. The real V4 model implements it; tests may also drive the generation loop
/// with a scripted implementation.
/// </summary>
public interface IInferenceEngine : IDisposable
{
    /// <summary>Logit count per position.</summary>
    int VocabSize { get; }
    /// <summary>Longest timeline a session can hold (prompt + generated).</summary>
    int MaxContext { get; }
    /// <summary>Name for /v1/models and logs.</summary>
    string ModelName { get; }
    /// <summary>Directory the model was opened from (tokenizer.json lives there), or null.</summary>
    string? ModelDirectory { get; }
    IInferenceSession CreateSession();
}

public interface IInferenceSession : IDisposable
{
    /// <summary>Tokens the cache currently holds, in order.</summary>
    ReadOnlySpan<int> Tokens { get; }
    /// <summary>Number of tokens the cache holds (Tokens.Length).</summary>
    int Length { get; }
    /// <summary>Logits of the last appended token [VocabSize]; valid after Append.</summary>
    ReadOnlySpan<float> Logits { get; }

    /// <summary>
    /// Positions the cache at the longest reusable prefix of <paramref name="prompt"/>, leaving at least one
    /// prompt token to be appended (so logits are fresh). Returns the number of tokens kept (0 = rebuilt).
    /// </summary>
    int Reuse(ReadOnlySpan<int> prompt);

    /// <summary>Runs <paramref name="ids"/> through the model at positions Length.. (one batched prefill when more
    /// than one), appends them to the timeline, and leaves the last token's logits in <see cref="Logits"/>.</summary>
    void Append(ReadOnlySpan<int> ids, CancellationToken cancellationToken = default);

    /// <summary>Drops everything: Length becomes 0.</summary>
    void Reset();
}
