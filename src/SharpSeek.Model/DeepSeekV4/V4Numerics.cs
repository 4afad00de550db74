namespace SharpSeek.Model.DeepSeekV4;

/// <summary>
/// Which arithmetic the forward pass uses. <see cref="Fast"/>: f32 activations and accumulation, weights decoded
/// exactly from their stored format, no activation quantisation (the default; matches the f32 reference to ~1e-5).
/// <see cref="Reference"/> (`--reference-numerics`): reproduces the official code's bf16 activation rounding points,
/// the FP8 activation quant-dequant before every FP8/FP4 GEMM, the window/compressed KV FP8 QDQ and the indexer FP4
/// QDQ, so the quantised fixtures match block by block.
/// </summary>
public sealed record V4Numerics(bool Bf16Activations, bool QuantDequant)
{
    public static readonly V4Numerics Fast = new(false, false);
    public static readonly V4Numerics Reference = new(true, true);
}
