using System.Numerics.Tensors;
using SharpSeek.Kernels.Diagnostics;
using SharpSeek.Kernels.Formats;
using SharpSeek.Kernels.Threading;

namespace SharpSeek.Kernels.Ops;

/// <summary>
/// y[t, r] = Σ_c W[r, c] · x[t, c] for every token t: matrix-vector for one token (decode), matrix-matrix for many
/// (prefill: each weight row is decoded once and used for all tokens). Weights stay in their stored format.
/// </summary>
public static unsafe class Linear
{
    /// <summary>Prefill rows per work item: big enough to amortise scheduling, small enough to balance 2..64 cores.</summary>
    private const int PrefillRowsPerItem = 16;

    /// <summary>
    /// Decode streams each weight byte once, so a work item should be a long contiguous run of memory: the hardware
    /// prefetchers ramp up within a stream and start over at every jump to another item. Items aim at this many
    /// bytes, while leaving each thread at least <see cref="MinItemsPerThread"/> of them to balance the load.
    /// </summary>
    private const long DecodeItemBytes = 1 << 20;
    private const int MinItemsPerThread = 2;

    [ThreadStatic] private static LinearJob? t_job;
    [ThreadStatic] private static float[]? t_fp4Input;

    /// <param name="x">[tokens, w.Cols] row-major.</param>
    /// <param name="y">[tokens, w.Rows] row-major; overwritten.</param>
    public static void Forward(in WeightMatrix w, ReadOnlySpan<float> x, Span<float> y, int tokens, WorkerPool? pool = null)
    {
        if (x.Length < (long)tokens * w.Cols) throw new ArgumentException($"x has {x.Length} values, expected {tokens}×{w.Cols}");
        if (y.Length < (long)tokens * w.Rows) throw new ArgumentException($"y has {y.Length} values, expected {tokens}×{w.Rows}");
        if (tokens == 0 || w.Rows == 0) return;
        pool ??= WorkerPool.Shared;
        var job = t_job ??= new LinearJob();
        long started = KernelProfile.Enabled && tokens == 1 ? System.Diagnostics.Stopwatch.GetTimestamp() : 0;
        if (tokens == 1 && w.Format == WeightFormat.Fp4Block32 && RowKernels.UseSimd && RowKernels.UseAvx512)
        {
            // FP4 decode reads x in the nibble-friendly order (see RowKernels.PermuteForFp4), prepared once here
            var permuted = (t_fp4Input is { } b && b.Length >= w.Cols ? b : (t_fp4Input = new float[Math.Max(w.Cols, 4096)])).AsSpan(0, w.Cols);
            RowKernels.PermuteForFp4(x[..w.Cols], permuted);
            x = permuted;
            job.Fp4Permuted = true;
        }
        else job.Fp4Permuted = false;
        fixed (float* px = x, py = y)
        {
            int rowsPerItem = PrefillRowsPerItem;
            if (tokens == 1)
            {
                long rowBytes = Math.Max(1, w.StorageBytes / w.Rows);
                int balanced = (w.Rows + MinItemsPerThread * pool.ThreadCount - 1) / (MinItemsPerThread * pool.ThreadCount);
                rowsPerItem = (int)Math.Clamp(DecodeItemBytes / rowBytes, 1, Math.Max(1, balanced));
            }
            job.W = w; job.X = px; job.Y = py; job.Tokens = tokens; job.RowsPerItem = rowsPerItem;
            int items = (w.Rows + rowsPerItem - 1) / rowsPerItem;
            pool.Run(job, items);
        }
        if (started != 0) KernelProfile.Record(w, System.Diagnostics.Stopwatch.GetTimestamp() - started);
    }

    private sealed class LinearJob : IParallelJob
    {
        public WeightMatrix W;
        public float* X;
        public float* Y;
        public int Tokens;
        public int RowsPerItem;
        public bool Fp4Permuted;
        [ThreadStatic] private static float[]? t_row;

        public void Execute(int index)
        {
            int cols = W.Cols, rows = W.Rows;
            int start = index * RowsPerItem, end = Math.Min(rows, start + RowsPerItem);
            if (Tokens == 1)
            {
                // decode: fused, each weight byte streamed once
                if (Fp4Permuted) for (int r = start; r < end; r++) Y[r] = RowKernels.DotFp4Permuted(W, r, X);
                else for (int r = start; r < end; r++) Y[r] = RowKernels.Dot(W, r, X);
                return;
            }
            var row = t_row is { } r0 && r0.Length >= cols ? r0 : (t_row = new float[Math.Max(cols, 4096)]);
            var rowSpan = row.AsSpan(0, cols);
            for (int r = start; r < end; r++)
            {
                RowKernels.DecodeRow(W, r, rowSpan);
                for (int t = 0; t < Tokens; t++)
                    Y[(long)t * rows + r] = TensorPrimitives.Dot(rowSpan, new ReadOnlySpan<float>(X + (long)t * cols, cols));
            }
        }
    }
}
