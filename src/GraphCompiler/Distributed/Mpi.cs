// A thin binding of the few MPI C functions data-parallel training needs, to OpenMPI's libmpi.so, loaded at run time.
using System.Runtime.InteropServices;

namespace GraphCompiler.Distributed;

/// <summary>
/// OpenMPI's C API through function pointers. MPI.NET 1.4.0 was tried first: it binds <c>msmpi.dll</c> with MS-MPI's
/// integer handle constants, so it cannot load OpenMPI on Linux. OpenMPI's handles are pointers to exported objects
/// (<c>MPI_COMM_WORLD</c> is <c>&amp;ompi_mpi_comm_world</c>), which is why they are looked up as symbols here.
/// The library is loaded only when a launcher started several processes, so a single process needs no MPI installed.
/// </summary>
internal static unsafe class Mpi
{
    public const int Success = 0;
    public const int ThreadMultiple = 3;
    public const int AnySource = -1;

    /// <summary>OpenMPI's <c>MPI_IN_PLACE</c>.</summary>
    public static readonly void* InPlace = (void*)1;

    /// <summary>OpenMPI's <c>MPI_Status</c>: source, tag, error, then two internal fields (24 bytes).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct Status
    {
        public int Source;
        public int Tag;
        public int Error;
        public int Cancelled;
        public nuint Count;
    }

    public static nint CommWorld, Float, Double, LongLong, Byte, OpSum, OpMax, ErrorsReturn;

    public static delegate* unmanaged<int*, nint, int, int*, int> InitThread;
    public static delegate* unmanaged<int*, int> Initialized;
    public static delegate* unmanaged<int*, int> Finalized;
    public static delegate* unmanaged<int> FinalizeMpi;
    public static delegate* unmanaged<nint, int*, int> CommRank;
    public static delegate* unmanaged<nint, int*, int> CommSize;
    public static delegate* unmanaged<nint, nint*, int> CommDup;
    public static delegate* unmanaged<nint, nint, int> CommSetErrhandler;
    public static delegate* unmanaged<void*, void*, int, nint, nint, nint, nint*, int> Iallreduce;
    public static delegate* unmanaged<void*, int, nint, int, nint, nint*, int> Ibcast;
    public static delegate* unmanaged<void*, int, nint, int, int, nint, nint*, int> Isend;
    public static delegate* unmanaged<void*, int, nint, int, int, nint, nint*, int> Irecv;
    public static delegate* unmanaged<nint*, int*, Status*, int> Test;
    public static delegate* unmanaged<nint*, int> Cancel;
    public static delegate* unmanaged<nint*, int> RequestFree;
    public static delegate* unmanaged<nint, int, int> Abort;
    public static delegate* unmanaged<int, byte*, int*, int> ErrorString;

    private static readonly object Gate = new();
    private static nint _library;

