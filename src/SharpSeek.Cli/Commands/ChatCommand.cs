using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.AI;
using SharpSeek.Engine.ChatClient;
using SharpSeek.Server;
using SharpSeek.Tokenizer;
using SharpSeek.Tokenizer.Chat;
using Spectre.Console;
using Spectre.Console.Cli;

namespace SharpSeek.Cli.Commands;

/// <summary>
/// `sharpseek chat --model DIR`: a terminal conversation through <see cref="SharpSeekChatClient"/>. Lines come from
/// stdin (a terminal or a pipe); the answer streams as it is decoded, reasoning dimmed; after each turn a line gives
/// tokens, tokens/s, prompt and cached tokens and the turn's cost at the server's default list prices.
/// </summary>
public sealed class ChatCommand : AsyncCommand<ChatCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandOption("--model <DIR>")] public string Model { get; set; } = "";
        [CommandOption("--tokenizer <DIR>")] [Description("Folder with tokenizer.json (default: the model directory)")] public string? Tokenizer { get; set; }
        [CommandOption("--temperature <T>")] [Description("0 = greedy")] public float Temperature { get; set; } = 1f;
        [CommandOption("--top-p <P>")] public float TopP { get; set; } = 1f;
        [CommandOption("--max-tokens <N>")] [Description("Most tokens one answer may take")] public int MaxTokens { get; set; } = 1024;
        [CommandOption("--seed <SEED>")] public int? Seed { get; set; }
        [CommandOption("--thinking")] [Description("Start with thinking on (/think on|off switches it)")] public bool Thinking { get; set; }
        [CommandOption("--system <TEXT>")] [Description("System prompt")] public string? System { get; set; }
        [CommandOption("--resident")] [Description("Load the checkpoint into huge-page memory instead of mapping it: faster decode, needs RAM for the whole checkpoint")] public bool Resident { get; set; }
        [CommandOption("--reference-numerics")] public bool ReferenceNumerics { get; set; }

        public override ValidationResult Validate() =>
            Model.Length == 0 ? ValidationResult.Error("chat needs --model DIR")
            : MaxTokens <= 0 ? ValidationResult.Error("--max-tokens: must be positive")
            : ValidationResult.Success();
    }

    private const string Help = "/exit, /reset (forget the conversation), /think on|off, /help";

    public override Task<int> ExecuteAsync(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        var console = AnsiConsole.Console;
        if (Console.IsOutputRedirected) console.Profile.Width = 4096; // a transcript written to a file or pipe is not wrapped
        return RunAsync(s, Console.In, console, interactive: !Console.IsInputRedirected, cancellationToken);
    }

    /// <summary>Opens the model named by the settings and runs the conversation over <paramref name="input"/>.</summary>
    public static async Task<int> RunAsync(Settings s, TextReader input, IAnsiConsole console, bool interactive, CancellationToken cancellationToken)
    {
        using var engine = ModelCommandSupport.OpenEngine(s.Model, s.ReferenceNumerics, console: console, resident: s.Resident);
        var tokenizer = BpeTokenizer.Load(s.Tokenizer ?? s.Model);
        using var client = new SharpSeekChatClient(engine, tokenizer, V4ChatEncoder.DetectFormat(s.Model));
        return await RunAsync(client, s, input, console, interactive, cancellationToken);
    }

    /// <summary>The conversation loop over any chat client: one line in, one streamed answer out, until /exit or end of input.</summary>
    public static async Task<int> RunAsync(IChatClient client, Settings s, TextReader input, IAnsiConsole console, bool interactive, CancellationToken cancellationToken)
    {
        var prices = new ServerOptions();
        string model = client.GetService<ChatClientMetadata>()?.DefaultModelId ?? "model";
        bool thinking = s.Thinking;
        var history = new List<ChatMessage>();
        void Reset()
        {
            history.Clear();
            if (!string.IsNullOrEmpty(s.System)) history.Add(new ChatMessage(ChatRole.System, s.System));
        }
        Reset();

        CancellationTokenSource? turn = null;
        ConsoleCancelEventHandler? onCancel = null;
        if (interactive)
        {
            // Ctrl+C while an answer streams stops that answer; at the prompt it ends the program as usual
            onCancel = (_, e) => { if (Volatile.Read(ref turn) is { } t) { e.Cancel = true; t.Cancel(); } };
            Console.CancelKeyPress += onCancel;
        }
        try
        {
            console.MarkupLine($"chatting with [blue]{Markup.Escape(model)}[/] (thinking {(thinking ? "on" : "off")}) · [grey]{Markup.Escape(Help)}[/]");
            while (!cancellationToken.IsCancellationRequested)
            {
                console.Markup("[bold green]you>[/] ");
                string? line = await input.ReadLineAsync(cancellationToken);
                if (line == null) { console.WriteLine(); break; }
                if (!interactive) console.WriteLine(line); // a piped line is echoed so the transcript reads as a conversation
                line = line.Trim();
                if (line.Length == 0) continue;
                if (line.StartsWith('/'))
                {
                    string[] words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    switch (words[0])
                    {
                        case "/exit" or "/quit": return 0;
                        case "/reset": Reset(); console.MarkupLine("[grey]conversation cleared[/]"); break;
                        case "/think":
                            thinking = words.Length < 2 ? !thinking : words[1] switch
                            {
                                "on" => true, "off" => false,
                                _ => thinking,
                            };
                            console.MarkupLine($"[grey]thinking {(thinking ? "on" : "off")}[/]");
                            break;
                        case "/help": console.MarkupLine($"[grey]{Markup.Escape(Help)}[/]"); break;
                        default: console.MarkupLine($"[red]unknown command {Markup.Escape(words[0])}[/] [grey]({Markup.Escape(Help)})[/]"); break;
                    }
                    continue;
                }

                history.Add(new ChatMessage(ChatRole.User, line));
                var options = new ChatOptions
                {
                    Temperature = s.Temperature, TopP = s.TopP, MaxOutputTokens = s.MaxTokens, Seed = s.Seed,
                    Reasoning = new ReasoningOptions { Effort = thinking ? ReasoningEffort.Medium : ReasoningEffort.None },
                };
                using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                Volatile.Write(ref turn, cts);
                var updates = new List<ChatResponseUpdate>();
                var sw = Stopwatch.StartNew();
                double firstUpdate = -1;
                bool reasoning = false;
                UsageDetails? usage = null;
                ChatFinishReason? finish = null;
                console.Markup("[bold blue]deepseek>[/] ");
                try
                {
                    await foreach (var update in client.GetStreamingResponseAsync(history, options, cts.Token))
                    {
                        updates.Add(update);
                        if (firstUpdate < 0) firstUpdate = sw.Elapsed.TotalSeconds;
                        finish = update.FinishReason ?? finish;
                        foreach (var content in update.Contents)
                        {
                            switch (content)
                            {
                                case TextReasoningContent r when r.Text.Length > 0:
                                    reasoning = true;
                                    console.Markup($"[dim]{Markup.Escape(r.Text)}[/]");
                                    break;
                                case TextContent t when t.Text.Length > 0:
                                    if (reasoning) { console.WriteLine(); reasoning = false; }
                                    console.Write(t.Text);
                                    break;
                                case FunctionCallContent call:
                                    if (reasoning) { console.WriteLine(); reasoning = false; }
                                    string args = string.Join(", ", call.Arguments?.Select(a => $"{a.Key}={a.Value}") ?? []);
                                    console.MarkupLine($"[yellow]tool call[/] {Markup.Escape($"{call.Name}({args})")} [grey](no tools are connected here)[/]");
                                    break;
                                case UsageContent u:
                                    usage = u.Details;
                                    break;
                            }
                        }
                    }
                }
                catch (OperationCanceledException) when (cts.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
                {
                    console.Markup("[grey] (stopped)[/]");
                }
                finally { Volatile.Write(ref turn, null); }
                console.WriteLine();
                history.AddMessages(updates);
                double seconds = sw.Elapsed.TotalSeconds;
                if (usage == null) continue;
                long prompt = usage.InputTokenCount ?? 0, cached = usage.CachedInputTokenCount ?? 0, output = usage.OutputTokenCount ?? 0;
                double cost = ((prompt - cached) * prices.PriceInputMiss + cached * prices.PriceInputHit + output * prices.PriceOutput) / 1e6;
                // decode speed: the tokens after the first one over the time after the first update (the prefill is before it)
                double decodeSeconds = seconds - firstUpdate;
                double speed = output > 1 && firstUpdate >= 0 && decodeSeconds > 0 ? (output - 1) / decodeSeconds : output / Math.Max(seconds, 1e-9);
                string stats = string.Create(CultureInfo.InvariantCulture,
                    $"{output} tokens · {speed:F1} tok/s · first token {Math.Max(firstUpdate, 0):F2} s · prompt {prompt} tokens, cached {cached} · ${cost:0.00000000}");
                if (usage.ReasoningTokenCount is > 0) stats += $" · reasoning {usage.ReasoningTokenCount}";
                if (finish == ChatFinishReason.Length) stats += " · hit --max-tokens";
                console.MarkupLine($"[grey]{Markup.Escape(stats)}[/]");
            }
            return 0;
        }
        finally
        {
            if (onCancel != null) Console.CancelKeyPress -= onCancel;
        }
    }
}
