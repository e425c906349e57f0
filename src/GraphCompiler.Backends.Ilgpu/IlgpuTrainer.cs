// The training step on an ILGPU device (CUDA, or the CPU accelerator): the same schedule, loss and optimizer as Trainer, on device buffers.
using GraphCompiler.Data;
using GraphCompiler.Nn;
using GraphCompiler.Optim;
using GraphCompiler.Training;

namespace GraphCompiler.Backends.Ilgpu;

/// <summary>
/// Trains one model on an ILGPU device with the API of <see cref="Trainer"/>. Parameters are copied to the device when it
/// is created (load a checkpoint before) and back by <see cref="Synchronize"/>, which <see cref="Fit.Run"/> calls before
/// every evaluation. The optimizer is <see cref="Sgd"/>, <see cref="Adam"/> or <see cref="AdamW"/>; the learning rate and
/// options are read from it every step, so schedulers work as on the CPU.
/// </summary>
public sealed class IlgpuTrainer : IDeviceTrainer
{
    private readonly IlgpuDevice _device;
    private readonly ICompiledModel _model;
    private readonly Loss _loss;
    private readonly int _outputPerSample;
    private readonly IOptimizer _optimizer;

    public IlgpuTrainer(ICompiledModel model, Loss loss, IOptimizer optimizer, int batchSize, Device device, IlgpuGemmRoute route = IlgpuGemmRoute.Auto)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(loss);
        ArgumentNullException.ThrowIfNull(optimizer);
        _device = IlgpuDevice.Open(device, route);
        try
        {
            if (optimizer is not (Sgd or AdamBase))
                throw new NotSupportedException($"Optimizer '{(optimizer as Optimizer)?.Name ?? optimizer.GetType().Name}' has no kernel on {_device.Name}; " +
                    "the ILGPU backend supports SGD, Adam and AdamW. Train with --device cpu for other optimizers.");
            Model = new IlgpuModel(model, _device, batchSize);
        }
        catch
        {
            _device.Dispose();
            throw;
        }
        _model = model;
        _loss = loss;
        _outputPerSample = model.OutputShape.Aggregate(1, (p, d) => p * d);
        _optimizer = optimizer;
    }

    public Device Device => _device.Device;

    /// <summary>The model's schedule bound to the device (for reading outputs and gradients back).</summary>
    public IlgpuModel Model { get; }

    /// <summary>One step on a batch tensor of shape (count, ...InputShape), checked against the model's declared input first.</summary>
    public float Step(Tensor inputs, ReadOnlySpan<int> targets)
    {
        BatchChecks.InputTensor("IlgpuTrainer.Step", _model, inputs);
        return Step(inputs.Data, targets, inputs.Shape[0]);
    }

    public float Step(ReadOnlySpan<float> inputs, ReadOnlySpan<int> targets, int count)
    {
        float loss = ForwardBackward(inputs, targets, count);
        Model.OptimizerStep(_optimizer);
        return loss;
    }

    /// <summary>One step with float targets shaped like the output (MSE, L1, SmoothL1, BCE, BCEWithLogits).</summary>
    public float Step(ReadOnlySpan<float> inputs, ReadOnlySpan<float> targets, int count)
    {
        float loss = ForwardBackward(inputs, targets, count);
        Model.OptimizerStep(_optimizer);
        return loss;
    }

    /// <summary><see cref="ForwardBackward(ReadOnlySpan{float}, ReadOnlySpan{int}, int, bool, float)"/> for a loss over float targets shaped like the output.</summary>
    public float ForwardBackward(ReadOnlySpan<float> inputs, ReadOnlySpan<float> targets, int count, bool zeroGrad = true, float lossScale = 1f)
    {
        BatchChecks.Inputs("IlgpuTrainer", _model, Model.Capacity, inputs.Length, count);
        BatchChecks.FloatTargets("IlgpuTrainer", _model, targets, count, _outputPerSample);
        Forward(inputs, count, zeroGrad);
        float loss = Model.Loss(_loss, targets, lossScale);
        Model.Backward();
        return loss;
    }

    /// <summary>
    /// Zero grads (unless <paramref name="zeroGrad"/> is false), forward, loss and backward on the device, without the
    /// optimizer step; the gradient is that of <paramref name="lossScale"/> × the mean loss, as in <see cref="Trainer.ForwardBackward"/>.
    /// </summary>
    public float ForwardBackward(ReadOnlySpan<float> inputs, ReadOnlySpan<int> targets, int count, bool zeroGrad = true, float lossScale = 1f)
    {
        // Before anything reaches the device or moves BatchNorm's statistics: the same checks and words as the CPU trainer.
        BatchChecks.Inputs("IlgpuTrainer", _model, Model.Capacity, inputs.Length, count);
        BatchChecks.ClassTargets("IlgpuTrainer", _loss, targets, count, _outputPerSample, 1);
        Forward(inputs, count, zeroGrad);
        float loss = Model.Loss(_loss, targets, lossScale);
        Model.Backward();
        return loss;
    }

    /// <summary>A checked batch to the device, gradients cleared unless accumulating, and the forward pass.</summary>
    private void Forward(ReadOnlySpan<float> inputs, int count, bool zeroGrad)
    {
        Model.SetInput(inputs, count);
        if (zeroGrad) Model.ZeroGrad();
        Model.Forward();
    }

    /// <summary>
    /// The fraction of <paramref name="data"/> whose largest output is its label, evaluated on the device in eval mode
    /// (BatchNorm's running statistics, no dropout) with the device's parameters: nothing is copied back, only each
    /// batch's inputs in and outputs out. The model's mode is restored afterwards.
    /// </summary>
    public float Accuracy(IDataset data)
    {
        ArgumentNullException.ThrowIfNull(data);
        using var _ = Evaluation.EvalScope(_model);
        var loader = new DataLoader(data, Model.Capacity);
        var output = new float[Model.Capacity * _model.OutputShape.Aggregate(1, (a, b) => a * b)];
        long correct = 0;
        foreach (Batch batch in loader)
        {
            Model.SetInput(batch.Images.Data, batch.Count);
            Model.Forward();
            correct += Model.CountCorrect(batch.Labels, output);
        }
        return (float)correct / data.Count;
    }

    /// <summary>Copies the device gradients to the host's <see cref="Parameter.Grad"/> (for an all-reduce over MPI).</summary>
    public void CopyGradientsToHost() => Model.CopyGradientsToHost();

    /// <summary>Copies the host's <see cref="Parameter.Grad"/> to the device gradients (the all-reduced averages).</summary>
    public void CopyGradientsToDevice() => Model.CopyGradientsToDevice();

    /// <summary>One step of the optimizer on the device gradients, as <see cref="Step(ReadOnlySpan{float}, ReadOnlySpan{int}, int)"/> ends.</summary>
    public void OptimizerStep() => Model.OptimizerStep(_optimizer);

    /// <summary>Copies the trained parameters, running statistics and optimizer state back to the host model and optimizer.</summary>
    public void Synchronize() => Model.CopyParametersToHost();

    public void Dispose()
    {
        Model.Dispose();
        _device.Dispose();
    }
}
