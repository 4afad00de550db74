using SharpSeek.Engine;
using SharpSeek.Model.DeepSeekV4;
using SharpSeek.TestSupport;

namespace SharpSeek.Engine.Tests;

/// <summary>Session behaviour on the tiny-f32 fixture checkpoint (f32 numerics: agreement to ~1e-5 is expected).</summary>
public sealed class SessionTests
{
    private const float Tolerance = 1e-4f;
    private static readonly Lazy<V4Engine> SharedEngine = new(() => V4Engine.Open(Golden.Path("tiny-f32", "model")));
    private static int[] Prompt => Golden.Npy("tiny-f32", "prompt_ids.npy").AsInt32();
    private static int[] Generated => Golden.Npy("tiny-f32", "generated_ids.npy").AsInt32();

    private static void AssertClose(ReadOnlySpan<float> a, ReadOnlySpan<float> b, string what)
    {
        int i = Golden.FirstMismatch(a, b, Tolerance);
        Assert.True(i < 0, i < 0 ? "" : $"{what}[{i}]: {(i < a.Length ? a[i] : float.NaN)} vs {(i < b.Length ? b[i] : float.NaN)}");
    }

    [Fact]
    public void PrefillEqualsPrefixThenDecode()
    {
        var engine = SharedEngine.Value;
        int[] ids = [.. Prompt, .. Generated[..^1]];
        using var whole = engine.CreateV4Session();
        var all = new float[ids.Length * engine.VocabSize];
        whole.Append(ids, all);
        foreach (int split in new[] { 1, 7, Prompt.Length / 2, Prompt.Length })
        {
            using var s = engine.CreateV4Session();
            s.Append(ids.AsSpan(0, split));
            for (int t = split; t < ids.Length; t++)
            {
                s.Append(ids.AsSpan(t, 1));
                AssertClose(all.AsSpan(t * engine.VocabSize, engine.VocabSize), s.Logits, $"split {split}, position {t}");
            }
        }
    }

    [Fact]
    public void SessionsOnOneEngineRunConcurrentlyWithoutInterfering()
    {
        // The weights (and anything bound with them) are shared by all sessions; two sessions decoding at the same
        // time on different threads must get exactly the logits each gets alone.
        var engine = SharedEngine.Value;
        int[][] prompts = [Prompt, [.. Prompt.Reverse()]];
        float[][] Run(int[] prompt)
        {
            using var s = engine.CreateV4Session();
            var rows = new List<float[]>();
            s.Append(prompt);
            rows.Add(s.Logits.ToArray());
            foreach (int id in Generated[..12]) { s.Append([id]); rows.Add(s.Logits.ToArray()); }
            return rows.ToArray();
        }
        var alone = prompts.Select(Run).ToArray();
        for (int round = 0; round < 8; round++)
        {
            var together = new float[2][][];
            Parallel.For(0, 2, new ParallelOptions { MaxDegreeOfParallelism = 2 }, i => together[i] = Run(prompts[i]));
            for (int i = 0; i < 2; i++)
                for (int k = 0; k < alone[i].Length; k++)
                    Assert.True(alone[i][k].AsSpan().SequenceEqual(together[i][k]), $"round {round}, session {i}, step {k}: logits differ when another session runs");
        }
    }

    [Fact]
    public void CancelledPrefillLeavesAConsistentSession()
    {
        // A long prompt cancelled mid-prefill (between layers) must not leave half-advanced caches behind. The cancel
        // is sent as soon as the first layer has taken the chunk (its cache length moves), so it lands mid-pass.
        using var engine = V4Engine.Open(TinyModel.Directory);
        var rng = new Random(5);
        int[] ids = [0, .. Enumerable.Range(0, 1500).Select(_ => rng.Next(2, 120000))];
        using var fresh = engine.CreateV4Session();
        fresh.Append(ids);
        using var s = engine.CreateV4Session();
        int cancelled = 0;
        // the watcher is a thread of its own; under heavy load it may still come too late, so a few attempts are allowed
        for (int attempt = 0; attempt < 10 && cancelled < 2; attempt++)
        {
            s.Reset();
            s.Append(ids.AsSpan(0, 10));
            int kept = s.Reuse(ids);
            using var cts = new CancellationTokenSource();
            var layer0 = s.Model.Caches[0];
            var watcher = new Thread(() =>
            {
                while (layer0.Length <= kept) Thread.SpinWait(20);
                cts.Cancel();
            }) { IsBackground = true, Priority = ThreadPriority.Highest };
            watcher.Start();
            try { s.Append(ids.AsSpan(kept), cts.Token); }
            catch (OperationCanceledException) { cancelled++; Assert.Equal(0, s.Length); }
            watcher.Join();
            // the session carries on as if nothing had happened
            int again = s.Reuse(ids);
            s.Append(ids.AsSpan(again));
            AssertClose(fresh.Logits, s.Logits, $"after attempt {attempt}");
        }
        Assert.True(cancelled > 0, "no prefill was cancelled mid-pass");
    }

