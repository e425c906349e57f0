# Generates the PyTorch reference data (parameters, input, output, loss, gradients, one SGD step) that GraphCompiler's parity tests compare against.
"""Writes tests/GraphCompiler.Tests/Reference/{Mlp,CifarNet,StridedNet}.safetensors.

Run with Debian's python3 (the one python3-torch is installed for), from the repository root or anywhere:
    /usr/bin/python3 tests/reference/make_reference.py

Deterministic: fixed seeds, float32, one thread, torch.use_deterministic_algorithms(True), no timestamps
in the files. Re-running on the same machine and torch build reproduces the files byte for byte (the
script prints a SHA-256 of each file). The `safetensors` package is not needed: the format is written
by hand (see write_safetensors) and read back and checked before the script finishes.

For every quantity the script also computes the same thing (a) in float64 (same float32-initialised
parameters and input, promoted) and (b) in float32 with a different convolution algorithm (oneDNN/mkldnn
off: im2col + GEMM instead of the default), and prints how far the stored float32 values are from both,
so that parity tolerances can be chosen from measurements rather than guessed. (b) is the closer model
of GraphCompiler-vs-PyTorch: two float32 implementations that sum in different orders.
"""
import copy
import hashlib
import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

OUT_DIR = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                        "..", "GraphCompiler.Tests", "Reference"))
LR = 0.1
RTOL = 1e-4

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)
torch.set_default_dtype(torch.float32)


# ---------------------------------------------------------------- models
# Attribute names are the state_dict names GraphCompiler emits; do not rename them.

class Mlp(nn.Module):
    ARCH = ("Mlp: input [N,1,28,28] float32 -> flatten(x,1) [N,784] -> fc1=Linear(784,128) -> relu "
            "-> fc2=Linear(128,64) -> relu -> fc3=Linear(64,10) -> log_softmax(dim=1) -> output [N,10] "
            "(log-probabilities); loss = F.nll_loss(output, target) (mean over N)")
    LOSS = "nll_loss"

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 128)
        self.fc2 = nn.Linear(128, 64)
        self.fc3 = nn.Linear(64, 10)

    def forward(self, x):
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return F.log_softmax(self.fc3(x), dim=1)


