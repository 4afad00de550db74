namespace SharpSeek.Model.DeepSeekV4;

/// <summary>
/// model.py: precompute_freqs_cis / apply_rotary_emb. Rotates interleaved pairs (2i, 2i+1) of the last rope dims.
/// Pure sliding-window layers (ratio 0, and the MTP block) use rope_theta without YaRN; compressed layers use
/// compress_rope_theta with YaRN's frequency blend (no attention-scale correction).
/// </summary>
public sealed class YarnRope
{
    public int Dim { get; }
    /// <summary>Angular frequency of each pair, rad/token.</summary>
    public float[] Frequencies { get; }

    public YarnRope(int dim, float theta, int originalSeqLen, float factor, float betaFast, float betaSlow)
    {
        Dim = dim;
        var f = new float[dim / 2];
        for (int i = 0; i < f.Length; i++) f[i] = 1f / MathF.Pow(theta, (2 * i) / (float)dim);
        if (originalSeqLen > 0)
        {
            double CorrectionDim(double rotations) => dim * Math.Log(originalSeqLen / (rotations * 2 * Math.PI)) / (2 * Math.Log(theta));
            double low = Math.Max(Math.Floor(CorrectionDim(betaFast)), 0);
            double high = Math.Min(Math.Ceiling(CorrectionDim(betaSlow)), dim - 1);
            if (low == high) high += 0.001;
            for (int i = 0; i < f.Length; i++)
            {
                float ramp = Math.Clamp((float)((i - low) / (high - low)), 0f, 1f);
                float smooth = 1f - ramp;
                f[i] = f[i] / factor * (1f - smooth) + f[i] * smooth;
            }
        }
        Frequencies = f;
    }

    public static YarnRope ForLayer(V4Config c, int compressRatio)
    {
        var s = c.RopeScaling;
        bool yarn = compressRatio > 0 && s != null && s.OriginalMaxPositionEmbeddings > 0 && (s.Type ?? "yarn") == "yarn";
        return yarn
            ? new YarnRope(c.QkRopeHeadDim, c.CompressRopeTheta, s!.OriginalMaxPositionEmbeddings, s.Factor, s.BetaFast, s.BetaSlow)
            : new YarnRope(c.QkRopeHeadDim, compressRatio > 0 ? c.CompressRopeTheta : c.RopeTheta, 0, 1, 0, 0);
    }

    /// <summary>Rotates x (length Dim, the rope slice) by position·freq; inverse rotates by the conjugate.</summary>
    public void Apply(Span<float> x, int position, bool inverse = false)
    {
        var f = Frequencies;
        for (int i = 0; i < f.Length; i++)
        {
            float angle = position * f[i];
            float c = MathF.Cos(angle), s = MathF.Sin(angle);
            if (inverse) s = -s;
            float a = x[2 * i], b = x[2 * i + 1];
            x[2 * i] = a * c - b * s;
            x[2 * i + 1] = a * s + b * c;
        }
    }
}
