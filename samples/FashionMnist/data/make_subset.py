#!/usr/bin/python3
"""Cuts the small Fashion-MNIST subset that ships (embedded) with the repository out of the full dataset.

Usage: /usr/bin/python3 make_subset.py [SOURCE_DIR] [OUTPUT_DIR]
  SOURCE_DIR  defaults to /usr/share/datasets/fashion-mnist (Debian package dataset-fashion-mnist)
  OUTPUT_DIR  defaults to the directory this script lives in

Standard library only, so it runs on a bare python3. The output is byte-for-byte reproducible:
gzip's header timestamp is fixed at 0 and no file name is stored in it, so regenerating gives the same
files and git sees no change.
"""
import gzip
import os
import struct
import sys

TRAIN_COUNT = 10000
TEST_COUNT = 2000
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def read_idx(path, expected_magic):
    with gzip.open(path, "rb") as f:
        data = f.read()
    (magic,) = struct.unpack_from(">I", data, 0)
    if magic != expected_magic:
        sys.exit(f"{path}: magic 0x{magic:08x}, expected 0x{expected_magic:08x}")
    rank = magic & 0xFF
    dims = struct.unpack_from(">" + "I" * rank, data, 4)
    header = 4 + 4 * rank
    return list(dims), data[header:]


def write_idx(path, magic, dims, payload):
    header = struct.pack(">I", magic) + struct.pack(">" + "I" * len(dims), *dims)
    with open(path, "wb") as raw:
        # filename="" and mtime=0 keep the gzip header free of anything that changes between runs.
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as gz:
            gz.write(header)
            gz.write(payload)


def subset(src, dst, split, count):
    dims, pixels = read_idx(os.path.join(src, f"{split}-images-idx3-ubyte.gz"), 0x00000803)
    ldims, labels = read_idx(os.path.join(src, f"{split}-labels-idx1-ubyte.gz"), 0x00000801)
    n, rows, cols = dims
    if ldims[0] != n or len(pixels) != n * rows * cols or len(labels) != n:
        sys.exit(f"{split}: inconsistent source files")
    if count > n:
        sys.exit(f"{split}: asked for {count} samples but the source has only {n}")
    size = rows * cols
    write_idx(os.path.join(dst, f"{split}-images-idx3-ubyte.gz"), 0x00000803, [count, rows, cols], pixels[:count * size])
    write_idx(os.path.join(dst, f"{split}-labels-idx1-ubyte.gz"), 0x00000801, [count], labels[:count])

    # The source files are not sorted by class, but check: a prefix that starved a class would make the
    # sample's accuracy figures meaningless.
    counts = [0] * 10
    for label in labels[:count]:
        counts[label] += 1
    print(f"{split}: {count} of {n} samples, {rows}x{cols}")
    for c, k in enumerate(counts):
        print(f"  {c} {CLASSES[c]:<12} {k:5d}  {100.0 * k / count:5.2f}%")
    if min(counts) < 0.8 * count / 10 or max(counts) > 1.2 * count / 10:
        sys.exit(f"{split}: class balance outside +-20% of uniform: {counts}")

    # Values the C# tests check against, so a reader bug cannot hide behind a self-consistent round trip.
    first = pixels[:size]
    print(f"  first 10 labels: {list(labels[:10])}")
    print(f"  sample 0: pixel sum {sum(first)}, row 14 = {list(first[14 * cols:15 * cols])}")
    last = pixels[(count - 1) * size:count * size]
    print(f"  sample {count - 1}: label {labels[count - 1]}, pixel sum {sum(last)}")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    src = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/datasets/fashion-mnist"
    dst = sys.argv[2] if len(sys.argv) > 2 else here
    subset(src, dst, "train", TRAIN_COUNT)
    subset(src, dst, "t10k", TEST_COUNT)


if __name__ == "__main__":
    main()
