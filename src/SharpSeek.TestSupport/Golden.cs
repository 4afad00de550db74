using SharpSeek.Model.Checkpoint;

namespace SharpSeek.TestSupport;

/// <summary>
/// Locates ../shared/golden (the fixtures made with DeepSeek's official code). Looks at $SHARPSEEK_GOLDEN first,
/// then walks up from the test binary to the first folder that has shared/golden beside or inside it.
/// </summary>
public static class Golden
{
    private static readonly Lazy<string> RootPath = new(Find);

    public static string Root => RootPath.Value;

    public static string Path(params string[] parts) => System.IO.Path.Combine([Root, .. parts]);

    public static NpyArray Npy(params string[] parts) => NpyFile.Read(Path(parts));

    /// <summary>Index of the first element where |a − b| exceeds the tolerance, or −1 when all agree.</summary>
    public static int FirstMismatch(ReadOnlySpan<float> a, ReadOnlySpan<float> b, float tolerance)
    {
        if (a.Length != b.Length) return Math.Min(a.Length, b.Length);
        for (int i = 0; i < a.Length; i++)
            if (!(Math.Abs(a[i] - b[i]) <= tolerance)) return i;
        return -1;
    }

    private static string Find()
    {
        string? env = Environment.GetEnvironmentVariable("SHARPSEEK_GOLDEN");
        if (!string.IsNullOrEmpty(env) && Directory.Exists(env)) return env;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
        {
            foreach (string candidate in new[] { System.IO.Path.Combine(dir.FullName, "shared", "golden"),
                                                 System.IO.Path.Combine(dir.FullName, "..", "shared", "golden") })
                if (Directory.Exists(candidate)) return System.IO.Path.GetFullPath(candidate);
        }
        throw new DirectoryNotFoundException(
            "golden fixtures not found: expected shared/golden beside the repository (or set SHARPSEEK_GOLDEN)");
    }
}
