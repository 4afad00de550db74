using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using SharpSeek.Engine;
using SharpSeek.Tokenizer;
using SharpSeek.Tokenizer.Chat;

namespace SharpSeek.Server;

public sealed record ServerOptions
{
    public string Urls { get; init; } = "http://127.0.0.1:8000";
    public string ServedModelName { get; init; } = "deepseek-v4";
    public string? ApiKey { get; init; }
    /// <summary>Sessions kept; each holds one conversation's cache and generates one answer at a time.</summary>
    public int Parallel { get; init; } = 1;
    /// <summary>Requests that may wait for a session; beyond it the answer is 429 with Retry-After.</summary>
    public int MaxQueue { get; init; } = 64;
    /// <summary>Largest accepted request body (413 above it).</summary>
    public long MaxRequestBodyBytes { get; init; } = 16 << 20;
    /// <summary>On shutdown, streams in flight get this long to finish before they are cut (finish_reason "length").</summary>
    public TimeSpan ShutdownGrace { get; init; } = TimeSpan.FromSeconds(10);
    /// <summary>USD per 1M tokens; defaults are DeepSeek's V4-Flash list prices.</summary>
    public double PriceInputMiss { get; init; } = 0.14;
    public double PriceInputHit { get; init; } = 0.0028;
    public double PriceOutput { get; init; } = 0.28;
}

/// <summary>What every endpoint shares: the generation loop, the session pool, options, metrics, shutdown.</summary>
internal sealed class ServerContext(Generator generator, SessionPool pool, ServerOptions options, ServerMetrics metrics, CancellationToken stopping)
{
    public Generator Generator => generator;
    public SessionPool Pool => pool;
    public ServerOptions Options => options;
    public ServerMetrics Metrics => metrics;
    /// <summary>Cancelled when the shutdown grace period is over.</summary>
    public CancellationToken Stopping => stopping;
    public string[] ModelNames { get; } = [options.ServedModelName, "deepseek-chat", "deepseek-reasoner"];
    public bool KnownModel(string name) => ModelNames.Contains(name);

    /// <summary>The request body as a JSON object, or the status and message to answer with (400 malformed, 413 too large).</summary>
    public static async Task<(JsonObject? Body, int Status, string Message)> ReadJsonAsync(HttpContext ctx)
    {
        try
        {
            var node = await JsonNode.ParseAsync(ctx.Request.Body, cancellationToken: ctx.RequestAborted);
            return node is JsonObject o ? (o, 200, "") : (null, 400, "malformed JSON body: expected a JSON object");
        }
        catch (JsonException e) { return (null, 400, $"malformed JSON body: {e.Message}"); }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        { return (null, 413, $"request body too large: the limit is {ctx.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>()?.MaxRequestBodySize} bytes"); }
        catch (BadHttpRequestException e) { return (null, e.StatusCode, e.Message); }
    }
}

/// <summary>
/// The HTTP server: OpenAI (/v1/chat/completions, /v1/completions, /v1/models), Anthropic (/v1/messages,
/// /v1/messages/count_tokens), GET /health and GET /metrics, on Kestrel. Thin: each route maps its protocol's DTO onto
/// a ChatRequest / CompletionRequest and the Generator's events back onto its protocol.
/// </summary>
public static class ApiServer
{
    public static WebApplication Build(IInferenceEngine engine, BpeTokenizer tokenizer, ChatFormat format, ServerOptions options)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls(options.Urls);
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = options.MaxRequestBodyBytes);
        builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = options.ShutdownGrace + TimeSpan.FromSeconds(5));
        var app = builder.Build();

        var stopping = new CancellationTokenSource();
        bool shuttingDown = false;
        app.Lifetime.ApplicationStopping.Register(() => { shuttingDown = true; stopping.CancelAfter(options.ShutdownGrace); });
        app.Lifetime.ApplicationStopped.Register(stopping.Dispose);
        var metrics = new ServerMetrics(options);
        var pool = new SessionPool(engine, options.Parallel, options.MaxQueue);
        var sc = new ServerContext(new Generator(engine, tokenizer, format), pool, options, metrics, stopping.Token);

        app.Use(async (ctx, next) =>
        {
            try
            {
                bool anthropic = ctx.Request.Path.StartsWithSegments("/v1/messages");
                if (shuttingDown)
                {
                    ctx.Response.Headers.RetryAfter = "5";
                    await WriteError(ctx, anthropic, 503, "overloaded_error", "the server is shutting down");
                    return;
                }
                if (options.ApiKey != null && ctx.Request.Path.StartsWithSegments("/v1"))
                {
                    string? auth = ctx.Request.Headers.Authorization.FirstOrDefault();
                    string? key = auth?.StartsWith("Bearer ", StringComparison.Ordinal) == true ? auth[7..] : ctx.Request.Headers["x-api-key"].FirstOrDefault();
                    if (key != options.ApiKey)
                    {
                        await WriteError(ctx, anthropic, 401, "invalid_api_key", "missing or wrong API key (Authorization: Bearer … or x-api-key)");
                        return;
                    }
                }
                await next(ctx);
            }
            finally { metrics.CountRequest(ctx.Request.Path.Value ?? "", ctx.Response.StatusCode); }
        });

        app.MapGet("/health", () => Results.Json(new { status = "ok", model = options.ServedModelName, sessions = pool.Capacity, active = pool.Active, queued = pool.Waiting }));
        app.MapGet("/metrics", () => Results.Text(metrics.Render(pool), "text/plain; version=0.0.4; charset=utf-8"));
        app.MapGet("/v1/models", () => Results.Json(new
        {
            @object = "list",
            data = sc.ModelNames.Select(n => new { id = n, @object = "model", owned_by = "sharpseek" }),
        }));
        OpenAiApi.Map(app, sc);
        AnthropicApi.Map(app, sc);
        app.Lifetime.ApplicationStopped.Register(pool.Dispose);
        return app;
    }

    /// <summary>An error in the envelope of the route's protocol (code: OpenAI's error code; Anthropic's type follows the status).</summary>
    internal static Task WriteError(HttpContext ctx, bool anthropic, int status, string code, string message) =>
        anthropic ? AnthropicApi.Error(ctx, status, message) : OpenAiApi.Error(ctx, status, code, message);
}
