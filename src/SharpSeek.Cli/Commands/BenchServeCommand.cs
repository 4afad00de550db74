using System.ComponentModel;
using System.Diagnostics;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using SharpSeek.Server;
using SharpSeek.Tokenizer;
using SharpSeek.Tokenizer.Chat;
using Spectre.Console;
using Spectre.Console.Cli;

namespace SharpSeek.Cli.Commands;

/// <summary>
/// `sharpseek bench-serve`: the HTTP server's own cost. Starts the real server in-process on 127.0.0.1 and measures,
/// over loopback, (1) the overhead per request: client-observed time minus the engine time the response reports in
/// `timings`, for non-streamed answers and for the first streamed token; (2) requests/s and tokens/s with N concurrent
/// streams.
/// </summary>
public sealed class BenchServeCommand : AsyncCommand<BenchServeCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandOption("--model <DIR>")] [Description("Model directory (default: the demo's tiny random-weight checkpoint)")] public string? Model { get; set; }
        [CommandOption("--tokenizer <DIR>")] [Description("Folder with tokenizer.json (default: the model directory, else ../shared/golden/tokenizer)")] public string? Tokenizer { get; set; }
        [CommandOption("--streams <N>")] [Description("Concurrent streams in the throughput run")] public int Streams { get; set; } = 16;
        [CommandOption("--requests <N>")] [Description("Requests in the throughput run")] public int Requests { get; set; } = 64;
        [CommandOption("--sequential <N>")] [Description("One-at-a-time requests for the overhead figures")] public int Sequential { get; set; } = 20;
        [CommandOption("--parallel <N>")] [Description("Server sessions (--parallel of serve)")] public int Parallel { get; set; } = 4;
        [CommandOption("--max-tokens <N>")] public int MaxTokens { get; set; } = 16;
    }

    public override async Task<int> ExecuteAsync(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        string dir = s.Model ?? Path.Combine(ModelCommandSupport.CacheRoot, "demo-tiny");
        if (s.Model == null) DemoCommand.EnsureTinyCheckpoint(dir);
        string tokDir = s.Tokenizer ?? (File.Exists(Path.Combine(dir, "tokenizer.json")) ? dir : FindSharedTokenizer()
            ?? throw new ArgumentException($"no tokenizer.json in {dir}; pass --tokenizer DIR"));
        using var engine = ModelCommandSupport.OpenEngine(dir, referenceNumerics: false);
        var tokenizer = BpeTokenizer.Load(tokDir);
        var options = new ServerOptions { Urls = "http://127.0.0.1:0", Parallel = s.Parallel, MaxQueue = Math.Max(64, s.Requests) };
        await using var app = ApiServer.Build(engine, tokenizer, V4ChatEncoder.DetectFormat(dir), options);
        await app.StartAsync(cancellationToken);
        using var http = new HttpClient { BaseAddress = new Uri(app.Urls.First()), Timeout = TimeSpan.FromMinutes(10) };
        AnsiConsole.MarkupLine($"model [blue]{Markup.Escape(dir)}[/], server {Markup.Escape(app.Urls.First())}, {s.Parallel} sessions, max_tokens {s.MaxTokens}, {Environment.ProcessorCount} cores");

        string Body(int i, bool stream) => new JsonObject
        {
            ["model"] = "deepseek-chat", ["max_tokens"] = s.MaxTokens, ["temperature"] = 0.8, ["seed"] = i, ["stream"] = stream,
            ["stream_options"] = stream ? new JsonObject { ["include_usage"] = true } : null,
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = $"Request {i}: tell me something about the sea." }),
        }.ToJsonString();

        // warm-up: JIT, page cache, the first prefill
        for (int i = 0; i < 2; i++) await Run(http, Body(-1 - i, stream: true), cancellationToken);

        // 1. overhead per request, one at a time (no queueing)
        var whole = new List<double>();
        var firstToken = new List<double>();
        for (int i = 0; i < s.Sequential; i++)
        {
            var sw = Stopwatch.StartNew();
            var r = await http.PostAsync("/v1/chat/completions", new StringContent(Body(i, stream: false), Encoding.UTF8, "application/json"), cancellationToken);
            var j = JsonNode.Parse(await r.Content.ReadAsStringAsync(cancellationToken))!;
            double wall = sw.Elapsed.TotalMilliseconds;
            var t = j["timings"]!;
            whole.Add(wall - ((double)t["ttft_ms"]! + (double)t["predicted_ms"]!));
            var run = await Run(http, Body(1000 + i, stream: true), cancellationToken);
            firstToken.Add(run.FirstTokenMs - run.EngineTtftMs);
        }

        // 2. throughput with N concurrent streams
        int next = 0, completionTokens = 0;
        var all = Stopwatch.StartNew();
        var workers = Enumerable.Range(0, s.Streams).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next) - 1) < s.Requests)
            {
                var run = await Run(http, Body(2000 + i, stream: true), cancellationToken);
                Interlocked.Add(ref completionTokens, run.CompletionTokens);
            }
        }).ToArray();
        await Task.WhenAll(workers);
        double seconds = all.Elapsed.TotalSeconds;

        var table = new Table().AddColumns("measure", "value");
        table.AddRow("server overhead, non-streamed (wall − engine)", $"median {Median(whole):F2} ms, p90 {Percentile(whole, 0.9):F2} ms over {whole.Count}");
        table.AddRow("server overhead, first streamed token (TTFT − engine TTFT)", $"median {Median(firstToken):F2} ms, p90 {Percentile(firstToken, 0.9):F2} ms over {firstToken.Count}");
        table.AddRow($"{s.Streams} concurrent streams, {s.Requests} requests", $"{s.Requests / seconds:F2} requests/s, {completionTokens / seconds:F1} completion tokens/s, {seconds:F1} s");
        AnsiConsole.Write(table);
        await app.StopAsync(cancellationToken);
        return 0;
    }

    private readonly record struct StreamRun(double FirstTokenMs, double EngineTtftMs, int CompletionTokens);

    /// <summary>One streamed request: client time to the first chunk after the role chunk, and the engine's timings.</summary>
    private static async Task<StreamRun> Run(HttpClient http, string body, CancellationToken ct)
    {
        var sw = Stopwatch.StartNew();
        using var r = await http.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = new StringContent(body, Encoding.UTF8, "application/json") },
                                           HttpCompletionOption.ResponseHeadersRead, ct);
        r.EnsureSuccessStatusCode();
        using var reader = new StreamReader(await r.Content.ReadAsStreamAsync(ct));
        double first = -1, ttft = 0;
        int chunks = 0, completion = 0;
        while (await reader.ReadLineAsync(ct) is { } line)
        {
            if (!line.StartsWith("data: ") || line == "data: [DONE]") continue;
            if (++chunks == 2) first = sw.Elapsed.TotalMilliseconds; // chunk 1 is the role chunk, sent before the prefill
            var j = JsonNode.Parse(line.AsSpan(6).ToString())!;
            if (j["timings"] is JsonObject t) ttft = (double)t["ttft_ms"]!;
            if (j["usage"] is JsonObject u) completion = (int)u["completion_tokens"]!;
        }
        return new StreamRun(first, ttft, completion);
    }

    private static double Median(List<double> v) => Percentile(v, 0.5);
    private static double Percentile(List<double> v, double p)
    {
        var sorted = v.Order().ToArray();
        return sorted[Math.Min(sorted.Length - 1, (int)Math.Floor(p * (sorted.Length - 1) + 0.5))];
    }

    /// <summary>The repository's tokenizer fixture, when run from a checkout.</summary>
    private static string? FindSharedTokenizer()
    {
        for (var d = new DirectoryInfo(Directory.GetCurrentDirectory()); d != null; d = d.Parent)
        {
            string p = Path.Combine(d.FullName, "shared", "golden", "tokenizer");
            if (File.Exists(Path.Combine(p, "tokenizer.json"))) return p;
        }
        return null;
    }
}