    /// <summary>
    /// Loads libmpi (the Debian package openmpi-bin's <c>libmpi.so.40</c>, or <c>GRAPHCOMPILER_LIBMPI</c>) once. It is
    /// opened with RTLD_GLOBAL first because OpenMPI's plugins resolve libmpi's symbols from the global namespace.
    /// </summary>
    public static void Load()
    {
        lock (Gate)
        {
            if (_library != 0) return;
            string[] names = Environment.GetEnvironmentVariable("GRAPHCOMPILER_LIBMPI") is { Length: > 0 } custom
                ? [custom] : ["libmpi.so.40", "libmpi.so"];
            nint library = 0;
            foreach (string name in names)
            {
                DlopenGlobal(name);
                if (NativeLibrary.TryLoad(name, out library)) break;
            }
            if (library == 0)
                throw new DllNotFoundException(
                    $"Several processes were launched ({LauncherEnvironment.Describe()}) but OpenMPI's library ({string.Join(" or ", names)}) was not found: install it (apt-get install openmpi-bin) or run one process.");
            CommWorld = Symbol(library, "ompi_mpi_comm_world");
            Float = Symbol(library, "ompi_mpi_float");
            Double = Symbol(library, "ompi_mpi_double");
            LongLong = Symbol(library, "ompi_mpi_long_long_int");
            Byte = Symbol(library, "ompi_mpi_byte");
            OpSum = Symbol(library, "ompi_mpi_op_sum");
            OpMax = Symbol(library, "ompi_mpi_op_max");
            ErrorsReturn = Symbol(library, "ompi_mpi_errors_return");
            InitThread = (delegate* unmanaged<int*, nint, int, int*, int>)Symbol(library, "MPI_Init_thread");
            Initialized = (delegate* unmanaged<int*, int>)Symbol(library, "MPI_Initialized");
            Finalized = (delegate* unmanaged<int*, int>)Symbol(library, "MPI_Finalized");
            FinalizeMpi = (delegate* unmanaged<int>)Symbol(library, "MPI_Finalize");
            CommRank = (delegate* unmanaged<nint, int*, int>)Symbol(library, "MPI_Comm_rank");
            CommSize = (delegate* unmanaged<nint, int*, int>)Symbol(library, "MPI_Comm_size");
            CommDup = (delegate* unmanaged<nint, nint*, int>)Symbol(library, "MPI_Comm_dup");
            CommSetErrhandler = (delegate* unmanaged<nint, nint, int>)Symbol(library, "MPI_Comm_set_errhandler");
            Iallreduce = (delegate* unmanaged<void*, void*, int, nint, nint, nint, nint*, int>)Symbol(library, "MPI_Iallreduce");
            Ibcast = (delegate* unmanaged<void*, int, nint, int, nint, nint*, int>)Symbol(library, "MPI_Ibcast");
            Isend = (delegate* unmanaged<void*, int, nint, int, int, nint, nint*, int>)Symbol(library, "MPI_Isend");
            Irecv = (delegate* unmanaged<void*, int, nint, int, int, nint, nint*, int>)Symbol(library, "MPI_Irecv");
            Test = (delegate* unmanaged<nint*, int*, Status*, int>)Symbol(library, "MPI_Test");
            Cancel = (delegate* unmanaged<nint*, int>)Symbol(library, "MPI_Cancel");
            RequestFree = (delegate* unmanaged<nint*, int>)Symbol(library, "MPI_Request_free");
            Abort = (delegate* unmanaged<nint, int, int>)Symbol(library, "MPI_Abort");
            ErrorString = (delegate* unmanaged<int, byte*, int*, int>)Symbol(library, "MPI_Error_string");
            _library = library;
        }
    }

    /// <summary>Throws with MPI's own text for a failed call (the communicators return errors instead of aborting).</summary>
    public static void Check(int code, string call)
    {
        if (code == Success) return;
        byte* text = stackalloc byte[512];
        int length = 0;
        string message = ErrorString(code, text, &length) == Success ? Marshal.PtrToStringUTF8((nint)text, length) : "unknown error";
        throw new DistributedException($"{call} failed: MPI error {code}: {message}");
    }

    private static nint Symbol(nint library, string name) =>
        NativeLibrary.TryGetExport(library, name, out nint address) ? address
            : throw new EntryPointNotFoundException($"OpenMPI's library has no symbol {name}: this binding needs OpenMPI 4 (Debian's openmpi-bin).");

    private static void DlopenGlobal(string name)
    {
        const int RtldNow = 2, RtldGlobal = 0x100;
        if (!NativeLibrary.TryLoad("libc.so.6", out nint libc) || !NativeLibrary.TryGetExport(libc, "dlopen", out nint dlopen)) return;
        nint path = Marshal.StringToCoTaskMemUTF8(name);
        try
        {
            ((delegate* unmanaged<nint, int, nint>)dlopen)(path, RtldNow | RtldGlobal);
        }
        finally
        {
            Marshal.FreeCoTaskMem(path);
        }
    }
}
