// Device selection as torch.device: parsing, what auto resolves to, and the error for a CUDA device that is not there.
using GraphCompiler.Backends.Ilgpu;
using GraphCompiler.Nn;
using GraphCompiler.Optim;
using GraphCompiler.Training;
using FashionMnist;
using Xunit;

namespace GraphCompiler.Tests.Ilgpu;

[Collection(IlgpuCollection.Name)]
public class DeviceTests
{
    [Theory]
    [InlineData("cpu", DeviceType.Cpu, 0)]
    [InlineData("ilgpu-cpu", DeviceType.IlgpuCpu, 0)]
    [InlineData("cuda", DeviceType.Cuda, 0)]
    [InlineData("CUDA:1", DeviceType.Cuda, 1)]
    [InlineData(" auto ", DeviceType.Auto, 0)]
    public void Parse_reads_every_spelling(string text, DeviceType type, int index)
    {
        Device d = Device.Parse(text);
        Assert.Equal(new Device(type, index), d);
        Assert.Equal(d, Device.Parse(d.ToString()));
    }

    [Theory]
    [InlineData("gpu")]
    [InlineData("cuda:")]
    [InlineData("cuda:-1")]
    [InlineData("")]
    public void Parse_rejects_unknown_strings_and_lists_the_known_ones(string text)
    {
        var e = Assert.Throws<FormatException>(() => Device.Parse(text));
        Assert.Equal($"Unknown device '{text}'; expected one of: cpu, ilgpu-cpu, cuda, cuda:N, auto.", e.Message);
    }

    [Fact]
    public void Auto_is_cuda_when_present_else_the_cpu()
    {
        Device expected = IlgpuDevice.CudaDeviceCount() > 0 ? Device.Cuda(0) : Device.Cpu;
        Assert.Equal(expected, Device.Auto.Resolve());
        Assert.Equal(Device.IlgpuCpu, Device.IlgpuCpu.Resolve());
    }

    [Fact]
    public void Asking_for_a_cuda_device_that_is_not_there_names_the_devices_present()
    {
        // One past the last CUDA device is missing on every machine, with or without a GPU.
        int count = IlgpuDevice.CudaDeviceCount();
        var e = Assert.Throws<InvalidOperationException>(() => IlgpuDevice.Open(Device.Cuda(count)));
        Assert.StartsWith($"Device cuda:{count} was requested but ", e.Message);
        if (count == 0) Assert.Contains("there is no CUDA device", e.Message);
        Assert.Contains("Devices present: ", e.Message);
        Assert.Contains("(CPU)", e.Message); // ILGPU's CPU accelerator is always present
        // The same error through the training entry point.
        var model = new Mlp();
        var viaTrainer = Assert.Throws<InvalidOperationException>(() =>
            Trainer.Create(model, Loss.Nll, new Sgd(model.Parameters(), lr: 0.1), 4, Device.Cuda(count)));
        Assert.Equal(e.Message, viaTrainer.Message);
    }

    [Fact]
    public void Create_gives_the_native_trainer_for_cpu_and_an_ilgpu_trainer_otherwise()
    {
        var model = new Mlp();
        using ITrainer cpu = Trainer.Create(model, Loss.Nll, new Sgd(model.Parameters(), lr: 0.1), 4, Device.Cpu);
        Assert.IsType<Trainer>(cpu);
        using ITrainer ilgpu = Trainer.Create(model, Loss.Nll, new Sgd(model.Parameters(), lr: 0.1), 4, Device.IlgpuCpu);
        Assert.IsType<IlgpuTrainer>(ilgpu);
        Assert.Equal(Device.IlgpuCpu, ilgpu.Device);
    }

    [Fact]
    public void A_device_reports_its_name_kind_memory_and_compute_units()
    {
        using var device = IlgpuDevice.Open(Device.IlgpuCpu);
        DeviceProperties p = device.Properties;
        Assert.Equal("CPU", p.Kind);
        Assert.Null(p.ComputeCapability); // only a CUDA device has one
        Assert.True(p.MemoryBytes > 0, $"memory {p.MemoryBytes}");
        Assert.True(p.Multiprocessors >= 1 && p.WarpSize >= 1 && p.MaxThreadsPerGroup >= p.WarpSize, p.ToString());
        Assert.Equal($"{p.Name} (CPU, host memory, {p.Multiprocessors} multiprocessors)", p.ToString());
        Assert.Contains(p, IlgpuDevice.AllProperties());
    }

    [Fact]
    public void Device_reports_its_properties_without_opening_an_accelerator_as_torch_cuda_get_device_properties()
    {
        using var opened = IlgpuDevice.Open(Device.IlgpuCpu);
        Assert.Equal(opened.Properties, Device.IlgpuCpu.GetProperties());
        Assert.Equal(opened.Properties, IlgpuDevice.PropertiesOf(Device.IlgpuCpu));
        var native = Assert.Throws<ArgumentException>(() => Device.Cpu.GetProperties());
        Assert.StartsWith("Device 'cpu' is the native CPU backend; it has no device properties.", native.Message);
        int count = IlgpuDevice.CudaDeviceCount();
        var missing = Assert.Throws<InvalidOperationException>(() => Device.Cuda(count).GetProperties());
        Assert.StartsWith($"Device cuda:{count} was requested but ", missing.Message);
        // Every CUDA device present reports a compute capability (from ILGPU's architecture table or the driver) and memory.
        for (int i = 0; i < count; i++)
        {
            DeviceProperties p = Device.Cuda(i).GetProperties();
            Assert.Matches(@"^\d+\.\d+$", p.ComputeCapability ?? "");
            Assert.True(p.MemoryBytes > 0 && p.Multiprocessors > 0, p.ToString());
        }
    }
}
