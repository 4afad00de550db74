using System.ComponentModel;
using SharpSeek.Model.DeepSeekV4;
using Spectre.Console;
using Spectre.Console.Cli;

namespace SharpSeek.Cli.Commands;

/// <summary>`sharpseek inspect`: what a checkpoint is and what running it costs (parameters, bytes per token, KV cache).</summary>
public sealed class InspectCommand : Command<InspectCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandOption("--model <DIR>")] [Description("Model directory")] public string Model { get; set; } = "";
    }

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        if (s.Model.Length == 0) throw new ArgumentException("inspect needs --model");
        using var engine = ModelCommandSupport.OpenEngine(s.Model, referenceNumerics: false); // maps and validates every tensor
        var c = engine.Config;
        var f = V4Footprint.Of(c);
        var table = new Table().AddColumn("field").AddColumn("value");
        void Row(string k, object v) => table.AddRow(Markup.Escape(k), Markup.Escape(v.ToString() ?? ""));
        Row("model_type", c.ModelType ?? "?");
        Row("layers / hidden", $"{c.NumHiddenLayers} / {c.HiddenSize}");
        Row("heads × head_dim (rope)", $"{c.NumAttentionHeads} × {c.HeadDim} ({c.QkRopeHeadDim})");
        Row("q_lora / o_groups × o_lora", $"{c.QLoraRank} / {c.OGroups} × {c.OLoraRank}");
        Row("compress_ratios", string.Join(",", c.CompressRatios));
        Row("sliding_window / indexer", $"{c.SlidingWindow} / {c.IndexNHeads}×{c.IndexHeadDim} top-{c.IndexTopk}");
        Row("experts", $"{c.NRoutedExperts} routed + {c.NSharedExperts} shared, top-{c.NumExpertsPerTok}, I={c.MoeIntermediateSize}, {c.ScoringFunc}, ×{c.RoutedScalingFactor}, {c.NumHashLayers} hash layers");
        Row("mHC", $"{c.HcMult} streams, {c.HcSinkhornIters} Sinkhorn iterations");
        Row("rope", $"θ {c.RopeTheta} / compressed θ {c.CompressRopeTheta}, {c.RopeScaling?.Type ?? "none"} ×{c.RopeScaling?.Factor}");
        Row("weights", c.IsFp8 ? $"FP8 e4m3 128×128 UE8M0{(c.Fp4Experts ? ", FP4 e2m1 experts" : "")}" : "BF16");
        Row("vocab / context", $"{c.VocabSize} / {c.MaxPositionEmbeddings}");
        Row("MTP layers", c.NumMtpLayers);
        if (c.HasDSpark) Row("DSpark (0731)", $"block {c.DsparkBlockSize}, markov rank {c.DsparkMarkovRank}, noise token {c.DsparkNoiseTokenId}, target layers [{string.Join(",", c.DsparkTargetLayerIds ?? [])}] (recognised; the drafter does not run yet)");
        Row("parameters total", $"{f.TotalParams / 1e9:F3} B (+ MTP {f.MtpParams / 1e9:F3} B)");
        Row("parameters active / token", $"{f.ActiveParams / 1e9:F3} B");
        Row("bytes read / decoded token", $"{f.ActiveBytesPerToken / 1e9:F3} GB (stored formats, incl. scales)");
        Row("checkpoint bytes", $"{f.TotalBytes / 1e9:F2} GB");
        Row("KV cache / token", $"{f.KvBytesPerTokenF32} B as stored here (f32); {f.KvBytesPerTokenFp8} B in FP8 layout");
        Row("KV cache at 1M tokens", $"{f.KvBytesPerTokenF32 * (double)(1 << 20) / (1L << 30):F2} GiB f32 ({f.KvBytesPerTokenFp8 * (double)(1 << 20) / (1L << 30):F2} GiB FP8) + window {f.WindowBytesF32 / 1048576.0:F1} MiB");
        AnsiConsole.Write(table);
        return 0;
    }
}
