# Generates PyTorch's forward outputs and gradients for single ops with every option the CPU kernels support.
"""Writes tests/GraphCompiler.Tests/Reference/ops.safetensors for tests/GraphCompiler.Tests/Kernels/OpsPyTorchTests.cs.

Run with Debian's python3 (the one python3-torch is installed for):
    /usr/bin/python3 tests/reference/make_ops_reference.py

Each case is one functional call (F.conv2d, F.max_pool2d, F.avg_pool2d, F.adaptive_avg_pool2d, F.leaky_relu,
torch.sigmoid, torch.tanh, F.gelu, F.silu, F.softmax, F.log_softmax) on float32 inputs ~ N(0, 1) from one seeded
generator, with an upstream gradient dy ~ N(0, 1). Stored per case `<case>.<tensor>`: the inputs (`x`, and `w`, `b`
for conv), `y`, `dy`, and the gradients `dx` (`dw`, `db`) from one backward of sum(y * dy). The options of each case
are in the header's __metadata__["cases"], a JSON list of {"name", "op", "args"} that the C# test reads. No
timestamps: re-running reproduces the file byte for byte.

It also writes tests/GraphCompiler.Tests/Reference/LayersNet.safetensors: one training step of LayersNet (every layer
option and activation in one model, tests/GraphCompiler.Tests/Models/LayersNet.cs), in make_reference.py's layout
(parameters, input, target, output, loss, grad.<p>, grad.input).
"""
import hashlib
import json
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_reference import write_safetensors  # noqa: E402  (one hand-written format, one writer)

OUT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                    "..", "GraphCompiler.Tests", "Reference", "ops.safetensors"))

# (name, op, input shape, args). Conv args name PyTorch's keywords; "padding" may be "same".
CONVS = [
    ("conv_basic", [2, 3, 7, 7], dict(out=4, kernel=[3, 3], stride=[1, 1], padding=[1, 1], dilation=[1, 1], groups=1, bias=True)),
    ("conv_stride_dilation", [2, 3, 11, 10], dict(out=5, kernel=[3, 3], stride=[2, 2], padding=[1, 1], dilation=[2, 2], groups=1, bias=False)),
    ("conv_groups_rect", [2, 4, 9, 8], dict(out=6, kernel=[3, 2], stride=[2, 1], padding=[1, 0], dilation=[1, 2], groups=2, bias=True)),
    ("conv_depthwise_same", [2, 4, 8, 8], dict(out=8, kernel=[3, 3], stride=[1, 1], padding="same", dilation=[2, 2], groups=4, bias=True)),
    ("conv_same_even_kernel", [1, 2, 7, 6], dict(out=3, kernel=[4, 2], stride=[1, 1], padding="same", dilation=[1, 1], groups=1, bias=True)),
    ("conv_depthwise_stride", [3, 6, 10, 10], dict(out=6, kernel=[5, 5], stride=[2, 2], padding=[2, 2], dilation=[1, 1], groups=6, bias=False)),
]
POOLS = [
    ("maxpool_pad", "max_pool2d", [2, 3, 9, 9], dict(kernel=[3, 3], stride=[2, 2], padding=[1, 1], dilation=[1, 1], ceil_mode=False)),
    ("maxpool_ceil", "max_pool2d", [2, 3, 8, 8], dict(kernel=[3, 3], stride=[2, 2], padding=[0, 0], dilation=[1, 1], ceil_mode=True)),
    ("maxpool_dilation_ceil", "max_pool2d", [2, 2, 11, 9], dict(kernel=[3, 2], stride=[2, 1], padding=[1, 1], dilation=[2, 1], ceil_mode=True)),
    ("maxpool_2x2_ceil_odd", "max_pool2d", [2, 3, 7, 9], dict(kernel=[2, 2], stride=[2, 2], padding=[0, 0], dilation=[1, 1], ceil_mode=True)),
    ("maxpool_2x2", "max_pool2d", [2, 4, 8, 32], dict(kernel=[2, 2], stride=[2, 2], padding=[0, 0], dilation=[1, 1], ceil_mode=False)),
    ("avgpool_pad_include", "avg_pool2d", [2, 3, 9, 9], dict(kernel=[3, 3], stride=[2, 2], padding=[1, 1], ceil_mode=False, count_include_pad=True)),
    ("avgpool_pad_exclude", "avg_pool2d", [2, 3, 9, 9], dict(kernel=[3, 3], stride=[2, 2], padding=[1, 1], ceil_mode=False, count_include_pad=False)),
    ("avgpool_ceil_include", "avg_pool2d", [2, 3, 8, 8], dict(kernel=[3, 3], stride=[2, 2], padding=[1, 1], ceil_mode=True, count_include_pad=True)),
    ("avgpool_ceil_exclude", "avg_pool2d", [2, 3, 8, 8], dict(kernel=[3, 3], stride=[2, 2], padding=[1, 1], ceil_mode=True, count_include_pad=False)),
    ("avgpool_rect", "avg_pool2d", [2, 2, 7, 10], dict(kernel=[2, 3], stride=[1, 2], padding=[1, 1], ceil_mode=False, count_include_pad=True)),
    ("avgpool_2x2", "avg_pool2d", [2, 3, 8, 8], dict(kernel=[2, 2], stride=[2, 2], padding=[0, 0], ceil_mode=False, count_include_pad=True)),
    ("adaptive_7_to_3", "adaptive_avg_pool2d", [2, 3, 7, 7], dict(output=[3, 3])),
    ("adaptive_uneven", "adaptive_avg_pool2d", [2, 2, 10, 6], dict(output=[4, 4])),
    ("adaptive_global", "adaptive_avg_pool2d", [2, 5, 6, 7], dict(output=[1, 1])),
    ("adaptive_upsample", "adaptive_avg_pool2d", [1, 2, 3, 3], dict(output=[5, 4])),
]
ELEMENTWISE = [
    ("leaky_relu_default", "leaky_relu", dict(negative_slope=0.01)),
    ("leaky_relu_02", "leaky_relu", dict(negative_slope=0.2)),
    ("leaky_relu_negative", "leaky_relu", dict(negative_slope=-0.3)),
    ("sigmoid", "sigmoid", dict()),
    ("tanh", "tanh", dict()),
    ("gelu", "gelu", dict(approximate="none")),
    ("gelu_tanh", "gelu", dict(approximate="tanh")),
    ("silu", "silu", dict()),
]
LAYERS_NET = os.path.join(os.path.dirname(OUT), "LayersNet.safetensors")
SOFTMAX_SHAPE = [2, 3, 4, 5]
SOFTMAX_DIMS = [0, 1, 2, 3, -1]


