// Rank, world size and local rank from OpenMPI's and PyTorch's variables, and a group of one that needs no MPI.
using GraphCompiler.Distributed;
using Xunit;

namespace GraphCompiler.Tests.Distributed;

public class LauncherEnvironmentTests
{
    private static LauncherEnvironment From(params (string Name, string Value)[] variables) =>
        LauncherEnvironment.From(name => variables.FirstOrDefault(v => v.Name == name).Value);

    [Fact]
    public void No_launcher_is_rank_0_of_1()
    {
        LauncherEnvironment e = From();
        Assert.Equal((0, 1, 0, "none"), (e.Rank, e.WorldSize, e.LocalRank, e.Launcher));
        Assert.False(e.UnderMpi);
    }

    [Fact]
    public void Openmpi_variables_give_rank_size_and_local_rank()
    {
        LauncherEnvironment e = From(("OMPI_COMM_WORLD_RANK", "3"), ("OMPI_COMM_WORLD_SIZE", "4"), ("OMPI_COMM_WORLD_LOCAL_RANK", "1"), ("OMPI_COMM_WORLD_LOCAL_SIZE", "2"));
        Assert.Equal("rank 3 of 4 (local rank 1) from mpirun", e.ToString());
        Assert.True(e.UnderMpi);
    }

    [Fact]
    public void Pytorch_variables_are_read_and_openmpi_wins_when_both_are_set()
    {
        Assert.Equal("rank 1 of 2 (local rank 0) from env", From(("RANK", "1"), ("WORLD_SIZE", "2"), ("LOCAL_RANK", "0"), ("LOCAL_WORLD_SIZE", "1")).ToString());
        Assert.Equal("rank 0 of 2 (local rank 0) from mpirun",
            From(("RANK", "1"), ("WORLD_SIZE", "3"), ("OMPI_COMM_WORLD_RANK", "0"), ("OMPI_COMM_WORLD_SIZE", "2")).ToString());
    }

    [Fact]
    public void Bad_values_name_the_variable()
    {
        Assert.Equal("RANK=2 is outside the world of 2 processes (ranks 0 to 1).",
            Assert.Throws<InvalidOperationException>(() => From(("RANK", "2"), ("WORLD_SIZE", "2"))).Message);
        Assert.Equal("OMPI_COMM_WORLD_SIZE='two' is not an integer of at least 1.",
            Assert.Throws<InvalidOperationException>(() => From(("OMPI_COMM_WORLD_SIZE", "two"), ("OMPI_COMM_WORLD_RANK", "0"))).Message);
        Assert.Equal("The launcher set the world size but not OMPI_COMM_WORLD_RANK.",
            Assert.Throws<InvalidOperationException>(() => From(("OMPI_COMM_WORLD_SIZE", "2"))).Message);
    }

    [Fact]
    public void A_group_of_one_needs_no_mpi_and_its_collectives_are_the_identity()
    {
        using ProcessGroup group = ProcessGroup.Init(From());
        Assert.Equal(("single", 0, 1, true), (group.Backend, group.Rank, group.WorldSize, group.IsMain));
        float[] values = [1.5f, -2f];
        group.AllReduceSum(values);
        group.Broadcast(values);
        group.Barrier();
        Assert.Equal([1.5f, -2f], values);
        Assert.True(group.StartAllReduceSum(values, 2, "test").IsCompleted);
        Assert.Equal(ProcessGroup.DefaultTimeout, group.Timeout);
        Assert.Equal(TimeSpan.FromSeconds(60), group.Timeout);
    }

    [Fact]
    public void Several_processes_without_mpirun_are_refused_with_the_command_to_use()
    {
        var e = Assert.Throws<InvalidOperationException>(() => ProcessGroup.Init(From(("RANK", "0"), ("WORLD_SIZE", "2"))));
        Assert.Equal("The environment asks for 2 processes (rank 0 of 2 (local rank 0) from env), but they are connected with MPI: launch them with mpirun -np 2.", e.Message);
    }
}
