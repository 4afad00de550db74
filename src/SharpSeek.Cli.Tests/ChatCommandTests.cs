using System.Globalization;
using System.Text.RegularExpressions;
using SharpSeek.Cli.Commands;
using SharpSeek.TestSupport;
using Spectre.Console;

namespace SharpSeek.Cli.Tests;

/// <summary>`sharpseek chat` with piped lines against the tiny random-weight V4 (its words are noise; the structure is not).</summary>
public sealed class ChatCommandTests
{
    private static (IAnsiConsole Console, StringWriter Output) PlainConsole()
    {
        var output = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors, Interactive = InteractionSupport.No,
            Out = new AnsiConsoleOutput(output),
        });
        console.Profile.Width = 400;
        return (console, output);
    }

    private static readonly Regex Stats = new(@"^(\d+) tokens · ([\d.]+) tok/s · first token [\d.]+ s · prompt (\d+) tokens, cached (\d+) · \$([\d.]+)", RegexOptions.Multiline);

    [Fact]
    public async Task PipedLinesGetTwoAnswersAndTheSecondReusesTheCache()
    {
        var (console, output) = PlainConsole();
        var settings = new ChatCommand.Settings
        {
            Model = TinyModel.Directory, Tokenizer = Golden.Path("tokenizer"), MaxTokens = 6, Temperature = 0.7f, Seed = 11,
            System = "You are terse.",
        };
        var input = new StringReader("Hello there\n/think off\nTell me more\n");
        int rc = await ChatCommand.RunAsync(settings, input, console, interactive: false, CancellationToken.None);
        string text = output.ToString();
        Assert.Equal(0, rc);

        // each piped line is echoed after the prompt and answered once
        Assert.Contains("you> Hello there", text);
        Assert.Contains("you> Tell me more", text);
        Assert.Contains("thinking off", text);
        var answers = text.Split('\n').Where(l => l.StartsWith("deepseek> ", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, answers.Count);
        Assert.All(answers, a => Assert.True(a.Length > "deepseek> ".Length, $"empty answer in:\n{text}"));

        var stats = Stats.Matches(text);
        Assert.True(stats.Count == 2, text);
        long Field(int turn, int group) => long.Parse(stats[turn].Groups[group].Value, CultureInfo.InvariantCulture);
        for (int turn = 0; turn < 2; turn++)
        {
            Assert.Equal(6, Field(turn, 1)); // random weights run to --max-tokens
            Assert.True(double.Parse(stats[turn].Groups[2].Value, CultureInfo.InvariantCulture) > 0);
            Assert.True(double.Parse(stats[turn].Groups[5].Value, CultureInfo.InvariantCulture) > 0);
        }
        Assert.Contains("hit --max-tokens", text);
        Assert.Equal(0, Field(0, 4));
        // the second prompt extends the first conversation: at least the whole first prompt comes from the cache
        Assert.True(Field(1, 4) >= Field(0, 3), text);
        Assert.True(Field(1, 3) > Field(0, 3) + Field(0, 1), text);
    }

    [Fact]
    public async Task CommandsResetAndExit()
    {
        var (console, output) = PlainConsole();
        var settings = new ChatCommand.Settings { Model = TinyModel.Directory, Tokenizer = Golden.Path("tokenizer"), MaxTokens = 2, Seed = 1 };
        var input = new StringReader("Hi\n/reset\nHi\n/nope\n/exit\nnever read\n");
        Assert.Equal(0, await ChatCommand.RunAsync(settings, input, console, interactive: false, CancellationToken.None));
        string text = output.ToString();
        Assert.Contains("conversation cleared", text);
        Assert.Contains("unknown command /nope", text);
        Assert.DoesNotContain("never read", text);
        var stats = Stats.Matches(text);
        Assert.Equal(2, stats.Count);
        // after /reset the same first message is a fresh conversation of the same length
        Assert.Equal(stats[0].Groups[3].Value, stats[1].Groups[3].Value);
    }
}
