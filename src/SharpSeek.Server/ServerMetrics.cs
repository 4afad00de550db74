using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using SharpSeek.Engine;

namespace SharpSeek.Server;

/// <summary>
/// Counters for GET /metrics (Prometheus text format 0.0.4). Updated lock-free from request handlers; rendered on
/// demand together with the pool's live gauges.
/// </summary>
public sealed class ServerMetrics(ServerOptions options)
{
    private readonly ConcurrentDictionary<(string Endpoint, int Status), long> _requests = new();
    private long _promptTokens, _cachedTokens, _completionTokens, _reasoningTokens, _generations;
    private long _costNanoUsd;
    private double _decodeTokensPerSecond, _timeToFirstTokenMs;
    private readonly object _lastLock = new();

    /// <summary>Known routes keep their path as the label; anything else is "other" (bounded label cardinality).</summary>
    public static string EndpointLabel(string path) => path switch
    {
        "/v1/chat/completions" or "/v1/completions" or "/v1/messages" or "/v1/messages/count_tokens" or "/v1/models" or "/health" or "/metrics" => path,
        _ => "other",
    };

    public void CountRequest(string path, int status) => _requests.AddOrUpdate((EndpointLabel(path), status), 1, (_, n) => n + 1);

    public void CountGeneration(Usage u)
    {
        Interlocked.Increment(ref _generations);
        Interlocked.Add(ref _promptTokens, u.PromptTokens);
        Interlocked.Add(ref _cachedTokens, u.CachedTokens);
        Interlocked.Add(ref _completionTokens, u.CompletionTokens);
        Interlocked.Add(ref _reasoningTokens, u.ReasoningTokens);
        Interlocked.Add(ref _costNanoUsd, (long)Math.Round(Cost.Of(u, options).Total * 1e9));
        lock (_lastLock)
        {
            if (u.DecodeTokensPerSecond > 0) _decodeTokensPerSecond = u.DecodeTokensPerSecond;
            _timeToFirstTokenMs = u.TimeToFirstTokenMs;
        }
    }

    public string Render(SessionPool pool)
    {
        var sb = new StringBuilder();
        void Metric(string name, string type, string help)
        {
            sb.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n');
            sb.Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');
        }
        void Value(string name, double v, string labels = "") =>
            sb.Append(name).Append(labels).Append(' ').Append(v.ToString("R", CultureInfo.InvariantCulture)).Append('\n');

        Metric("sharpseek_requests_total", "counter", "HTTP requests by endpoint and status code.");
        foreach (var ((endpoint, status), n) in _requests.OrderBy(k => k.Key.Endpoint, StringComparer.Ordinal).ThenBy(k => k.Key.Status))
            Value("sharpseek_requests_total", n, $"{{endpoint=\"{endpoint}\",status=\"{status}\"}}");
        Metric("sharpseek_generations_total", "counter", "Completed generations (chat, messages, completions).");
        Value("sharpseek_generations_total", Interlocked.Read(ref _generations));
        Metric("sharpseek_prompt_tokens_total", "counter", "Prompt tokens, cached ones included.");
        Value("sharpseek_prompt_tokens_total", Interlocked.Read(ref _promptTokens));
        Metric("sharpseek_prompt_cached_tokens_total", "counter", "Prompt tokens served from a session's cached prefix.");
        Value("sharpseek_prompt_cached_tokens_total", Interlocked.Read(ref _cachedTokens));
        Metric("sharpseek_completion_tokens_total", "counter", "Generated tokens, reasoning included.");
        Value("sharpseek_completion_tokens_total", Interlocked.Read(ref _completionTokens));
        Metric("sharpseek_reasoning_tokens_total", "counter", "Generated tokens inside thinking.");
        Value("sharpseek_reasoning_tokens_total", Interlocked.Read(ref _reasoningTokens));
        Metric("sharpseek_cost_usd_total", "counter", "What the requests would have cost at the configured per-1M-token prices.");
        Value("sharpseek_cost_usd_total", Interlocked.Read(ref _costNanoUsd) / 1e9);
        double tps, ttft;
        lock (_lastLock) { tps = _decodeTokensPerSecond; ttft = _timeToFirstTokenMs; }
        Metric("sharpseek_decode_tokens_per_second", "gauge", "Decode speed of the last finished generation.");
        Value("sharpseek_decode_tokens_per_second", tps);
        Metric("sharpseek_time_to_first_token_ms", "gauge", "Engine time to first token of the last finished generation.");
        Value("sharpseek_time_to_first_token_ms", ttft);
        Metric("sharpseek_queue_depth", "gauge", "Requests waiting for a free session.");
        Value("sharpseek_queue_depth", pool.Waiting);
        Metric("sharpseek_active_sessions", "gauge", "Sessions generating now.");
        Value("sharpseek_active_sessions", pool.Active);
        Metric("sharpseek_sessions", "gauge", "Sessions in the pool (--parallel).");
        Value("sharpseek_sessions", pool.Capacity);
        return sb.ToString();
    }
}

/// <summary>A request's price in USD at the configured per-1M-token prices (cache hits billed at the hit price).</summary>
public readonly record struct Cost(double InputMiss, double InputHit, double Output)
{
    public double Total => InputMiss + InputHit + Output;

    public static Cost Of(Usage u, ServerOptions o) => new(
        (u.PromptTokens - u.CachedTokens) * o.PriceInputMiss / 1e6, u.CachedTokens * o.PriceInputHit / 1e6, u.CompletionTokens * o.PriceOutput / 1e6);
}
