# Generates the PyTorch reference trajectories (optimizers, LR schedulers, gradient clipping) that GraphCompiler's optimizer tests compare against.
"""Writes tests/GraphCompiler.Tests/Reference/optim.safetensors.

Run with Debian's python3 (the one python3-torch is installed for):
    /usr/bin/python3 tests/reference/make_optim_reference.py

Deterministic: fixed seed, float32 parameters and gradients, one thread, no timestamps. Re-running on the same
torch build reproduces the file byte for byte (the SHA-256 is printed). tests/reference/README.md describes the
layout; the C# tests (tests/GraphCompiler.Tests/Optim) repeat each configuration below by name, so a change here
needs the same change there.
"""
import hashlib
import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_reference import read_safetensors, write_safetensors  # noqa: E402  (one hand-written format, one writer)

OUT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                    "..", "GraphCompiler.Tests", "Reference", "optim.safetensors"))
SEED = 5
STEPS = 6
SCHED_STEPS = 25
# Sizes chosen to exercise the kernels' vector bodies and tails: 85 = 5·16 + 5 (Vector512) = 10·8 + 5 (Vector256),
# 7 is shorter than one vector, 12 is one Vector256 plus a tail.
SHAPES = [("a", [5, 17]), ("b", [7]), ("c", [3, 4])]

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)
torch.set_default_dtype(torch.float32)

# Optimizer trajectories. "groups": list of (parameter names, per-group options); None = one group of all.
# "frozen": parameter names with requires_grad False (PyTorch: grad None, so skipped).
OPTIM_CASES = {
    "sgd_plain": ("SGD", dict(lr=0.1), None, []),
    "sgd_momentum": ("SGD", dict(lr=0.1, momentum=0.9), None, []),
    "sgd_nesterov_wd": ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01), None, []),
    "sgd_dampening_wd": ("SGD", dict(lr=0.1, momentum=0.8, dampening=0.3, weight_decay=0.001), None, []),
    "adam_default": ("Adam", dict(), None, []),
    "adam_amsgrad": ("Adam", dict(lr=0.01, betas=(0.8, 0.99), amsgrad=True), None, []),
    "adam_wd": ("Adam", dict(lr=0.01, weight_decay=0.1, eps=1e-6), None, []),
    "adamw_wd": ("AdamW", dict(lr=0.01, weight_decay=0.01), None, []),
    "adamw_amsgrad": ("AdamW", dict(lr=0.005, betas=(0.85, 0.995), weight_decay=0.01, amsgrad=True), None, []),
    "sgd_groups": ("SGD", dict(lr=0.02, momentum=0.5),
                   [(["a"], dict(lr=0.1, momentum=0.9)), (["b", "c"], dict())], []),
    "adam_groups": ("Adam", dict(lr=1e-3),
                    [(["a"], dict(lr=0.01)), (["b", "c"], dict(weight_decay=0.05, amsgrad=True))], []),
    "adamw_groups": ("AdamW", dict(lr=0.01, weight_decay=0.01),
                     [(["a", "c"], dict(lr=0.003, weight_decay=0.1)), (["b"], dict(betas=(0.5, 0.9)))], []),
    "adam_frozen": ("Adam", dict(lr=0.01), None, ["c"]),
}

# Optimizer + OneCycleLR stepped together: parameters after every step show the lr and beta1/momentum cycling.
ONECYCLE_TRAJ = {
    "sgd_onecycle": ("SGD", dict(lr=0.1, momentum=0.9), dict(max_lr=0.5, total_steps=STEPS)),
    "adam_onecycle": ("Adam", dict(lr=0.01), dict(max_lr=0.05, total_steps=STEPS, pct_start=0.4)),
}

