# Generates the PyTorch/torchvision reference outputs (Resize, Normalize, CenterCrop) that GraphCompiler's transform tests compare against.
"""Writes tests/GraphCompiler.Tests/Reference/Transforms.safetensors.

Run with Debian's python3 (python3-torch and python3-torchvision):
    /usr/bin/python3 tests/reference/make_transform_reference.py

The input is a deterministic 3x13x17 u8 image (a smooth gradient plus seeded noise, so both interpolation
weights and sharp edges matter), stored as its bytes (`input_bytes`, I32) and as ToTensor's output
(`input`, F32 = bytes / 255). Resize uses the tensor path that torchvision's Resize takes for tensors,
F.interpolate(mode='bilinear', align_corners=False, antialias=False); the script checks that
torchvision.transforms.Resize gives the same tensor. Sizes cover upscaling, downscaling, non-integer ratios
in each direction, identity and 1x1. No timestamps: re-running reproduces the file byte for byte.
"""
import hashlib
import os
import sys
import warnings

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
import torchvision.transforms as T

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_reference import write_safetensors  # noqa: E402  (one hand-written format, one writer)

OUT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                    "..", "GraphCompiler.Tests", "Reference", "Transforms.safetensors"))

RESIZES = [(32, 40), (26, 34), (5, 7), (20, 11), (9, 30), (13, 17), (1, 1), (7, 17)]
CENTER_CROPS = [(8, 8), (13, 10), (4, 15), (16, 20)]  # odd margins exercise Python's round-half-even; 16x20 pads
MEAN = [0.4914, 0.4822, 0.4465]
STD = [0.247, 0.243, 0.261]

def main():
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(5)
    c, h, w = 3, 13, 17
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    base = torch.stack([xx / (w - 1) * 200, yy / (h - 1) * 200, (xx + yy) / (w + h - 2) * 120])
    noise = torch.randint(0, 56, (c, h, w), generator=g).float()
    img_u8 = (base + noise).clamp(0, 255).to(torch.uint8)
    x = T.ToTensor()(img_u8.permute(1, 2, 0).numpy())  # HWC u8 -> CHW float / 255, as torchvision does for images
    assert torch.equal(x, img_u8.float().div(255))

    tensors = [("input_bytes", img_u8.to(torch.int32).numpy()), ("input", x.numpy())]
    for (oh, ow) in RESIZES:
        y = F.interpolate(x[None], size=(oh, ow), mode="bilinear", align_corners=False, antialias=False)[0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tv = T.Resize((oh, ow), interpolation=T.InterpolationMode.BILINEAR, antialias=False)(x)
        assert torch.equal(y, tv), (oh, ow)
        tensors.append((f"resize.{oh}x{ow}", y.numpy()))
    for (ch, cw) in CENTER_CROPS:
        tensors.append((f"center_crop.{ch}x{cw}", T.CenterCrop((ch, cw))(x).numpy()))
    tensors.append(("normalize", T.Normalize(MEAN, STD)(x).numpy()))

    meta = {
        "format": "graphcompiler-transform-reference-v1",
        "generator": "tests/reference/make_transform_reference.py",
        "torch_version": torch.__version__,
        "torchvision_version": torchvision.__version__,
        "resize": "F.interpolate(x[None], size, mode='bilinear', align_corners=False, antialias=False)",
        "resize_sizes": ",".join(f"{a}x{b}" for a, b in RESIZES),
        "center_crop_sizes": ",".join(f"{a}x{b}" for a, b in CENTER_CROPS),
        "normalize_mean": ",".join(map(str, MEAN)),
        "normalize_std": ",".join(map(str, STD)),
    }
    write_safetensors(OUT, tensors, meta)
    with open(OUT, "rb") as f:
        data = f.read()
    print(f"{OUT}: {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}")
    for name, arr in tensors:
        print(f"  {name}: {list(arr.shape)} {arr.dtype}")


if __name__ == "__main__":
    main()
