"""PyTorch peer for benchmarks/: the same measurements as the BenchmarkDotNet suite, on Debian's python3-torch.
Run in the same session as the C# benchmarks (see benchmarks/run.sh):
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 benchmarks/peers/torch_peer.py
Needs: apt-get install python3-torch libopenblas0-pthread dataset-fashion-mnist
Prints one line per figure: `peer <name>: <median ms> ms (best <ms>)`."""
import gzip, struct, sys, time
import numpy as np, torch, torch.nn as nn, torch.nn.functional as F

torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
torch.manual_seed(0)
print(f"torch {torch.__version__} threads={torch.get_num_threads()}")

def bench(name, fn, reps, warmup=3):
    for _ in range(warmup): fn()
    ts = []
    for _ in range(reps):
        t = time.perf_counter(); fn(); ts.append(time.perf_counter() - t)
    print(f"peer {name}: {np.median(ts)*1e3:.3f} ms (best {min(ts)*1e3:.3f})", flush=True)

class CifarNet(nn.Module):
    def __init__(s):
        super().__init__()
        s.conv1, s.conv2, s.conv3 = nn.Conv2d(3, 32, 5, padding=2), nn.Conv2d(32, 32, 5, padding=2), nn.Conv2d(32, 64, 5, padding=2)
        s.fc1, s.fc2 = nn.Linear(1024, 64), nn.Linear(64, 10)
    def forward(s, x):
        x = F.max_pool2d(F.relu(s.conv1(x)), 2)
        x = F.max_pool2d(F.relu(s.conv2(x)), 2)
        x = F.max_pool2d(F.relu(s.conv3(x)), 2)
        return s.fc2(F.relu(s.fc1(torch.flatten(x, 1))))

def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10), nn.LogSoftmax(1))

m = CifarNet(); opt = torch.optim.SGD(m.parameters(), lr=0.01)
x, y = torch.randn(64, 3, 32, 32), torch.randint(0, 10, (64,))
def cifar_step():
    opt.zero_grad(); F.cross_entropy(m(x), y).backward(); opt.step()
bench("CifarNet train step b64", cifar_step, 30)
with torch.no_grad():
    bench("CifarNet inference b64", lambda: m(x), 30)

net = mlp(); opt2 = torch.optim.SGD(net.parameters(), lr=0.01)
xm = torch.randn(64, 1, 28, 28)
def mlp_step():
    opt2.zero_grad(); F.nll_loss(net(xm), y).backward(); opt2.step()
bench("Mlp train step b64", mlp_step, 200)

def idx(path):
    with gzip.open(path) as f: data = f.read()
    magic, n = struct.unpack(">II", data[:8])
    if magic == 2051:
        r, c = struct.unpack(">II", data[8:16]); return np.frombuffer(data, np.uint8, offset=16).reshape(n, 1, r, c)
    return np.frombuffer(data, np.uint8, offset=8)
root = "/usr/share/datasets/fashion-mnist/"
Xtr = torch.tensor((idx(root + "train-images-idx3-ubyte.gz") / 255.0 - 0.5) / 0.5, dtype=torch.float32)
ytr = torch.tensor(idx(root + "train-labels-idx1-ubyte.gz").astype(np.int64))
net = mlp(); opt3 = torch.optim.SGD(net.parameters(), lr=0.01)
def epoch():
    perm = torch.randperm(60000)
    for i in range(0, 60000, 64):
        j = perm[i:i + 64]; opt3.zero_grad(); F.nll_loss(net(Xtr[j]), ytr[j]).backward(); opt3.step()
bench("Mlp epoch (60k, b64)", epoch, 5, warmup=1)
