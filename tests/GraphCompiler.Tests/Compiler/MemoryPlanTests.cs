// The static memory plan: lifetimes, reuse without conflicts, and the per-sample sizes worked out by hand for the Mlp.
using GraphCompiler.Compiler;
using Xunit;

namespace GraphCompiler.Tests.Compiler;

public class MemoryPlanTests
{
    public static IEnumerable<object[]> Schedules() =>
    [
        ["Mlp fused", ModelCompilerTests.CompileMlp().Schedule!],
        ["Mlp unfused", ModelCompilerTests.CompileMlp(fuse: false).Schedule!],
        ["CifarNet fused", ModelCompilerTests.CompileCifar().Schedule!],
        ["CifarNet unfused", ModelCompilerTests.CompileCifar(fuse: false).Schedule!],
        ["Skip connection", DagCompilerTests.CompileSkip()],
    ];

    [Theory]
    [MemberData(nameof(Schedules))]
    public void Buffers_live_at_the_same_time_never_share_memory(string name, Schedule s)
    {
        foreach (MemoryPlan plan in new[] { s.TrainingPlan, s.InferencePlan })
        {
            var ps = plan.Placements.ToList();
            Assert.NotEmpty(ps);
            foreach (Placement a in ps)
                foreach (Placement b in ps)
                {
                    if (a == b || a.IsIndex != b.IsIndex || a.Last < b.First || b.Last < a.First) continue;
                    Assert.True(a.Offset + a.Size <= b.Offset || b.Offset + b.Size <= a.Offset, $"{name}: {a} overlaps {b}");
                }
            Assert.All(ps, p => Assert.True(p.Offset + p.Size <= (p.IsIndex ? plan.IntsPerSample : plan.FloatsPerSample)));
        }
        // Training needs more than inference, but less than one buffer each.
        Assert.True(s.TrainingPlan.FloatsPerSample >= s.InferencePlan.FloatsPerSample);
        Assert.True(s.TrainingPlan.FloatsPerSample < s.Buffers.Where(b => !b.IsIndex).Sum(b => b.PerSample), name);
    }

    [Fact]
    public void Mlp_plan_matches_the_hand_computation()
    {
        Schedule s = ModelCompilerTests.CompileMlp().Schedule!;
        // Steps: 0 Fc1, 1 Fc2, 2 Fc3, 3 LogSoftmax | 4 LogSoftmax dx, 5 Fc3 dW, 6 Fc3 dx, 7 Fc2 dW, 8 Fc2 dx, 9 Fc1 dW, 10 Fc1 dx.
        // Fc1Out (128) lives 0..8 (Fc2's dx masks with it); Fc1Grad (128) 8..10 overlaps it → 128. Fc2Out (64) 1..6 ends
        // before Fc1Grad starts → 128 too. Fc2Grad (64) 6..8 meets all three → 256. Fc3Out (10) 2..3 meets Fc1Out and
        // Fc2Out only → 192. Arena: 320 floats a sample; the buffers alone are 128 + 128 + 64 + 64 + 10 = 394.
        MemoryPlan t = s.TrainingPlan;
        Assert.Equal([("Fc1Out", 0, 0, 8), ("Fc1Grad", 128, 8, 10), ("Fc2Out", 128, 1, 6), ("Fc2Grad", 256, 6, 8), ("Fc3Out", 192, 2, 3)],
            t.Placements.Select(p => (p.Buffer, p.Offset, p.First, p.Last)));
        Assert.Equal((320, 0), (t.FloatsPerSample, t.IntsPerSample));
        // Dedicated arrays: input 784, log-probabilities 10, their gradient 10, the fused loss's logits gradient 10.
        Assert.Equal(4L * (320 + 784 + 10 + 10 + 10), t.BytesPerSample);
        // Inference: Fc1Out 0..1 and Fc2Out 1..2 overlap; Fc3Out 2..3 reuses Fc1Out's place. 128 + 64 = 192.
        MemoryPlan i = s.InferencePlan;
        Assert.Equal([("Fc1Out", 0), ("Fc2Out", 128), ("Fc3Out", 0)], i.Placements.Select(p => (p.Buffer, p.Offset)));
        Assert.Equal(4L * (192 + 784 + 10), i.BytesPerSample);
    }

    [Fact]
    public void CifarNet_keeps_the_pool_indices_alive_into_backward_and_reuses_conv1_out_for_its_gradient()
    {
        Schedule s = ModelCompilerTests.CompileCifar().Schedule!;
        MemoryPlan t = s.TrainingPlan;
        // The argmax maps are written in forward and read in backward: all three are live at once.
        Assert.Equal(8192 + 2048 + 1024, t.IntsPerSample);
        // With the ReLU backward fused into the pool (masked by the pool's own output), Conv1Out is dead after Pool1's
        // forward, so Conv1Grad takes its place.
        Assert.Equal(t.Find("Conv1Out")!.Offset, t.Find("Conv1Grad")!.Offset);
        Assert.Equal(1, t.Find("Conv1Out")!.Last);
        Assert.Equal(49152, t.FloatsPerSample);
    }

    [Fact]
    public void A_skip_value_read_late_stays_alive_until_its_last_read()
    {
        Schedule s = DagCompilerTests.CompileSkip();
        // Forward: 0 Fc1, 1 ReLU (its own kernel: Fc1's value is also read by the Add), 2 Fc2 with its ReLU, 3 Fc3, 4 Add,
        // 5 Fc4. Fc1Out is read by the ReLU at step 1 and again by the Add at step 4, so it lives from 0 to 4.
        int add = s.Forward.ToList().FindIndex(f => f is AddForward);
        Placement fc1 = s.InferencePlan.Find("Fc1Out")!;
        Assert.Equal((0, add), (fc1.First, fc1.Last));
        // Everything live meanwhile sits beside it, not on it.
        foreach (Placement p in s.InferencePlan.Placements.Where(p => p.Buffer != "Fc1Out" && p.First <= add))
            Assert.True(p.Offset >= fc1.Offset + fc1.Size || p.Offset + p.Size <= fc1.Offset, $"{p} overlaps {fc1}");
        // No backward step reads Fc1Out (the ReLU's backward reads its own output), so in training it dies at the Add too.
        Assert.Equal(add, s.TrainingPlan.Find("Fc1Out")!.Last);
    }
}
