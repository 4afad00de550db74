using System.Numerics.Tensors;
using SharpSeek.Kernels.Diagnostics;
using SharpSeek.Kernels.Formats;
using SharpSeek.Kernels.Threading;

namespace SharpSeek.Kernels.Ops;

/// <summary>One product of a batch for <see cref="Linear.ForwardMany"/>: y[W.Rows] = W · x[W.Cols], pointers to pinned memory.</summary>
public readonly unsafe struct MatVec(WeightMatrix w, float* x, float* y)
{
    public readonly WeightMatrix W = w;
    public readonly float* X = x;
    public readonly float* Y = y;
}

/// <summary>
/// y[t, r] = Σ_c W[r, c] · x[t, c] for every token t: matrix-vector for one token (decode), matrix-matrix for many
/// (prefill: each weight row is decoded once and used for all tokens, in 4-row × 4-token tiles). Weights stay in their
/// stored format.
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
    [ThreadStatic] private static ManyJob? t_many;
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
        if (tokens == 1 && UsesPermutedFp4(w))
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
            int rowsPerItem = tokens == 1 ? DecodeRowsPerItem(w, pool) : PrefillRowsPerItem;
            job.W = w; job.X = px; job.Y = py; job.Tokens = tokens; job.RowsPerItem = rowsPerItem;
            job.FourRows = tokens == 1 && RowKernels.PrefersFourRows(w, job.Fp4Permuted);
            int items = (w.Rows + rowsPerItem - 1) / rowsPerItem;
            pool.Run(job, items);
        }
        if (started != 0) KernelProfile.Record(w, System.Diagnostics.Stopwatch.GetTimestamp() - started);
    }

    /// <summary>
    /// Several independent one-token products in one parallel loop (the MoE's gate and up projections of every chosen
    /// expert, then their down projections): one hand-off to the workers instead of one per matrix, and the threads
    /// stream from one matrix straight into the next. Each y is exactly what <see cref="Forward"/> would give.
    /// </summary>
    public static void ForwardMany(ReadOnlySpan<MatVec> products, WorkerPool? pool = null)
    {
        if (products.IsEmpty) return;
        pool ??= WorkerPool.Shared;
        var job = t_many ??= new ManyJob();
        long started = KernelProfile.Enabled ? System.Diagnostics.Stopwatch.GetTimestamp() : 0;
        job.Prepare(products, pool);
        pool.Run(job, job.ItemCount);
        if (started != 0)
        {
            // one loop for all: its time is shared out by bytes
            long ticks = System.Diagnostics.Stopwatch.GetTimestamp() - started, total = 0;
            foreach (var p in products) total += p.W.StorageBytes;
            foreach (var p in products) KernelProfile.Record(p.W, total == 0 ? 0 : ticks * p.W.StorageBytes / total);
        }
    }

    private static bool UsesPermutedFp4(in WeightMatrix w) => w.Format == WeightFormat.Fp4Block32 && RowKernels.UseSimd && RowKernels.UseAvx512;

    private static int DecodeRowsPerItem(in WeightMatrix w, WorkerPool pool)
    {
        long rowBytes = Math.Max(1, w.StorageBytes / w.Rows);
        int balanced = (w.Rows + MinItemsPerThread * pool.ThreadCount - 1) / (MinItemsPerThread * pool.ThreadCount);
        int rows = (int)Math.Clamp(DecodeItemBytes / rowBytes, 1, Math.Max(1, balanced));
        return rows >= 4 ? rows & ~3 : rows; // whole groups for RowKernels.Dot4
    }

    /// <summary>Decode rows start..end-1 of one product: fused, each weight byte streamed once.</summary>
    private static void DecodeRows(in WeightMatrix w, float* x, float* y, int start, int end, bool fp4Permuted, bool fourRows)
    {
        int r = start;
        if (fourRows) for (; r + 4 <= end; r += 4) RowKernels.Dot4(w, r, x, y + r, fp4Permuted);
        if (fp4Permuted) for (; r < end; r++) y[r] = RowKernels.DotFp4Permuted(w, r, x);
        else for (; r < end; r++) y[r] = RowKernels.Dot(w, r, x);
    }

    private sealed partial class LinearJob : IParallelJob
    {
        public WeightMatrix W;
        public float* X;
        public float* Y;
        public int Tokens;
        public int RowsPerItem;
        public bool Fp4Permuted, FourRows;
        [ThreadStatic] private static float[]? t_row;

        public void Execute(int index)
        {
            int cols = W.Cols, rows = W.Rows;
            int start = index * RowsPerItem, end = Math.Min(rows, start + RowsPerItem);
            if (Tokens == 1)
            {
                DecodeRows(W, X, Y, start, end, Fp4Permuted, FourRows);
                return;
            }
            if (TileKernels.Supported || TileKernels.Supported256)
            {
                PrefillTiles(start, end, wide: TileKernels.Supported);
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

    /// <summary>Prefill rows start..end-1: four rows decoded at a time, then 4-row × 4-token tiles (see <see cref="TileKernels"/>).</summary>
    partial class LinearJob
    {
        [ThreadStatic] private static float[]? t_rows4;

        private void PrefillTiles(int start, int end, bool wide)
        {
            int cols = W.Cols, rows = W.Rows, tileTokens = wide ? 4 : 2;
            var buffer = t_rows4 is { } b && b.Length >= 4 * cols ? b : (t_rows4 = new float[Math.Max(4 * cols, 4 * 4096)]);
            fixed (float* w = buffer)
            {
                int r = start;
                for (; r + 4 <= end; r += 4)
                {
                    for (int i = 0; i < 4; i++) RowKernels.DecodeRow(W, r + i, new Span<float>(w + i * cols, cols));
                    int t = 0;
                    for (; t + tileTokens <= Tokens; t += tileTokens)
                        if (wide) TileKernels.Dot4x4(w, X + (long)t * cols, cols, Y + (long)t * rows + r, rows);
                        else TileKernels.Dot4x2V256(w, X + (long)t * cols, cols, Y + (long)t * rows + r, rows);
                    for (; t < Tokens; t++)
                        for (int i = 0; i < 4; i++) Y[(long)t * rows + r + i] = Pair(w + i * cols, X + (long)t * cols, cols, wide);
                }
                for (; r < end; r++)
                {
                    RowKernels.DecodeRow(W, r, new Span<float>(w, cols));
                    for (int t = 0; t < Tokens; t++) Y[(long)t * rows + r] = Pair(w, X + (long)t * cols, cols, wide);
                }
            }
        }

        private static float Pair(float* w, float* x, int cols, bool wide) => wide ? TileKernels.Dot1x1(w, x, cols) : TileKernels.Dot1x1V256(w, x, cols);
    }

    /// <summary>The work items of a <see cref="ForwardMany"/> batch: each product cut into decode-sized row ranges.</summary>
    private sealed class ManyJob : IParallelJob
    {
        private struct Product
        {
            public WeightMatrix W;
            public float* X, Y;
            public int RowsPerItem;
            public bool Fp4Permuted, FourRows;
        }

        private Product[] _products = new Product[16];
        private int[] _itemProduct = new int[256], _itemStart = new int[256];
        // pinned, grow-only inputs in FP4 order, one per distinct x
        private float[][] _permuted = [];
        public int ItemCount;

        public void Prepare(ReadOnlySpan<MatVec> products, WorkerPool pool)
        {
            if (_products.Length < products.Length) _products = new Product[Math.Max(products.Length, 2 * _products.Length)];
            int items = 0, permutedUsed = 0;
            for (int i = 0; i < products.Length; i++)
            {
                var m = products[i];
                ref var p = ref _products[i];
                p.W = m.W; p.X = m.X; p.Y = m.Y;
                p.Fp4Permuted = UsesPermutedFp4(m.W);
                if (p.Fp4Permuted)
                {
                    float* shared = null;
                    for (int j = 0; j < i && shared == null; j++)
                        if (_products[j].Fp4Permuted && products[j].X == m.X && _products[j].W.Cols == m.W.Cols) shared = _products[j].X;
                    if (shared == null)
                    {
                        if (_permuted.Length <= permutedUsed) Array.Resize(ref _permuted, Math.Max(8, 2 * _permuted.Length));
                        ref var buffer = ref _permuted[permutedUsed++];
                        if (buffer == null || buffer.Length < m.W.Cols) buffer = GC.AllocateArray<float>(Math.Max(m.W.Cols, 4096), pinned: true);
                        RowKernels.PermuteForFp4(new ReadOnlySpan<float>(m.X, m.W.Cols), buffer.AsSpan(0, m.W.Cols));
                        shared = (float*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref buffer[0]);
                    }
                    p.X = shared;
                }
                p.RowsPerItem = m.W.Rows == 0 ? 1 : DecodeRowsPerItem(m.W, pool);
                p.FourRows = RowKernels.PrefersFourRows(m.W, p.Fp4Permuted);
                int n = (m.W.Rows + p.RowsPerItem - 1) / p.RowsPerItem;
                if (_itemProduct.Length < items + n)
                {
                    Array.Resize(ref _itemProduct, Math.Max(items + n, 2 * _itemProduct.Length));
                    Array.Resize(ref _itemStart, _itemProduct.Length);
                }
                for (int k = 0; k < n; k++) { _itemProduct[items] = i; _itemStart[items++] = k * p.RowsPerItem; }
            }
            ItemCount = items;
        }

        public void Execute(int index)
        {
            ref var p = ref _products[_itemProduct[index]];
            int start = _itemStart[index];
            DecodeRows(p.W, p.X, p.Y, start, Math.Min(p.W.Rows, start + p.RowsPerItem), p.Fp4Permuted, p.FourRows);
        }
    }
}
