using SharpSeek.Model.DeepSeekV4;

namespace SharpSeek.Model.Tests.Transformer;

/// <summary>Which elements of a bf16 rsqrt the reference's CPU PyTorch sends through its scalar loop (32-element vector steps).</summary>
public sealed class TorchCpuBf16Tests
{
    [Theory]
    [InlineData(4, 0)]      // a decode step's query norms (4 heads): all scalar
    [InlineData(31, 0)]
    [InlineData(32, 32)]    // one full vector step, no tail
    [InlineData(33, 32)]
    [InlineData(400, 384)]  // 100 tokens × 4 heads: the last 16 = tokens 96..99
    [InlineData(1200, 1184)]
    public void ScalarTailStartsAfterTheLastFullVectorStep(int count, int firstScalar)
    {
        for (int i = 0; i < count; i++)
            Assert.Equal(i >= firstScalar, TorchCpuBf16.RsqrtRoundsTwice(i, count));
    }
}
