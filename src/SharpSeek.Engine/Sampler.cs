namespace SharpSeek.Engine;

/// <summary>The sampling knobs of OpenAI/Anthropic requests. Temperature 0 is greedy.</summary>
public sealed record SamplingOptions
{
    public float Temperature { get; init; } = 1f;
    public float TopP { get; init; } = 1f;
    public int TopK { get; init; }
    public float MinP { get; init; }
    public float PresencePenalty { get; init; }
    public float FrequencyPenalty { get; init; }
    public float RepetitionPenalty { get; init; } = 1f;
    public int? Seed { get; init; }
}

/// <summary>
/// Turns logits into a token: penalties over the generated history, temperature, top-k / top-p / min-p, then a draw
/// from a seeded generator (same seed, same output). Buffers are sized once per vocabulary: nothing is allocated per token.
/// </summary>
public sealed class Sampler
{
    private readonly SamplingOptions _o;
    private readonly Random _rng;
    private readonly float[] _logits, _probs;
    private readonly int[] _order, _counts;
    private readonly IComparer<int> _byProbability;

    public Sampler(SamplingOptions options, int vocabSize)
    {
        _o = options;
        _rng = options.Seed is int s ? new Random(s) : new Random();
        _logits = new float[vocabSize];
        _probs = new float[vocabSize];
        _order = new int[vocabSize];
        _counts = new int[vocabSize];
        _byProbability = Comparer<int>.Create((a, b) => _probs[b].CompareTo(_probs[a]));
    }

    /// <summary>Records a generated token for the presence/frequency/repetition penalties.</summary>
    public void Observe(int id) { if ((uint)id < (uint)_counts.Length) _counts[id]++; }

    public int Sample(ReadOnlySpan<float> logits)
    {
        int V = _logits.Length;
        logits[..V].CopyTo(_logits);
        for (int i = 0; i < V; i++)
        {
            int c = _counts[i];
            if (c == 0) continue;
            float l = _logits[i];
            if (_o.RepetitionPenalty != 1f) l = l > 0 ? l / _o.RepetitionPenalty : l * _o.RepetitionPenalty;
            l -= _o.PresencePenalty + _o.FrequencyPenalty * c;
            _logits[i] = l;
        }
        if (_o.Temperature <= 0f)
        {
            int best = 0;
            for (int i = 1; i < V; i++) if (_logits[i] > _logits[best]) best = i;
            return best;
        }
        float max = float.NegativeInfinity;
        for (int i = 0; i < V; i++) max = MathF.Max(max, _logits[i]);
        float sum = 0;
        for (int i = 0; i < V; i++) { _probs[i] = MathF.Exp((_logits[i] - max) / _o.Temperature); sum += _probs[i]; }
        // candidates: the whole vocabulary unless a filter narrows it
        int n = V;
        bool filter = _o.TopK > 0 || _o.TopP < 1f || _o.MinP > 0f;
        if (filter)
        {
            for (int i = 0; i < V; i++) _order[i] = i;
            int k = _o.TopK > 0 ? Math.Min(_o.TopK, V) : V;
            // partial selection: only the first k need ordering
            PartialSort(k);
            n = k;
            if (_o.MinP > 0f)
            {
                float floor = _o.MinP * _probs[_order[0]];
                while (n > 1 && _probs[_order[n - 1]] < floor) n--;
            }
            if (_o.TopP < 1f)
            {
                float kept = 0, total = 0;
                for (int i = 0; i < n; i++) total += _probs[_order[i]];
                int m = 0;
                while (m < n && kept < _o.TopP * total) kept += _probs[_order[m++]];
                n = Math.Max(1, m);
            }
            float s2 = 0;
            for (int i = 0; i < n; i++) s2 += _probs[_order[i]];
            double r = _rng.NextDouble() * s2;
            for (int i = 0; i < n; i++) { r -= _probs[_order[i]]; if (r <= 0) return _order[i]; }
            return _order[n - 1];
        }
        double u = _rng.NextDouble() * sum;
        for (int i = 0; i < V; i++) { u -= _probs[i]; if (u <= 0) return i; }
        return V - 1;
    }

    /// <summary>Puts the k most probable ids first, in descending order (selection by repeated partitioning).</summary>
    private void PartialSort(int k)
    {
        int lo = 0, hi = _order.Length - 1;
        while (lo < hi)
        {
            float pivot = _probs[_order[(lo + hi) >> 1]];
            int i = lo, j = hi;
            while (i <= j)
            {
                while (_probs[_order[i]] > pivot) i++;
                while (_probs[_order[j]] < pivot) j--;
                if (i <= j) { (_order[i], _order[j]) = (_order[j], _order[i]); i++; j--; }
            }
            if (k - 1 <= j) hi = j; else if (k - 1 >= i) lo = i; else break;
        }
        Array.Sort(_order, 0, k, _byProbability);
    }
}
