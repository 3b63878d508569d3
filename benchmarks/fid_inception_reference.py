#!/usr/bin/env python3
"""PyTorch reference for dpvae's standard-FID features (pytorch-fid's Inception-v3 pool3).

    fid_inception_reference.py --dpvae BUILD/tools/dpvae --work DIR [--images 64] [--threads 2]

Checks dpvae's `fid-features` and `fid` commands against PyTorch and NumPy without the real
FID weights (which cannot be downloaded here): every number compared comes from the same
random weights and the same images on both sides.

1. Builds the FID variant of torchvision's Inception3 (num_classes=1008, aux_logits=False)
   that pytorch-fid uses: Mixed_5b..5d (InceptionA), Mixed_6b..6e (InceptionC) and Mixed_7b
   (InceptionE) average-pool their branch_pool with count_include_pad=False, Mixed_7c
   (InceptionE) max-pools it (3x3, stride 1, padding 1). Weights are random
   (torch.manual_seed(0); conv weights Kaiming-normal, fan_in, ReLU gain; BatchNorm weight
   U[0.5,1.5], bias U[-0.2,0.2], running_mean U[-0.2,0.2], running_var U[0.5,2.0], so the
   activations stay O(1) through the 94 convolutions), in eval mode. They are exported with
   scripts/convert-fid-inception.py's fid_inception_state + write_safetensors to
   DIR/random-weights.safetensors (the same 470 tensors and names as the real conversion).
2. Writes --images images in [0,1] (float32) in four groups, one safetensors file each,
   DIR/images_<k>.safetensors, tensor "images" of shape N x H x W x C (rows are images,
   channels last): k=0 grayscale 28x28x1, k=1 colour 32x32x3, k=2 colour 64x64x3, k=3 colour
   300x250x3 (H=300 > 299, W=250: shrinks rows while it stretches columns). Smooth random
   patterns plus noise, with different row, column and channel structure.
3. Computes in PyTorch (float32, torch.set_num_threads(--threads), OpenMP left at its
   defaults) per group the network input (gray repeated to 3 channels, then
   F.interpolate(size=(299, 299), mode="bilinear", align_corners=False), then 2x - 1) and
   the 2048-d pool3 features; times resize + network in images/s after one warm-up batch
   (the fastest of --repeats timed batches, default 1).
   The PyTorch side is written whatever happens next: DIR/torch_<k>.safetensors and
   DIR/torch_feats.safetensors (tensor "features"), DIR/perturbed_feats.safetensors (the
   torch features, perturbed; a second set for the FID/KID check).
4. Runs, for each group,
     DPVAE fid-features --weights DIR/random-weights.safetensors --images DIR/images_<k>.safetensors
           --out DIR/dpvae_<k>.safetensors --preprocessed-out DIR/dpvae_pre_<k>.safetensors
           --threads THREADS
   reading "features" (N x 2048) and "images" (N x 299 x 299 x 3, the network input) and
   the `images/s: X` line it prints. A missing or failing command is reported; the
   PyTorch side is still complete.
5. Compares, per group and overall: the max over images of |f_dpvae - f_torch| / |f_torch|
   (L2 norms), max elementwise |diff| / max |f_torch|, the preprocessing max |diff| (target
   1e-6), images/s on both sides and their ratio dpvae / torch; FID and KID between the
   dpvae and torch features (all vs all, group vs group) in float64 NumPy; and runs
     DPVAE fid A.safetensors DIR/torch_feats.safetensors --features --json OUT.json
   for A = DIR/dpvae_feats.safetensors and A = DIR/perturbed_feats.safetensors, comparing
   dpvae's FID and KID with NumPy's on the very same files. Everything goes to
   DIR/report.json.

FID here: |mu1 - mu2|^2 + Tr C1 + Tr C2 - 2 Tr sqrt(C1 C2) (unbiased covariances), with
Tr sqrt(C1 C2) from scipy.linalg.sqrtm when scipy is installed (the usual implementation),
else from the eigenvalues of sqrt(C1) C2 sqrt(C1) (symmetric eigensolvers, float64,
eigenvalues at the rounding level counted as 0). Both are reported where available, plus
an exact low-rank form for n << d: Tr sqrt(C1 C2) = the sum of the singular values of
A B^T with A = (X1 - mu1)/sqrt(n1 - 1), B likewise (the nonzero eigenvalues of C1 C2 are
those of (A B^T)(A B^T)^T). KID: the unbiased MMD^2 with the kernel (x.y/d + 1)^3 over 100
pairs of subsets of min(1000, n) rows drawn without replacement; mean and np.std (ddof 0).
With n <= 1000 every subset is the whole set, so KID does not depend on the random draws.

Exit status: 0 when dpvae ran and every comparison is within tolerance, 1 when one is not,
2 when the dpvae side could not run (missing binary or command, failure, bad output), 3
when the random network's features collapse or explode (a bug in this script).

Needs numpy and torch + torchvision (Debian: apt-get install python3-torch
python3-torchvision python3-numpy; optional python3-scipy). Run it with /usr/bin/python3
when another python3 comes first on PATH. torch is never a dependency of the dpvae library.
Memory: about 1 GB; time on 2 cores: a few minutes (most of it FID's 2048 x 2048 sqrtm).
"""
import argparse
import importlib.util
import json
import os
import platform
import re
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models.inception import BasicConv2d, Inception3, InceptionA, InceptionC, InceptionE