def same_padding(kernel, dilation):
    """PyTorch's padding='same': total d·(k−1) per axis, the smaller half before."""
    total = [d * (k - 1) for k, d in zip(kernel, dilation)]
    return [t // 2 for t in total], [t - t // 2 for t in total]


class LayersNet(torch.nn.Module):
    """Attribute names are the state_dict names the C# model emits (property names in snake_case)."""

    def __init__(self):
        super().__init__()
        nn = torch.nn
        self.conv1 = nn.Conv2d(3, 8, 3, padding="same", dilation=2)
        self.depthwise = nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False)
        self.conv2 = nn.Conv2d(8, 12, 4, padding="same", groups=2)
        self.fc1 = nn.Linear(48, 10)
        self.fc2 = nn.Linear(10, 6, bias=False)

    def forward(self, x):
        x = torch.sigmoid(self.depthwise(F.leaky_relu(self.conv1(x), 0.1)))
        x = F.max_pool2d(x, 3, stride=2, padding=1, ceil_mode=True)
        x = torch.tanh(self.conv2(x))
        x = F.avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)
        x = F.log_softmax(F.gelu(F.softmax(x, dim=1)), dim=-1)
        x = torch.flatten(F.adaptive_avg_pool2d(x, 2), 1)
        x = F.leaky_relu(self.fc2(F.silu(self.fc1(x))), -0.2)
        return F.log_softmax(x, dim=1)


