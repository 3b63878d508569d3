#!/usr/bin/env python3
"""Writes a small labelled IDX image set (16 × 16, 3 classes: horizontal bar, vertical bar,
box; random positions and noise) as train-/t10k- images and labels into DIR."""
import os
import random
import struct
import sys


def images(n, rng):
    out, labels = [], []
    for i in range(n):
        c = i % 3
        img = [[rng.randint(0, 40) for _ in range(16)] for _ in range(16)]
        o = rng.randint(3, 12)
        for k in range(2, 14):
            if c == 0:
                img[o][k] = 255
            elif c == 1:
                img[k][o] = 255
        if c == 2:
            for k in range(4, 12):
                img[4][k] = img[11][k] = img[k][4] = img[k][11] = 255
        out.append(bytes(v for row in img for v in row))
        labels.append(c)
    return out, labels


def write(d, prefix, n, rng):
    imgs, labels = images(n, rng)
    with open(os.path.join(d, prefix + "-images-idx3-ubyte"), "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, 16, 16) + b"".join(imgs))
    with open(os.path.join(d, prefix + "-labels-idx1-ubyte"), "wb") as f:
        f.write(struct.pack(">II", 0x801, n) + bytes(labels))


d = sys.argv[1]
os.makedirs(d, exist_ok=True)
rng = random.Random(1)
write(d, "train", 600, rng)
write(d, "t10k", 150, rng)
