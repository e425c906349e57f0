// The catalog of diagnostic ids (GC1xxx shapes, GC2xxx declarations and forward bodies), shared by core and generator.
namespace GraphCompiler.Compiler
{
    public static class DiagnosticIds
    {
        public const string LinearFeatures = "GC1001";
        public const string ConvChannels = "GC1002";
        public const string KernelTooLarge = "GC1003";
        public const string RankMismatch = "GC1004";
        public const string DimOutOfRange = "GC1005";
        public const string NonPositiveArgument = "GC1006";
        public const string BroadcastMismatch = "GC1007";
        public const string CatMismatch = "GC1008";
        public const string ReshapeCount = "GC1009";
        public const string ConvGroups = "GC1010";
        public const string PoolPadding = "GC1011";
        public const string SamePaddingStride = "GC1012";
        public const string NormFeatures = "GC1020";
        public const string LayerNormShape = "GC1021";

        public const string UnsupportedConstruct = "GC2001";
        public const string NotPartial = "GC2002";
        public const string MissingForward = "GC2003";
        public const string SecondForward = "GC2004";
        public const string UnknownLayer = "GC2005";
        public const string BadInputShape = "GC2006";
        public const string LayerNotPartial = "GC2007";
        public const string ValueReuse = "GC2008";
        public const string NestedModel = "GC2009";
        public const string DuplicateStateName = "GC2010";
        public const string PyTorchArgumentName = "GC2011";
        public const string UnknownOp = "GC2012";

        /// <summary>Titles, indexed by id, for the analyzer release tracking and IDE display.</summary>
        public static string Title(string id) => id switch
        {
            LinearFeatures => "Linear input features mismatch",
            ConvChannels => "Conv2d input channels mismatch",
            KernelTooLarge => "Kernel larger than its padded input",
            RankMismatch => "Input has the wrong number of dimensions",
            DimOutOfRange => "Dimension out of range",
            NonPositiveArgument => "Layer or op argument out of range",
            BroadcastMismatch => "Element-wise operands cannot broadcast",
            CatMismatch => "Concatenated values differ outside the concatenation dimension",
            ReshapeCount => "Reshape changes the number of elements",
            NormFeatures => "BatchNorm num_features mismatch",
            LayerNormShape => "LayerNorm normalized shape mismatch",
            ConvGroups => "Conv2d groups do not divide the channels",
            PoolPadding => "Pooling padding larger than half the window",
            SamePaddingStride => "Conv2d 'same' padding with a stride other than 1",
            UnsupportedConstruct => "Unsupported construct in forward body",
            NotPartial => "Model class must be partial",
            MissingForward => "Model has no forward method",
            SecondForward => "Model has more than one forward method",
            UnknownLayer => "Forward applies something that is not a declared layer",
            BadInputShape => "Invalid input shape",
            LayerNotPartial => "Layer property must be a partial property of the layer's type",
            ValueReuse => "A value is never used",
            NestedModel => "Model class must be a top-level class",
            DuplicateStateName => "Two layers have the same state_dict name",
            PyTorchArgumentName => "Argument written with its PyTorch name",
            UnknownOp => "Unknown op in forward body",
            _ => id,
        };
    }
}
