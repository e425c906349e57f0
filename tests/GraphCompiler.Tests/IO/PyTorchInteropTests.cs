// A state_dict written by this library loads into the same PyTorch model with load_state_dict(strict=True) and computes what ours computes.
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using Cifar;
using FashionMnist;
using GraphCompiler.IO;
using GraphCompiler.Nn;
using GraphCompiler.Training;
using Xunit;

namespace GraphCompiler.Tests.IO;

/// <summary>
/// Reference/Interop/&lt;Model&gt;.state_dict.safetensors is <c>StateDict.Save</c> of the sample model built with a
/// fixed seed; tests/reference/make_interop_reference.py (Debian's python3-torch) loads it into the same model defined
/// in PyTorch with <c>load_state_dict(strict=True)</c>, runs a fixed input in eval mode and writes
/// Reference/Interop/&lt;Model&gt;.torch.safetensors: the input, targets, PyTorch's outputs and loss, and the SHA-256 of the
/// file it loaded. Regenerate the C# files with <c>GC_WRITE_INTEROP=1 dotnet test … --filter PyTorchInteropTests</c>,
/// then run the script.
/// </summary>
public sealed class PyTorchInteropTests
{
    private static string Folder => Path.Combine(AppContext.BaseDirectory, "Reference", "Interop");

    private static string SourceFolder([CallerFilePath] string here = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", "Reference", "Interop"));

    public static TheoryData<string> Models => new() { "Mlp", "CifarNet" };

    private static ICompiledModel Build(string name) => name switch
    {
        "Mlp" => new Mlp(seed: 31),
        "CifarNet" => new CifarNet(seed: 32),
        _ => throw new ArgumentException(name),
    };

    [Theory]
    [MemberData(nameof(Models))]
    public void The_checked_in_state_dict_is_what_this_library_writes_for_the_seeded_model(string name)
    {
        ICompiledModel model = Build(name);
        string temp = Path.Combine(Path.GetTempPath(), $"gc-interop-{Guid.NewGuid():N}.safetensors");
        try
        {
            StateDict.Save(temp, model);
            if (Environment.GetEnvironmentVariable("GC_WRITE_INTEROP") == "1")
                File.Copy(temp, Path.Combine(SourceFolder(), $"{name}.state_dict.safetensors"), overwrite: true);
            Assert.Equal(File.ReadAllBytes(temp), File.ReadAllBytes(Path.Combine(Folder, $"{name}.state_dict.safetensors")));
        }
        finally
        {
            File.Delete(temp);
        }
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void PyTorch_loaded_our_state_dict_strictly_and_computes_our_outputs(string name)
    {
        string ours = Path.Combine(Folder, $"{name}.state_dict.safetensors");
        SafeTensorFile torch = SafeTensors.ReadWithMetadata(Path.Combine(Folder, $"{name}.torch.safetensors"));
        // The PyTorch results were computed from exactly the checked-in file, loaded with strict=True.
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(ours))), torch.Metadata["loaded_sha256"]);
        Assert.Equal("strict=True missing_keys=[] unexpected_keys=[]", torch.Metadata["load_state_dict"]);

        ICompiledModel model = Build(name);
        foreach (Parameter p in model.Parameters()) p.Data.AsSpan().Clear();
        StateDict.Load(ours, model); // and back: the file loads here too
        Tensor input = torch.Tensors["input"].ToTensor();
        int[] targets = torch.Tensors["target"].AsInt32();
        float[] expected = torch.Tensors["output"].AsFloat();

        Tensor output = model.Predict(input);
        Assert.Equal(torch.Tensors["output"].ShapeArray(), output.Shape);
        float scale = expected.Max(Math.Abs);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(output.Data[i] - expected[i]) <= 1e-5f * scale, $"{name} output[{i}]: ours {output.Data[i]}, PyTorch {expected[i]}");

        Loss loss = name == "Mlp" ? Loss.Nll : Loss.CrossEntropy;
        float torchLoss = torch.Tensors["loss"].AsFloat()[0];
        Assert.True(Math.Abs(loss.Compute(output, targets) - torchLoss) <= 1e-5f * Math.Abs(torchLoss), $"{name} loss: PyTorch {torchLoss}");
    }
}
