using System.Collections.Concurrent;
using System.Diagnostics;
using SharpSeek.Kernels.Formats;

namespace SharpSeek.Kernels.Diagnostics;

/// <summary>
/// Time spent in decode matrix-vector products, per stored format and shape (`sharpseek bench --profile`). Off by
/// default; when off it costs one branch per product.
/// </summary>
public static class KernelProfile
{
    public sealed class Entry
    {
        public long Ticks, Calls, Bytes;
    }

    public readonly record struct Row(string Shape, double Milliseconds, long Calls, double GBps);

    private static readonly ConcurrentDictionary<(WeightFormat, int, int), Entry> Entries = new();

    public static bool Enabled { get; set; }

    public static void Reset() => Entries.Clear();

    internal static void Record(in WeightMatrix w, long ticks)
    {
        var e = Entries.GetOrAdd((w.Format, w.Rows, w.Cols), _ => new Entry());
        Interlocked.Add(ref e.Ticks, ticks);
        Interlocked.Increment(ref e.Calls);
        Interlocked.Add(ref e.Bytes, w.StorageBytes);
    }

    /// <summary>Rows sorted by time, slowest first.</summary>
    public static IReadOnlyList<Row> Snapshot() =>
        Entries.Select(kv =>
        {
            double seconds = kv.Value.Ticks / (double)Stopwatch.Frequency;
            return new Row($"{kv.Key.Item1} {kv.Key.Item2}×{kv.Key.Item3}", seconds * 1e3, kv.Value.Calls, seconds > 0 ? kv.Value.Bytes / seconds / 1e9 : 0);
        }).OrderByDescending(r => r.Milliseconds).ToList();
}
