// A check a user runs on a new machine: what this build is and sees, whether every device computes what the CPU backend
// computes, and how fast a CifarNet training step is on each. It ends with one `result:` line.
//
//   dotnet run -c Release --project samples/DeviceCheck
//   dotnet publish samples/DeviceCheck -c Release -r linux-x64 --self-contained -p:PublishSingleFile=true -p:EnableCompressionInSingleFile=true
//
// The published file needs no .NET SDK: on a machine with only an NVIDIA driver it finds the CUDA devices through ILGPU.
// On every ILGPU device (ILGPU's CPU accelerator, an emulator, and each CUDA device) it trains the models of Models.cs,
// which between them hold every step kind, one step from the same initial weights as the CPU backend, and compares the
// output, the loss, every parameter gradient and every parameter after the SGD update; then every loss with its options;
// then times CifarNet steps. Each device says how its Linear and Conv2d steps run (im2col + GEMM on cuBLAS, on the ILGPU
// GEMM kernel and why, or the direct kernels); both routes are checked and timed on every device. The emulator runs tiny
// batches: it checks kernels, it is not a fast path.
using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using DeviceCheck;
using Cifar;
using GraphCompiler;
using GraphCompiler.Backends.Cpu;
using GraphCompiler.Backends.Ilgpu;
using GraphCompiler.Nn;
using GraphCompiler.Optim;
using GraphCompiler.Training;

CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;

// ---- what this build is and what it sees ----
static string VersionOf(Assembly a) =>
    a.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? a.GetName().Version?.ToString() ?? "?";
Console.WriteLine($"GraphCompiler {VersionOf(typeof(Tensor).Assembly)}, ILGPU {VersionOf(typeof(ILGPU.Context).Assembly)}, {RuntimeInformation.FrameworkDescription}");
Console.WriteLine($"OS: {RuntimeInformation.OSDescription} ({RuntimeInformation.ProcessArchitecture})");
string simd = Vector512.IsHardwareAccelerated ? "AVX-512 (Vector512)" : Vector256.IsHardwareAccelerated ? (Avx2.IsSupported ? "AVX2 (Vector256)" : "Vector256") :
    Vector128.IsHardwareAccelerated ? "Vector128" : "none";
Console.WriteLine($"SIMD: {simd}; FMA: {(Fma.IsSupported ? "yes" : "no")}");
Console.WriteLine($"Threads: {Environment.ProcessorCount} logical processors, {CpuParallel.WorkerCount} CPU-backend workers");
Console.WriteLine("Devices: cpu (native SIMD backend)");
foreach (DeviceProperties device in IlgpuDevice.AllProperties()) Console.WriteLine($"  {device}");

int cudaCount = 0;
try
{
    cudaCount = IlgpuDevice.CudaDeviceCount();
}
catch (Exception e) when (e is DllNotFoundException or TypeInitializationException or InvalidOperationException)
{
    Console.WriteLine($"CUDA: not available ({e.GetType().Name}: {e.Message})");
}
var devices = new List<Device> { Device.IlgpuCpu };
for (int i = 0; i < cudaCount; i++) devices.Add(Device.Cuda(i));

// ---- the CPU backend's CifarNet step, the yardstick ----
double cpuMs = TimeStep(() => new CifarNet(seed: 1), model => new Trainer(model, Loss.CrossEntropy, new Sgd(model.Parameters(), lr: 0.01, momentum: 0.9), 64), 64, warmup: 2, steps: 10);
Console.WriteLine($"cpu: CifarNet training step, batch 64: {cpuMs:F1} ms");

var summary = new List<string> { $"cpu={cpuMs:F1}ms@64" };
int totalChecks = 0, totalFailed = 0;
double worst = 0;
foreach (Device device in devices)
{
    bool emulator = device.Type == DeviceType.IlgpuCpu;
    var checks = new Checks();
    try
    {
        // Which route Linear and Conv2d take here, and on which GEMM: cuBLAS, or the ILGPU kernel and why.
        using (IlgpuDevice opened = IlgpuDevice.Open(device))
            Console.WriteLine($"{device}: {opened.Properties}; Linear/Conv2d: {opened.GemmRoute}");
        int batch = emulator ? 2 : 8;
        checks.Model("LayersNet", () => new LayersNet(seed: 2), Loss.Nll, device, batch);
        checks.Model("NormNet", () => new NormNet(seed: 3), Loss.CrossEntropy, device, batch);
        checks.Model("ResidualNet", () => new ResidualNet(seed: 4), Loss.CrossEntropy, device, batch);
        checks.Model("CifarNet", () => new CifarNet(seed: 5), Loss.CrossEntropy, device, emulator ? 1 : batch);
        // Both routes on every device: on CUDA the GEMM route is the default (cuBLAS) and the direct kernels its
        // fallback-free alternative; on the emulator the GEMM route runs the ILGPU GEMM kernel where CUDA runs cuBLAS.
        var other = emulator ? IlgpuGemmRoute.Im2colGemm : IlgpuGemmRoute.DirectKernel;
        checks.Model("LayersNet", () => new LayersNet(seed: 2), Loss.Nll, device, batch, other);
        checks.Model("CifarNet", () => new CifarNet(seed: 5), Loss.CrossEntropy, device, emulator ? 1 : batch, other);
        checks.Losses(device);
        int stepBatch = emulator ? 2 : 64;
        foreach (IlgpuGemmRoute route in new[] { IlgpuGemmRoute.DirectKernel, IlgpuGemmRoute.Im2colGemm })
        {
            double ms = TimeStep(() => new CifarNet(seed: 1),
                model => new IlgpuTrainer(model, Loss.CrossEntropy, new Sgd(model.Parameters(), lr: 0.01, momentum: 0.9), stepBatch, device, route),
                stepBatch, warmup: emulator ? 1 : 3, steps: emulator ? 1 : 20);
            Console.WriteLine($"{device}: CifarNet training step, batch {stepBatch}, {route}: {ms:F1} ms");
            summary.Add($"{device}/{(route == IlgpuGemmRoute.DirectKernel ? "direct" : "gemm")}={ms:F1}ms@{stepBatch}");
        }
        Console.WriteLine($"{device}: {checks.Count} checks, {checks.Failed} failed, max relative error {checks.Worst:E2}");
    }
    catch (Exception e)
    {
        checks.Fail($"{device}: {e.GetType().Name}: {e.Message}");
        summary.Add($"{device}=error");
    }
    totalChecks += checks.Count;
    totalFailed += checks.Failed;
    worst = Math.Max(worst, checks.Worst);
}

Console.WriteLine($"result: {(totalFailed == 0 ? "ok" : "FAILED")} devices={devices.Count + 1} checks={totalChecks} failed={totalFailed} max_rel_err={worst:E2} cifarnet_step {string.Join(" ", summary)}");
return totalFailed == 0 ? 0 : 1;

// The mean milliseconds of a training step on random data, after warm-up steps (kernel compilation, first allocations).
static double TimeStep(Func<ICompiledModel> create, Func<ICompiledModel, ITrainer> trainer, int batch, int warmup, int steps)
{
    ICompiledModel model = create();
    using ITrainer t = trainer(model);
    var (x, y) = Checks.Batch(batch, model, 9);
    for (int i = 0; i < warmup; i++) t.Step(x, y, batch);
    t.Synchronize();
    var watch = Stopwatch.StartNew();
    for (int i = 0; i < steps; i++) t.Step(x, y, batch);
    t.Synchronize(); // waits for the device's queue
    return watch.Elapsed.TotalMilliseconds / steps;
}
