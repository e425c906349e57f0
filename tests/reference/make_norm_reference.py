# Generates the PyTorch reference data for BatchNorm1d/2d and LayerNorm (outputs, gradients, running statistics over several training steps, eval mode) and a PyTorch-written state_dict with BatchNorm buffers.
"""Writes tests/GraphCompiler.Tests/Reference/{Norms,NormStateDict,NormNet}.safetensors.

Run with Debian's python3 (the one python3-torch is installed for):
    /usr/bin/python3 tests/reference/make_norm_reference.py

Deterministic: fixed seeds, float32, one thread, no timestamps; re-running on the same torch build reproduces both
files byte for byte (the SHA-256 is printed). tests/reference/README.md describes the layout; the C# tests
(tests/GraphCompiler.Tests/Kernels/NormParityTests.cs, IO/StateDictTests.cs) repeat each configuration below by name,
so a change here needs the same change there.
"""
import hashlib
import os
import sys

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_reference import read_safetensors, write_safetensors  # noqa: E402  (one hand-written format, one writer)

REF = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "GraphCompiler.Tests", "Reference"))
STEPS = 3

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)
torch.set_default_dtype(torch.float32)

# name -> (constructor, input shape). Inputs are N(1, 2²) so the mean is off zero; dy ~ N(0, 1).
BN_CASES = {
    "bn1d_nc": (lambda: nn.BatchNorm1d(5), (6, 5)),
    "bn1d_nc_cumulative_noaffine": (lambda: nn.BatchNorm1d(5, affine=False, momentum=None), (6, 5)),
    "bn1d_ncl": (lambda: nn.BatchNorm1d(4), (3, 4, 7)),
    "bn2d": (lambda: nn.BatchNorm2d(3, eps=1e-3, momentum=0.3), (2, 3, 5, 6)),
    "bn2d_noaffine": (lambda: nn.BatchNorm2d(3, affine=False), (4, 3, 4, 4)),
    "bn2d_notrack": (lambda: nn.BatchNorm2d(3, track_running_stats=False), (2, 3, 4, 4)),
}

LN_CASES = {
    "ln_last": (lambda: nn.LayerNorm(10), (4, 10)),
    "ln_chw": (lambda: nn.LayerNorm([3, 4, 5]), (2, 3, 4, 5)),
    "ln_hw_noaffine": (lambda: nn.LayerNorm([4, 5], elementwise_affine=False), (2, 3, 4, 5)),
    "ln_eps": (lambda: nn.LayerNorm(7, eps=1e-3), (3, 2, 7)),
}


