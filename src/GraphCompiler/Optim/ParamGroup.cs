// A set of parameters with its own optimizer options, PyTorch's param_groups entry, with defaults filled in by its optimizer.
using GraphCompiler.Nn;

namespace GraphCompiler.Optim;

/// <summary>
/// Parameters that share optimizer options, as one entry of PyTorch's <c>optimizer.param_groups</c>. Options left
/// null take the optimizer's defaults when the group is given to it; options the optimizer does not use (e.g.
/// <c>momentum</c> for Adam) are rejected there, as they would silently do nothing. Options are doubles, like
/// PyTorch's Python floats, so learning-rate schedules that read back and rescale the rate follow PyTorch's
/// arithmetic; kernels take them as float.
/// </summary>
public sealed class ParamGroup
{
    private readonly Parameter[] _parameters;
    private double? _lr, _weightDecay, _momentum, _dampening, _eps;
    private bool? _nesterov, _amsgrad;
    private (double Beta1, double Beta2)? _betas;
    private OptimizerOption _options; // the owner's option families, once adopted

    public ParamGroup(IEnumerable<Parameter> parameters, double? lr = null, double? weightDecay = null, double? momentum = null,
        double? dampening = null, bool? nesterov = null, (double Beta1, double Beta2)? betas = null, double? eps = null,
        bool? amsgrad = null)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        _parameters = parameters.ToArray();
        if (_parameters.Any(p => p is null)) throw new ArgumentException("A parameter group contains a null parameter.", nameof(parameters));
        if (lr is { } l) CheckLr(l);
        if (weightDecay is { } w) CheckNonNegative(w, "weight_decay");
        if (momentum is { } m) CheckMomentum(m);
        if (dampening is { } dp) CheckDampening(dp);
        if (eps is { } e) CheckNonNegative(e, "eps");
        if (betas is { } b) CheckBetas(b);
        (_lr, _weightDecay, _momentum, _dampening, _nesterov, _betas, _eps, _amsgrad) =
            (lr, weightDecay, momentum, dampening, nesterov, betas, eps, amsgrad);
    }

    public IReadOnlyList<Parameter> Parameters => _parameters;

    /// <summary>The optimizer this group belongs to; null until it is given to one.</summary>
    public Optimizer? Optimizer { get; private set; }

    /// <summary>The learning rate (PyTorch's <c>lr</c>); schedulers rewrite it every step.</summary>
    public double LearningRate
    {
        get => _lr ?? throw Unresolved("lr");
        set { CheckLr(value); _lr = value; }
    }

    /// <summary>
    /// PyTorch's <c>initial_lr</c>: the rate a scheduler started from, recorded by the first scheduler attached
    /// (OneCycleLR sets it to max_lr / div_factor). Null while no scheduler has been attached.
    /// </summary>
    public double? InitialLearningRate { get; internal set; }

    public double WeightDecay
    {
        get => _weightDecay ?? throw Unresolved("weight_decay");
        set { CheckNonNegative(value, "weight_decay"); _weightDecay = value; }
    }

    /// <summary>SGD's momentum factor; null in groups of optimizers without one.</summary>
    public double? Momentum
    {
        get => _momentum;
        set { CheckOwned(value.HasValue, OptimizerOption.Momentum, "momentum"); if (value is { } v) CheckMomentum(v); _momentum = value; }
    }

    /// <summary>SGD's dampening; null in groups of optimizers without momentum.</summary>
    public double? Dampening
    {
        get => _dampening;
        set { CheckOwned(value.HasValue, OptimizerOption.Momentum, "dampening"); if (value is { } v) CheckDampening(v); _dampening = value; }
    }

    /// <summary>SGD's Nesterov flag; null in groups of optimizers without momentum.</summary>
    public bool? Nesterov
    {
        get => _nesterov;
        set { CheckOwned(value.HasValue, OptimizerOption.Momentum, "nesterov"); _nesterov = value; }
    }

    /// <summary>Adam's (beta1, beta2); null in groups of optimizers without moment estimates.</summary>
    public (double Beta1, double Beta2)? Betas
    {
        get => _betas;
        set { CheckOwned(value.HasValue, OptimizerOption.Betas, "betas"); if (value is { } b) CheckBetas(b); _betas = value; }
    }

    /// <summary>Adam's epsilon; null in groups of optimizers without moment estimates.</summary>
    public double? Eps
    {
        get => _eps;
        set { CheckOwned(value.HasValue, OptimizerOption.Betas, "eps"); if (value is { } e) CheckNonNegative(e, "eps"); _eps = value; }
    }

    /// <summary>Adam's AMSGrad flag; null in groups of optimizers without moment estimates.</summary>
    public bool? Amsgrad
    {
        get => _amsgrad;
        set { CheckOwned(value.HasValue, OptimizerOption.Betas, "amsgrad"); _amsgrad = value; }
    }

    /// <summary>
    /// Sets the learning rate without the range check: PyTorch's schedules may legitimately step a hair below zero
    /// (LinearLR's chained factors, OneCycleLR past its last step), and matching them matters more than the check.
    /// </summary>
    internal void SetScheduledLearningRate(double lr) => _lr = lr;

    /// <summary>Attaches the group to its optimizer, taking that optimizer's defaults for every option left unset.</summary>
    internal void Adopt(Optimizer owner, OptimizerOption options, double lr, double weightDecay, double momentum = 0, double dampening = 0,
        bool nesterov = false, (double, double) betas = default, double eps = 0, bool amsgrad = false)
    {
        if (Optimizer is not null)
            throw new ArgumentException($"This parameter group already belongs to a {Optimizer.Name} optimizer; create a new group for another.");
        string name = owner.Name;
        if ((options & OptimizerOption.Momentum) == 0 && (_momentum.HasValue || _dampening.HasValue || _nesterov.HasValue))
            throw new ArgumentException($"{name} has no momentum, dampening or nesterov option, but a parameter group sets one.");
        if ((options & OptimizerOption.Betas) == 0 && (_betas.HasValue || _eps.HasValue || _amsgrad.HasValue))
            throw new ArgumentException($"{name} has no betas, eps or amsgrad option, but a parameter group sets one.");
        // Every check comes before the first assignment, so a rejected group is left as the caller made it.
        if ((options & OptimizerOption.Momentum) != 0 && (_nesterov ?? nesterov) && ((_momentum ?? momentum) <= 0 || (_dampening ?? dampening) != 0))
            throw new ArgumentException("Nesterov momentum requires a momentum and zero dampening (as in PyTorch).", "nesterov");
        _lr ??= lr;
        _weightDecay ??= weightDecay;
        if ((options & OptimizerOption.Momentum) != 0)
        {
            _momentum ??= momentum;
            _dampening ??= dampening;
            _nesterov ??= nesterov;
        }
        if ((options & OptimizerOption.Betas) != 0)
        {
            _betas ??= betas;
            _eps ??= eps;
            _amsgrad ??= amsgrad;
        }
        Optimizer = owner;
        _options = options;
    }

    private void CheckOwned(bool setting, OptimizerOption option, string name)
    {
        if (Optimizer is null) return; // before adoption anything may be set; Adopt judges it
        if ((_options & option) == 0 && setting)
            throw new InvalidOperationException($"{Optimizer.Name} has no '{name}' option.");
        if ((_options & option) != 0 && !setting)
            throw new InvalidOperationException($"{Optimizer.Name} needs a '{name}' value; it cannot be cleared.");
    }

    private InvalidOperationException Unresolved(string option) =>
        new($"This parameter group has no '{option}' of its own and has not been given to an optimizer, whose default it would take.");

    // Infinite options are refused as well as negative ones: lr = inf (from a hand-edited or corrupt checkpoint as
    // much as from code) makes every parameter non-finite after one step, and nothing would say why.
    internal static void CheckLr(double lr)
    {
        if (!(lr >= 0) || double.IsPositiveInfinity(lr)) throw new ArgumentOutOfRangeException("lr", lr, "Learning rate must be finite and non-negative.");
    }

    internal static void CheckNonNegative(double value, string name)
    {
        if (!(value >= 0) || double.IsPositiveInfinity(value)) throw new ArgumentOutOfRangeException(name, value, $"{name} must be finite and non-negative.");
    }

    /// <summary>Momentum above 1 makes the velocity grow without bound; PyTorch does not check it, but nothing trains with it.</summary>
    internal static void CheckMomentum(double momentum)
    {
        if (!(momentum >= 0 && momentum <= 1)) throw new ArgumentOutOfRangeException("momentum", momentum, "momentum must be in [0, 1].");
    }

    internal static void CheckDampening(double dampening)
    {
        if (!(dampening >= 0 && dampening <= 1)) throw new ArgumentOutOfRangeException("dampening", dampening, "dampening must be in [0, 1].");
    }

    internal static void CheckBetas((double Beta1, double Beta2) betas)
    {
        if (!(betas.Beta1 >= 0 && betas.Beta1 < 1))
            throw new ArgumentOutOfRangeException("betas", betas.Beta1, "betas[0] (beta1) must be in [0, 1).");
        if (!(betas.Beta2 >= 0 && betas.Beta2 < 1))
            throw new ArgumentOutOfRangeException("betas", betas.Beta2, "betas[1] (beta2) must be in [0, 1).");
    }
}

/// <summary>Which option families an optimizer's parameter groups carry, beyond lr and weight decay.</summary>
[Flags]
public enum OptimizerOption
{
    None = 0,

    /// <summary>momentum, dampening, nesterov (SGD).</summary>
    Momentum = 1,

    /// <summary>betas, eps, amsgrad (Adam, AdamW).</summary>
    Betas = 2,
}