class CifarNet(nn.Module):
    ARCH = ("CifarNet: input [N,3,32,32] float32 -> conv1=Conv2d(3,32,5,stride=1,padding=2) [N,32,32,32] -> relu "
            "-> max_pool2d(2) [N,32,16,16] -> conv2=Conv2d(32,32,5,stride=1,padding=2) [N,32,16,16] -> relu "
            "-> max_pool2d(2) [N,32,8,8] -> conv3=Conv2d(32,64,5,stride=1,padding=2) [N,64,8,8] -> relu "
            "-> max_pool2d(2) [N,64,4,4] -> flatten(x,1) [N,1024] -> fc1=Linear(1024,64) -> relu "
            "-> fc2=Linear(64,10) -> output [N,10] (logits); loss = F.cross_entropy(output, target) (mean over N)")
    LOSS = "cross_entropy"

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 5, padding=2)
        self.conv2 = nn.Conv2d(32, 32, 5, padding=2)
        self.conv3 = nn.Conv2d(32, 64, 5, padding=2)
        self.fc1 = nn.Linear(1024, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.max_pool2d(F.relu(self.conv3(x)), 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        return self.fc2(x)


class StridedNet(nn.Module):
    # 16x16 -> conv1 (k3,s2,p1): floor((16+2-3)/2)+1 = 8 -> conv2 (k3,s1,p0): 8-3+1 = 6 -> max_pool2d(2): 3.
    # So fc1 sees 16*3*3 = 144 features (the brief's 16*5*5 would not match these shapes).
    ARCH = ("StridedNet: input [N,1,16,16] float32 -> conv1=Conv2d(1,8,3,stride=2,padding=1) [N,8,8,8] -> relu "
            "-> conv2=Conv2d(8,16,3,stride=1,padding=0) [N,16,6,6] -> relu -> max_pool2d(2) [N,16,3,3] "
            "-> flatten(x,1) [N,144] -> fc1=Linear(144,10) -> output [N,10] (logits); "
            "loss = F.cross_entropy(output, target) (mean over N)")
    LOSS = "cross_entropy"

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=1, padding=0)
        self.fc1 = nn.Linear(16 * 3 * 3, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        return self.fc1(x)


# (class, input shape, seed)
MODELS = [
    (Mlp, (8, 1, 28, 28), 1),
    (CifarNet, (4, 3, 32, 32), 2),
    (StridedNet, (4, 1, 16, 16), 3),
]


# ---------------------------------------------------------------- safetensors (by hand)

_DTYPES = {np.dtype("<f4"): "F32", np.dtype("<f8"): "F64", np.dtype("<i4"): "I32", np.dtype("<i8"): "I64"}
_NP = {v: k for k, v in _DTYPES.items()}


def write_safetensors(path, tensors, metadata):
    """tensors: list of (name, np.ndarray) in file order; metadata: dict str -> str."""
    header = {"__metadata__": {str(k): str(v) for k, v in metadata.items()}}
    blobs, offset = [], 0
    for name, arr in tensors:
        arr = np.asarray(arr, order="C")  # not ascontiguousarray, which turns a 0-d tensor (num_batches_tracked) into shape [1]
        dt = arr.dtype.newbyteorder("<")
        if dt not in _DTYPES:
            raise ValueError(f"{name}: unsupported dtype {arr.dtype}")
        raw = arr.astype(dt, copy=False).tobytes(order="C")
        if name in header:
            raise ValueError(f"duplicate tensor name {name}")
        header[name] = {"dtype": _DTYPES[dt], "shape": list(arr.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hb += b" " * ((8 - len(hb) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("utf-8"))
    body = data[8 + n:]
    meta = header.pop("__metadata__", {})
    out, spans = {}, []
    for name, h in header.items():
        b, e = h["data_offsets"]
        spans.append((b, e))
        out[name] = np.frombuffer(body[b:e], dtype=_NP[h["dtype"]]).reshape(h["shape"])
    spans.sort()
    pos = 0
    for b, e in spans:
        assert b == pos, (path, b, pos)
        pos = e
    assert pos == len(body), (path, pos, len(body))
    return out, meta


# ---------------------------------------------------------------- computation

def run(model, x, target, loss_name):
    """Forward, loss, backward and one plain SGD step on `model` (modified in place)."""
    x = x.clone().requires_grad_(True)
    out = model(x)
    loss = getattr(F, loss_name)(out, target)
    model.zero_grad(set_to_none=True)
    loss.backward()
    res = {"output": out.detach().clone(), "loss": loss.detach().reshape(1).clone()}
    for name, p in model.named_parameters():
        res["grad." + name] = p.grad.detach().clone()
    res["grad.input"] = x.grad.detach().clone()
    opt = torch.optim.SGD(model.parameters(), lr=LR)  # plain SGD: no momentum, no weight decay, no dampening
    opt.step()
    for name, p in model.named_parameters():
        res["sgd1." + name] = p.detach().clone()
    return res


def compare(a32, a64):
    a = a32.double().numpy().ravel()
    b = a64.numpy().ravel()
    err = np.abs(a - b)
    absb = np.abs(b)
    maxb = float(absb.max()) if b.size else 0.0
    maxerr = float(err.max()) if b.size else 0.0
    normwise = maxerr / maxb if maxb > 0 else 0.0
    big = absb > 1e-3 * maxb
    elementwise = float((err[big] / absb[big]).max()) if big.any() else 0.0
    atol_needed = float(np.maximum(err - RTOL * absb, 0.0).max()) if b.size else 0.0
    return maxb, maxerr, normwise, elementwise, atol_needed / maxb if maxb > 0 else 0.0


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def exact(v):
    """A float32 value as the shortest decimal that round-trips plus its bit pattern."""
    f = np.float32(v)
    bits = struct.unpack("<I", struct.pack("<f", f))[0]
    return f"{np.format_float_positional(f, unique=True, trim='-')}f (0x{bits:08X})"


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    print(f"torch {torch.__version__}, numpy {np.__version__}, python {sys.version.split()[0]}, "
          f"threads {torch.get_num_threads()}, deterministic {torch.are_deterministic_algorithms_enabled()}")
    print(f"writing to {OUT_DIR}\n")
    summary = []
    for cls, in_shape, seed in MODELS:
        name = cls.__name__
        torch.manual_seed(seed)
        model = cls()                                   # default PyTorch init, drawn first from the seed
        x = torch.randn(*in_shape)                      # then the input ~ N(0,1)
        target = torch.randint(0, 10, (in_shape[0],))   # then the class indices (int64)

        params = {k: v.detach().clone() for k, v in model.state_dict().items()}
        model64 = copy.deepcopy(model).double()
        model_alt = copy.deepcopy(model)
        r32 = run(model, x, target, cls.LOSS)
        r64 = run(model64, x.double(), target, cls.LOSS)
        with torch.backends.mkldnn.flags(enabled=False):
            ralt = run(model_alt, x, target, cls.LOSS)

        tensors = [(k, v.numpy()) for k, v in params.items()]
        tensors.append(("input", x.numpy()))
        tensors.append(("target", target.numpy().astype(np.int32)))
        for k in ["output", "loss"] + ["grad." + p for p in params] + ["grad.input"] + ["sgd1." + p for p in params]:
            tensors.append((k, r32[k].numpy()))
        tensors.append(("f64.output", r64["output"].numpy()))
        tensors.append(("f64.loss", r64["loss"].numpy()))
        for k, v in tensors:
            if k not in ("target", "f64.output", "f64.loss"):
                assert v.dtype == np.float32, (k, v.dtype)

        metadata = {
            "format": "graphcompiler-reference-v1",
            "generator": "tests/reference/make_reference.py",
            "model": name,
            "architecture": cls.ARCH,
            "torch_version": torch.__version__,
            "numpy_version": np.__version__,
            "seed": str(seed),
            "init": f"torch.manual_seed({seed}); model = {name}() (default PyTorch init); "
                    f"input = torch.randn{tuple(in_shape)}; target = torch.randint(0, 10, ({in_shape[0]},))",
            "input_shape": json.dumps(list(in_shape)),
            "loss": f"F.{cls.LOSS}(output, target), reduction mean, stored as shape [1]",
            "target": "class indices (int64 in PyTorch) stored as I32, shape [N]",
            "grads": "grad.<state_dict name> = parameter gradient after loss.backward(); "
                     "grad.input = d loss / d input",
            "sgd": f"sgd1.<state_dict name> = parameter after one torch.optim.SGD(lr={LR}) step "
                   "(no momentum, no weight decay): p - lr * grad",
            "f64": "f64.output / f64.loss: the same computation in float64 from the same float32 "
                   "parameters and input (promoted), for tolerance studies",
            "parameters": ",".join(params.keys()),
            "threads": "1",
            "deterministic": "torch.use_deterministic_algorithms(True)",
        }
        path = os.path.join(OUT_DIR, name + ".safetensors")
        write_safetensors(path, tensors, metadata)

        # read back and check that every tensor survived exactly
        back, meta = read_safetensors(path)
        assert meta == metadata
        assert list(back.keys()) == [k for k, _ in tensors]
        for k, v in tensors:
            assert back[k].dtype == v.dtype and back[k].shape == v.shape and np.array_equal(back[k], v), k

        print(f"== {name}: {os.path.basename(path)}, {os.path.getsize(path)} bytes, sha256 {sha256(path)}")
        print(f"   {cls.ARCH}")
        print(f"   {'tensor':<22} {'dtype':<5} {'shape':<18}")
        for k, v in tensors:
            dt = _DTYPES[v.dtype.newbyteorder('<')]
            print(f"   {k:<22} {dt:<5} {str(list(v.shape)):<18}")
        print(f"   exact values (for C# asserts):")
        first = next(iter(params))
        bias_key = [k for k in params if k.endswith(".bias")][0]
        print(f"     {bias_key}[0:3] = " + ", ".join(exact(v) for v in params[bias_key][:3].tolist()))
        print(f"     {first}.flat[0:3] = " + ", ".join(exact(v) for v in params[first].flatten()[:3].tolist()))
        print(f"     input.flat[0:3] = " + ", ".join(exact(v) for v in x.flatten()[:3].tolist()))
        print(f"     target = {target.tolist()}")
        print(f"     loss = {exact(r32['loss'][0].item())}   f64.loss = {r64['loss'][0].item()!r}")
        print(f"     output[0,0:3] = " + ", ".join(exact(v) for v in r32['output'][0, :3].tolist()))
        print(f"   stored float32 vs [float64 | float32 with mkldnn off], same params/input. Columns: max|ref|; then for each "
              f"reference: max abs err, normwise rel = maxerr/max|ref|, elementwise rel (over |ref| > 1e-3*max|ref|), "
              f"atol/max|ref| needed for |a-ref| <= atol + {RTOL}*|ref|")
        for k in ["output", "loss"] + ["grad." + p for p in params] + ["grad.input"] + ["sgd1." + p for p in params]:
            maxb, maxerr, normwise, elementwise, atol = compare(r32[k], r64[k])
            _, maxerr2, normwise2, elementwise2, atol2 = compare(r32[k], ralt[k].double())
            print(f"     {k:<22} {maxb:9.2e} | f64 {maxerr:9.2e} {normwise:9.2e} {elementwise:9.2e} {atol:9.2e} "
                  f"| alt {maxerr2:9.2e} {normwise2:9.2e} {elementwise2:9.2e} {atol2:9.2e}")
            summary.append((name, "f64", k, normwise, elementwise, atol))
            summary.append((name, "alt", k, normwise2, elementwise2, atol2))
        print()

    print("== summary: worst differences of the stored float32 values per model, against float64 and against "
          "float32 with mkldnn off")
    for name in [c.__name__ for c, _, _ in MODELS]:
        for ref in ("f64", "alt"):
            rows = [r for r in summary if r[0] == name and r[1] == ref]
            w_norm = max(rows, key=lambda r: r[3])
            w_elem = max(rows, key=lambda r: r[4])
            w_atol = max(rows, key=lambda r: r[5])
            print(f"   {name:<11} vs {ref}: normwise rel {w_norm[3]:.2e} ({w_norm[2]}); elementwise rel {w_elem[4]:.2e} "
                  f"({w_elem[2]}); atol/max|ref| needed at rtol {RTOL}: {w_atol[5]:.2e} ({w_atol[2]})")
    worst = max(r[3] for r in summary)
    worst_elem = max(r[4] for r in summary)
    print(f"   overall worst normwise relative difference: {worst:.2e} ({'within' if worst <= RTOL else 'EXCEEDS'} {RTOL}); "
          f"worst elementwise: {worst_elem:.2e} ({'within' if worst_elem <= RTOL else 'EXCEEDS'} {RTOL}: compare "
          f"per tensor against max|ref|, or add an atol, rather than a pure elementwise rtol)")

if __name__ == "__main__":
    main()