# Schedulers on a two-group SGD (lr 0.1 and 0.02, momentum 0.9); lr recorded after construction and every step.
SCHED_LRS = (0.1, 0.02)
S = torch.optim.lr_scheduler
SCHED_CASES = {
    "step": ("SGD", lambda o: S.StepLR(o, step_size=4, gamma=0.5)),
    "multistep": ("SGD", lambda o: S.MultiStepLR(o, milestones=[3, 7, 7, 15], gamma=0.3)),
    "cosine": ("SGD", lambda o: S.CosineAnnealingLR(o, T_max=10, eta_min=0.001)),
    "linear_warmup": ("SGD", lambda o: S.LinearLR(o, start_factor=0.25, end_factor=0.9, total_iters=8)),
    "linear_decay": ("SGD", lambda o: S.LinearLR(o, start_factor=1.0, end_factor=0.05, total_iters=10)),
    "onecycle_sgd": ("SGD", lambda o: S.OneCycleLR(o, max_lr=[0.5, 0.1], total_steps=SCHED_STEPS)),
    "onecycle_adam": ("Adam", lambda o: S.OneCycleLR(o, max_lr=0.01, total_steps=SCHED_STEPS, pct_start=0.25)),
    "onecycle_linear_3phase": ("SGD", lambda o: S.OneCycleLR(o, max_lr=0.4, total_steps=SCHED_STEPS, anneal_strategy="linear",
                                                             three_phase=True, div_factor=10.0, final_div_factor=100.0,
                                                             base_momentum=0.8, max_momentum=0.9)),
    "sequential": ("SGD", lambda o: S.SequentialLR(o, [S.LinearLR(o, start_factor=0.1, total_iters=5),
                                                       S.CosineAnnealingLR(o, T_max=20, eta_min=1e-4)],
                                                   milestones=[5])),
}

# clip_grad_norm_ on the step-0 gradients: (max_norm, norm_type).
CLIP_NORM_CASES = {"norm2": (1.0, 2.0), "norm2_noclip": (100.0, 2.0), "norm1": (2.0, 1.0), "norminf": (0.5, math.inf),
                   "norm3": (0.75, 3.0)}
CLIP_VALUE = 0.5


def make_optimizer(kind, params, opts):
    return {"SGD": torch.optim.SGD, "Adam": torch.optim.Adam, "AdamW": torch.optim.AdamW}[kind](params, **opts)


def fresh_params(init):
    return {n: torch.nn.Parameter(torch.from_numpy(init[n].copy())) for n, _ in SHAPES}


def run_trajectory(kind, opts, groups, frozen, grads, init, onecycle=None):
    ps = fresh_params(init)
    for n in frozen:
        ps[n].requires_grad_(False)
    if groups is None:
        spec = [ps[n] for n, _ in SHAPES]
    else:
        spec = [dict(params=[ps[n] for n in names], **g) for names, g in groups]
    opt = make_optimizer(kind, spec, opts)
    sched = S.OneCycleLR(opt, **onecycle) if onecycle else None
    out = []
    for s in range(STEPS):
        for n, p in ps.items():
            p.grad = None if n in frozen else torch.from_numpy(grads[s][n].copy())
        opt.step()
        if sched:
            sched.step()
        out.append({n: p.detach().numpy().copy() for n, p in ps.items()})
    return out


def run_scheduler(kind, make):
    ps = fresh_params({n: np.zeros(shape, np.float32) for n, shape in SHAPES})
    groups = [dict(params=[ps["a"]], lr=SCHED_LRS[0]), dict(params=[ps["b"], ps["c"]], lr=SCHED_LRS[1])]
    opt = torch.optim.SGD(groups, lr=0.1, momentum=0.9) if kind == "SGD" else torch.optim.Adam(groups)
    sched = make(opt)
    key = "momentum" if kind == "SGD" else "betas"

    def mom():
        return [g[key] if kind == "SGD" else g[key][0] for g in opt.param_groups]

    lrs, moms = [sched.get_last_lr()], [mom()]
    for _ in range(SCHED_STEPS):
        opt.step()  # no gradients: a no-op that keeps PyTorch's "optimizer.step() before scheduler.step()" check quiet
        sched.step()
        lrs.append(sched.get_last_lr())
        moms.append(mom())
    return np.array(lrs, np.float64), np.array(moms, np.float64)


