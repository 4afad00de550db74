using Microsoft.AspNetCore.Builder;
using SharpSeek.Engine;
using SharpSeek.Model.DeepSeekV4;
using SharpSeek.Server;
using SharpSeek.TestSupport;
using SharpSeek.Tokenizer;
using SharpSeek.Tokenizer.Chat;

namespace SharpSeek.Server.Tests;

/// <summary>A real Kestrel server on 127.0.0.1 (port 0) and an HttpClient pointed at it.</summary>
internal sealed class TestServer : IAsyncDisposable
{
    public static readonly Lazy<BpeTokenizer> Tok = new(() => BpeTokenizer.Load(Golden.Path("tokenizer")));
    /// <summary>The tiny random-weight V4 with the real 129,280-token vocabulary (shared: sessions are per server).</summary>
    public static readonly Lazy<V4Engine> Tiny = new(() => V4Engine.Open(TinyModel.Directory));

    public WebApplication App { get; }
    public HttpClient Http { get; }
    public Uri BaseUri { get; }

    private TestServer(WebApplication app)
    {
        App = app;
        BaseUri = new Uri(app.Urls.First());
        Http = new HttpClient { BaseAddress = BaseUri, Timeout = TimeSpan.FromSeconds(120) };
    }

    public static async Task<TestServer> Start(IInferenceEngine engine, ServerOptions? options = null)
    {
        var app = ApiServer.Build(engine, Tok.Value, ChatFormat.V4, (options ?? new ServerOptions()) with { Urls = "http://127.0.0.1:0" });
        await app.StartAsync();
        return new TestServer(app);
    }

    public static ScriptedEngine Scripted(string script, int maxContext = 1 << 20, int tokenDelayMs = 0) => new(Tok.Value, script, maxContext, tokenDelayMs);

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await App.DisposeAsync();
    }
}
