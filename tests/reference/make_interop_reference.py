# Loads the state_dicts GraphCompiler saved into the same models defined in PyTorch (strict=True) and records PyTorch's outputs.
"""Reads tests/GraphCompiler.Tests/Reference/Interop/{Mlp,CifarNet}.state_dict.safetensors (written by this library's
StateDict.Save: see tests/GraphCompiler.Tests/IO/PyTorchInteropTests.cs), loads each into the PyTorch definition of the
sample model with model.load_state_dict(state_dict, strict=True), runs a fixed input in eval mode under no_grad and writes
tests/GraphCompiler.Tests/Reference/Interop/<Model>.torch.safetensors:

    input   F32 [N, ...]  torch.manual_seed(seed); torch.randn(shape)
    target  I32 [N]       torch.randint(0, 10, (N,)) drawn after the input
    output  F32 [N, 10]   model(input): log-probabilities (Mlp) or logits (CifarNet)
    loss    F32 [1]       F.nll_loss (Mlp) or F.cross_entropy (CifarNet), mean

with __metadata__: loaded_sha256 (the SHA-256 of the state_dict file it loaded, so the C# test knows these outputs were
computed from exactly the checked-in file), load_state_dict (what strict loading reported), the dtype and shape of every
entry as torch saw them, and the torch version.

    /usr/bin/python3 tests/reference/make_interop_reference.py

The files are read with the hand-written reader of make_reference.py (Debian has no `safetensors` package); where the
`safetensors` package is installed (PyTorch 2.x machines) the script also loads each file with
safetensors.torch.load_file and checks it gives the same tensors.
"""
import hashlib
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_reference import CifarNet, Mlp, OUT_DIR, read_safetensors, sha256, write_safetensors  # noqa: E402

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

INTEROP_DIR = os.path.join(OUT_DIR, "Interop")

# (name, class, input shape, seed, loss)
MODELS = [
    ("Mlp", Mlp, (8, 1, 28, 28), 41, F.nll_loss),
    ("CifarNet", CifarNet, (4, 3, 32, 32), 42, F.cross_entropy),
]


def load_ours(path):
    arrays, meta = read_safetensors(path)
    state = {name: torch.from_numpy(np.array(a)) for name, a in arrays.items()}
    try:
        from safetensors.torch import load_file  # not on Debian 12; present with PyTorch 2.x
    except ImportError:
        return state, "hand-written reader (safetensors package not installed)"
    other = load_file(path)
    assert list(other) == list(state) or sorted(other) == sorted(state), (path, list(other), list(state))
    for name, t in state.items():
        assert other[name].dtype == t.dtype and other[name].shape == t.shape and torch.equal(other[name], t), name
    return other, "safetensors.torch.load_file (checked equal to the hand-written reader)"


def main():
    for name, cls, shape, seed, loss_fn in MODELS:
        path = os.path.join(INTEROP_DIR, f"{name}.state_dict.safetensors")
        state, reader = load_ours(path)
        model = cls()
        result = model.load_state_dict(state, strict=True)  # raises on any missing, unexpected or mis-shaped entry
        assert not result.missing_keys and not result.unexpected_keys, result
        for k, v in model.state_dict().items():
            assert torch.equal(v, state[k]), k
        model.eval()
        torch.manual_seed(seed)
        x = torch.randn(shape)
        target = torch.randint(0, 10, (shape[0],))
        with torch.no_grad():
            out = model(x)
            loss = loss_fn(out, target)
        meta = {
            "format": "graphcompiler-interop-v1",
            "generator": "tests/reference/make_interop_reference.py",
            "model": name,
            "loaded_file": f"Interop/{name}.state_dict.safetensors",
            "loaded_sha256": sha256(path),
            "reader": reader,
            "load_state_dict": f"strict=True missing_keys={result.missing_keys} unexpected_keys={result.unexpected_keys}",
            "entries": ", ".join(f"{k} {str(v.dtype).replace('torch.', '')} {list(v.shape)}" for k, v in state.items()),
            "torch_version": torch.__version__,
            "seed": str(seed),
            "mode": "eval, no_grad",
        }
        out_path = os.path.join(INTEROP_DIR, f"{name}.torch.safetensors")
        write_safetensors(out_path, [
            ("input", x.numpy()),
            ("target", target.numpy().astype(np.int32)),
            ("output", out.numpy()),
            ("loss", loss.reshape(1).numpy()),
        ], meta)
        read_safetensors(out_path)
        print(f"{name}: loaded {path} strictly ({reader}); loss {loss.item():.9g}; wrote {out_path} sha256 {sha256(out_path)}")


if __name__ == "__main__":
    main()