try:
    import scipy.linalg as scipy_linalg
except ImportError:  # the eigendecomposition route below needs only NumPy
    scipy_linalg = None

GROUPS = [  # (name, H, W, C)
    ("gray28", 28, 28, 1),
    ("rgb32", 32, 32, 3),
    ("rgb64", 64, 64, 3),
    ("rgb300x250", 300, 250, 3),
]
SIZE = 299
FEATURES = 2048


def load_converter():
    """scripts/convert-fid-inception.py as a module (its name has a dash)."""
    path = Path(__file__).resolve().parent.parent / "scripts" / "convert-fid-inception.py"
    spec = importlib.util.spec_from_file_location("convert_fid_inception", path)
    module = importlib.util.module_from_spec(spec)
    keep, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # no scripts/__pycache__ in the tree
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = keep
    return module


# ------------------------------------------------------------------------------------------
# The FID Inception-v3 (pytorch-fid's variant of TensorFlow's 2015-12-05 graph)
# ------------------------------------------------------------------------------------------

def _avg3_exclude_pad(x):
    """3x3 average, stride 1, padding 1, dividing by the in-image cells only (TF's SAME)."""
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class FIDInceptionA(InceptionA):
    """Mixed_5b..5d: torchvision's InceptionA but the pool branch excludes the padding."""

    def forward(self, x):
        b1 = self.branch1x1(x)
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = self.branch_pool(_avg3_exclude_pad(x))
        return torch.cat([b1, b5, b3, bp], dim=1)


class FIDInceptionC(InceptionC):
    """Mixed_6b..6e: torchvision's InceptionC but the pool branch excludes the padding."""

    def forward(self, x):
        b1 = self.branch1x1(x)
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = x
        for layer in (self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3,
                      self.branch7x7dbl_4, self.branch7x7dbl_5):
            bd = layer(bd)
        bp = self.branch_pool(_avg3_exclude_pad(x))
        return torch.cat([b1, b7, bd, bp], dim=1)


class FIDInceptionE(InceptionE):
    """Mixed_7b (pool="avg", padding excluded) and Mixed_7c (pool="max")."""

    def __init__(self, in_channels, pool):
        super().__init__(in_channels)
        if pool not in ("avg", "max"):
            raise ValueError(pool)
        self.pool = pool

    def forward(self, x):
        b1 = self.branch1x1(x)
        t = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(t), self.branch3x3_2b(t)], dim=1)
        u = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = torch.cat([self.branch3x3dbl_3a(u), self.branch3x3dbl_3b(u)], dim=1)
        if self.pool == "avg":
            p = _avg3_exclude_pad(x)
        else:
            p = F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
        bp = self.branch_pool(p)
        return torch.cat([b1, b3, bd, bp], dim=1)


def build_fid_inception():
    net = Inception3(num_classes=1008, aux_logits=False, init_weights=False)
    net.Mixed_5b = FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = FIDInceptionE(1280, pool="avg")
    net.Mixed_7c = FIDInceptionE(2048, pool="max")
    return net


def randomize(net, seed=0):
    """Random weights that keep the activations O(1) (see the docstring)."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, BasicConv2d):
                nn.init.kaiming_normal_(module.conv.weight, mode="fan_in", nonlinearity="relu")
                module.bn.weight.uniform_(0.5, 1.5)
                module.bn.bias.uniform_(-0.2, 0.2)
                module.bn.running_mean.uniform_(-0.2, 0.2)
                module.bn.running_var.uniform_(0.5, 2.0)
    net.eval()
    return net


def check_against_converter_table(net, conv):
    """The converter's hand-written layer table must describe this very network."""
    modules = [(n, m) for n, m in net.named_modules() if isinstance(m, BasicConv2d)]
    table = conv.fid_inception_convs()
    if [n for n, _ in modules] != [t[0] for t in table]:
        raise SystemExit("convert-fid-inception.py's layer table and the network's BasicConv2d names differ")
    for (name, m), (_, cout, cin, k, stride, pad) in zip(modules, table):
        c = m.conv
        got = (c.out_channels, c.in_channels, tuple(c.kernel_size), tuple(c.stride), tuple(c.padding))
        if got != (cout, cin, k, stride, pad) or c.bias is not None or m.bn.eps != 0.001:
            raise SystemExit(f"{name}: the network has {got} (bias {c.bias is not None}, eps {m.bn.eps}), "
                             f"the converter's table {(cout, cin, k, stride, pad)}")
    return len(table)


