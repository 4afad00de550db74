using BenchmarkDotNet.Running;

// dotnet run -c Release --project bench/SharpSeek.Benchmarks -- --filter '*'
BenchmarkSwitcher.FromAssembly(typeof(SharpSeek.Benchmarks.TokenizerBenchmarks).Assembly).Run(args);
