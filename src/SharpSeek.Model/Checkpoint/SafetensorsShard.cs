using System.IO.MemoryMappedFiles;
using System.Text.Json;

namespace SharpSeek.Model.Checkpoint;

/// <summary>
/// One .safetensors file, memory-mapped read-only: 8-byte little-endian header length, a JSON header, then raw
/// tensor bytes. Nothing is copied; the OS pages weights in as the kernels touch them.
/// </summary>
public sealed unsafe class SafetensorsShard : IDisposable
{
    private const long MaxHeaderBytes = 100L << 20;
    private readonly MemoryMappedFile _file;
    private readonly MemoryMappedViewAccessor _view;
    private byte* _base;

    public string Path { get; }
    public string FileName { get; }
    public long Length { get; }
    public IReadOnlyList<TensorEntry> Tensors { get; }

    public SafetensorsShard(string path)
    {
        Path = path;
        FileName = System.IO.Path.GetFileName(path);
        if (!File.Exists(path)) throw new CheckpointException($"{FileName}: shard file not found ({path})");
        Length = new FileInfo(path).Length;
        if (Length < 8) throw new CheckpointException($"{FileName}: truncated: {Length} bytes, too short for a safetensors header");
        _file = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        _view = _file.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
        _view.SafeMemoryMappedViewHandle.AcquirePointer(ref _base);
        _base += _view.PointerOffset;
        try { Tensors = ParseHeader(); }
        catch { Dispose(); throw; }
    }

    private List<TensorEntry> ParseHeader()
    {
        long headerLen = *(long*)_base;
        if (headerLen <= 0 || headerLen > MaxHeaderBytes || 8 + headerLen > Length)
            throw new CheckpointException($"{FileName}: header length {headerLen} is invalid for a {Length}-byte file (truncated or not a safetensors file)");
        JsonDocument doc;
        try { doc = JsonDocument.Parse(new ReadOnlyMemory<byte>(new ReadOnlySpan<byte>(_base + 8, (int)headerLen).ToArray())); }
        catch (JsonException e) { throw new CheckpointException($"{FileName}: header is not valid JSON: {e.Message}"); }
        long dataStart = 8 + headerLen, dataLen = Length - dataStart;
        var list = new List<TensorEntry>();
        using (doc)
        {
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                if (prop.Name == "__metadata__") continue;
                var t = prop.Value;
                string dtypeText = t.TryGetProperty("dtype", out var d) ? d.GetString() ?? "" : "";
                if (!Enum.TryParse<TensorDtype>(dtypeText, out var dtype))
                    throw new CheckpointException($"{FileName}: {prop.Name}: unknown dtype \"{dtypeText}\" (expected one of {string.Join(", ", Enum.GetNames<TensorDtype>())})");
                long[] shape = t.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray();
                var offsets = t.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()).ToArray();
                if (offsets.Length != 2 || offsets[0] < 0 || offsets[1] < offsets[0])
                    throw new CheckpointException($"{FileName}: {prop.Name}: bad data_offsets [{string.Join(", ", offsets)}]");
                if (offsets[1] > dataLen)
                    throw new CheckpointException($"{FileName}: {prop.Name}: data ends at byte {dataStart + offsets[1]} but the file has {Length} bytes (truncated shard?)");
                long expectBytes = shape.Aggregate(1L, (a, b) => a * b) * TensorEntry.ElementSize(dtype);
                if (offsets[1] - offsets[0] != expectBytes)
                    throw new CheckpointException($"{FileName}: {prop.Name}: {offsets[1] - offsets[0]} bytes stored, {dtype} [{string.Join(", ", shape)}] needs {expectBytes}");
                list.Add(new TensorEntry
                {
                    Name = prop.Name, Dtype = dtype, Shape = shape, ShardFile = FileName,
                    Pointer = _base + dataStart + offsets[0], ByteLength = offsets[1] - offsets[0],
                });
            }
        }
        return list;
    }

    public void Dispose()
    {
        if (_base != null) { _view.SafeMemoryMappedViewHandle.ReleasePointer(); _base = null; }
        _view?.Dispose();
        _file?.Dispose();
    }
}