def preprocess(images_nhwc):
    """N x H x W x C in [0,1] -> the network input N x 3 x 299 x 299 in [-1,1]."""
    x = images_nhwc.permute(0, 3, 1, 2)
    if x.shape[1] == 1:
        x = x.repeat(1, 3, 1, 1)
    x = x.contiguous()  # NCHW, as pytorch-fid's data loader hands it over
    x = F.interpolate(x, size=(SIZE, SIZE), mode="bilinear", align_corners=False)
    return 2 * x - 1


def pool3(net, x):
    """The 2048-d pool3 features of a preprocessed batch."""
    x = net.Conv2d_1a_3x3(x)
    x = net.Conv2d_2a_3x3(x)
    x = net.Conv2d_2b_3x3(x)
    x = F.max_pool2d(x, kernel_size=3, stride=2)
    x = net.Conv2d_3b_1x1(x)
    x = net.Conv2d_4a_3x3(x)
    x = F.max_pool2d(x, kernel_size=3, stride=2)
    for block in (net.Mixed_5b, net.Mixed_5c, net.Mixed_5d, net.Mixed_6a, net.Mixed_6b, net.Mixed_6c,
                  net.Mixed_6d, net.Mixed_6e, net.Mixed_7a, net.Mixed_7b, net.Mixed_7c):
        x = block(x)
    return F.adaptive_avg_pool2d(x, output_size=1).flatten(1)


# ------------------------------------------------------------------------------------------
# The resize, written out in NumPy (what dpvae's C++ must reproduce)
# ------------------------------------------------------------------------------------------

def bilinear_taps(n_in, n_out):
    """PyTorch's CPU bilinear taps (align_corners=False, no antialias), as measured on 1.13:
    scale = float32(n_in) / float32(n_out) rounded to float32; src = max(scale * (i + 0.5) - 0.5, 0)
    evaluated in double (rounding src to float32 first is off by up to ~1.5e-5 at 300 -> 299);
    i0 = floor(src), i1 = min(i0 + 1, n_in - 1); l1 = float32(src - i0), l0 = 1 - l1 in float32.
    n_in == n_out copies (l0 = 1)."""
    if n_in == n_out:
        i = np.arange(n_out)
        return i, i, np.ones(n_out, np.float32), np.zeros(n_out, np.float32)
    scale = np.float64(np.float32(n_in) / np.float32(n_out))
    src = np.maximum(scale * (np.arange(n_out, dtype=np.float64) + 0.5) - 0.5, 0.0)
    i0 = src.astype(np.int64)
    i1 = np.minimum(i0 + 1, n_in - 1)
    l1 = (src - i0).astype(np.float32)
    return i0, i1, np.float32(1) - l1, l1


def numpy_preprocess(images_nhwc):
    """NumPy float32 version of preprocess(), returning N x 299 x 299 x 3 (channels last)."""
    x = images_nhwc
    if x.shape[3] == 1:
        x = np.repeat(x, 3, axis=3)
    h0, h1, a0, a1 = bilinear_taps(x.shape[1], SIZE)
    w0, w1, b0, b1 = bilinear_taps(x.shape[2], SIZE)
    a0, a1 = a0[None, :, None, None], a1[None, :, None, None]
    b0, b1 = b0[None, None, :, None], b1[None, None, :, None]
    top, bottom = x[:, h0], x[:, h1]
    out = a0 * (b0 * top[:, :, w0] + b1 * top[:, :, w1]) + a1 * (b0 * bottom[:, :, w0] + b1 * bottom[:, :, w1])
    return (np.float32(2) * out - np.float32(1)).astype(np.float32)


# ------------------------------------------------------------------------------------------
# Images
# ------------------------------------------------------------------------------------------

def make_images(rng, n, h, w, c):
    """n smooth random images in [0,1]: a row ramp, a different column curve, a per-channel
    offset, random plane waves and a Gaussian blob per channel, plus pixel noise."""
    yy = np.linspace(0.0, 1.0, h)[:, None]
    xx = np.linspace(0.0, 1.0, w)[None, :]
    out = np.empty((n, h, w, c), np.float32)
    for i in range(n):
        for ch in range(c):
            img = 0.25 + 0.35 * yy + 0.12 * xx ** 2 + 0.07 * ch + 0.05 * np.sin(3.0 * xx * (ch + 1))
            for _ in range(3):
                fy, fx = rng.uniform(0.5, 4.0, size=2)
                amplitude, phase = rng.uniform(0.04, 0.14), rng.uniform(0, 2 * np.pi)
                img = img + amplitude * np.sin(2 * np.pi * (fy * yy + fx * xx) + phase)
            cy, cx = rng.uniform(0.15, 0.85, size=2)
            sigma = rng.uniform(0.08, 0.3)
            img = img + rng.uniform(-0.3, 0.3) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma ** 2))
            img = img + rng.normal(0.0, 0.03, size=(h, w))
            out[i, :, :, ch] = np.clip(img, 0.0, 1.0)
    return out


# ------------------------------------------------------------------------------------------
# safetensors reading (dpvae's outputs); writing is the converter's write_safetensors
# ------------------------------------------------------------------------------------------

_DTYPES = {"F32": "<f4", "F64": "<f8", "F16": "<f2", "I64": "<i8", "I32": "<i4", "U8": "u1", "I8": "i1"}


