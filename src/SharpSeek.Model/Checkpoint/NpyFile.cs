using System.Buffers.Binary;
using System.Text;

namespace SharpSeek.Model.Checkpoint;

/// <summary>
/// NumPy .npy (format 1.0/2.0, little-endian, C order) reader and writer. The fixtures and the
/// `sharpseek logits` command use it, so anyone can diff our output against the official code with numpy.
/// </summary>
public sealed class NpyArray
{
    public required string Dtype { get; init; }   // numpy descr, e.g. "<f4", "<i4", "|u1", "<i8"
    public required int[] Shape { get; init; }
    public required byte[] Data { get; init; }

    public long Count => Shape.Aggregate(1L, (a, b) => a * b);

    public float[] AsFloat32()
    {
        return Dtype switch
        {
            "<f4" => ToArray<float>(),
            "<f8" => ToArray<double>().Select(d => (float)d).ToArray(),
            _ => throw new InvalidDataException($"npy: expected float32 data, got dtype {Dtype}"),
        };
    }

    public int[] AsInt32()
    {
        return Dtype switch
        {
            "<i4" => ToArray<int>(),
            "<i8" => ToArray<long>().Select(v => checked((int)v)).ToArray(),
            "|u1" or "<u1" => Data.Select(b => (int)b).ToArray(),
            _ => throw new InvalidDataException($"npy: expected integer data, got dtype {Dtype}"),
        };
    }

    public byte[] AsBytes()
    {
        if (Dtype is not ("|u1" or "<u1" or "|i1")) throw new InvalidDataException($"npy: expected uint8 data, got dtype {Dtype}");
        return Data;
    }

    private T[] ToArray<T>() where T : unmanaged
    {
        var result = new T[Count];
        System.Runtime.InteropServices.MemoryMarshal.Cast<byte, T>(Data).CopyTo(result);
        return result;
    }
}

public static class NpyFile
{
    private static readonly byte[] Magic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    public static NpyArray Read(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        if (bytes.Length < 10 || !bytes.AsSpan(0, 6).SequenceEqual(Magic))
            throw new InvalidDataException($"{path}: not a .npy file (bad magic)");
        int major = bytes[6];
        int headerLen, offset;
        if (major == 1) { headerLen = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(8)); offset = 10; }
        else { headerLen = (int)BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(8)); offset = 12; }
        string header = Encoding.ASCII.GetString(bytes, offset, headerLen);
        string descr = ExtractQuoted(header, "descr");
        if (header.Contains("'fortran_order': True")) throw new InvalidDataException($"{path}: Fortran order not supported");
        int shapeStart = header.IndexOf("'shape':", StringComparison.Ordinal);
        int open = header.IndexOf('(', shapeStart), close = header.IndexOf(')', open);
        int[] shape = header[(open + 1)..close]
            .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(int.Parse).ToArray();
        int dataStart = offset + headerLen;
        return new NpyArray { Dtype = descr, Shape = shape, Data = bytes[dataStart..] };
    }

    private static string ExtractQuoted(string header, string key)
    {
        int k = header.IndexOf($"'{key}':", StringComparison.Ordinal);
        int q1 = header.IndexOf('\'', k + key.Length + 3);
        int q2 = header.IndexOf('\'', q1 + 1);
        return header[(q1 + 1)..q2];
    }

    public static void WriteFloat32(string path, ReadOnlySpan<float> data, params int[] shape)
        => Write(path, "<f4", System.Runtime.InteropServices.MemoryMarshal.AsBytes(data), shape);

    public static void WriteInt32(string path, ReadOnlySpan<int> data, params int[] shape)
        => Write(path, "<i4", System.Runtime.InteropServices.MemoryMarshal.AsBytes(data), shape);

    public static void Write(string path, string descr, ReadOnlySpan<byte> data, int[] shape)
    {
        string shapeText = shape.Length == 1 ? $"({shape[0]},)" : "(" + string.Join(", ", shape) + ")";
        string header = $"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shapeText}, }}";
        int total = 10 + header.Length + 1;
        int pad = (64 - total % 64) % 64;
        header = header + new string(' ', pad) + "\n";
        using var fs = File.Create(path);
        fs.Write(Magic);
        fs.WriteByte(1); fs.WriteByte(0);
        Span<byte> len = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(len, (ushort)header.Length);
        fs.Write(len);
        fs.Write(Encoding.ASCII.GetBytes(header));
        fs.Write(data);
    }
}
