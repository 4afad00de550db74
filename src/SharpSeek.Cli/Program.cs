using SharpSeek.Cli.Commands;
using Spectre.Console.Cli;

// sharpseek: one CLI, one entry point. Each command lives in Commands/<Name>Command.cs.
var app = new CommandApp();
app.Configure(config =>
{
    config.SetApplicationName("sharpseek");
    config.PropagateExceptions();
    // Register commands below, one line each.
    config.AddCommand<VersionCommand>("version").WithDescription("Print the SharpSeek version.");
    config.AddCommand<DemoCommand>("demo").WithDescription("Make a tiny random-weight V4 once, run prefill + decode, print tokens/s.");
    config.AddCommand<LogitsCommand>("logits").WithDescription("Prefill + greedy decode; write logits in the golden fixtures' format.");
    config.AddCommand<TokenizeCommand>("tokenize").WithDescription("Token ids of a text, or of JSON lines {\"text\": ...} on stdin.");
    config.AddCommand<ChatEncodeCommand>("chat-encode").WithDescription("Encode JSON-line conversations with the V4 chat format (prompt + ids).");
    config.AddCommand<ChatParseCommand>("chat-parse").WithDescription("Parse JSON-line model outputs into assistant messages.");
    config.AddCommand<ChatCommand>("chat").WithDescription("Chat with a model in the terminal (stdin lines; /exit, /reset, /think on|off).");
    config.AddCommand<ServeCommand>("serve").WithDescription("OpenAI- and Anthropic-compatible HTTP server for a model directory.");
    config.AddCommand<BenchServeCommand>("bench-serve").WithDescription("Server overhead per request and requests/s with concurrent streams.");
    config.AddCommand<InspectCommand>("inspect").WithDescription("Config summary, parameters, bytes per token, KV-cache size.");
    config.AddCommand<BenchCommand>("bench").WithDescription("Prefill/decode tokens/s against the measured memory-bandwidth bound.");
    config.AddCommand<GenerateCommand>("generate").WithDescription("Sample token ids from a prompt of token ids.");
});

try
{
    return await app.RunAsync(args);
}
catch (Exception e) when (e is not OutOfMemoryException)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 1;
}
