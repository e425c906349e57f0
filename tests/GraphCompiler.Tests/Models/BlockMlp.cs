// An MLP of identical pre-norm residual blocks written the way a PyTorch user writes one: nn.ModuleLists (layer arrays
// with Count), a loop over them, a constant switch, and a local that is reassigned.
using GraphCompiler;
using GraphCompiler.Nn;

namespace GraphCompiler.Tests.Models;

[Model]
public partial class BlockMlp
{
    public const int Depth = 3;
    public const bool Residual = true;

    [Linear(8, 32)]                  public partial Linear Stem { get; }
    [Linear(32, 32, Count = Depth)]  public partial Linear[] Blocks { get; }
    [LayerNorm(32, Count = Depth)]   public partial LayerNorm[] Norms { get; }
    [Linear(32, 4)]                  public partial Linear Head { get; }

    [Forward(Input = "N,8")]
    public Tensor Forward(Tensor x)
    {
        x = x.Apply(Stem).Relu();
        for (int i = 0; i < Blocks.Length; i++)
        {
            var h = x.Apply(Norms[i]).Apply(Blocks[i]).Tanh();
            if (Residual) h += x;
            x = h;
        }
        return x.Apply(Head);
    }
}