def read_safetensors(path):
    """name -> numpy array for every tensor of a safetensors file (and the metadata)."""
    data = Path(path).read_bytes()
    if len(data) < 8:
        raise ValueError(f"{path}: too short for a safetensors file")
    (n,) = struct.unpack("<Q", data[:8])
    if 8 + n > len(data):
        raise ValueError(f"{path}: the header length {n} runs past the end of the file")
    header = json.loads(data[8:8 + n].decode("utf-8"))
    base = 8 + n
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = np.dtype(_DTYPES[info["dtype"]])
        shape = tuple(int(s) for s in info["shape"])
        begin, end = (int(v) for v in info["data_offsets"])
        count = int(np.prod(shape, dtype=np.int64))
        if end - begin != count * dtype.itemsize or base + end > len(data):
            raise ValueError(f"{path}: tensor {name!r} has inconsistent offsets {begin}..{end} for shape {shape}")
        tensors[name] = np.frombuffer(data, dtype=dtype, count=count, offset=base + begin).reshape(shape)
    return tensors, header.get("__metadata__", {})


# ------------------------------------------------------------------------------------------
# FID and KID in float64 NumPy
# ------------------------------------------------------------------------------------------

def _psd_sqrt(c):
    w, v = np.linalg.eigh(c)
    tol = c.shape[0] * np.finfo(np.float64).eps * max(float(w.max()), 0.0)
    w = np.where(w > tol, w, 0.0)
    return (v * np.sqrt(w)) @ v.T


def trace_sqrt_eigh(c1, c2):
    s1 = _psd_sqrt(c1)
    m = s1 @ c2 @ s1
    e = np.linalg.eigvalsh((m + m.T) / 2)
    tol = m.shape[0] * np.finfo(np.float64).eps * max(float(e.max()), 0.0)
    return float(np.sqrt(np.where(e > tol, e, 0.0)).sum())


def trace_sqrt_sqrtm(c1, c2):
    """Tr sqrtm(C1 C2) with scipy; returns (trace, largest |imaginary part| dropped)."""
    def sqrtm(m):
        try:
            return scipy_linalg.sqrtm(m, disp=False)[0]
        except TypeError:  # newer scipy without disp
            return scipy_linalg.sqrtm(m)

    s = sqrtm(c1 @ c2)
    if not np.all(np.isfinite(s)):  # singular product: shift both covariances slightly
        eps = 1e-6 * np.eye(c1.shape[0])
        s = sqrtm((c1 + eps) @ (c2 + eps))
    imag = float(np.abs(np.imag(s)).max()) if np.iscomplexobj(s) else 0.0
    return float(np.real(np.trace(s))), imag


def trace_sqrt_lowrank(x1, x2):
    a = (x1 - x1.mean(0)) / np.sqrt(len(x1) - 1)
    b = (x2 - x2.mean(0)) / np.sqrt(len(x2) - 1)
    return float(np.linalg.svd(a @ b.T, compute_uv=False).sum())


def fid_numpy(f1, f2, methods=("sqrtm", "eigh", "lowrank")):
    x1 = np.asarray(f1, np.float64)
    x2 = np.asarray(f2, np.float64)
    mu1, mu2 = x1.mean(0), x2.mean(0)
    c1, c2 = np.cov(x1, rowvar=False), np.cov(x2, rowvar=False)
    base = float(((mu1 - mu2) ** 2).sum() + np.trace(c1) + np.trace(c2))
    out = {"trace_c1": float(np.trace(c1)), "trace_c2": float(np.trace(c2)),
           "mean_term": float(((mu1 - mu2) ** 2).sum())}
    values = {}
    if "sqrtm" in methods and scipy_linalg is not None:
        t0 = time.perf_counter()
        tr, imag = trace_sqrt_sqrtm(c1, c2)
        values["sqrtm"] = base - 2 * tr
        out["sqrtm_max_imag"] = imag
        out["sqrtm_seconds"] = time.perf_counter() - t0
    if "eigh" in methods or scipy_linalg is None:
        values["eigh"] = base - 2 * trace_sqrt_eigh(c1, c2)
    if "lowrank" in methods:
        values["lowrank"] = base - 2 * trace_sqrt_lowrank(x1, x2)
    out["methods"] = values
    out["fid"] = values["sqrtm"] if "sqrtm" in values else values["eigh"]
    out["method"] = "sqrtm" if "sqrtm" in values else "eigh"
    return out


