#!/usr/bin/env python3
"""benchmarks/pil_decode.py — the PyTorch user's CelebA loading, timed: PIL over a folder of
178 × 218 JPEGs (the peer of bench_images' images/folder/celeba64; benchmarks/run_images.sh
runs both on the same files).

    pil_decode.py DIR --threads 1|2 [--decode-only] [--repeat R] [--out FILE.json]
    pil_decode.py DIR --compare RAW [--out FILE.json]

Per file, what torchvision's CelebA pipeline (CenterCrop(140), Resize(64)) does on PIL images:
Image.open(f).convert('RGB'), the centre crop 140 × 140 at (left 19, top 39), resize((64, 64),
Image.BICUBIC) (PIL antialiases when it shrinks), np.asarray, copied into a preallocated
N × 64 × 64 × 3 uint8 array. --decode-only: Image.open(f).convert('RGB') and np.asarray alone,
into N × 218 × 178 × 3 (the peer of images/folder/decode_only).

--threads 1: one loop in this process. --threads 2: a multiprocessing.Pool(2) (fork), split as
a DataLoader with num_workers=2 splits an epoch: batches of 256 files in order, handed to the
workers in turn, each decoding its batches straight into the preallocated array, which lives
in shared memory (the peer at its best: no pixels pickled through a pipe; a DataLoader would
also send each batch back through shared memory and collate it). The pool is started before
the clock (as persistent_workers=True), and the files are read once before any timing (page
cache, as for dpvae).

--compare RAW: no timing; decodes the folder once (decode only) and compares PIL's pixels with
RAW, the bytes `bench_images --dump DIR RAW` wrote (dpvae's decoding of the same files):
reports the bytes and images that differ and the largest difference.

Timed per run: listing and sorting the folder, every file's decoding, the array filled.
Reported (stdout and --out): the wall seconds of each of R runs (default 3) and images_per_s
of their median.
"""
import argparse
import json
import mmap
import multiprocessing
import os
import platform
import statistics
import sys
import time

import numpy as np
from PIL import Image

CROP = (19, 39, 19 + 140, 39 + 140)  # left, top, right, bottom: centre 140 × 140 of 178 × 218
SIZE = 64
BATCH = 256
EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".pgm", ".ppm")

# Set in main() before the pool forks, so that the workers inherit them.
DECODE_ONLY = False
SHAPE = (SIZE, SIZE, 3)
OUT = None  # the preallocated N × SHAPE uint8 array, in shared memory


def load_one(path):
    """One file as a SHAPE uint8 array."""
    with Image.open(path) as im:
        if DECODE_ONLY:
            return np.asarray(im.convert("RGB"))
        return np.asarray(im.convert("RGB").crop(CROP).resize((SIZE, SIZE), Image.BICUBIC))


def load_batch(task):
    """A worker's batch: the files `paths` into OUT[start:start + len(paths)]."""
    start, paths = task
    for i, p in enumerate(paths):
        OUT[start + i] = load_one(p)
    return len(paths)


def list_files(d):
    return [os.path.join(d, f) for f in sorted(os.listdir(d)) if f.lower().endswith(EXTS)]


def run(d, pool):
    """Loads the folder once into OUT; returns the number of files."""
    files = list_files(d)
    assert len(files) == len(OUT), "the folder changed"
    if pool is None:
        for i, f in enumerate(files):
            OUT[i] = load_one(f)
        return len(files)
    return sum(pool.imap(load_batch, [(i, files[i:i + BATCH]) for i in range(0, len(files), BATCH)]))


def main():
    global DECODE_ONLY, SHAPE, OUT
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--threads", type=int, choices=(1, 2), default=1)
    ap.add_argument("--decode-only", action="store_true")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out")
    ap.add_argument("--compare", metavar="RAW")
    a = ap.parse_args()
    files = list_files(a.dir)
    if not files:
        sys.exit(f"pil_decode.py: no image files in {a.dir}")
    if a.compare:
        pil = np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files])
        ours = np.fromfile(a.compare, dtype=np.uint8)
        if ours.size != pil.size:
            sys.exit(f"pil_decode.py: {a.compare} holds {ours.size} bytes, PIL decoded {pil.size}")
        diff = np.abs(ours.reshape(pil.shape).astype(np.int16) - pil.astype(np.int16))
        r = {"tool": "PIL", "mode": "compare", "files": len(files), "bytes": int(pil.size),
             "bytes_differing": int(np.count_nonzero(diff)),
             "images_differing": int(np.count_nonzero(diff.reshape(len(files), -1).max(axis=1))),
             "max_abs_diff": int(diff.max()), "pil": Image.__version__}
        print(json.dumps(r))
        if a.out:
            with open(a.out, "w") as f:
                json.dump(r, f, indent=1)
        return
    if a.decode_only:
        DECODE_ONLY = True
        with Image.open(files[0]) as im:
            SHAPE = (im.height, im.width, 3)
    nbytes = len(files) * SHAPE[0] * SHAPE[1] * SHAPE[2]
    buf = mmap.mmap(-1, nbytes, flags=mmap.MAP_SHARED)  # anonymous, shared with the forked workers
    OUT = np.frombuffer(buf, dtype=np.uint8).reshape((len(files),) + SHAPE)
    for f in files:  # into the page cache
        with open(f, "rb") as fh:
            fh.read()
    pool = None
    if a.threads == 2:
        pool = multiprocessing.get_context("fork").Pool(2)
        pool.map(len, [[0]] * 4)  # the workers are up
    seconds = []
    try:
        for _ in range(a.repeat):
            t = time.perf_counter()
            n = run(a.dir, pool)
            seconds.append(time.perf_counter() - t)
            assert n == len(files)
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    med = statistics.median(seconds)
    r = {"tool": "PIL", "threads": a.threads, "mode": "decode_only" if a.decode_only else "celeba64",
         "parallelism": "one loop" if a.threads == 1 else
         f"multiprocessing.Pool(2), fork, batches of {BATCH} decoded into a shared-memory array",
         "files": len(files), "seconds": seconds, "images_per_s": len(files) / med,
         "pil": Image.__version__, "numpy": np.__version__, "python": platform.python_version()}
    print(json.dumps(r))
    if a.out:
        with open(a.out, "w") as f:
            json.dump(r, f, indent=1)


if __name__ == "__main__":
    main()
