"""PyTorch peer for the FashionMnist sample's accuracy: the Mlp recipe (SGD 0.01, batch 64, 5 epochs, full batches)
over several seeds, to show the spread of test accuracy the C# run should fall into.
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 benchmarks/peers/torch_mlp_seeds.py"""
import gzip, struct, sys, time
import numpy as np, torch, torch.nn as nn, torch.nn.functional as F
torch.set_num_threads(2)
def idx(path):
    with gzip.open(path) as f: data = f.read()
    magic, n = struct.unpack(">II", data[:8])
    if magic == 2051:
        r, c = struct.unpack(">II", data[8:16]); return np.frombuffer(data, np.uint8, offset=16).reshape(n, r * c)
    return np.frombuffer(data, np.uint8, offset=8)
root = "/usr/share/datasets/fashion-mnist/"
Xtr = torch.tensor((idx(root + "train-images-idx3-ubyte.gz") / 255.0 - 0.5) / 0.5, dtype=torch.float32)
ytr = torch.tensor(idx(root + "train-labels-idx1-ubyte.gz").astype(np.int64))
Xte = torch.tensor((idx(root + "t10k-images-idx3-ubyte.gz") / 255.0 - 0.5) / 0.5, dtype=torch.float32)
yte = torch.tensor(idx(root + "t10k-labels-idx1-ubyte.gz").astype(np.int64))
for seed in range(6):
    torch.manual_seed(seed)
    mlp = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10), nn.LogSoftmax(1))
    opt = torch.optim.SGD(mlp.parameters(), lr=0.01)
    for epoch in range(5):
        perm = torch.randperm(60000)
        for i in range(0, 60000 - 63, 64):
            j = perm[i:i + 64]; opt.zero_grad(); F.nll_loss(mlp(Xtr[j]), ytr[j]).backward(); opt.step()
    with torch.no_grad(): acc = (mlp(Xte).argmax(1) == yte).float().mean().item()
    print(f"seed {seed}: test acc after 5 epochs {acc:.4f}", flush=True)
