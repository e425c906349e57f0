// A model with a layer array and a loop in its forward body: PyTorch ModuleList names, the compiled forward against the
// eager one (the same body run as C#), and training steps that lower the loss.
using GraphCompiler.Diagnostics;
using GraphCompiler.IO;
using GraphCompiler.Nn;
using GraphCompiler.Optim;
using GraphCompiler.Tests.Training;
using GraphCompiler.Training;
using Xunit;

namespace GraphCompiler.Tests.Models;

public class BlockMlpTests
{
    private const int Batch = 8, Classes = 4;

    [Fact]
    public void Layer_array_parameters_carry_module_list_names_in_state_dict_order()
    {
        var model = new BlockMlp(seed: 1);
        Assert.Equal(
            ["stem.weight", "stem.bias", "blocks.0.weight", "blocks.0.bias", "blocks.1.weight", "blocks.1.bias",
             "blocks.2.weight", "blocks.2.bias", "norms.0.weight", "norms.0.bias", "norms.1.weight", "norms.1.bias",
             "norms.2.weight", "norms.2.bias", "head.weight", "head.bias"],
            model.Parameters().Select(p => p.Name));
        Assert.Equal(BlockMlp.Depth, model.Blocks.Length);
        Assert.Equal("blocks.1", model.Blocks[1].Name);
        Assert.Same(model.Blocks[1].Weight, model.Parameters()[4]);
        Assert.Equal(model.Parameters().Select(p => p.Name).Order(), StateDict.Save(model).Keys.Order());
        // Three distinct layers, each initialised from the seed in turn.
        Assert.NotEqual(model.Blocks[0].Weight.Data, model.Blocks[1].Weight.Data);
    }

    [Fact]
    public void The_summary_lists_each_element_of_a_layer_array_with_its_parameters()
    {
        var summary = new BlockMlp().Summarize(2);
        Assert.Equal(["Stem", "Blocks_0", "Blocks_1", "Blocks_2", "Head"], summary.Layers.Where(r => r.Type == "Linear").Select(r => r.Name));
        Assert.Equal(32 * 32 + 32, summary.Layers.Single(r => r.Name == "Blocks_1").TrainableParameters);
        Assert.Equal(2 * 32, summary.Layers.Single(r => r.Name == "Norms_2").TrainableParameters);
    }

    [Fact]
    public void Compiled_forward_matches_the_eager_forward_of_the_same_loop()
    {
        var model = new BlockMlp(seed: 2);
        var (x, _) = TrainerTests.RandomBatch(Batch, 8, 5);
        BlockMlp.Workspace ws = model.CreateWorkspace(Batch, training: false);
        ws.SetInput(x, Batch);
        model.Forward(ws);
        float[] eager = model.Forward(new Tensor(x, [Batch, 8])).Data;
        for (int i = 0; i < Batch * Classes; i++) Assert.Equal(eager[i], ws.Output[i], 1e-5f);
        // Three Linear blocks between the stem and the head: five GEMMs in the compiled forward, and three LayerNorms.
        Assert.Equal(5, BlockMlp.CompiledSchedule.Forward.Count(s => s is GraphCompiler.Compiler.LinearForward));
        Assert.Equal(3, BlockMlp.CompiledSchedule.Forward.Count(s => s is GraphCompiler.Compiler.LayerNormForward));
    }

    [Fact]
    public void A_model_with_a_layer_array_trains_and_every_block_learns()
    {
        var model = new BlockMlp(seed: 3);
        float[] before = [.. model.Blocks[2].Weight.Data];
        var trainer = new Trainer(model, Loss.CrossEntropy, new Adam(model.Parameters(), lr: 0.01f), batchSize: 16);
        var (x, y) = TrainerTests.RandomBatch(16, 8, 7);
        for (int i = 0; i < y.Length; i++) y[i] %= Classes;
        float first = trainer.Step(x, y, 16);
        float last = first;
        for (int i = 0; i < 40; i++) last = trainer.Step(x, y, 16);
        Assert.InRange(first, 0.9f, 2.5f); // about ln 4 at initialisation
        Assert.True(last < 0.3f * first, $"loss went from {first} to {last}");
        Assert.NotEqual(before, model.Blocks[2].Weight.Data);
    }
}
