using System.ComponentModel;
using Microsoft.Extensions.Hosting;
using SharpSeek.Server;
using SharpSeek.Tokenizer;
using SharpSeek.Tokenizer.Chat;
using Spectre.Console;
using Spectre.Console.Cli;

namespace SharpSeek.Cli.Commands;

/// <summary>`sharpseek serve --model DIR`: the OpenAI-compatible HTTP server.</summary>
public sealed class ServeCommand : AsyncCommand<ServeCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandOption("--model <DIR>")] public string Model { get; set; } = "";
        [CommandOption("--host <HOST>")] public string Host { get; set; } = "127.0.0.1";
        [CommandOption("--port <PORT>")] public int Port { get; set; } = 8000;
        [CommandOption("--api-key <KEY>")] public string? ApiKey { get; set; }
        [CommandOption("--served-model-name <NAME>")] public string? ServedModelName { get; set; }
        [CommandOption("--parallel <N>")] [Description("Sessions kept (each holds one conversation's cache)")] public int Parallel { get; set; } = 1;
        [CommandOption("--tokenizer <DIR>")] [Description("Folder with tokenizer.json (default: the model directory)")] public string? Tokenizer { get; set; }
        [CommandOption("--price-input-miss <USD>")] public double PriceInputMiss { get; set; } = 0.14;
        [CommandOption("--price-input-hit <USD>")] public double PriceInputHit { get; set; } = 0.0028;
        [CommandOption("--price-output <USD>")] public double PriceOutput { get; set; } = 0.28;
        [CommandOption("--max-queue <N>")] [Description("Requests that may wait for a session; beyond it 429 with Retry-After")] public int MaxQueue { get; set; } = 64;
        [CommandOption("--max-body-mb <MB>")] [Description("Largest request body (413 above it)")] public int MaxBodyMb { get; set; } = 16;
        [CommandOption("--shutdown-grace <SECONDS>")] [Description("On Ctrl+C / SIGTERM, streams in flight get this long to finish")] public double ShutdownGrace { get; set; } = 10;
        [CommandOption("--max-context <TOKENS>")] [Description("Longest conversation a session holds (default: the model's max_position_embeddings)")] public int? MaxContext { get; set; }
        [CommandOption("--resident")] [Description("Load the checkpoint into huge-page memory instead of mapping it: faster decode, needs RAM for the whole checkpoint")] public bool Resident { get; set; }
        [CommandOption("--reference-numerics")] public bool ReferenceNumerics { get; set; }
    }

    public override async Task<int> ExecuteAsync(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        if (s.Model.Length == 0) throw new ArgumentException("serve needs --model DIR");
        using var engine = ModelCommandSupport.OpenEngine(s.Model, s.ReferenceNumerics, s.MaxContext, resident: s.Resident);
        var tokenizer = BpeTokenizer.Load(s.Tokenizer ?? s.Model);
        var options = new ServerOptions
        {
            Urls = $"http://{s.Host}:{s.Port}", ApiKey = s.ApiKey, Parallel = s.Parallel, MaxQueue = s.MaxQueue,
            MaxRequestBodyBytes = (long)s.MaxBodyMb << 20, ShutdownGrace = TimeSpan.FromSeconds(s.ShutdownGrace),
            ServedModelName = s.ServedModelName ?? engine.ModelName,
            PriceInputMiss = s.PriceInputMiss, PriceInputHit = s.PriceInputHit, PriceOutput = s.PriceOutput,
        };
        await using var app = ApiServer.Build(engine, tokenizer, V4ChatEncoder.DetectFormat(s.Model), options);
        AnsiConsole.MarkupLine($"serving [blue]{Markup.Escape(options.ServedModelName)}[/] on {Markup.Escape(options.Urls)} (OpenAI: /v1/chat/completions, /v1/completions, /v1/models; Anthropic: /v1/messages; /health, /metrics)");
        await app.StartAsync(cancellationToken);
        await app.WaitForShutdownAsync(cancellationToken);
        return 0;
    }
}
