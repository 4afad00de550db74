using System.ComponentModel;
using System.Diagnostics;
using SharpSeek.Engine;
using Spectre.Console.Cli;

namespace SharpSeek.Cli.Commands;

/// <summary>`sharpseek generate`: token ids in, sampled token ids out.</summary>
public sealed class GenerateCommand : Command<GenerateCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandOption("--model <DIR>")] public string Model { get; set; } = "";
        [CommandOption("--ids <IDS>")] public string Ids { get; set; } = "";
        [CommandOption("--max-tokens <N>")] public int MaxTokens { get; set; } = 16;
        [CommandOption("--temperature <T>")] [Description("0 = greedy")] public float Temperature { get; set; } = 1f;
        [CommandOption("--top-p <P>")] public float TopP { get; set; } = 1f;
        [CommandOption("--seed <SEED>")] public int Seed { get; set; } = 0;
        [CommandOption("--resident")] [Description("Load the checkpoint into huge-page memory instead of mapping it: faster decode, needs RAM for the whole checkpoint")] public bool Resident { get; set; }
        [CommandOption("--reference-numerics")] public bool ReferenceNumerics { get; set; }
    }

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        if (s.Model.Length == 0 || s.Ids.Length == 0) throw new ArgumentException("generate needs --model and --ids");
        using var engine = ModelCommandSupport.OpenEngine(s.Model, s.ReferenceNumerics, resident: s.Resident);
        using var session = engine.CreateV4Session();
        var sampler = new TokenSampler(s.Temperature, s.TopP, s.Seed, engine.VocabSize);
        var sw = Stopwatch.StartNew();
        session.Append(ModelCommandSupport.ParseIds(s.Ids), cancellationToken);
        double prefill = sw.Elapsed.TotalSeconds;
        var output = new List<int>();
        sw.Restart();
        for (int i = 0; i < s.MaxTokens; i++)
        {
            int id = sampler.Sample(session.Logits);
            output.Add(id);
            if (id == engine.Config.EosTokenId || i == s.MaxTokens - 1) break;
            session.Append([id], cancellationToken);
        }
        Console.WriteLine(string.Join(",", output));
        Console.Error.WriteLine($"prefill {prefill:F2} s, decode {output.Count / Math.Max(1e-9, sw.Elapsed.TotalSeconds):F2} tok/s");
        return 0;
    }
}

/// <summary>Temperature + nucleus sampling over logits, seeded; temperature 0 is greedy.</summary>
public sealed class TokenSampler(float temperature, float topP, int seed, int vocab)
{
    private readonly Random _rng = new(seed);
    private readonly float[] _p = new float[vocab];
    private readonly int[] _order = new int[vocab];

    public int Sample(ReadOnlySpan<float> logits)
    {
        if (temperature <= 0) return ModelCommandSupport.ArgMax(logits);
        float max = float.NegativeInfinity;
        foreach (float l in logits) max = MathF.Max(max, l);
        float sum = 0;
        for (int i = 0; i < logits.Length; i++) { _p[i] = MathF.Exp((logits[i] - max) / temperature); sum += _p[i]; }
        double r = _rng.NextDouble() * sum;
        if (topP < 1f)
        {
            for (int i = 0; i < _order.Length; i++) _order[i] = i;
            Array.Sort(_order, (a, b) => _p[b].CompareTo(_p[a]));
            float kept = 0; int n = 0;
            while (n < _order.Length && kept < topP * sum) kept += _p[_order[n++]];
            r = _rng.NextDouble() * kept;
            for (int i = 0; i < n; i++) { r -= _p[_order[i]]; if (r <= 0) return _order[i]; }
            return _order[n - 1];
        }
        for (int i = 0; i < logits.Length; i++) { r -= _p[i]; if (r <= 0) return i; }
        return logits.Length - 1;
    }
}
