# Generates the PyTorch reference values and gradients of every loss and option that GraphCompiler's loss tests compare against.
"""Writes tests/GraphCompiler.Tests/Reference/losses.safetensors.

Run with Debian's python3 (the one python3-torch is installed for):
    /usr/bin/python3 tests/reference/make_loss_reference.py

For each case: `<case>.input` (float32, the output a model would produce), `<case>.target` (int64 class indices or
float32 values shaped like the input), optional `<case>.weight` / `<case>.pos_weight` (float32), and the float32
inputs promoted to float64 pushed through torch's own loss: `<case>.loss` (float64: the scalar for mean/sum, the
per-element losses for 'none') and `<case>.grad` (float64: d loss / d input, of loss.sum() for 'none'). The options
of every case are JSON in the metadata under the case's name, so the C# test builds each loss from the file alone;
`cases` lists the case names in order. Deterministic: fixed seed, no timestamps; the file is written to a temporary
name and renamed, then read back and checked.
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_reference import read_safetensors, sha256, write_safetensors  # noqa: E402

OUT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                    "..", "GraphCompiler.Tests", "Reference", "losses.safetensors"))

torch.manual_seed(1234)
rng = np.random.default_rng(1234)


def f32(shape, scale=2.0):
    return (rng.uniform(-scale, scale, size=shape)).astype(np.float32)


def class_targets(shape, c, ignore=None, ignore_count=0):
    t = rng.integers(0, c, size=shape).astype(np.int64)
    if ignore is not None and ignore_count:
        flat = t.reshape(-1)
        flat[rng.choice(flat.size, ignore_count, replace=False)] = ignore
    return t


CASES = []


def add(name, loss, x, target, reduction="mean", weight=None, pos_weight=None, **options):
    CASES.append(dict(name=name, loss=loss, x=x, target=target, reduction=reduction, weight=weight, pos_weight=pos_weight,
                      options=options))


def torch_loss(case):
    x = torch.tensor(case["x"], dtype=torch.float64, requires_grad=True)
    t = torch.tensor(case["target"])
    if t.dtype == torch.float32:
        t = t.double()
    w = None if case["weight"] is None else torch.tensor(case["weight"], dtype=torch.float64)
    pw = None if case["pos_weight"] is None else torch.tensor(case["pos_weight"], dtype=torch.float64)
    r, o, kind = case["reduction"], case["options"], case["loss"]
    if kind == "cross_entropy":
        y = F.cross_entropy(x, t, weight=w, ignore_index=o.get("ignore_index", -100), reduction=r,
                            label_smoothing=o.get("label_smoothing", 0.0))
    elif kind == "nll_loss":
        y = F.nll_loss(x, t, weight=w, ignore_index=o.get("ignore_index", -100), reduction=r)
    elif kind == "mse_loss":
        y = F.mse_loss(x, t, reduction=r)
    elif kind == "l1_loss":
        y = F.l1_loss(x, t, reduction=r)
    elif kind == "smooth_l1_loss":
        y = F.smooth_l1_loss(x, t, reduction=r, beta=o["beta"])
    elif kind == "binary_cross_entropy":
        y = F.binary_cross_entropy(x, t, weight=w, reduction=r)
    elif kind == "binary_cross_entropy_with_logits":
        y = F.binary_cross_entropy_with_logits(x, t, weight=w, reduction=r, pos_weight=pw)
    else:
        raise ValueError(kind)
    y.sum().backward()
    return y.detach().numpy().astype(np.float64), x.grad.numpy().astype(np.float64)


def build():
    N, C = 8, 5
    # ---- cross-entropy: every option alone and combined, each reduction, spatial outputs
    w5 = rng.uniform(0.2, 2.0, size=C).astype(np.float32)
    ii = class_targets(N, C, -100, 3)
    add("ce_plain", "cross_entropy", f32((N, C)), class_targets(N, C))
    add("ce_sum", "cross_entropy", f32((N, C)), class_targets(N, C), reduction="sum")
    add("ce_none", "cross_entropy", f32((N, C)), class_targets(N, C), reduction="none")
    add("ce_weight", "cross_entropy", f32((N, C)), class_targets(N, C), weight=w5)
    add("ce_weight_sum", "cross_entropy", f32((N, C)), class_targets(N, C), reduction="sum", weight=w5)
    add("ce_weight_none", "cross_entropy", f32((N, C)), class_targets(N, C), reduction="none", weight=w5)
    add("ce_ignore", "cross_entropy", f32((N, C)), ii)
    add("ce_ignore_in_range", "cross_entropy", f32((N, C)), class_targets(N, C), ignore_index=2)
    add("ce_weight_ignore", "cross_entropy", f32((N, C)), ii, weight=w5)
    add("ce_smooth", "cross_entropy", f32((N, C)), class_targets(N, C), label_smoothing=0.1)
    add("ce_smooth_sum", "cross_entropy", f32((N, C)), class_targets(N, C), reduction="sum", label_smoothing=0.25)
    add("ce_smooth_none", "cross_entropy", f32((N, C)), class_targets(N, C), reduction="none", label_smoothing=0.2)
    add("ce_smooth_weight", "cross_entropy", f32((N, C)), class_targets(N, C), weight=w5, label_smoothing=0.1)
    add("ce_smooth_ignore", "cross_entropy", f32((N, C)), ii, label_smoothing=0.3)
    add("ce_smooth_weight_ignore", "cross_entropy", f32((N, C)), ii, weight=w5, label_smoothing=0.15)
    add("ce_smooth_weight_ignore_none", "cross_entropy", f32((N, C)), ii, reduction="none", weight=w5, label_smoothing=0.15)
    add("ce_smooth_weight_ignore_sum", "cross_entropy", f32((N, C)), ii, reduction="sum", weight=w5, label_smoothing=0.15)
    add("ce_large_logits", "cross_entropy", f32((N, C), scale=60.0), class_targets(N, C), label_smoothing=0.05)
    # Logits near 1e4, where float32's ulp is 1e-3: x − (max + log Σ) would lose the answer, (x − max) − log Σ keeps it.
    add("ce_offset_logits", "cross_entropy", f32((N, C)) + np.float32(10000), class_targets(N, C, -100, 2), weight=w5,
        label_smoothing=0.1)
    add("ce_spatial", "cross_entropy", f32((3, C, 2, 3)), class_targets((3, 2, 3), C, -100, 4), weight=w5, label_smoothing=0.1)
    add("ce_spatial_none", "cross_entropy", f32((2, C, 4)), class_targets((2, 4), C, 1, 2), reduction="none", ignore_index=1)
    # ---- NLL on log-probabilities
    def logp(shape):
        return torch.log_softmax(torch.tensor(f32(shape)), dim=1).numpy()
    add("nll_plain", "nll_loss", logp((N, C)), class_targets(N, C))
    add("nll_sum", "nll_loss", logp((N, C)), class_targets(N, C), reduction="sum")
    add("nll_none", "nll_loss", logp((N, C)), class_targets(N, C), reduction="none")
    add("nll_weight", "nll_loss", logp((N, C)), class_targets(N, C), weight=w5)
    add("nll_ignore", "nll_loss", logp((N, C)), ii)
    add("nll_weight_ignore", "nll_loss", logp((N, C)), ii, weight=w5)
    add("nll_weight_ignore_none", "nll_loss", logp((N, C)), ii, reduction="none", weight=w5)
    add("nll_spatial", "nll_loss", logp((3, C, 2, 3)), class_targets((3, 2, 3), C, -1, 4), weight=w5, ignore_index=-1)
    # ---- element-wise losses over float targets
    shape = (6, 4)
    for r in ("mean", "sum", "none"):
        add(f"mse_{r}", "mse_loss", f32(shape), f32(shape), reduction=r)
        add(f"l1_{r}", "l1_loss", f32(shape), f32(shape), reduction=r)
        add(f"smooth_l1_{r}", "smooth_l1_loss", f32(shape), f32(shape), reduction=r, beta=1.0)
    add("smooth_l1_beta_half", "smooth_l1_loss", f32(shape), f32(shape), beta=0.5)
    add("smooth_l1_beta_zero", "smooth_l1_loss", f32(shape), f32(shape), beta=0.0)
    add("smooth_l1_beta_large", "smooth_l1_loss", f32(shape), f32(shape), reduction="sum", beta=3.0)

    def probs(s):
        return rng.uniform(0.02, 0.98, size=s).astype(np.float32)

    def soft_targets(s):
        return rng.uniform(0.0, 1.0, size=s).astype(np.float32)

    def binary_targets(s):
        return rng.integers(0, 2, size=s).astype(np.float32)

    w4 = rng.uniform(0.2, 2.0, size=4).astype(np.float32)
    add("bce_mean", "binary_cross_entropy", probs(shape), binary_targets(shape))
    add("bce_sum_soft", "binary_cross_entropy", probs(shape), soft_targets(shape), reduction="sum")
    add("bce_none", "binary_cross_entropy", probs(shape), binary_targets(shape), reduction="none")
    add("bce_weight", "binary_cross_entropy", probs(shape), binary_targets(shape), weight=w4)
    add("bce_weight_full_none", "binary_cross_entropy", probs(shape), soft_targets(shape), reduction="none",
        weight=rng.uniform(0.2, 2.0, size=shape).astype(np.float32))
    # Probabilities of exactly 0 and 1 (alone, so the ±1e12 gradients set no tolerance for ordinary elements): the log
    # clamped at -100, and torch's gradient (x − y)/max((1 − x)x, 1e-12).
    add("bce_clamp", "binary_cross_entropy", np.array([[0.0, 1.0, 0.0, 1.0]], dtype=np.float32),
        np.array([[1.0, 0.0, 0.0, 1.0]], dtype=np.float32), reduction="sum")
    add("bcel_mean", "binary_cross_entropy_with_logits", f32(shape, 4.0), binary_targets(shape))
    add("bcel_sum_soft", "binary_cross_entropy_with_logits", f32(shape, 4.0), soft_targets(shape), reduction="sum")
    add("bcel_none", "binary_cross_entropy_with_logits", f32(shape, 4.0), binary_targets(shape), reduction="none")
    add("bcel_weight", "binary_cross_entropy_with_logits", f32(shape, 4.0), binary_targets(shape), weight=w4)
    add("bcel_pos_weight", "binary_cross_entropy_with_logits", f32(shape, 4.0), soft_targets(shape),
        pos_weight=rng.uniform(0.5, 3.0, size=4).astype(np.float32))
    add("bcel_weight_pos_weight_none", "binary_cross_entropy_with_logits", f32(shape, 4.0), binary_targets(shape),
        reduction="none", weight=w4, pos_weight=rng.uniform(0.5, 3.0, size=4).astype(np.float32))
    add("bcel_large_logits", "binary_cross_entropy_with_logits", f32(shape, 40.0), binary_targets(shape),
        pos_weight=rng.uniform(0.5, 3.0, size=4).astype(np.float32))


def main():
    build()
    tensors, meta = [], {"torch": torch.__version__, "cases": ",".join(c["name"] for c in CASES)}
    for case in CASES:
        loss, grad = torch_loss(case)
        n = case["name"]
        tensors.append((n + ".input", case["x"].astype(np.float32)))
        tensors.append((n + ".target", case["target"]))
        if case["weight"] is not None:
            tensors.append((n + ".weight", case["weight"]))
        if case["pos_weight"] is not None:
            tensors.append((n + ".pos_weight", case["pos_weight"]))
        tensors.append((n + ".loss", np.atleast_1d(loss)))
        tensors.append((n + ".grad", grad))
        meta[n] = json.dumps(dict(loss=case["loss"], reduction=case["reduction"], **case["options"]), sort_keys=True)
    write_safetensors(OUT, tensors, meta)
    back, back_meta = read_safetensors(OUT)
    assert back_meta == {k: str(v) for k, v in meta.items()}
    for name, arr in tensors:
        assert np.array_equal(back[name], arr), name
    print(f"{OUT}: {len(CASES)} cases, {os.path.getsize(OUT)} bytes, sha256 {sha256(OUT)}")


if __name__ == "__main__":
    main()
