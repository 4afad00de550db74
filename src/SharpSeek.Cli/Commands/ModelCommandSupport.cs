using SharpSeek.Engine;
using SharpSeek.Model.DeepSeekV4;
using Spectre.Console;

namespace SharpSeek.Cli.Commands;

internal static class ModelCommandSupport
{
    /// <summary>Opens a checkpoint with a progress bar while its shards are mapped and every tensor is checked.</summary>
    public static V4Engine OpenEngine(string dir, bool referenceNumerics, int? maxContext = null, IAnsiConsole? console = null, bool resident = false)
    {
        V4Engine? engine = null;
        (console ?? AnsiConsole.Console).Progress().AutoClear(true).Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn())
            .Start(ctx =>
            {
                string verb = resident ? "loading" : "mapping";
                var task = ctx.AddTask($"{verb} shards");
                engine = V4Engine.Open(dir, referenceNumerics ? V4Numerics.Reference : V4Numerics.Fast,
                    new Progress<(string file, int done, int total)>(p => { task.MaxValue = Math.Max(1, p.total); task.Value = p.done; task.Description = p.file.Length > 0 ? $"{verb} {p.file}" : "validating"; }), maxContext, resident: resident);
                task.Value = task.MaxValue;
            });
        return engine!;
    }

    public static int[] ParseIds(string text) =>
        text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(s => int.TryParse(s, out int v) ? v : throw new ArgumentException($"--ids: \"{s}\" is not a token id")).ToArray();

    public static int ArgMax(ReadOnlySpan<float> v)
    {
        int best = 0;
        for (int i = 1; i < v.Length; i++) if (v[i] > v[best]) best = i;
        return best;
    }

    public static string CacheRoot =>
        Environment.GetEnvironmentVariable("SHARPSEEK_CACHE") is { Length: > 0 } c ? c
        : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "sharpseek");
}
