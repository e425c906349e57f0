// Where a model trains, in the spirit of torch.device: the native CPU backend, ILGPU's CPU accelerator, a CUDA GPU, or "auto".

namespace GraphCompiler;

/// <summary>The kind of a <see cref="Device"/>.</summary>
public enum DeviceType
{
    /// <summary>The native CPU backend (SIMD kernels, multi-threaded): the fast path on a machine without a GPU.</summary>
    Cpu,

    /// <summary>ILGPU's CPU accelerator: the ILGPU kernels run by an emulator, to check them without a GPU (slow).</summary>
    IlgpuCpu,

    /// <summary>A CUDA GPU through ILGPU.</summary>
    Cuda,

    /// <summary>CUDA when a CUDA device is present, else <see cref="Cpu"/>; <see cref="Device.Resolve"/> makes the choice.</summary>
    Auto,
}

/// <summary>
/// A device to run a model on: <see cref="Cpu"/>, <see cref="IlgpuCpu"/>, <see cref="Cuda"/>(index) or <see cref="Auto"/>.
/// <see cref="Parse"/> reads the spellings the samples take after <c>--device</c>: cpu, ilgpu-cpu, cuda, cuda:1, auto.
/// </summary>
public sealed record Device(DeviceType Type, int Index = 0)
{
    /// <summary>The native CPU backend.</summary>
    public static Device Cpu { get; } = new(DeviceType.Cpu);

    /// <summary>ILGPU's CPU accelerator (a correctness path, not a speed path).</summary>
    public static Device IlgpuCpu { get; } = new(DeviceType.IlgpuCpu);

    /// <summary>CUDA when present, else the native CPU backend.</summary>
    public static Device Auto { get; } = new(DeviceType.Auto);

    /// <summary>The CUDA device with this ordinal (0 is the first GPU).</summary>
    public static Device Cuda(int index = 0) => index >= 0
        ? new Device(DeviceType.Cuda, index)
        : throw new ArgumentOutOfRangeException(nameof(index), index, "A CUDA device index is 0 or more.");

    /// <summary>The spellings <see cref="Parse"/> accepts, for help texts.</summary>
    public const string Spellings = "cpu, ilgpu-cpu, cuda, cuda:N, auto";

    /// <summary>Reads cpu, ilgpu-cpu, cuda, cuda:N or auto (case-insensitive); anything else is an error that lists these.</summary>
    public static Device Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string t = text.Trim().ToLowerInvariant();
        switch (t)
        {
            case "cpu": return Cpu;
            case "ilgpu-cpu": return IlgpuCpu;
            case "cuda": return Cuda();
            case "auto": return Auto;
        }
        if (t.StartsWith("cuda:", StringComparison.Ordinal)
            && int.TryParse(t.AsSpan(5), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int index))
            return Cuda(index);
        throw new FormatException($"Unknown device '{text}'; expected one of: {Spellings}.");
    }

    /// <summary>
    /// The device <see cref="Auto"/> stands for on this machine (the first CUDA device if ILGPU finds one, else
    /// <see cref="Cpu"/>); every other device is returned as it is.
    /// </summary>
    public Device Resolve() => Type != DeviceType.Auto ? this : DeviceBackends.TryFind(DeviceType.Cuda)?.CudaDeviceCount() > 0 ? Cuda() : Cpu;

    /// <summary>The spelling <see cref="Parse"/> reads back: cpu, ilgpu-cpu, cuda:N or auto.</summary>
    public override string ToString() => Type switch
    {
        DeviceType.Cpu => "cpu",
        DeviceType.IlgpuCpu => "ilgpu-cpu",
        DeviceType.Cuda => $"cuda:{Index}",
        _ => "auto",
    };
}
