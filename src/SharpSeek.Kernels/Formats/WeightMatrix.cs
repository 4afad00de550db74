using System.Runtime.CompilerServices;

namespace SharpSeek.Kernels.Formats;

/// <summary>How a weight matrix is stored. The kernels decode it in registers; no dequantised copy is ever made.</summary>
public enum WeightFormat
{
    F32,
    BF16,
    F16,
    /// <summary>F8_E4M3 codes [rows, cols] + F8_E8M0 scales [ceil(rows/128), ceil(cols/128)].</summary>
    Fp8Block128,
    /// <summary>e2m1 packed two per byte [rows, cols/2] (even column = low nibble) + F8_E8M0 scales [rows, cols/32].</summary>
    Fp4Block32,
}

/// <summary>
/// A [Rows, Cols] weight matrix viewed in place (usually inside a memory-mapped shard). y = W·x contracts over Cols.
/// The memory behind the pointers must outlive the view (the checkpoint keeps its mappings open).
/// </summary>
public readonly unsafe struct WeightMatrix
{
    public readonly WeightFormat Format;
    public readonly int Rows;
    public readonly int Cols;
    public readonly byte* Data;
    public readonly byte* Scales;

    public WeightMatrix(WeightFormat format, int rows, int cols, byte* data, byte* scales = null)
    {
        if ((format is WeightFormat.Fp8Block128 or WeightFormat.Fp4Block32) && scales == null)
            throw new ArgumentException($"{format} weight needs a scale tensor");
        if (format == WeightFormat.Fp4Block32 && cols % 32 != 0)
            throw new ArgumentException($"Fp4Block32 weight needs cols divisible by 32, got {cols}");
        Format = format; Rows = rows; Cols = cols; Data = data; Scales = scales;
    }

    /// <summary>Scale columns of an Fp8Block128 matrix: ceil(Cols/128).</summary>
    public int Fp8ScaleCols => (Cols + 127) / 128;

    /// <summary>Bytes read when every row is used once (for bandwidth accounting).</summary>
    public long StorageBytes => Format switch
    {
        WeightFormat.F32 => 4L * Rows * Cols,
        WeightFormat.BF16 or WeightFormat.F16 => 2L * Rows * Cols,
        WeightFormat.Fp8Block128 => (long)Rows * Cols + (long)((Rows + 127) / 128) * Fp8ScaleCols,
        WeightFormat.Fp4Block32 => (long)Rows * Cols / 2 + (long)Rows * (Cols / 32),
        _ => 0,
    };

    /// <summary>A view of rows [start, start+count) (an expert slice or an output group).</summary>
    public WeightMatrix SliceRows(int start, int count)
    {
        if (start < 0 || count < 0 || start + count > Rows) throw new ArgumentOutOfRangeException(nameof(start));
        return Format switch
        {
            WeightFormat.F32 => new(Format, count, Cols, Data + 4L * start * Cols),
            WeightFormat.BF16 or WeightFormat.F16 => new(Format, count, Cols, Data + 2L * start * Cols),
            WeightFormat.Fp4Block32 => new(Format, count, Cols, Data + (long)start * Cols / 2, Scales + (long)start * (Cols / 32)),
            WeightFormat.Fp8Block128 when start % 128 == 0 => new(Format, count, Cols, Data + (long)start * Cols, Scales + (long)(start / 128) * Fp8ScaleCols),
            _ => throw new ArgumentException($"cannot slice {Format} rows at {start} (FP8 slices must start on a 128-row block)"),
        };
    }

    /// <summary>Decodes row r into f32 (reference path and prefill tiles).</summary>
    public void DecodeRow(int r, Span<float> dst)
    {
        if ((uint)r >= (uint)Rows) throw new ArgumentOutOfRangeException(nameof(r));
        dst = dst[..Cols];
        switch (Format)
        {
            case WeightFormat.F32:
                new ReadOnlySpan<float>(Data + 4L * r * Cols, Cols).CopyTo(dst);
                break;
            case WeightFormat.BF16:
                Bf16.Decode(new ReadOnlySpan<ushort>(Data + 2L * r * Cols, Cols), dst);
                break;
            case WeightFormat.F16:
            {
                var src = new ReadOnlySpan<Half>(Data + 2L * r * Cols, Cols);
                for (int i = 0; i < Cols; i++) dst[i] = (float)src[i];
                break;
            }
            case WeightFormat.Fp8Block128:
            {
                byte* row = Data + (long)r * Cols;
                byte* srow = Scales + (long)(r / 128) * Fp8ScaleCols;
                float[] table = Fp8E4M3.Table;
                for (int c = 0; c < Cols; c++) dst[c] = table[row[c]] * Ue8M0.Table[srow[c >> 7]];
                break;
            }
            case WeightFormat.Fp4Block32:
            {
                byte* row = Data + (long)r * Cols / 2;
                byte* srow = Scales + (long)r * (Cols / 32);
                float[] table = Fp4E2M1.Table;
                for (int c = 0; c < Cols; c += 2)
                {
                    byte b = row[c >> 1];
                    float s = Ue8M0.Table[srow[c >> 5]];
                    dst[c] = table[b & 0xF] * s;
                    dst[c + 1] = table[b >> 4] * s;
                }
                break;
            }
        }
    }
}
