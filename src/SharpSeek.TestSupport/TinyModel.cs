using SharpSeek.Model.DeepSeekV4;

namespace SharpSeek.TestSupport;

/// <summary>
/// A tiny random-weight V4 checkpoint with the real 129,280-token vocabulary, written once into the temp folder.
/// Test assemblies run in parallel processes, so it is written to a private folder and moved into place atomically.
/// </summary>
public static class TinyModel
{
    private static readonly Lazy<string> Dir = new(Create);
    public static string Directory => Dir.Value;

    private static string Create()
    {
        string dir = Path.Combine(Path.GetTempPath(), "sharpseek-tests-tiny-v4-s1");
        if (File.Exists(Path.Combine(dir, "config.json"))) return dir;
        string tmp = dir + "." + Environment.ProcessId + "." + Guid.NewGuid().ToString("N")[..8];
        SyntheticCheckpoint.Write(tmp, SyntheticCheckpoint.TinyConfig(), seed: 1);
        try { System.IO.Directory.Move(tmp, dir); }
        catch (IOException) { System.IO.Directory.Delete(tmp, recursive: true); } // another process won the race
        return dir;
    }
}
