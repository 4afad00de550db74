namespace SharpSeek.Kernels.Threading;

/// <summary>One parallel loop body. Implementations are preallocated objects, so launching a loop allocates nothing.</summary>
public interface IParallelJob
{
    /// <summary>Runs work item <paramref name="index"/> (0 ≤ index &lt; count given to <see cref="WorkerPool.Run"/>).</summary>
    void Execute(int index);
}

/// <summary>
/// Persistent worker threads for the hot loops. The calling thread works too; items are handed out with an
/// interlocked counter, so uneven items balance themselves. One loop runs at a time (concurrent callers queue).
/// </summary>
public sealed class WorkerPool : IDisposable
{
    private static readonly Lazy<WorkerPool> SharedPool = new(() => new WorkerPool(Environment.ProcessorCount));
    public static WorkerPool Shared => SharedPool.Value;

    private readonly Thread[] _threads;
    private readonly SemaphoreSlim _start;
    private readonly object _runLock = new();
    private IParallelJob? _job;
    private int _count;
    private int _next;
    private int _pending;
    private volatile bool _disposed;
    private readonly ManualResetEventSlim _done = new(false, spinCount: 200);
    private Exception? _error;

    public int ThreadCount { get; }

    public WorkerPool(int threadCount)
    {
        ThreadCount = Math.Max(1, threadCount);
        _start = new SemaphoreSlim(0);
        _ = _done.WaitHandle; // create the kernel event now: a lazy first blocking wait would allocate mid-decode
        _done.Wait(1);        // and the event's monitor object, which its first blocking wait also creates lazily
        _threads = new Thread[ThreadCount - 1];
        for (int i = 0; i < _threads.Length; i++)
        {
            _threads[i] = new Thread(WorkerLoop) { IsBackground = true, Name = $"sharpseek-worker-{i + 1}" };
            _threads[i].Start();
        }
    }

    public void Run(IParallelJob job, int count)
    {
        if (count <= 0) return;
        if (count == 1 || _threads.Length == 0)
        {
            for (int i = 0; i < count; i++) job.Execute(i);
            return;
        }
        lock (_runLock)
        {
            _job = job;
            _count = count;
            _error = null;
            Volatile.Write(ref _next, 0);
            int helpers = Math.Min(_threads.Length, count - 1);
            Volatile.Write(ref _pending, helpers + 1);
            _done.Reset();
            _start.Release(helpers);
            Work();
            if (Interlocked.Decrement(ref _pending) != 0) _done.Wait();
            _job = null;
            if (_error != null) throw new AggregateException("parallel kernel failed", _error);
        }
    }

    private void Work()
    {
        var job = _job!;
        int count = _count;
        int i;
        while ((i = Interlocked.Increment(ref _next) - 1) < count)
        {
            try { job.Execute(i); }
            catch (Exception e) { _error ??= e; }
        }
    }

    private void WorkerLoop()
    {
        while (true)
        {
            _start.Wait();
            if (_disposed) return;
            Work();
            if (Interlocked.Decrement(ref _pending) == 0) _done.Set();
        }
    }

    public void Dispose()
    {
        _disposed = true;
        _start.Release(_threads.Length);
    }
}
