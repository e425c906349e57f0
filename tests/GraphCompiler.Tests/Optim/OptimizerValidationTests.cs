// Optimizer and parameter-group argument checks: each bad setting fails at construction with a message naming it.
using GraphCompiler.Nn;
using GraphCompiler.Optim;
using Xunit;

namespace GraphCompiler.Tests.Optim;

public class OptimizerValidationTests
{
    private static Parameter[] Ps() => [new Parameter("w", [3]), new Parameter("b", [1])];

    [Fact]
    public void AdamFamilyOptionsAreChecked()
    {
        Assert.Contains("Learning rate", Assert.Throws<ArgumentOutOfRangeException>(() => new Adam(Ps(), lr: -1e-3)).Message);
        Assert.Contains("betas[0]", Assert.Throws<ArgumentOutOfRangeException>(() => new Adam(Ps(), betas: (1.0, 0.999))).Message);
        Assert.Contains("betas[1]", Assert.Throws<ArgumentOutOfRangeException>(() => new AdamW(Ps(), betas: (0.9, -0.1))).Message);
        Assert.Contains("eps", Assert.Throws<ArgumentOutOfRangeException>(() => new Adam(Ps(), eps: -1)).Message);
        Assert.Contains("weight_decay", Assert.Throws<ArgumentOutOfRangeException>(() => new AdamW(Ps(), weightDecay: -0.01)).Message);
        Assert.Contains("empty parameter list", Assert.Throws<ArgumentException>(() => new Adam(Array.Empty<Parameter>())).Message);
    }

    [Fact]
    public void SgdOptionsAreChecked()
    {
        Assert.Contains("Learning rate", Assert.Throws<ArgumentOutOfRangeException>(() => new Sgd(Ps(), lr: -0.1)).Message);
        Assert.Contains("momentum", Assert.Throws<ArgumentOutOfRangeException>(() => new Sgd(Ps(), 0.1, momentum: -0.9)).Message);
        Assert.Contains("Nesterov", Assert.Throws<ArgumentException>(() => new Sgd(Ps(), 0.1, momentum: 0.9, dampening: 0.1, nesterov: true)).Message);
        // A group asking for Nesterov without momentum is caught too, not only the defaults.
        Assert.Contains("Nesterov", Assert.Throws<ArgumentException>(() => new Sgd([new ParamGroup(Ps(), nesterov: true)], 0.1)).Message);
    }

    [Fact]
    public void GroupsAreChecked()
    {
        var shared = Ps();
        Assert.Contains("more than one parameter group", Assert.Throws<ArgumentException>(() =>
            new Sgd([new ParamGroup(shared), new ParamGroup([shared[0]])], 0.1)).Message);
        Assert.Contains("twice", Assert.Throws<ArgumentException>(() => new Adam([new ParamGroup([shared[1], shared[1]])])).Message);
        Assert.Contains("no momentum", Assert.Throws<ArgumentException>(() => new Adam([new ParamGroup(Ps(), momentum: 0.9)])).Message);
        Assert.Contains("no betas", Assert.Throws<ArgumentException>(() => new Sgd([new ParamGroup(Ps(), amsgrad: true)], 0.1)).Message);
        Assert.Contains("betas[0]", Assert.Throws<ArgumentOutOfRangeException>(() => new ParamGroup(Ps(), betas: (-0.1, 0.9))).Message);
        Assert.Contains("Learning rate", Assert.Throws<ArgumentOutOfRangeException>(() => new ParamGroup(Ps(), lr: -1)).Message);

        var group = new ParamGroup(Ps());
        Assert.Throws<InvalidOperationException>(() => group.LearningRate); // no lr until an optimizer supplies its default
        var adam = new Adam([group]);
        Assert.Contains("already belongs", Assert.Throws<ArgumentException>(() => new Sgd([group], 0.1)).Message);
        Assert.Contains("'momentum'", Assert.Throws<InvalidOperationException>(() => group.Momentum = 0.5).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => group.LearningRate = -1);
        Assert.Throws<ArgumentOutOfRangeException>(() => adam.LearningRate = -1);
    }
}
