using System.ComponentModel;
using System.Diagnostics;
using SharpSeek.Model.DeepSeekV4;
using Spectre.Console;
using Spectre.Console.Cli;

namespace SharpSeek.Cli.Commands;

/// <summary>
/// `sharpseek demo`: makes (once) a tiny random-weight V4 checkpoint with the full 129280-token vocabulary in the
/// native FP8/FP4 formats, then runs a prefill and greedy decode through the real engine and reports tokens/s.
/// </summary>
public sealed class DemoCommand : Command<DemoCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandOption("--out <DIR>")] [Description("Where to keep the demo checkpoint (default: ~/.cache/sharpseek/demo-tiny)")] public string? Out { get; set; }
        [CommandOption("--prompt <N>")] public int Prompt { get; set; } = 64;
        [CommandOption("--decode <N>")] public int Decode { get; set; } = 32;
    }

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        string dir = s.Out ?? Path.Combine(ModelCommandSupport.CacheRoot, "demo-tiny");
        EnsureTinyCheckpoint(dir);
        AnsiConsole.MarkupLine($"[yellow]The demo checkpoint has RANDOM weights[/]: it exercises every part of the V4 forward pass, but its tokens are noise.");
        AnsiConsole.MarkupLine($"checkpoint: [blue]{Markup.Escape(dir)}[/]");
        using var engine = ModelCommandSupport.OpenEngine(dir, referenceNumerics: false);
        using var session = engine.CreateV4Session();
        var rng = new Random(7);
        int[] prompt = [0, .. Enumerable.Range(0, s.Prompt - 1).Select(_ => rng.Next(2, 128000))];
        var sw = Stopwatch.StartNew();
        session.Append(prompt, cancellationToken);
        double prefillSeconds = sw.Elapsed.TotalSeconds;
        var ids = new List<int>();
        sw.Restart();
        for (int i = 0; i < s.Decode; i++)
        {
            int id = ModelCommandSupport.ArgMax(session.Logits);
            ids.Add(id);
            session.Append([id], cancellationToken);
        }
        double decodeSeconds = sw.Elapsed.TotalSeconds;
        AnsiConsole.MarkupLine($"prefill: {prompt.Length} tokens in {prefillSeconds:F3} s = [green]{prompt.Length / prefillSeconds:F1} tok/s[/]");
        AnsiConsole.MarkupLine($"decode:  {ids.Count} tokens in {decodeSeconds:F3} s = [green]{ids.Count / decodeSeconds:F1} tok/s[/]");
        AnsiConsole.MarkupLine($"greedy ids: {string.Join(",", ids.Take(16))}{(ids.Count > 16 ? ",…" : "")}");
        AnsiConsole.MarkupLine($"KV cache: {session.CacheBytes / 1024.0:F0} KiB for {session.Length} tokens");
        return 0;
    }

    public static void EnsureTinyCheckpoint(string dir)
    {
        if (File.Exists(Path.Combine(dir, "model.safetensors.index.json")) && File.Exists(Path.Combine(dir, "config.json"))) return;
        AnsiConsole.MarkupLine($"writing a tiny random-weight V4 checkpoint to [blue]{Markup.Escape(dir)}[/] (once)…");
        SyntheticCheckpoint.Write(dir, SyntheticCheckpoint.TinyConfig(), seed: 1);
    }
}