def kid_numpy(f1, f2, subsets=100, subset_size=1000, seed=0):
    x1 = np.asarray(f1, np.float64)
    x2 = np.asarray(f2, np.float64)
    d = x1.shape[1]
    m = min(subset_size, len(x1), len(x2))
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(subsets):
        x = x1[rng.choice(len(x1), m, replace=False)]
        y = x2[rng.choice(len(x2), m, replace=False)]
        kxx = (x @ x.T / d + 1) ** 3
        kyy = (y @ y.T / d + 1) ** 3
        kxy = (x @ y.T / d + 1) ** 3
        mm1 = m * (m - 1)
        vals.append((kxx.sum() - np.trace(kxx)) / mm1 + (kyy.sum() - np.trace(kyy)) / mm1 - 2 * kxy.sum() / (m * m))
    vals = np.array(vals)
    # k(x, x) averaged over both sets: the size of the kernel values the MMD^2 is made of
    kscale = float((((x1 * x1).sum(1) / d + 1) ** 3).mean() + (((x2 * x2).sum(1) / d + 1) ** 3).mean()) / 2
    return {"mean": float(vals.mean()), "sd": float(np.std(vals)), "subsets": subsets, "subset_size": m,
            "kernel_scale": kscale}


# ------------------------------------------------------------------------------------------
# dpvae
# ------------------------------------------------------------------------------------------

def run_dpvae(cmd, timeout):
    """Runs a dpvae command; returns (ok, stdout, stderr, message)."""
    print("  $ " + " ".join(str(c) for c in cmd), flush=True)
    try:
        p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        return False, "", "", f"{cmd[0]}: no such program"
    except PermissionError:
        return False, "", "", f"{cmd[0]}: not executable"
    except subprocess.TimeoutExpired:
        return False, "", "", f"timed out after {timeout} s"
    if p.returncode != 0:
        tail = (p.stderr or p.stdout).strip().splitlines()[-5:]
        return False, p.stdout, p.stderr, f"exit status {p.returncode}: " + (" | ".join(tail) or "(no output)")
    return True, p.stdout, p.stderr, "ok"


def parse_images_per_s(text):
    m = re.search(r"images/s:\s*([-+0-9.eE]+)", text)
    return float(m.group(1)) if m else None


def dpvae_fid_values(j):
    """FID and KID (mean, sd) out of dpvae's --json, tolerant of {"value": x} or a bare number."""
    def pick(v, *keys):
        if isinstance(v, dict):
            for k in keys:
                if k in v:
                    return v[k]
            return None
        return v

    fid = pick(j.get("fid"), "value", "fid")
    kid = j.get("kid")
    kid_mean = pick(kid, "mean", "value")
    kid_sd = kid.get("sd", kid.get("std")) if isinstance(kid, dict) else None
    return fid, kid_mean, kid_sd


# ------------------------------------------------------------------------------------------

def compare_features(fd, ft):
    diff = np.linalg.norm(fd.astype(np.float64) - ft, axis=1)
    rel = diff / np.maximum(np.linalg.norm(ft.astype(np.float64), axis=1), 1e-30)
    # The same error against each image's deviation from the mean feature vector: random
    # weights make much of pool3 image-independent, and this ratio is not diluted by that.
    dev = np.linalg.norm(ft.astype(np.float64) - ft.mean(0, dtype=np.float64), axis=1)
    rel_c = diff / np.maximum(dev, 1e-30)
    return {"max_rel_l2": float(rel.max()), "mean_rel_l2": float(rel.mean()), "max_rel_l2_centered": float(rel_c.max()),
            "max_abs_over_max": float(np.abs(fd.astype(np.float64) - ft).max() / max(float(np.abs(ft).max()), 1e-30))}


