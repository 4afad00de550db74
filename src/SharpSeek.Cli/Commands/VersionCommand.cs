using Spectre.Console.Cli;

namespace SharpSeek.Cli.Commands;

public sealed class VersionCommand : Command
{
    public override int Execute(CommandContext context, CancellationToken cancellationToken)
    {
        Console.WriteLine($"sharpseek {typeof(VersionCommand).Assembly.GetName().Version}");
        return 0;
    }
}
