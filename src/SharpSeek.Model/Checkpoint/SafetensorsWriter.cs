using System.Text;
using System.Text.Json;

namespace SharpSeek.Model.Checkpoint;

/// <summary>
/// Writes a .safetensors file tensor by tensor without holding it in memory: the header is computed from the
/// declared tensors first, then each tensor's bytes are streamed by a callback in declaration order.
/// </summary>
public static class SafetensorsWriter
{
    public sealed record Tensor(string Name, TensorDtype Dtype, long[] Shape)
    {
        public long ByteLength => Shape.Aggregate(1L, (a, b) => a * b) * TensorEntry.ElementSize(Dtype);
    }

    /// <param name="fill">Called once per tensor with a stream positioned at its data; must write exactly ByteLength bytes.</param>
    public static void Write(string path, IReadOnlyList<Tensor> tensors, Action<Tensor, Stream> fill)
    {
        using var ms = new MemoryStream();
        using (var json = new Utf8JsonWriter(ms))
        {
            json.WriteStartObject();
            json.WriteStartObject("__metadata__");
            json.WriteString("format", "pt");
            json.WriteEndObject();
            long offset = 0;
            foreach (var t in tensors)
            {
                json.WriteStartObject(t.Name);
                json.WriteString("dtype", t.Dtype.ToString());
                json.WriteStartArray("shape");
                foreach (long s in t.Shape) json.WriteNumberValue(s);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset + t.ByteLength);
                json.WriteEndArray();
                json.WriteEndObject();
                offset += t.ByteLength;
            }
            json.WriteEndObject();
        }
        var header = ms.ToArray().ToList();
        while (header.Count % 8 != 0) header.Add((byte)' ');
        using var fs = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        fs.Write(BitConverter.GetBytes((long)header.Count));
        fs.Write(header.ToArray());
        foreach (var t in tensors)
        {
            long before = fs.Position;
            fill(t, fs);
            if (fs.Position - before != t.ByteLength)
                throw new InvalidOperationException($"{t.Name}: wrote {fs.Position - before} bytes, expected {t.ByteLength}");
        }
    }
}