def layers_net():
    torch.manual_seed(4)
    model = LayersNet()
    x = torch.randn(4, 3, 16, 16).requires_grad_()
    target = torch.randint(0, 6, (4,))
    out = model(x)
    loss = F.nll_loss(out, target)
    loss.backward()
    names = [n for n, _ in model.named_parameters()]
    tensors = [(n, p.detach().numpy()) for n, p in model.named_parameters()]
    tensors += [("input", x.detach().numpy()), ("target", target.to(torch.int32).numpy()), ("output", out.detach().numpy()),
                ("loss", loss.detach().reshape(1).numpy())]
    tensors += [(f"grad.{n}", p.grad.numpy()) for n, p in model.named_parameters()]
    tensors.append(("grad.input", x.grad.numpy()))
    meta = {"format": "graphcompiler-reference-v1", "generator": "tests/reference/make_ops_reference.py", "model": "LayersNet",
            "torch_version": torch.__version__, "seed": "4", "loss": "nll_loss", "parameters": ",".join(names)}
    write_safetensors(LAYERS_NET, tensors, meta)
    with open(LAYERS_NET, "rb") as f:
        data = f.read()
    print(f"{LAYERS_NET}: {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}")


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    g = torch.Generator().manual_seed(11)
    randn = lambda *shape: torch.randn(*shape, generator=g, dtype=torch.float32)
    tensors, cases = [], []

    def record(name, op, args, inputs, y):
        dy = randn(*y.shape)
        (y * dy).sum().backward()
        for key, t in inputs.items():
            tensors.append((f"{name}.{key}", t.detach().numpy()))
        tensors.append((f"{name}.y", y.detach().numpy()))
        tensors.append((f"{name}.dy", dy.numpy()))
        for key, t in inputs.items():
            tensors.append((f"{name}.d{key}", t.grad.numpy()))
        cases.append({"name": name, "op": op, "args": args})

    for name, shape, a in CONVS:
        x = randn(*shape).requires_grad_()
        w = randn(a["out"], shape[1] // a["groups"], *a["kernel"]).mul_(0.3).requires_grad_()
        inputs = {"x": x, "w": w}
        b = None
        if a["bias"]:
            b = randn(a["out"]).requires_grad_()
            inputs["b"] = b
        y = F.conv2d(x, w, b, stride=a["stride"], padding=a["padding"], dilation=a["dilation"], groups=a["groups"])
        args = dict(a)
        if a["padding"] == "same":
            before, after = same_padding(a["kernel"], a["dilation"])
        else:
            before, after = a["padding"], a["padding"]
        args["pads"] = before + after  # top, left, bottom, right, as the C# geometry takes them
        record(name, "conv2d", args, inputs, y)

    for name, op, shape, a in POOLS:
        x = randn(*shape).requires_grad_()
        if op == "max_pool2d":
            y = F.max_pool2d(x, a["kernel"], a["stride"], a["padding"], a["dilation"], ceil_mode=a["ceil_mode"])
        elif op == "avg_pool2d":
            y = F.avg_pool2d(x, a["kernel"], a["stride"], a["padding"], ceil_mode=a["ceil_mode"], count_include_pad=a["count_include_pad"])
        else:
            y = F.adaptive_avg_pool2d(x, a["output"])
        record(name, op, dict(a, shape=shape), {"x": x}, y)

    for name, op, a in ELEMENTWISE:
        x = randn(3, 67).mul_(3).requires_grad_()
        y = {"leaky_relu": lambda: F.leaky_relu(x, a.get("negative_slope", 0.01)),
             "sigmoid": lambda: torch.sigmoid(x), "tanh": lambda: torch.tanh(x),
             "gelu": lambda: F.gelu(x, approximate=a.get("approximate", "none")), "silu": lambda: F.silu(x)}[op]()
        record(name, op, dict(a, shape=[3, 67]), {"x": x}, y)

    for op in ("softmax", "log_softmax"):
        for dim in SOFTMAX_DIMS:
            x = randn(*SOFTMAX_SHAPE).mul_(2).requires_grad_()
            y = getattr(F, op)(x, dim=dim)
            record(f"{op}_dim{dim}", op, dict(dim=dim, shape=SOFTMAX_SHAPE), {"x": x}, y)

    meta = {
        "format": "graphcompiler-ops-reference-v1",
        "generator": "tests/reference/make_ops_reference.py",
        "torch_version": torch.__version__,
        "seed": "11",
        "cases": json.dumps(cases, separators=(",", ":")),
    }
    write_safetensors(OUT, tensors, meta)
    with open(OUT, "rb") as f:
        data = f.read()
    print(f"{OUT}: {len(data)} bytes, {len(tensors)} tensors, {len(cases)} cases, sha256 {hashlib.sha256(data).hexdigest()}")
    layers_net()


if __name__ == "__main__":
    main()
