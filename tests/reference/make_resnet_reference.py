# Generates the PyTorch reference for issue 3's end-to-end parity: a ResNet-style model (two basic blocks, BatchNorm,
# identity and projection shortcuts) and CifarNet, in train and in eval mode, plus their plain PyTorch state_dicts.
"""Writes tests/GraphCompiler.Tests/Reference/{ResNetMini,CifarNetModes}.safetensors (everything a test compares) and
tests/GraphCompiler.Tests/Reference/{ResNetMini,CifarNet}.state_dict.safetensors (exactly what PyTorch's state_dict
holds, under its own names and dtypes: float32 parameters and buffers, int64 num_batches_tracked).

    /usr/bin/python3 tests/reference/make_resnet_reference.py

For each mode (train, eval) the reference file holds <mode>.output (logits), <mode>.loss (cross-entropy, mean, shape
[1]), <mode>.grad.<name> for every parameter, and in train mode <mode>.after.<buffer> for every BatchNorm buffer after
the forward (running statistics updated with momentum 0.1 from the batch, unbiased variance; num_batches_tracked as I64).
The model's initial parameters and buffers are stored under their state_dict names, with the input and the targets.
Before the forward passes the running statistics are set to non-trivial values (mean ~ U(-0.5, 0.5), var ~ U(0.5, 1.5),
num_batches_tracked = 3) and the BatchNorm affine weights/biases perturbed, so eval mode is not the identity.
Deterministic: fixed seeds, float32, one thread.
"""
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_reference import CifarNet, OUT_DIR, read_safetensors, sha256, write_safetensors  # noqa: E402

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)


class BasicBlock(nn.Module):
    """torchvision's BasicBlock: conv3x3-bn-relu-conv3x3-bn, plus the shortcut (identity, or 1x1 conv + bn), then relu."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(out + identity)


class ResNetMini(nn.Module):
    ARCH = ("ResNetMini: input [N,3,16,16] -> conv1=Conv2d(3,16,3,padding=1,bias=False) -> bn1=BatchNorm2d(16) -> relu "
            "-> layer1.0=BasicBlock(16,16,stride 1, identity shortcut) [N,16,16,16] "
            "-> layer2.0=BasicBlock(16,32,stride 2, shortcut downsample.0=Conv2d(16,32,1,stride=2,bias=False), "
            "downsample.1=BatchNorm2d(32)) [N,32,8,8] -> adaptive_avg_pool2d(1) -> flatten(x,1) [N,32] "
            "-> fc=Linear(32,10) -> output [N,10] (logits); loss = F.cross_entropy(output, target)")

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.layer1 = nn.Sequential(BasicBlock(16, 16, 1))
        self.layer2 = nn.Sequential(BasicBlock(16, 32, 2))
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer2(self.layer1(x))
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(x)


def perturb_batchnorms(model, gen):
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.running_mean.copy_(torch.rand(c, generator=gen) - 0.5)
                m.running_var.copy_(torch.rand(c, generator=gen) + 0.5)
                m.num_batches_tracked.fill_(3)
                m.weight.copy_(1 + 0.2 * torch.randn(c, generator=gen))
                m.bias.copy_(0.1 * torch.randn(c, generator=gen))


def state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def run(model, x, target, mode):
    model.train(mode == "train")
    model.zero_grad(set_to_none=True)
    out = model(x)
    loss = F.cross_entropy(out, target)
    loss.backward()
    res = [(f"{mode}.output", out.detach()), (f"{mode}.loss", loss.detach().reshape(1))]
    res += [(f"{mode}.grad.{n}", p.grad.detach()) for n, p in model.named_parameters()]
    if mode == "train":
        res += [(f"{mode}.after.{n}", b.detach()) for n, b in model.named_buffers()]
    return [(k, v.clone().numpy()) for k, v in res]


def numpy_state(sd):
    return [(k, v.numpy()) for k, v in sd.items()]


def main():
    for cls, in_shape, seed, out_name in [(ResNetMini, (4, 3, 16, 16), 11, "ResNetMini"), (CifarNet, (4, 3, 32, 32), 12, "CifarNetModes")]:
        torch.manual_seed(seed)
        model = cls()
        gen = torch.Generator().manual_seed(seed + 100)
        perturb_batchnorms(model, gen)
        x = torch.randn(*in_shape)
        target = torch.randint(0, 10, (in_shape[0],))
        initial = state(model)
        results = []
        for mode in ("eval", "train"):  # eval first: it does not change the running statistics
            model.load_state_dict(initial)
            results += run(model, x, target, mode)
        tensors = numpy_state(initial) + [("input", x.numpy()), ("target", target.numpy().astype(np.int32))] + results
        metadata = {
            "format": "graphcompiler-reference-v1",
            "generator": "tests/reference/make_resnet_reference.py",
            "model": cls.__name__,
            "architecture": cls.ARCH,
            "torch_version": torch.__version__,
            "seed": str(seed),
            "parameters": ",".join(n for n, _ in model.named_parameters()),
            "buffers": ",".join(n for n, _ in model.named_buffers()),
        }
        path = os.path.join(OUT_DIR, out_name + ".safetensors")
        write_safetensors(path, tensors, metadata)
        back, meta = read_safetensors(path)
        assert meta == metadata and list(back.keys()) == [k for k, _ in tensors]
        print(f"== {out_name}: {os.path.getsize(path)} bytes, sha256 {sha256(path)}")
        for k, v in tensors:
            print(f"   {k:<40} {str(v.dtype):<8} {list(v.shape)}")

        sd_path = os.path.join(OUT_DIR, cls.__name__ + ".state_dict.safetensors")
        write_safetensors(sd_path, numpy_state(initial), {"format": "pt", "generator": "tests/reference/make_resnet_reference.py"})
        print(f"== {os.path.basename(sd_path)}: {os.path.getsize(sd_path)} bytes, sha256 {sha256(sd_path)}")


if __name__ == "__main__":
    main()
