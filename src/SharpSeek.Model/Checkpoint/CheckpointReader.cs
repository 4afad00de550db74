using System.Text.Json;
using SharpSeek.Model.DeepSeekV4;

namespace SharpSeek.Model.Checkpoint;

/// <summary>
/// A model directory as DeepSeek publishes it: config.json plus model.safetensors.index.json and its shards, or a
/// single model.safetensors. Every shard is memory-mapped; tensors are looked up by name at bind time only.
/// </summary>
public sealed class CheckpointReader : IDisposable
{
    private readonly List<SafetensorsShard> _shards = [];
    private readonly Dictionary<string, TensorEntry> _tensors = new(StringComparer.Ordinal);

    public string Directory { get; }
    public V4Config Config { get; }
    public IReadOnlyCollection<TensorEntry> Tensors => _tensors.Values;

    private CheckpointReader(string directory, V4Config config)
    {
        Directory = directory;
        Config = config;
    }

    /// <param name="resident">Copy every shard into huge-page memory instead of reading it through the file mapping
    /// (faster decode; needs RAM for the whole checkpoint). See <see cref="SafetensorsShard"/>.</param>
    public static CheckpointReader Open(string modelDirectory, IProgress<(string file, int done, int total)>? progress = null, bool resident = false)
    {
        if (!System.IO.Directory.Exists(modelDirectory)) throw new CheckpointException($"{modelDirectory}: model directory not found");
        var config = V4Config.Load(System.IO.Path.Combine(modelDirectory, "config.json"));
        var reader = new CheckpointReader(modelDirectory, config);
        try
        {
            string index = System.IO.Path.Combine(modelDirectory, "model.safetensors.index.json");
            List<string> files;
            Dictionary<string, string>? weightMap = null;
            if (File.Exists(index))
            {
                using var doc = JsonDocument.Parse(File.ReadAllBytes(index));
                if (!doc.RootElement.TryGetProperty("weight_map", out var map))
                    throw new CheckpointException("model.safetensors.index.json: missing \"weight_map\"");
                weightMap = map.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString() ?? "");
                files = weightMap.Values.Distinct().OrderBy(f => f, StringComparer.Ordinal).ToList();
            }
            else if (File.Exists(System.IO.Path.Combine(modelDirectory, "model.safetensors"))) files = ["model.safetensors"];
            else throw new CheckpointException($"{modelDirectory}: neither model.safetensors.index.json nor model.safetensors found");

            if (resident) CheckResidentFits(modelDirectory, files);
            for (int i = 0; i < files.Count; i++)
            {
                progress?.Report((files[i], i, files.Count));
                var shard = new SafetensorsShard(System.IO.Path.Combine(modelDirectory, files[i]), resident);
                reader._shards.Add(shard);
                foreach (var t in shard.Tensors)
                    if (!reader._tensors.TryAdd(t.Name, t))
                        throw new CheckpointException($"{shard.FileName}: {t.Name}: tensor also present in {reader._tensors[t.Name].ShardFile}");
            }
            progress?.Report(("", files.Count, files.Count));
            if (weightMap != null)
                foreach (var (name, file) in weightMap)
                    if (reader._tensors.TryGetValue(name, out var t) && t.ShardFile != file)
                        throw new CheckpointException($"model.safetensors.index.json: {name} is mapped to {file} but found in {t.ShardFile}");
                    else if (!reader._tensors.ContainsKey(name))
                        throw new CheckpointException($"{file}: {name}: listed in model.safetensors.index.json but absent from the shard");
        }
        catch { reader.Dispose(); throw; }
        return reader;
    }

    /// <summary>A resident load that cannot fit fails here with a message, not later with the OOM killer.</summary>
    private static void CheckResidentFits(string directory, List<string> files)
    {
        long need = files.Sum(f => File.Exists(System.IO.Path.Combine(directory, f)) ? new FileInfo(System.IO.Path.Combine(directory, f)).Length : 0);
        long available = AvailableMemoryBytes();
        if (available > 0 && need > available * 9 / 10)
            throw new CheckpointException($"{directory}: holding the checkpoint resident needs {need / 1e9:F1} GB and {available / 1e9:F1} GB of memory is available; open it mapped instead");
    }

    /// <summary>MemAvailable on Linux (free memory plus what the page cache can give back); otherwise the runtime's view.</summary>
    private static long AvailableMemoryBytes()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/meminfo"))
                if (line.StartsWith("MemAvailable:", StringComparison.Ordinal))
                    return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
    }

    public bool TryGet(string name, out TensorEntry entry) => _tensors.TryGetValue(name, out entry!);

    public TensorEntry Get(string name) =>
        _tensors.TryGetValue(name, out var t) ? t : throw new CheckpointException($"{name}: tensor missing from the checkpoint in {Directory}");

    public void Dispose()
    {
        foreach (var s in _shards) s.Dispose();
        _shards.Clear();
    }
}
