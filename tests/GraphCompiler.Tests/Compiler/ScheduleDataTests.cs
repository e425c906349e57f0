// The schedule a generated model carries as data is exactly the one the compiler core produces for its declaration.
using Cifar;
using FashionMnist;
using GraphCompiler.Compiler;
using Xunit;

namespace GraphCompiler.Tests.Compiler;

public class ScheduleDataTests
{
    // The generator drops source sites from the data it prints: they mean nothing at run time.
    private static Schedule WithoutSites(Schedule s, string model) => s with
    {
        Model = model,
        Layers = EquatableArray.From(s.Layers.Select(l => l with { Site = -1, ArgSites = EquatableArray<int>.Empty })),
    };

    [Fact]
    public void The_generated_schedule_literal_equals_the_compiled_schedule()
    {
        Assert.Equal(WithoutSites(ModelCompilerTests.CompileMlp().Schedule!, "Mlp"), Mlp.CompiledSchedule);
        Assert.Equal(WithoutSites(ModelCompilerTests.CompileCifar().Schedule!, "CifarNet"), CifarNet.CompiledSchedule);
        // Typed operands survive the round trip: a geometry value, an epilogue, a fused activation backward.
        var conv1 = Assert.IsType<Conv2dForward>(CifarNet.CompiledSchedule.Forward[0]);
        Assert.Equal((new Conv2dGeometry(3, 32, 32, 32, 5, 5, 1, 1, 2, 2), Elementwise.Relu), (conv1.G.Value, conv1.Epilogue));
        var pool1 = Assert.IsType<MaxPool2dBackward>(CifarNet.CompiledSchedule.Backward.Single(s => s.Comment.StartsWith("Pool1")));
        Assert.Equal(new GradEpilogue(new Buf("Pool1Out", 8192), Elementwise.Relu), pool1.Mask);
    }
}