class NormNet(nn.Module):
    """tests/GraphCompiler.Tests/Models/NormNet.cs; attribute names are the state_dict names GraphCompiler emits."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.fc1 = nn.Linear(8 * 4 * 4, 16)
        self.bn2 = nn.BatchNorm1d(16, momentum=0.2)
        self.ln = nn.LayerNorm(16, eps=1e-3)
        self.fc2 = nn.Linear(16, 5)

    def forward(self, x):
        x = torch.max_pool2d(torch.relu(self.bn1(self.conv1(x))), 2)
        x = torch.relu(self.bn2(self.fc1(torch.flatten(x, 1))))
        return self.fc2(self.ln(x))


def np32(t):
    return t.detach().numpy().astype(np.float32)


def randomize_affine(m, out, prefix):
    """Non-trivial weight and bias (PyTorch starts them at 1 and 0), recorded as <prefix>.weight/.bias."""
    if getattr(m, "weight", None) is not None:
        with torch.no_grad():
            m.weight.copy_(1 + 0.5 * torch.randn(m.weight.shape))
            m.bias.copy_(0.5 * torch.randn(m.bias.shape))
        out.append((prefix + ".weight", np32(m.weight)))
        out.append((prefix + ".bias", np32(m.bias)))


def step(m, shape, out, prefix):
    """One forward/backward with L = Σ y·dy, recording input, dy, output and every gradient under prefix."""
    x = (1 + 2 * torch.randn(shape)).requires_grad_(True)
    dy = torch.randn(shape)
    m.zero_grad(set_to_none=True)
    y = m(x)
    (y * dy).sum().backward()
    out += [(prefix + ".input", np32(x)), (prefix + ".dy", np32(dy)), (prefix + ".output", np32(y)),
            (prefix + ".grad.input", np32(x.grad))]
    if getattr(m, "weight", None) is not None:
        out += [(prefix + ".grad.weight", np32(m.weight.grad)), (prefix + ".grad.bias", np32(m.bias.grad))]


def main():
    out = []
    for i, (name, (make, shape)) in enumerate(BN_CASES.items()):
        torch.manual_seed(100 + i)
        m = make()
        randomize_affine(m, out, name)
        m.train()
        for s in range(STEPS):
            step(m, shape, out, f"{name}.train.{s}")
            if m.track_running_stats:
                out += [(f"{name}.train.{s}.running_mean", np32(m.running_mean)),
                        (f"{name}.train.{s}.running_var", np32(m.running_var)),
                        (f"{name}.train.{s}.num_batches_tracked", m.num_batches_tracked.numpy().astype(np.int64).reshape(1))]
        m.eval()
        step(m, shape, out, f"{name}.eval")

    for i, (name, (make, shape)) in enumerate(LN_CASES.items()):
        torch.manual_seed(200 + i)
        m = make()
        randomize_affine(m, out, name)
        step(m, shape, out, name)

    # A small Sequential trained a few steps, so its running statistics and counter are not the initial ones; its
    # eval-mode output on a fixed input is what the loaded model must reproduce.
    torch.manual_seed(300)
    seq = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    opt = torch.optim.SGD(seq.parameters(), lr=0.1)
    seq.train()
    for _ in range(STEPS):
        x = 1 + 2 * torch.randn(10, 6)
        opt.zero_grad()
        seq(x).square().mean().backward()
        opt.step()
    seq.eval()
    x = torch.randn(5, 6)
    with torch.no_grad():
        y = seq(x)
    out += [("seq.input", np32(x)), ("seq.output_eval", np32(y))]

    # NormNet end to end: two training steps (cross-entropy, SGD lr 0.1) recording output, loss, every gradient and the
    # running statistics, then an eval-mode output. Initial state_dict (torch's names and dtypes) first.
    torch.manual_seed(400)
    net = NormNet()
    with torch.no_grad():  # non-trivial affine parameters
        for m in (net.bn1, net.bn2, net.ln):
            m.weight.copy_(1 + 0.3 * torch.randn(m.weight.shape))
            m.bias.copy_(0.3 * torch.randn(m.bias.shape))
    nn_out = [(k, v.detach().numpy().copy()) for k, v in net.state_dict().items()]
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    net.train()
    for s in range(2):
        x = torch.randn(6, 3, 8, 8).requires_grad_(True)
        target = torch.randint(0, 5, (6,))
        opt.zero_grad()
        y = net(x)
        loss = torch.nn.functional.cross_entropy(y, target)
        loss.backward()
        p = f"step.{s}."
        nn_out += [(p + "input", np32(x)), (p + "target", target.numpy().astype(np.int32)), (p + "output", np32(y)),
                   (p + "loss", np32(loss).reshape(1)), (p + "grad.input", np32(x.grad))]
        nn_out += [(p + "grad." + k, np32(v.grad)) for k, v in net.named_parameters()]
        opt.step()
        nn_out += [(p + "after." + k, v.detach().numpy().copy()) for k, v in net.state_dict().items()]
    net.eval()
    x = torch.randn(4, 3, 8, 8)
    with torch.no_grad():
        nn_out += [("eval.input", np32(x)), ("eval.output", np32(net(x)))]
    normnet = os.path.join(REF, "NormNet.safetensors")
    write_safetensors(normnet, nn_out, {"format": "graphcompiler-norm-reference-v1", "model": "NormNet", "torch_version": torch.__version__})

    meta = {"format": "graphcompiler-norm-reference-v1", "generator": "tests/reference/make_norm_reference.py",
            "torch_version": torch.__version__, "numpy_version": np.__version__, "steps": str(STEPS)}
    norms = os.path.join(REF, "Norms.safetensors")
    write_safetensors(norms, out, meta)

    # The state_dict exactly as torch names and types it (what safetensors.torch.save_file(seq.state_dict()) stores):
    # num_batches_tracked is a 0-d int64.
    sd = [(k, v.detach().numpy()) for k, v in seq.state_dict().items()]
    state = os.path.join(REF, "NormStateDict.safetensors")
    write_safetensors(state, sd, {"format": "pt", "architecture": "Sequential(Linear(6,8), BatchNorm1d(8), ReLU(), Linear(8,3))"})

    for path in (norms, state, normnet):
        tensors, _ = read_safetensors(path)
        with open(path, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        print(f"{os.path.basename(path)}: {os.path.getsize(path)} bytes, {len(tensors)} tensors, sha256 {digest}")
    for k, v in sd:
        print(f"  {k}: {v.dtype} {list(v.shape)}")


if __name__ == "__main__":
    main()