    [Fact]
    public void ChunkedPrefillEqualsOnePrefill()
    {
        var engine = SharedEngine.Value;
        int[] ids = Prompt;
        using var whole = engine.CreateV4Session();
        whole.Append(ids);
        using var chunked = engine.CreateV4Session();
        for (int i = 0; i < ids.Length; i += 13) chunked.Append(ids.AsSpan(i, Math.Min(13, ids.Length - i)));
        AssertClose(whole.Logits, chunked.Logits, "last logits");
    }

    /// <summary>A prompt longer than the prefill piece goes through in pieces and lands where one call does.</summary>
    [Fact]
    public void LongPromptIsPrefilledInPieces()
    {
        var engine = SharedEngine.Value;
        int[] ids = Prompt;
        using var whole = engine.CreateV4Session();
        whole.Append(ids);
        using var pieces = engine.CreateV4Session();
        pieces.PrefillChunkTokens = 9;
        pieces.Append(ids);
        Assert.Equal(ids.Length, pieces.Length);
        Assert.Equal(ids, pieces.Tokens.ToArray());
        AssertClose(whole.Logits, pieces.Logits, "last logits");
        // and the rewind point is still one token before the prompt's end
        Assert.Equal(ids.Length - 1, pieces.Reuse([.. ids[..^1], 3, 4]));
        Assert.Throws<ArgumentOutOfRangeException>(() => pieces.PrefillChunkTokens = 0);
    }

    [Fact]
    public void ReuseKeepsExtensionsAndRewindsToJustBeforeThePromptEnd()
    {
        var engine = SharedEngine.Value;
        int[] prompt = Prompt;
        using var s = engine.CreateV4Session();
        s.Append(prompt);
        for (int k = 0; k < 5; k++) s.Append([Generated[k]]);
        // a follow-up that extends everything: all kept
        int[] extended = [.. s.Tokens, 3, 4];
        Assert.Equal(s.Length, s.Reuse(extended));
        // a follow-up that diverges after the prompt: rewind to the snapshot one token before the prompt's end
        int[] diverged = [.. prompt, 9, 8, 7];
        Assert.Equal(prompt.Length - 1, s.Reuse(diverged));
        Assert.Equal(prompt.Length - 1, s.Length);
        s.Append(diverged.AsSpan(prompt.Length - 1));
        using var fresh0 = engine.CreateV4Session();
        fresh0.Append(diverged);
        AssertClose(fresh0.Logits, s.Logits, "after rewind");
        // one that diverges at the prompt's last token (a thinking prompt's <think>): the same rewind point serves it
        s.Reuse(prompt);
        s.Append(prompt.AsSpan(s.Length));
        for (int k = 0; k < 3; k++) s.Append([Generated[k]]);
        diverged = [.. prompt[..^1], 5, 6, 7];
        Assert.Equal(prompt.Length - 1, s.Reuse(diverged));
        s.Append(diverged.AsSpan(prompt.Length - 1));
        using var fresh = engine.CreateV4Session();
        fresh.Append(diverged);
        AssertClose(fresh.Logits, s.Logits, "after rewind");
        // diverging inside the prompt: rebuilt
        int[] other = [0, 1, 2, 3];
        Assert.Equal(0, s.Reuse(other));
        Assert.Equal(0, s.Length);
    }

    [Fact]
    public void DecodeAllocatesNothing()
    {
        // an engine and pool of its own: other test classes decode on the shared pool at the same time
        using var pool = new SharpSeek.Kernels.Threading.WorkerPool(2);
        using var engine = V4Engine.Open(Golden.Path("tiny-f32", "model"), pool: pool);
        using var s = engine.CreateV4Session();
        s.Append(Prompt);
        var one = new int[1];
        for (int k = 0; k < 4; k++) { one[0] = Generated[k]; s.Append(one); } // warm-up: JIT, thread-local buffers
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int k = 0; k < 32; k++) { one[0] = (k * 37 + 11) % engine.VocabSize; s.Append(one); }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated == 0, $"32 decode steps allocated {allocated} bytes on the calling thread");
    }

    [Fact]
    public void ContextOverflowIsAClearError()
    {
        using var engine = V4Engine.Open(Golden.Path("tiny-f32", "model"), maxContext: 8);
        using var s = engine.CreateV4Session();
        var e = Assert.Throws<InvalidOperationException>(() => s.Append(new int[9]));
        Assert.Contains("exceeds the maximum context of 8", e.Message);
    }
}
