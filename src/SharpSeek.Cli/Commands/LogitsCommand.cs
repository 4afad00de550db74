using System.ComponentModel;
using System.Text.Json;
using SharpSeek.Engine;
using SharpSeek.Model.Checkpoint;
using Spectre.Console.Cli;

namespace SharpSeek.Cli.Commands;

/// <summary>
/// `sharpseek logits`: the conformance dump. One prefill of the whole prompt, then greedy decode steps through the cache,
/// written with the golden fixtures' file names and meanings so anyone can diff us against the official code.
/// </summary>
public sealed class LogitsCommand : Command<LogitsCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandOption("--model <DIR>")] [Description("Model directory (config.json + safetensors)")] public string Model { get; set; } = "";
        [CommandOption("--ids <IDS>")] [Description("Comma-separated prompt token ids")] public string Ids { get; set; } = "";
        [CommandOption("--decode <N>")] [Description("Greedy decode steps after the prefill")] public int Decode { get; set; }
        [CommandOption("--out <DIR>")] [Description("Output folder")] public string Out { get; set; } = "";
        [CommandOption("--reference-numerics")] [Description("Reproduce the official bf16/FP8/FP4 quant-dequant numerics")] public bool ReferenceNumerics { get; set; }
    }

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        if (s.Model.Length == 0 || s.Ids.Length == 0 || s.Out.Length == 0) throw new ArgumentException("logits needs --model, --ids and --out");
        using var engine = ModelCommandSupport.OpenEngine(s.Model, s.ReferenceNumerics);
        Run(engine, ModelCommandSupport.ParseIds(s.Ids), s.Decode, s.Out);
        Console.WriteLine($"wrote {s.Out}");
        return 0;
    }

    public static void Run(V4Engine engine, int[] prompt, int decode, string outDir)
    {
        Directory.CreateDirectory(outDir);
        int V = engine.VocabSize, S = prompt.Length;
        using var session = engine.CreateV4Session();
        var prefill = new float[S * V];
        session.Append(prompt, prefill);
        NpyFile.WriteFloat32(Path.Combine(outDir, "prefill_logits.npy"), prefill, S, V);
        var ids = new int[decode + 1];
        ids[0] = ModelCommandSupport.ArgMax(prefill.AsSpan((S - 1) * V, V));
        var mtpPrefill = session.HasMtp ? new float[S * V] : null;
        if (mtpPrefill != null) session.MtpLogits([.. prompt[1..], ids[0]], mtpPrefill);
        var decodeLogits = new float[decode * V];
        var mtpDecode = session.HasMtp ? new float[decode * V] : null;
        for (int k = 0; k < decode; k++)
        {
            session.Append([ids[k]]);
            session.Logits.CopyTo(decodeLogits.AsSpan(k * V, V));
            ids[k + 1] = ModelCommandSupport.ArgMax(session.Logits);
            if (mtpDecode != null) session.MtpLogits([ids[k + 1]], mtpDecode.AsSpan(k * V, V));
        }
        NpyFile.WriteFloat32(Path.Combine(outDir, "decode_logits.npy"), decodeLogits, decode, V);
        NpyFile.WriteInt32(Path.Combine(outDir, "generated_ids.npy"), ids, ids.Length);
        File.WriteAllText(Path.Combine(outDir, "decode_ids.json"), JsonSerializer.Serialize(ids));
        if (mtpPrefill != null) NpyFile.WriteFloat32(Path.Combine(outDir, "mtp_prefill_logits.npy"), mtpPrefill, S, V);
        if (mtpDecode != null) NpyFile.WriteFloat32(Path.Combine(outDir, "mtp_decode_logits.npy"), mtpDecode, decode, V);
    }
}
