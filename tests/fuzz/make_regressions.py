#!/usr/bin/env python3
"""Writes the hand-made regression reproducers of issue 13 into tests/fuzz/regressions/<reader>/ (stdlib only).

Each file is the minimal input the issue describes; FuzzRegressionTests runs every file in that folder through its
reader under the fuzz harness (watchdog, allocation check, exception type and file name) and checks the message.
Inputs the fuzz suite itself finds are copied into the same folders by hand (their names say so).
"""
import gzip, os, struct, zlib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "regressions")


def write(reader, name, data):
    os.makedirs(os.path.join(ROOT, reader), exist_ok=True)
    with open(os.path.join(ROOT, reader, name), "wb") as f:
        f.write(data)


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def masked(data):
    c = crc32c(data)
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def png_chunk(kind, payload, length=None):
    n = len(payload) if length is None else length
    return struct.pack(">I", n) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)


PNG_SIG = b"\x89PNG\r\n\x1a\n"

# ---- idx: headers that declare far more than follows
write("idx", "idx3-2e9-images-no-data.idx", struct.pack(">IIII", 0x803, 2_000_000_000, 1, 1))
write("idx", "idx1-array-maxlength-labels.idx", struct.pack(">II", 0x801, 0x7FFFFFC7))
write("idx", "idx3-zero-images-huge-rows.idx", struct.pack(">IIII", 0x803, 0, 0x7FFFFFFF, 0x7FFFFFFF))
hdr = struct.pack(">IIII", 0x803, 1_000_000, 28, 28)
write("idx-gzip", "gzip-1e6-images-28x28-header-only.idx.gz", gzip.compress(hdr, mtime=0))

# ---- TensorBoard: a valid length CRC on a length no data backs
for name, length in [("record-length-2pow31-1.tfevents", 2**31 - 1), ("record-length-2pow30.tfevents", 2**30)]:
    head = struct.pack("<Q", length)
    write("tensorboard", name, head + struct.pack("<I", masked(head)))


# ---- safetensors: invalid UTF-8 or a lone surrogate in each kind of header string
def safetensors(header):
    header += b" " * ((8 - len(header) % 8) % 8)
    return struct.pack("<Q", len(header)) + header + b"\0" * 8


good = b'{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'
variants = {
    "name-invalid-utf8": good.replace(b'"a"', b'"a\xff"'),
    "dtype-invalid-utf8": good.replace(b'"F32"', b'"F\xc3\x28"'),
    "field-invalid-utf8": good.replace(b'"shape"', b'"sh\xed\xa0\x80pe"'),
    "metadata-invalid-utf8": good.replace(b'"pt"', b'"p\xc0\xaft"'),
    "name-lone-surrogate": good.replace(b'"a"', b'"a\\ud800"'),
    "metadata-key-lone-surrogate": good.replace(b'"format"', b'"\\udc00format"'),
}
for name, header in variants.items():
    write("safetensors", name + ".safetensors", safetensors(header))
# The same damage through StateDict.Load and TrainingCheckpoint.Load.
write("state-dict", "name-invalid-utf8.safetensors", safetensors(variants["name-invalid-utf8"]))
write("checkpoint", "metadata-lone-surrogate.safetensors", safetensors(variants["metadata-key-lone-surrogate"]))

# ---- images
ihdr = lambda w, h, depth=8, color=2, interlace=0: png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, interlace))
tiny_idat = png_chunk(b"IDAT", zlib.compress(b"\0" * 4))
write("image-folder", "png-16384x65536-header.png", PNG_SIG + ihdr(16384, 65536) + tiny_idat + png_chunk(b"IEND", b""))
# 1x1 RGB whose first IDAT claims 0x40000000 bytes (stb allocated them natively, per decode).
pixels = zlib.compress(b"\0\x10\x20\x30")
write("image-folder", "png-idat-length-1gib.png",
      PNG_SIG + ihdr(1, 1) + png_chunk(b"IDAT", pixels, length=0x40000000) + png_chunk(b"IEND", b""))
write("image-folder", "png-chunk-length-bogus.png",
      PNG_SIG + ihdr(1, 1) + struct.pack(">I", 0xFFFFFFF0) + b"tEXt" + b"x" * 16)
# GIF whose logical screen is 16383x16383 with a 1x1 frame.
gif = (b"GIF89a" + struct.pack("<HHBBB", 16383, 16383, 0x80, 0, 0) + b"\0\0\0\xff\xff\xff"
       + b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00" + b"\x3b")
write("image-folder", "gif-screen-16383x16383.gif", gif)
# JPEG whose APP0 segment claims 32768 bytes: the stb parser looped forever.
write("image-folder", "jpeg-app0-length-32768.jpg", b"\xff\xd8\xff\xe0\x80\x00JFIF\0\x01\x01\0\0\x01\0\x01\0\0" + b"\xff\xd9")
# BMP 17 x 16,711,693 (a 730-byte file): 852 MB once decoded.
bmp_pixels = b"\x7f" * (730 - 54)
bmp = (b"BM" + struct.pack("<IHHI", 730, 0, 0, 54)
       + struct.pack("<IiiHHIIiiII", 40, 17, 16_711_693, 1, 24, 0, len(bmp_pixels), 2835, 2835, 0, 0) + bmp_pixels)
write("image-folder", "bmp-17x16711693.bmp", bmp)
# Found by the fuzz suite: a palette offset (bfOffBits) of ~2 GB, which ImageSharp 2.1 allocated as one array.
bmp_off = bytearray(bmp[:200])
struct.pack_into("<I", bmp_off, 10, 0x7700007D)
struct.pack_into("<i", bmp_off, 22, 4)
struct.pack_into("<H", bmp_off, 28, 8)
write("image-folder", "bmp-palette-offset-2gb.bmp", bytes(bmp_off))
