using SharpSeek.Kernels.Formats;
using SharpSeek.Kernels.Ops;
using SharpSeek.Kernels.Threading;

namespace SharpSeek.Model.DeepSeekV4;

/// <summary>
/// model.py: Compressor. Pools every `ratio` consecutive tokens into one KV entry with a learned per-channel softmax
/// gate. Ratio 4 overlaps windows: entry j softmaxes over 8 slots, block j−1's tokens through channels [0,d) and
/// block j's through [d,2d). Other ratios pool their own block only. The entry is RMS-normed, RoPE'd at its block's
/// first position, then (main) FP8-QDQ'd on the nope dims or (indexer) Hadamard-rotated and FP4-QDQ'd.
/// </summary>
public sealed class KvCompressor
{
    private readonly WeightMatrix _wkv, _wgate;     // [coff·d, D], bf16 in the checkpoint, used in f32
    private readonly float[] _ape;                 // [ratio, coff·d]
    private readonly float[] _norm;                // [d]
    private readonly YarnRope _rope;
    private readonly float _eps;
    private readonly bool _rotate;
    private readonly int _nope;
    // Shared by every session of an engine (it is part of the weights): scratch is per thread, see HyperConnections.
    [ThreadStatic] private static float[]? t_kv, t_score, t_entry;

    public int Ratio { get; }
    public int Width { get; }
    public bool Overlap => Ratio == 4;
    public int Coff => Overlap ? 2 : 1;

    public KvCompressor(WeightMatrix wkv, WeightMatrix wgate, float[] ape, float[] norm, int ratio, int width, int ropeDim,
                        YarnRope rope, float eps, bool rotate)
    {
        _wkv = wkv; _wgate = wgate; _ape = ape; _norm = norm; _rope = rope; _eps = eps; _rotate = rotate;
        Ratio = ratio; Width = width; _nope = width - ropeDim;
    }

    /// <summary>Per-session state: the partially filled block(s).</summary>
    public sealed class State
    {
        public readonly float[] Kv, Score;  // [coff·ratio, coff·d]
        public State(int slots, int width) { Kv = new float[slots * width]; Score = new float[slots * width]; Reset(); }
        public void Reset() { Array.Clear(Kv); Array.Fill(Score, float.NegativeInfinity); }
        public void CopyFrom(State s) { s.Kv.CopyTo(Kv, 0); s.Score.CopyTo(Score, 0); }
    }

    public State NewState() => new(Coff * Ratio, Coff * Width);

    /// <summary>
    /// Feeds tokens at positions start..start+tokens−1 (x = attn_norm output [tokens, D]); every completed block
    /// appends one entry to <paramref name="entries"/>.
    /// </summary>
    public void Forward(ReadOnlySpan<float> x, int start, int tokens, State state, GrowingMatrix entries,
                        V4Numerics numerics, WorkerPool pool)
    {
        int cw = Coff * Width, d = Width, r = Ratio;
        var kv = Grow.Buf(ref t_kv, tokens * cw);
        var score = Grow.Buf(ref t_score, tokens * cw);
        // Runs in fp32 in the reference too ("compression need fp32"): no activation quantisation here.
        Linear.Forward(_wkv, x, kv, tokens, pool);
        Linear.Forward(_wgate, x, score, tokens, pool);
        var entry = Grow.Buf(ref t_entry, d);
        for (int t = 0; t < tokens; t++)
        {
            int pos = start + t, phase = pos % r;
            var kvRow = kv.Slice(t * cw, cw);
            var scRow = score.Slice(t * cw, cw);
            var ape = _ape.AsSpan(phase * cw, cw);
            int slot = Overlap ? r + phase : phase;
            kvRow.CopyTo(state.Kv.AsSpan(slot * cw, cw));
            var dst = state.Score.AsSpan(slot * cw, cw);
            for (int c = 0; c < cw; c++) dst[c] = scRow[c] + ape[c];
            if ((pos + 1) % r != 0) continue;

            Pool(state, entry);
            if (Overlap) // this block becomes the next entry's "previous" half
            {
                state.Kv.AsSpan(r * cw, r * cw).CopyTo(state.Kv.AsSpan(0, r * cw));
                state.Score.AsSpan(r * cw, r * cw).CopyTo(state.Score.AsSpan(0, r * cw));
            }
            Finish(entry, pos + 1 - r, numerics);
            entries.Append(entry);
        }
    }

    /// <summary>Per-channel softmax over the slots, then the weighted sum of the values (fp32).</summary>
    private void Pool(State s, Span<float> entry)
    {
        int cw = Coff * Width, d = Width, r = Ratio;
        int slots = Coff * r;
        for (int c = 0; c < d; c++)
        {
            float m = float.NegativeInfinity;
            for (int i = 0; i < slots; i++) m = MathF.Max(m, s.Score[i * cw + Channel(i, c)]);
            float sum = 0, acc = 0;
            for (int i = 0; i < slots; i++)
            {
                int ch = Channel(i, c);
                float e = MathF.Exp(s.Score[i * cw + ch] - m);
                sum += e;
                acc += e * s.Kv[i * cw + ch];
            }
            entry[c] = acc / sum;
        }
    }

    /// <summary>Overlap: the previous block's slots read channels [0,d), the current block's [d,2d).</summary>
    private int Channel(int slot, int c) => Overlap && slot >= Ratio ? Width + c : c;

    private void Finish(Span<float> entry, int blockStart, V4Numerics numerics)
    {
        if (numerics.Bf16Activations) Bf16.Round(entry);
        V4Ops.RmsNorm(entry, _norm, _eps, entry);
        if (numerics.Bf16Activations) Bf16.Round(entry);
        var ropePart = entry[_nope..];
        _rope.Apply(ropePart, blockStart);
        if (numerics.Bf16Activations) Bf16.Round(ropePart);
        if (_rotate)
        {
            V4Ops.Hadamard(entry);
            if (numerics.Bf16Activations) Bf16.Round(entry);
            if (numerics.QuantDequant) ActivationQuant.Fp4QuantDequant(entry, 32);
        }
        else if (numerics.QuantDequant) ActivationQuant.Fp8QuantDequant(entry[.._nope], 64);
    }
}

/// <summary>An append-only [rows, width] f32 matrix that grows in chunks (compressed KV, indexer keys).</summary>
public sealed class GrowingMatrix
{
    private float[] _data;
    public int Width { get; }
    public int Rows { get; private set; }

    public GrowingMatrix(int width, int initialRows = 64)
    {
        Width = width;
        _data = new float[width * Math.Max(1, initialRows)];
    }

    public void Append(ReadOnlySpan<float> row)
    {
        if ((Rows + 1) * Width > _data.Length) Array.Resize(ref _data, _data.Length * 2);
        row.CopyTo(_data.AsSpan(Rows * Width, Width));
        Rows++;
    }

    public ReadOnlySpan<float> Row(int i) => _data.AsSpan(i * Width, Width);
    public ReadOnlySpan<float> All => _data.AsSpan(0, Rows * Width);

    /// <summary>Drops rows past <paramref name="rows"/> (restoring a snapshot: entries are append-only).</summary>
    public void Truncate(int rows) => Rows = Math.Min(Rows, rows);
    public void Clear() => Rows = 0;
    public long Bytes => (long)_data.Length * sizeof(float);
}
