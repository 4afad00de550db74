using System.Numerics.Tensors;
using SharpSeek.Kernels.Formats;
using SharpSeek.Kernels.Threading;

namespace SharpSeek.Kernels.Ops;

/// <summary>
/// y[t, r] = Σ_c W[r, c] · x[t, c] for every token t: matrix-vector for one token (decode), matrix-matrix for many
/// (prefill: each weight row is decoded once and used for all tokens). Weights stay in their stored format.
/// </summary>
public static unsafe class Linear
{
    /// <summary>Rows per work item: big enough to amortise scheduling, small enough to balance 2..64 cores.</summary>
    private const int RowsPerItem = 16;

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
            job.W = w; job.X = px; job.Y = py; job.Tokens = tokens;
            int items = (w.Rows + RowsPerItem - 1) / RowsPerItem;
            pool.Run(job, items);
        }
    }

    private sealed class LinearJob : IParallelJob
    {
        public WeightMatrix W;
        public float* X;
        public float* Y;
        public int Tokens;
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
