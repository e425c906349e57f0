// Every op's declared parameters against the C# surfaces users write them through (Tensor methods, layer attributes,
// runtime layer constructors), and the binding of source arguments to them.
using System.Reflection;
using GraphCompiler.Compiler;
using Xunit;

namespace GraphCompiler.Tests.Compiler;

public class OpSignatureTests
{
    public static TheoryData<string> FunctionalOps() => [.. OpsTable.Functional.Keys];

    public static TheoryData<string> Layers() => [.. OpsTable.Layers.Keys];

    [Theory]
    [MemberData(nameof(FunctionalOps))]
    public void Tensor_method_parameters_are_the_ops_parameters(string op)
    {
        IReadOnlyList<OpParam> ps = OpsTable.Functional[op].Params;
        MethodInfo[] methods = typeof(Tensor).GetMethods().Where(m => m.Name == op && !m.IsStatic).ToArray();
        MethodInfo method = Assert.Single(methods);
        ParameterInfo[] cs = method.GetParameters();
        Assert.Equal(ps.Select(p => p.Name), cs.Select(p => p.Name));
        for (int i = 0; i < cs.Length; i++)
        {
            Assert.Equal(ps[i].Required, !cs[i].HasDefaultValue);
            if (cs[i].HasDefaultValue)
                Assert.Equal(ps[i].Default, cs[i].DefaultValue is null ? null : Convert.ToDouble(cs[i].DefaultValue));
            Type t = Nullable.GetUnderlyingType(cs[i].ParameterType) ?? cs[i].ParameterType;
            Assert.Equal(ps[i].Kind switch { ParamKind.Int => typeof(int), ParamKind.Bool => typeof(bool), _ => typeof(float) }, t);
        }
    }

    [Theory]
    [MemberData(nameof(Layers))]
    public void Layer_attribute_and_runtime_layer_match_the_layer_parameters(string kind)
    {
        OpDef op = OpsTable.Layers[kind];
        Type attr = typeof(Tensor).Assembly.GetType($"GraphCompiler.{kind}Attribute")
            ?? throw new Xunit.Sdk.XunitException($"no attribute GraphCompiler.{kind}Attribute");
        ConstructorInfo ctor = Assert.Single(attr.GetConstructors());
        string[] ctorNames = ctor.GetParameters().Select(p => p.Name!).ToArray();
        // Name and Count belong to every layer attribute (LayerAttribute), not to the op.
        bool Own(PropertyInfo p) => p.CanWrite && p.DeclaringType != typeof(LayerAttribute);
        Assert.True(typeof(LayerAttribute).IsAssignableFrom(attr), $"{attr.Name} derives from LayerAttribute");
        string[] props = attr.GetProperties().Where(Own).Select(p => p.Name).ToArray();
        Assert.Equal(op.LayerParams.Select(p => p.Name.ToLowerInvariant()), ctorNames.Concat(props).Select(n => n.ToLowerInvariant()));

        // A property's initial value is the parameter's default.
        object instance = ctor.Invoke(ctor.GetParameters().Select(p => p.ParameterType == typeof(int) ? (object)1 : 1f).ToArray());
        foreach (PropertyInfo p in attr.GetProperties().Where(Own))
        {
            OpParam param = op.LayerParams[OpParams.IndexOf(op.LayerParams, p.Name)];
            object? value = p.GetValue(instance);
            Assert.Equal(param.Default, value is null ? null : Convert.ToDouble(value));
        }

        Type layer = typeof(Tensor).Assembly.GetType($"GraphCompiler.Nn.{op.LayerType}")
            ?? throw new Xunit.Sdk.XunitException($"no runtime layer GraphCompiler.Nn.{op.LayerType}");
        Assert.Contains(layer.GetConstructors(), c =>
            c.GetParameters().Select(p => p.Name).SequenceEqual(new[] { "name" }.Concat(op.LayerParams.Select(p => p.Name)).Append("rng")));
    }

    private static readonly OpParam[] Pool = [OpParam.Int("kernel"), OpParam.Int("stride", null), OpParam.Bool("ceilMode", false), OpParam.Float("eps", 1e-5)];

    private static double[]? Bind(out string error, params ArgValue[] args) => OpParams.Bind("Pool", Pool, args, out _, out error, out _);

    [Fact]
    public void Binds_by_position_and_name_with_defaults_and_absent_optionals()
    {
        double[] v = Bind(out _, new ArgValue(null, 3, 0), new ArgValue("ceilMode", true, 1))!;
        Assert.Equal(3, v[0]);
        Assert.True(double.IsNaN(v[1]));
        Assert.Equal(1, v[2]);
        Assert.Equal(1e-5, v[3]);
        v = Bind(out _, new ArgValue("eps", 2, 0), new ArgValue("KERNEL", 2, 1), new ArgValue("stride", 1, 2))!;
        Assert.Equal([2, 1, 0, 2], v);
    }

    [Theory]
    [InlineData("Pool has no parameter 'strid'; its parameters are kernel, stride, ceilMode, eps", "strid", 2)]
    [InlineData("Pool expects an integer constant for 'kernel' but is given 2.5", "kernel", 2.5)]
    [InlineData("Pool expects true or false for 'ceilMode' but is given 1", "ceilMode", 1)]
    [InlineData("Pool needs a value for 'kernel'", "stride", 1)]
    public void Reports_what_is_wrong_with_an_argument(string expected, string name, object value)
    {
        Assert.Null(Bind(out string error, new ArgValue(name, value, 0)));
        Assert.Equal(expected, error);
    }

    [Fact]
    public void Reports_too_many_and_repeated_arguments()
    {
        Assert.Null(Bind(out string error, new ArgValue(null, 2, 0), new ArgValue(null, 2, 1), new ArgValue(null, false, 2),
            new ArgValue(null, 1.5, 3), new ArgValue(null, 1, 4)));
        Assert.Equal("Pool takes at most 4 arguments (kernel, stride, ceilMode, eps)", error);
        Assert.Null(Bind(out error, new ArgValue(null, 2, 0), new ArgValue("kernel", 2, 1)));
        Assert.Equal("Pool is given 'kernel' twice", error);
    }
}