def jsonable(o):
    if isinstance(o, dict):
        return {str(k): jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [jsonable(v) for v in o]
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, float) and not np.isfinite(o):
        return str(o)
    return o


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dpvae", help="the dpvae program (BUILD/tools/dpvae); without it only the PyTorch side runs")
    ap.add_argument("--work", required=True, help="folder for the weights, images, features and report.json")
    ap.add_argument("--images", type=int, default=64, help="images in all, split into 4 equal groups (default 64)")
    ap.add_argument("--threads", type=int, default=2, help="threads for PyTorch and for dpvae (default 2)")
    ap.add_argument("--repeats", type=int, default=1,
                    help="timed PyTorch batches per group after the warm-up; the fastest counts (default 1)")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds allowed to one dpvae command")
    ap.add_argument("--tol-pre", type=float, default=1e-6, help="max |diff| of the network input (default 1e-6)")
    ap.add_argument("--tol-feat", type=float, default=1e-4,
                    help="max relative L2 and max |diff|/max|f| of the features (default 1e-4)")
    ap.add_argument("--tol-metric", type=float, default=1e-6,
                    help="dpvae fid vs NumPy on the same files, relative to Tr C1 + Tr C2 (FID) and to the "
                         "kernel scale (KID) (default 1e-6)")
    ap.add_argument("--no-sqrtm", action="store_true", help="skip scipy's sqrtm (the slowest FID route)")
    args = ap.parse_args(argv)
    if args.images < 8 or args.images % 4:
        ap.error("--images must be a multiple of 4, at least 8")
    per_group = args.images // 4
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    conv = load_converter()
    methods = ("eigh", "lowrank") if args.no_sqrtm else ("sqrtm", "eigh", "lowrank")
    torch.set_num_threads(args.threads)
    report = {"config": {"images": args.images, "per_group": per_group, "threads": args.threads,
                         "repeats": args.repeats,
                         "torch": torch.__version__, "numpy": np.__version__,
                         "scipy": None if scipy_linalg is None else __import__("scipy").__version__,
                         "python": platform.python_version(), "cpu_count": os.cpu_count(),
                         "torch_threads": torch.get_num_threads()}}

    # 1. The network and its weights.
    print("1. FID Inception-v3 with random weights (seed 0)")
    net = randomize(build_fid_inception(), seed=0)
    n_convs = check_against_converter_table(net, conv)
    state = conv.fid_inception_state(net.state_dict())
    weights = work / "random-weights.safetensors"
    conv.write_safetensors(weights, state, {"format": conv.FORMAT, "source": "fid_inception_reference.py random seed 0",
                                            "sha256": "none"})
    print(f"   {n_convs} convolutions, {len(state)} tensors, {sum(a.size for a in state.values())} values -> {weights}")
    report["weights"] = {"path": str(weights), "convolutions": n_convs, "tensors": len(state)}

    # 2. Images.
    print(f"2. {args.images} images in 4 groups of {per_group}")
    rng = np.random.default_rng(20240601)
    groups = []
    for k, (name, h, w, c) in enumerate(GROUPS):
        imgs = make_images(rng, per_group, h, w, c)
        path = work / f"images_{k}.safetensors"
        conv.write_safetensors(path, {"images": imgs}, {"format": "dpvae-fid-images-1", "group": name})
        groups.append({"k": k, "name": name, "shape": list(imgs.shape), "images": imgs, "path": path})
        print(f"   {path}: {name} {imgs.shape}, mean {imgs.mean():.4f}, min {imgs.min():.3f}, max {imgs.max():.3f}")

    # 3. PyTorch.
    print(f"3. PyTorch features, {torch.get_num_threads()} threads")
    for g in groups:
        x = torch.from_numpy(g["images"])
        with torch.no_grad():
            pool3(net, preprocess(x))  # warm-up
            seconds = float("inf")
            for _ in range(max(1, args.repeats)):
                t0 = time.perf_counter()
                pre = preprocess(x)
                feats = pool3(net, pre)
                seconds = min(seconds, time.perf_counter() - t0)
        g["torch_pre"] = pre.permute(0, 2, 3, 1).contiguous().numpy()
        g["torch_feats"] = feats.numpy().astype(np.float32)
        g["torch_images_per_s"] = len(x) / seconds
        g["resize_check"] = float(np.abs(numpy_preprocess(g["images"]) - g["torch_pre"]).max())
        conv.write_safetensors(work / f"torch_{g['k']}.safetensors", {"features": g["torch_feats"]})
        print(f"   {g['name']}: {g['torch_images_per_s']:.2f} images/s ({seconds:.2f} s for {len(x)}); "
              f"NumPy resize vs torch max |diff| {g['resize_check']:.2e}")
    torch_all = np.concatenate([g["torch_feats"] for g in groups])
    conv.write_safetensors(work / "torch_feats.safetensors", {"features": torch_all})
    prng = np.random.default_rng(7)
    sd = torch_all.std(0, keepdims=True)
    perturbed = (torch_all + 0.5 * sd + sd * prng.standard_normal(torch_all.shape)).astype(np.float32)
    conv.write_safetensors(work / "perturbed_feats.safetensors", {"features": perturbed})

    stats = {"mean": float(torch_all.mean()), "std": float(torch_all.std()), "min": float(torch_all.min()),
             "max": float(torch_all.max()), "mean_std_across_images": float(torch_all.std(0).mean()),
             "finite": bool(np.all(np.isfinite(torch_all)))}
    report["torch_feature_stats"] = stats
    print(f"   pool3 features: mean {stats['mean']:.4f}, std {stats['std']:.4f}, min {stats['min']:.4f}, "
          f"max {stats['max']:.4f}, per-feature std across images (mean) {stats['mean_std_across_images']:.4f}")
    for g in groups:
        f = g["torch_feats"]
        print(f"     {g['name']}: mean {f.mean():.4f}, std {f.std():.4f}, std across images {f.std(0).mean():.4f}")
    healthy = stats["finite"] and 1e-2 < stats["mean"] < 1e2 and 1e-3 < stats["std"] < 1e2 and \
        stats["mean_std_across_images"] > 1e-3
    if not healthy:
        print("error: the random network's features collapsed or exploded", file=sys.stderr)
        (work / "report.json").write_text(json.dumps(jsonable(report), indent=2))
        return 3

    # 4. dpvae fid-features.
    print("4. dpvae fid-features")
    dpvae_status = "ok"
    if not args.dpvae:
        dpvae_status = "skipped: no --dpvae given"
    elif not Path(args.dpvae).is_file():
        dpvae_status = f"missing: {args.dpvae} does not exist (build dpvae first)"
    if dpvae_status == "ok":
        for g in groups:
            k = g["k"]
            out, pre_out = work / f"dpvae_{k}.safetensors", work / f"dpvae_pre_{k}.safetensors"
            for stale in (out, pre_out):
                stale.unlink(missing_ok=True)
            ok, stdout, stderr, msg = run_dpvae(
                [args.dpvae, "fid-features", "--weights", weights, "--images", g["path"], "--out", out,
                 "--preprocessed-out", pre_out, "--threads", args.threads], args.timeout)
            if not ok:
                dpvae_status = f"fid-features failed on {g['name']}: {msg}"
                break
            try:
                fd = read_safetensors(out)[0]["features"]
                pd = read_safetensors(pre_out)[0]["images"]
            except (OSError, KeyError, ValueError) as e:
                dpvae_status = f"fid-features output unreadable for {g['name']}: {e!r}"
                break
            n = len(g["images"])
            if fd.shape != (n, FEATURES) or pd.shape != (n, SIZE, SIZE, 3):
                dpvae_status = (f"fid-features output shapes for {g['name']}: features {fd.shape} "
                                f"(want {(n, FEATURES)}), "
                                f"images {pd.shape} (want {(n, SIZE, SIZE, 3)})")
                break
            g["dpvae_feats"] = np.array(fd, np.float32)
            g["dpvae_pre"] = pd
            g["dpvae_images_per_s"] = parse_images_per_s(stdout + "\n" + stderr)
            print(f"   {g['name']}: {g['dpvae_images_per_s']} images/s")
    if dpvae_status != "ok":
        print(f"   dpvae: {dpvae_status}")
    report["dpvae_status"] = dpvae_status

    # 5. Comparison.
    print("5. Comparison")
    failures = []
    have_dpvae = dpvae_status == "ok"
    report["groups"] = []
    for g in groups:
        r = {"k": g["k"], "name": g["name"], "shape": g["shape"], "torch_images_per_s": g["torch_images_per_s"],
             "numpy_resize_vs_torch_max_abs": g["resize_check"]}
        if have_dpvae:
            r.update(compare_features(g["dpvae_feats"], g["torch_feats"]))
            r["pre_max_abs"] = float(np.abs(g["dpvae_pre"].astype(np.float64) - g["torch_pre"]).max())
            r["dpvae_images_per_s"] = g["dpvae_images_per_s"]
            r["speed_ratio_dpvae_over_torch"] = (g["dpvae_images_per_s"] / g["torch_images_per_s"]
                                                 if g["dpvae_images_per_s"] else None)
            t0 = time.perf_counter()
            r["fid"] = fid_numpy(g["dpvae_feats"], g["torch_feats"], methods)
            r["kid"] = kid_numpy(g["dpvae_feats"], g["torch_feats"])
            r["metric_seconds"] = time.perf_counter() - t0
            if r["pre_max_abs"] > args.tol_pre:
                failures.append(f"{g['name']}: preprocessing max |diff| {r['pre_max_abs']:.3e} > {args.tol_pre}")
            if r["max_rel_l2"] > args.tol_feat or r["max_abs_over_max"] > args.tol_feat:
                failures.append(f"{g['name']}: features differ (rel L2 {r['max_rel_l2']:.3e}, "
                                f"|diff|/max {r['max_abs_over_max']:.3e}) > {args.tol_feat}")
            speed = r["speed_ratio_dpvae_over_torch"]
            print(f"   {g['name']}: features max rel L2 {r['max_rel_l2']:.3e} "
                  f"(centered {r['max_rel_l2_centered']:.3e}), max |diff|/max|f| "
                  f"{r['max_abs_over_max']:.3e}; preprocessing max |diff| {r['pre_max_abs']:.3e}; images/s torch "
                  f"{g['torch_images_per_s']:.2f} dpvae {g['dpvae_images_per_s']} (ratio "
                  f"{'n/a' if speed is None else f'{speed:.2f}'}); "
                  f"FID {r['fid']['fid']:.4e} KID {r['kid']['mean']:.4e}")
        else:
            print(f"   {g['name']}: torch {g['torch_images_per_s']:.2f} images/s (no dpvae side)")
        report["groups"].append(r)

    overall = {"torch_images_per_s": args.images / sum(len(g["images"]) / g["torch_images_per_s"] for g in groups)}
    if have_dpvae:
        dpvae_all = np.concatenate([g["dpvae_feats"] for g in groups])
        conv.write_safetensors(work / "dpvae_feats.safetensors", {"features": dpvae_all})
        overall.update(compare_features(dpvae_all, torch_all))
        overall["pre_max_abs"] = max(r["pre_max_abs"] for r in report["groups"])
        if all(g["dpvae_images_per_s"] for g in groups):
            seconds = sum(len(g["images"]) / g["dpvae_images_per_s"] for g in groups)
            overall["dpvae_images_per_s"] = args.images / seconds
            overall["speed_ratio_dpvae_over_torch"] = overall["dpvae_images_per_s"] / overall["torch_images_per_s"]
        overall["fid"] = fid_numpy(dpvae_all, torch_all, methods)
        overall["kid"] = kid_numpy(dpvae_all, torch_all)
        print(f"   all: features max rel L2 {overall['max_rel_l2']:.3e} "
              f"(centered {overall['max_rel_l2_centered']:.3e}), max |diff|/max|f| "
              f"{overall['max_abs_over_max']:.3e}; preprocessing max |diff| {overall['pre_max_abs']:.3e}; "
              f"FID(dpvae, torch) {overall['fid']['fid']:.4e} ({overall['fid']['methods']}), "
              f"KID {overall['kid']['mean']:.4e} +- {overall['kid']['sd']:.1e}")
    report["overall"] = overall
    print(f"   all: torch {overall['torch_images_per_s']:.2f} images/s"
          + (f", dpvae {overall['dpvae_images_per_s']:.2f} images/s, "
             f"ratio {overall['speed_ratio_dpvae_over_torch']:.2f}"
             if "dpvae_images_per_s" in overall else ""))

    # dpvae fid on identical files, against NumPy.
    pairs = [("perturbed_vs_torch", work / "perturbed_feats.safetensors", perturbed)]
    if have_dpvae:
        pairs.insert(0, ("dpvae_vs_torch", work / "dpvae_feats.safetensors", dpvae_all))
    report["fid_command"] = {}
    fid_cmd_status = "ok" if args.dpvae and Path(args.dpvae).is_file() else "skipped: no dpvae program"
    for label, path_a, feats_a in pairs:
        ref_fid = overall["fid"] if label == "dpvae_vs_torch" else fid_numpy(feats_a, torch_all, methods)
        ref_kid = overall["kid"] if label == "dpvae_vs_torch" else kid_numpy(feats_a, torch_all)
        entry = {"a": str(path_a), "b": str(work / "torch_feats.safetensors"),
                 "numpy_fid": ref_fid, "numpy_kid": ref_kid}
        print(f"   NumPy {label}: FID {ref_fid['methods']}, KID {ref_kid['mean']:.6e} +- {ref_kid['sd']:.1e}")
        if fid_cmd_status == "ok":
            out_json = work / f"dpvae_fid_{label}.json"
            out_json.unlink(missing_ok=True)
            ok, stdout, stderr, msg = run_dpvae([args.dpvae, "fid", path_a, work / "torch_feats.safetensors",
                                                 "--features", "--json", out_json], args.timeout)
            if ok:
                try:
                    j = json.loads(out_json.read_text())
                    fid_d, kid_d, kid_sd = dpvae_fid_values(j)
                except (OSError, ValueError) as e:
                    fid_d, kid_d, kid_sd, msg, ok = None, None, None, f"unreadable {out_json}: {e!r}", False
            if not ok:
                fid_cmd_status = f"fid failed: {msg}"
                entry["status"] = fid_cmd_status
            else:
                entry.update({"status": "ok", "dpvae_json": j, "dpvae_fid": fid_d, "dpvae_kid": kid_d,
                              "dpvae_kid_sd": kid_sd})
                scale = ref_fid["trace_c1"] + ref_fid["trace_c2"]
                if fid_d is not None:
                    entry["fid_diff"] = {m: fid_d - v for m, v in ref_fid["methods"].items()}
                    entry["fid_diff_over_trace"] = {m: abs(d) / scale for m, d in entry["fid_diff"].items()}
                    best = entry["fid_diff_over_trace"].get("lowrank", min(entry["fid_diff_over_trace"].values()))
                    if best > args.tol_metric:
                        failures.append(f"{label}: dpvae FID {fid_d} vs NumPy {ref_fid['methods']} "
                                        f"(|diff|/(Tr C1 + Tr C2) {best:.2e})")
                else:
                    failures.append(f"{label}: no FID in dpvae's JSON")
                if kid_d is not None:
                    entry["kid_diff"] = kid_d - ref_kid["mean"]
                    entry["kid_diff_over_kernel_scale"] = abs(entry["kid_diff"]) / ref_kid["kernel_scale"]
                    if entry["kid_diff_over_kernel_scale"] > args.tol_metric:
                        failures.append(f"{label}: dpvae KID {kid_d} vs NumPy {ref_kid['mean']}")
                else:
                    failures.append(f"{label}: no KID in dpvae's JSON")
                print(f"   dpvae {label}: FID {fid_d} (diff {entry.get('fid_diff')}), KID {kid_d} +- {kid_sd} "
                      f"(diff {entry.get('kid_diff')})")
        else:
            entry["status"] = fid_cmd_status
        report["fid_command"][label] = entry
    if fid_cmd_status != "ok":
        print(f"   dpvae fid: {fid_cmd_status}")
    report["fid_command_status"] = fid_cmd_status
    report["failures"] = failures

    (work / "report.json").write_text(json.dumps(jsonable(report), indent=2))
    print(f"wrote {work / 'report.json'}")
    if dpvae_status != "ok" or fid_cmd_status != "ok":
        print("RESULT: PyTorch side written; dpvae side incomplete: "
              + "; ".join(s for s in (dpvae_status, fid_cmd_status) if s != "ok"))
        return 2
    if failures:
        print("RESULT: FAIL\n  " + "\n  ".join(failures))
        return 1
    print("RESULT: PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
