using System.IO.MemoryMappedFiles;
using System.Text.Json;

namespace SharpSeek.Model.Checkpoint;

/// <summary>
/// One .safetensors file: 8-byte little-endian header length, a JSON header, then raw tensor bytes. By default it is
/// memory-mapped read-only and nothing is copied: the OS pages weights in as the kernels touch them, so a checkpoint
/// larger than RAM still opens. Resident, the file is copied once into anonymous memory backed by 2 MB pages (Linux
/// transparent huge pages): decode streams every active weight once per token, and through 4 KB page-cache pages each
/// pass walks a page table per 4 KB, which in a virtual machine (nested paging) costs far more than the read itself.
/// Measured here on the BF16 LM head read right after a decode step's other weights: 11–45 GB/s mapped, 53–56 GB/s
/// resident. It needs RAM for the whole file.
/// </summary>
public sealed unsafe class SafetensorsShard : IDisposable
{
    private const long MaxHeaderBytes = 100L << 20;
    private const nuint HugePage = 2 << 20;
    private const int MadvHugePage = 14, MadvDontNeed = 4;
    private readonly MemoryMappedFile? _file;
    private readonly MemoryMappedViewAccessor? _view;
    private byte* _base;
    private byte* _resident;

    public string Path { get; }
    public string FileName { get; }
    public long Length { get; }
    public bool Resident => _resident != null;
    public IReadOnlyList<TensorEntry> Tensors { get; }

    public SafetensorsShard(string path, bool resident = false)
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
        try
        {
            if (resident) MakeResident();
            Tensors = ParseHeader();
        }
        catch { Dispose(); throw; }
    }

    /// <summary>Copies the mapped file into huge-page-backed anonymous memory and drops the mapping.</summary>
    private void MakeResident()
    {
        try { _resident = (byte*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc((nuint)Length, HugePage); }
        catch (OutOfMemoryException) { throw new CheckpointException($"{FileName}: not enough memory to hold its {Length / 1e9:F1} GB resident (open it mapped instead)"); }
        // before the first touch, so the pages are faulted in as huge pages; a failure only costs speed
        if (OperatingSystem.IsLinux()) _ = madvise(_resident, (nuint)Length, MadvHugePage);
        const long chunk = 64L << 20;
        for (long at = 0; at < Length; at += chunk)
        {
            long n = Math.Min(chunk, Length - at);
            Buffer.MemoryCopy(_base + at, _resident + at, Length - at, n);
            // unmap what was just copied (the page cache keeps it), so the process never holds the file twice
            if (OperatingSystem.IsLinux() && ((nuint)(_base + at) & 4095) == 0) _ = madvise(_base + at, (nuint)n, MadvDontNeed);
        }
        _view!.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _file!.Dispose();
        _base = _resident;
    }

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    private static extern int madvise(void* address, nuint length, int advice);

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
        if (_resident != null)
        {
            System.Runtime.InteropServices.NativeMemory.AlignedFree(_resident);
            _resident = null;
            _base = null;
            return;
        }
        if (_base != null) { _view!.SafeMemoryMappedViewHandle.ReleasePointer(); _base = null; }
        _view?.Dispose();
        _file?.Dispose();
    }
}
