using System.Diagnostics;
using System.Runtime.Intrinsics;
using SharpSeek.Kernels.Threading;

namespace SharpSeek.Kernels.Diagnostics;

/// <summary>
/// Peak vector FMA rate, on one thread and on every pool thread at once. Decoding FP8/FP4 weights costs a few vector
/// instructions per weight, so when the all-threads rate is not about threads × the one-thread rate (SMT siblings,
/// an oversubscribed VM) decode hits the instruction limit before the memory-bandwidth bound.
/// </summary>
public static class ComputeThroughput
{
    /// <summary>(one thread, all threads) in billions of single-precision FMAs per second.</summary>
    public static (double OneThread, double AllThreads) MeasureGflops(WorkerPool? pool = null, int milliseconds = 200)
    {
        pool ??= WorkerPool.Shared;
        var job = new FmaJob { Iterations = 1 << 16 };
        job.Execute(0); // JIT
        long iterations = Calibrate(job, milliseconds);
        job.Iterations = iterations;
        var sw = Stopwatch.StartNew();
        job.Execute(0);
        double one = FmasPerIteration * iterations / sw.Elapsed.TotalSeconds / 1e9;
        sw.Restart();
        pool.Run(job, pool.ThreadCount);
        double all = FmasPerIteration * iterations * pool.ThreadCount / sw.Elapsed.TotalSeconds / 1e9;
        return (one, all);
    }

    private static int FmasPerIteration => 8 * (Vector512.IsHardwareAccelerated ? Vector512<float>.Count : Vector256<float>.Count);

    private static long Calibrate(FmaJob job, int milliseconds)
    {
        var sw = Stopwatch.StartNew();
        job.Execute(0);
        double perIteration = sw.Elapsed.TotalMilliseconds / job.Iterations;
        return Math.Max(1 << 16, (long)(milliseconds / Math.Max(perIteration, 1e-9)));
    }

    /// <summary>Eight independent FMA chains (enough to cover the latency of two FMA pipes).</summary>
    private sealed class FmaJob : IParallelJob
    {
        public long Iterations;
        public float Sink;

        public void Execute(int index)
        {
            if (Vector512.IsHardwareAccelerated) Run512(); else Run256();
        }

        private void Run512()
        {
            var m = Vector512.Create(0.999f);
            var c = Vector512.Create(0.001f);
            Vector512<float> a0 = Vector512.Create(1f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
            for (long i = 0; i < Iterations; i++)
            {
                a0 = Vector512.FusedMultiplyAdd(a0, m, c); a1 = Vector512.FusedMultiplyAdd(a1, m, c);
                a2 = Vector512.FusedMultiplyAdd(a2, m, c); a3 = Vector512.FusedMultiplyAdd(a3, m, c);
                a4 = Vector512.FusedMultiplyAdd(a4, m, c); a5 = Vector512.FusedMultiplyAdd(a5, m, c);
                a6 = Vector512.FusedMultiplyAdd(a6, m, c); a7 = Vector512.FusedMultiplyAdd(a7, m, c);
            }
            Sink = Vector512.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7);
        }

        private void Run256()
        {
            var m = Vector256.Create(0.999f);
            var c = Vector256.Create(0.001f);
            Vector256<float> a0 = Vector256.Create(1f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
            for (long i = 0; i < Iterations; i++)
            {
                a0 = Vector256.FusedMultiplyAdd(a0, m, c); a1 = Vector256.FusedMultiplyAdd(a1, m, c);
                a2 = Vector256.FusedMultiplyAdd(a2, m, c); a3 = Vector256.FusedMultiplyAdd(a3, m, c);
                a4 = Vector256.FusedMultiplyAdd(a4, m, c); a5 = Vector256.FusedMultiplyAdd(a5, m, c);
                a6 = Vector256.FusedMultiplyAdd(a6, m, c); a7 = Vector256.FusedMultiplyAdd(a7, m, c);
            }
            Sink = Vector256.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7);
        }
    }
}