def main():
    torch.manual_seed(SEED)
    init = {n: torch.randn(shape).numpy() for n, shape in SHAPES}
    # Gradients with varied scales per step, so Adam's moments see more than one magnitude.
    scales = [1.0, 0.3, 2.0, 0.05, 1.0, 0.7]
    grads = [{n: (torch.randn(shape) * scales[s]).numpy() for n, shape in SHAPES} for s in range(STEPS)]

    tensors = [(f"init.{n}", init[n]) for n, _ in SHAPES]
    for s in range(STEPS):
        tensors += [(f"grad.{s}.{n}", grads[s][n]) for n, _ in SHAPES]

    cases = {}
    for name, (kind, opts, groups, frozen) in OPTIM_CASES.items():
        traj = run_trajectory(kind, opts, groups, frozen, grads, init)
        for s in range(STEPS):
            tensors += [(f"{name}.{s}.{n}", traj[s][n]) for n, _ in SHAPES]
        cases[name] = dict(optimizer=kind, defaults=opts, groups=groups, frozen=frozen)
    for name, (kind, opts, oc) in ONECYCLE_TRAJ.items():
        traj = run_trajectory(kind, opts, None, [], grads, init, onecycle=oc)
        for s in range(STEPS):
            tensors += [(f"{name}.{s}.{n}", traj[s][n]) for n, _ in SHAPES]
        cases[name] = dict(optimizer=kind, defaults=opts, onecycle=oc)

    for name, (kind, make) in SCHED_CASES.items():
        lrs, moms = run_scheduler(kind, make)
        tensors += [(f"lr.{name}", lrs), (f"momentum.{name}", moms)]

    for name, (max_norm, norm_type) in CLIP_NORM_CASES.items():
        ps = fresh_params(init)
        for n, p in ps.items():
            p.grad = torch.from_numpy(grads[0][n].copy())
        total = torch.nn.utils.clip_grad_norm_(list(ps.values()), max_norm, norm_type)
        tensors.append((f"clip.{name}.total", np.array([total.item()], np.float32)))
        tensors += [(f"clip.{name}.{n}", p.grad.numpy().copy()) for n, p in ps.items()]
    ps = fresh_params(init)
    for n, p in ps.items():
        p.grad = torch.from_numpy(grads[0][n].copy())
    torch.nn.utils.clip_grad_value_(list(ps.values()), CLIP_VALUE)
    tensors += [(f"clip.value.{n}", p.grad.numpy().copy()) for n, p in ps.items()]

    meta = {
        "format": "graphcompiler-optim-reference-v1",
        "generator": "tests/reference/make_optim_reference.py",
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "seed": SEED,
        "steps": STEPS,
        "scheduler_steps": SCHED_STEPS,
        "scheduler_group_lrs": json.dumps(SCHED_LRS),
        "parameters": ",".join(f"{n}{shape}" for n, shape in SHAPES),
        "optimizer_cases": json.dumps(cases, default=str),
        "clip_norm_cases": json.dumps({k: [v[0], str(v[1])] for k, v in CLIP_NORM_CASES.items()}),
        "clip_value": CLIP_VALUE,
    }
    write_safetensors(OUT, tensors, meta)
    back, _ = read_safetensors(OUT)
    for name, arr in tensors:
        assert np.array_equal(back[name], arr), name
    with open(OUT, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    print(f"{OUT}: {os.path.getsize(OUT)} bytes, {len(tensors)} tensors, sha256 {digest}")
    for name, _ in SCHED_CASES.items():
        print(name, "lr[:, 0] =", np.array2string(back[f"lr.{name}"][:, 0], precision=6, max_line_width=200))


if __name__ == "__main__":
    main()
