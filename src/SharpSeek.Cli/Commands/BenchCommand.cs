using System.ComponentModel;
using System.Diagnostics;
using SharpSeek.Kernels.Diagnostics;
using SharpSeek.Model.DeepSeekV4;
using Spectre.Console;
using Spectre.Console.Cli;

namespace SharpSeek.Cli.Commands;

/// <summary>
/// `sharpseek bench`: prefill and decode speed, with decode set against the memory-bandwidth bound measured in the
/// same run (bound = bandwidth ÷ weight bytes a decoded token reads).
/// </summary>
public sealed class BenchCommand : Command<BenchCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandOption("--synthetic <KIND>")] [Description("flash: a random-weight checkpoint with V4-Flash's real dimensions")] public string? Synthetic { get; set; }
        [CommandOption("--model <DIR>")] [Description("Benchmark a real checkpoint")] public string? Model { get; set; }
        [CommandOption("--layers <N>")] public int Layers { get; set; } = 4;
        [CommandOption("--experts <N>")] public int Experts { get; set; } = 16;
        [CommandOption("--prompt <N>")] public int Prompt { get; set; } = 64;
        [CommandOption("--decode <N>")] public int Decode { get; set; } = 16;
        [CommandOption("--resident")] [Description("Load the checkpoint into huge-page memory instead of mapping it: faster decode, needs RAM for the whole checkpoint")] public bool Resident { get; set; }
        [CommandOption("--profile")] [Description("Also break decode time down by weight format and shape")] public bool Profile { get; set; }
    }

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        string dir;
        if (s.Model is { Length: > 0 }) dir = s.Model;
        else if (s.Synthetic == "flash")
        {
            dir = Path.Combine(ModelCommandSupport.CacheRoot, $"bench-flash-l{s.Layers}-e{s.Experts}");
            if (!File.Exists(Path.Combine(dir, "config.json")))
            {
                AnsiConsole.MarkupLine($"writing a random-weight V4-Flash-shaped checkpoint ({s.Layers} layers, {s.Experts} experts, FP8/FP4) to [blue]{Markup.Escape(dir)}[/] (once)…");
                AnsiConsole.Progress().Start(ctx =>
                {
                    var task = ctx.AddTask("writing", maxValue: 1);
                    SyntheticCheckpoint.Write(dir + ".tmp", SyntheticCheckpoint.FlashConfig(s.Layers, s.Experts), seed: 1, new Progress<double>(v => task.Value = v));
                });
                Directory.Move(dir + ".tmp", dir);
            }
        }
        else throw new ArgumentException("bench needs --synthetic flash or --model DIR");

        using var engine = ModelCommandSupport.OpenEngine(dir, referenceNumerics: false, resident: s.Resident);
        var footprint = V4Footprint.Of(engine.Config);
        using var session = engine.CreateV4Session();
        var rng = new Random(1);
        int[] prompt = [0, .. Enumerable.Range(0, s.Prompt - 1).Select(_ => rng.Next(2, engine.VocabSize))];

        // warm the page cache and the JIT with a short run, then measure
        session.Append(prompt.AsSpan(0, Math.Min(8, prompt.Length)), cancellationToken);
        session.Append([ModelCommandSupport.ArgMax(session.Logits)], cancellationToken);
        session.Reset();

        var sw = Stopwatch.StartNew();
        session.Append(prompt, cancellationToken);
        double prefill = prompt.Length / sw.Elapsed.TotalSeconds;
        var one = new int[1];
        KernelProfile.Reset();
        KernelProfile.Enabled = s.Profile;
        sw.Restart();
        for (int i = 0; i < s.Decode; i++)
        {
            one[0] = ModelCommandSupport.ArgMax(session.Logits);
            session.Append(one, cancellationToken);
        }
        double decodeMs = sw.Elapsed.TotalMilliseconds;
        double decode = s.Decode / sw.Elapsed.TotalSeconds;
        KernelProfile.Enabled = false;
        double peakRss = PeakRssMiB(); // before the bandwidth probe's 1 GB buffer
        double bandwidth = MemoryBandwidth.MeasureGBps();
        var (fmaOne, fmaAll) = ComputeThroughput.MeasureGflops();
        double bound = bandwidth * 1e9 / footprint.ActiveBytesPerToken;

        var table = new Table().AddColumn("measure").AddColumn("value");
        table.AddRow("checkpoint", Markup.Escape(dir));
        table.AddRow("weights", s.Resident ? "resident (huge-page memory)" : "memory-mapped");
        table.AddRow("threads", Environment.ProcessorCount.ToString());
        table.AddRow("prefill", $"{prefill:F2} tok/s ({prompt.Length} tokens)");
        table.AddRow("decode", $"{decode:F2} tok/s ({s.Decode} tokens)");
        table.AddRow("bytes read / decoded token", $"{footprint.ActiveBytesPerToken / 1e6:F1} MB");
        table.AddRow("memory bandwidth (measured now)", $"{bandwidth:F1} GB/s");
        table.AddRow("decode bandwidth bound", $"{bound:F2} tok/s");
        table.AddRow("decode / bound", $"{100 * decode / bound:F1} %");
        table.AddRow("vector FMA rate, 1 thread / all threads", $"{fmaOne:F1} / {fmaAll:F1} G/s ({fmaAll / fmaOne:F2}× on {Environment.ProcessorCount} threads)");
        table.AddRow("peak RSS (model run)", $"{peakRss:F0} MiB");
        AnsiConsole.Write(table);
        if (s.Profile) WriteProfile(decodeMs, s.Decode);
        return 0;
    }

    /// <summary>Decode time per token by matrix shape; what is left over is attention, norms, routing and mixing.</summary>
    private static void WriteProfile(double decodeMs, int tokens)
    {
        var rows = KernelProfile.Snapshot();
        var table = new Table().AddColumn("matrix-vector products").AddColumn("ms / token", c => c.RightAligned())
            .AddColumn("calls / token", c => c.RightAligned()).AddColumn("GB/s", c => c.RightAligned());
        double matvec = 0;
        foreach (var r in rows)
        {
            matvec += r.Milliseconds;
            table.AddRow(r.Shape, $"{r.Milliseconds / tokens:F2}", $"{(double)r.Calls / tokens:F0}", $"{r.GBps:F1}");
        }
        table.AddRow("[grey]everything else[/]", $"{(decodeMs - matvec) / tokens:F2}", "", "");
        table.AddRow("[bold]decode step[/]", $"{decodeMs / tokens:F2}", "", "");
        AnsiConsole.Write(table);
    }

    private static double PeakRssMiB()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith("VmHWM:")) return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / 1024.0;
        }
        catch (IOException) { }
        return Process.GetCurrentProcess().PeakWorkingSet64 / 1048576.0;
    }
}
