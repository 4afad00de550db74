using System.Diagnostics;
using System.Runtime.Intrinsics;
using SharpSeek.Kernels.Threading;

namespace SharpSeek.Kernels.Diagnostics;

/// <summary>
/// Sustained read bandwidth, measured the way decode reads weights: every core streams its own slice of a buffer far
/// larger than the caches, best of several passes. Decode tokens/s can at best be this ÷ bytes read per token.
/// </summary>
public static unsafe class MemoryBandwidth
{
    public static double MeasureGBps(long bytes = 1L << 30, int passes = 5, WorkerPool? pool = null)
    {
        pool ??= WorkerPool.Shared;
        var buffer = GC.AllocateUninitializedArray<byte>((int)Math.Min(bytes, int.MaxValue - 64), pinned: true);
        // fault every page in before timing, with distinct contents so no page can be merged or compressed away
        var rng = new Random(1);
        rng.NextBytes(buffer);
        var job = new ReadJob();
        double best = 0;
        fixed (byte* p = buffer)
        {
            job.Base = p; job.Length = buffer.Length; job.Items = pool.ThreadCount * 4;
            for (int i = 0; i < passes; i++)
            {
                var sw = Stopwatch.StartNew();
                pool.Run(job, job.Items);
                best = Math.Max(best, buffer.Length / sw.Elapsed.TotalSeconds / 1e9);
            }
        }
        return best;
    }

    private sealed class ReadJob : IParallelJob
    {
        public byte* Base;
        public long Length;
        public int Items;
        public long Sink;

        public void Execute(int index)
        {
            long chunk = Length / Items / 64 * 64;
            var p = (Vector256<long>*)(Base + index * chunk);
            long n = chunk / 32;
            var a = Vector256<long>.Zero; var b = a; var c = a; var d = a;
            for (long i = 0; i + 4 <= n; i += 4) { a += p[i]; b += p[i + 1]; c += p[i + 2]; d += p[i + 3]; }
            Interlocked.Add(ref Sink, Vector256.Sum(a + b + c + d));
        }
    }
}
