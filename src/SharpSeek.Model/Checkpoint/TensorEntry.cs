using System.Runtime.InteropServices;
using SharpSeek.Kernels.Formats;

namespace SharpSeek.Model.Checkpoint;

/// <summary>Tensor element types as safetensors names them.</summary>
public enum TensorDtype { F64, F32, F16, BF16, F8_E4M3, F8_E8M0, I64, I32, I16, I8, U8, BOOL }

public sealed class CheckpointException(string message) : Exception(message);

/// <summary>One tensor inside a memory-mapped shard. The pointer stays valid while the reader is open.</summary>
public sealed unsafe class TensorEntry
{
    public required string Name { get; init; }
    public required TensorDtype Dtype { get; init; }
    public required long[] Shape { get; init; }
    public required string ShardFile { get; init; }
    public byte* Pointer { get; init; }
    public long ByteLength { get; init; }

    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);

    public static int ElementSize(TensorDtype d) => d switch
    {
        TensorDtype.F64 or TensorDtype.I64 => 8,
        TensorDtype.F32 or TensorDtype.I32 => 4,
        TensorDtype.F16 or TensorDtype.BF16 or TensorDtype.I16 => 2,
        _ => 1,
    };

    public string Describe() => $"{Dtype} [{string.Join(", ", Shape)}]";

    public ReadOnlySpan<T> AsSpan<T>() where T : unmanaged
    {
        if (ByteLength % sizeof(T) != 0 || ByteLength / sizeof(T) > int.MaxValue)
            throw new CheckpointException($"{ShardFile}: {Name}: {ByteLength} bytes cannot be viewed as {typeof(T).Name}");
        return new ReadOnlySpan<T>(Pointer, (int)(ByteLength / sizeof(T)));
    }

    /// <summary>Small vectors (norm weights, mHC parameters, biases) decoded to f32 once at load.</summary>
    public float[] ToFloatArray()
    {
        var result = new float[ElementCount];
        switch (Dtype)
        {
            case TensorDtype.F32: AsSpan<float>().CopyTo(result); break;
            case TensorDtype.BF16: Bf16.Decode(AsSpan<ushort>(), result); break;
            case TensorDtype.F16:
            {
                var src = AsSpan<Half>();
                for (int i = 0; i < src.Length; i++) result[i] = (float)src[i];
                break;
            }
            default: throw new CheckpointException($"{ShardFile}: {Name}: expected a float tensor (F32/BF16/F16), got {Dtype}");
        }
        return result;
    }

    /// <summary>Integer tables (tid2eid) as int32, accepting I64 (the release) or I32.</summary>
    public int[] ToInt32Array()
    {
        return Dtype switch
        {
            TensorDtype.I32 => AsSpan<int>().ToArray(),
            TensorDtype.I64 => AsSpan<long>().ToArray().Select(v => checked((int)v)).ToArray(),
            _ => throw new CheckpointException($"{ShardFile}: {Name}: expected I64 or I32, got {Dtype}"),
        };
    }

    /// <summary>A view for the linear kernels: weights stay in their stored format.</summary>
    public WeightMatrix AsWeightMatrix(TensorEntry? scale = null)
    {
        if (Shape.Length != 2) throw new CheckpointException($"{ShardFile}: {Name}: expected a 2-D weight, got {Describe()}");
        int rows = checked((int)Shape[0]), cols = checked((int)Shape[1]);
        switch (Dtype)
        {
            case TensorDtype.F32: return new WeightMatrix(WeightFormat.F32, rows, cols, Pointer);
            case TensorDtype.BF16: return new WeightMatrix(WeightFormat.BF16, rows, cols, Pointer);
            case TensorDtype.F16: return new WeightMatrix(WeightFormat.F16, rows, cols, Pointer);
            case TensorDtype.F8_E4M3:
            {
                long[] want = [(rows + 127) / 128, (cols + 127) / 128];
                RequireScale(scale, want);
                return new WeightMatrix(WeightFormat.Fp8Block128, rows, cols, Pointer, scale!.Pointer);
            }
            case TensorDtype.I8 or TensorDtype.U8:
            {
                long[] want = [rows, cols * 2 / 32];
                RequireScale(scale, want);
                return new WeightMatrix(WeightFormat.Fp4Block32, rows, cols * 2, Pointer, scale!.Pointer);
            }
            default: throw new CheckpointException($"{ShardFile}: {Name}: {Dtype} is not a weight format");
        }
    }

    private void RequireScale(TensorEntry? scale, long[] want)
    {
        if (scale == null) throw new CheckpointException($"{ShardFile}: {Name}.scale: missing (expected F8_E8M0 [{string.Join(", ", want)}])");
        if (scale.Dtype != TensorDtype.F8_E8M0 || !scale.Shape.SequenceEqual(want))
            throw new CheckpointException($"{scale.ShardFile}: {scale.Name}: expected F8_E8M0 [{string.Join(", ", want)}], got {scale.Describe()}");
    }
}
