using BenchmarkDotNet.Attributes;
using SharpSeek.Kernels.Formats;
using SharpSeek.Kernels.Ops;

namespace SharpSeek.Benchmarks;

/// <summary>One-token matvec at V4-Flash shapes in the native formats (bytes/s = StorageBytes ÷ mean time).</summary>
public unsafe class LinearBenchmarks
{
    [Params("wq_b FP8 32768x1024", "wo_b FP8 4096x8192", "expert w1 FP4 2048x4096", "head BF16 129280x4096")]
    public string Shape = "";
    private byte[] _data = [], _scales = [];
    private float[] _x = [], _y = [];
    private WeightMatrix _w;
    private System.Runtime.InteropServices.GCHandle _hd, _hs;

    [GlobalSetup]
    public void Setup()
    {
        string[] parts = Shape.Split(' ');
        var format = parts.Contains("FP8") ? WeightFormat.Fp8Block128 : parts.Contains("FP4") ? WeightFormat.Fp4Block32 : WeightFormat.BF16;
        var dims = parts[^1].Split('x');
        int rows = int.Parse(dims[0]), cols = int.Parse(dims[1]);
        var rng = new Random(1);
        _data = new byte[format switch { WeightFormat.BF16 => 2L * rows * cols, WeightFormat.Fp4Block32 => (long)rows * cols / 2, _ => (long)rows * cols }];
        rng.NextBytes(_data);
        if (format == WeightFormat.BF16) for (int i = 1; i < _data.Length; i += 2) _data[i] = 0x3C;
        _scales = Enumerable.Range(0, rows * (cols / 32 + 1)).Select(_ => (byte)120).ToArray();
        _hd = System.Runtime.InteropServices.GCHandle.Alloc(_data, System.Runtime.InteropServices.GCHandleType.Pinned);
        _hs = System.Runtime.InteropServices.GCHandle.Alloc(_scales, System.Runtime.InteropServices.GCHandleType.Pinned);
        _w = new WeightMatrix(format, rows, cols, (byte*)_hd.AddrOfPinnedObject(), format == WeightFormat.BF16 ? null : (byte*)_hs.AddrOfPinnedObject());
        _x = Enumerable.Range(0, cols).Select(i => (float)Math.Sin(i)).ToArray();
        _y = new float[rows];
    }

    [GlobalCleanup]
    public void Cleanup() { _hd.Free(); _hs.Free(); }

    [Benchmark]
    public void MatVec() => Linear.Forward(_w, _x, _y, 1);
}
