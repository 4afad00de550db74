using SharpSeek.Kernels.Diagnostics;
using SharpSeek.Kernels.Formats;
using SharpSeek.Kernels.Ops;

namespace SharpSeek.Kernels.Tests;

public sealed unsafe class KernelProfileTests
{
    [Fact]
    public void RecordsDecodeProductsByShapeOnlyWhileEnabled()
    {
        // a shape no other test uses: the profile is process-wide and other test classes run kernels concurrently
        const int rows = 37, cols = 96;
        var w = new float[rows * cols];
        var x = new float[3 * cols];
        var y = new float[3 * rows];
        fixed (float* p = w)
        {
            var m = new WeightMatrix(WeightFormat.F32, rows, cols, (byte*)p);
            Linear.Forward(m, x, y, 1); // before enabling: not recorded
            KernelProfile.Enabled = true;
            try
            {
                for (int i = 0; i < 5; i++) Linear.Forward(m, x, y, 1);
                Linear.Forward(m, x, y, 3); // prefill products are not decode traffic
            }
            finally { KernelProfile.Enabled = false; }
            Linear.Forward(m, x, y, 1);
        }
        var row = Assert.Single(KernelProfile.Snapshot(), r => r.Shape == $"F32 {rows}×{cols}");
        Assert.Equal(5, row.Calls);
        Assert.True(row.Milliseconds > 0);
        Assert.True(row.GBps > 0);
    }
}
