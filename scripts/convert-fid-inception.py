#!/usr/bin/env python3
"""Convert pytorch-fid's FID Inception-v3 weights to a safetensors file for dpvae.

    convert-fid-inception.py PTH OUT.safetensors [--no-check]

PTH is pytorch-fid's weight file pt_inception-2015-12-05-6726825d.pth, released by
pytorch-fid at

    https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth

It is a plain state_dict of torchvision's Inception3 (num_classes=1008, aux_logits=False)
carrying the weights of TensorFlow's 2015-12-05 Inception graph, the network that defines
the standard FID's 2048-d "pool3" features. The 6726825d in its name is the first 8 hex
digits of the file's SHA-256: this script prints the full SHA-256 and refuses a file whose
digest does not start with 6726825d, unless --no-check is given (for tests on other
weights of the same architecture).

What is kept: exactly the tensors that the pool3 features need. For every BasicConv2d
(a bias-free convolution + BatchNorm2d(eps=0.001) + ReLU) named <name>:

    <name>.conv.weight        out x in x kh x kw
    <name>.bn.weight          out
    <name>.bn.bias            out
    <name>.bn.running_mean    out
    <name>.bn.running_var     out

94 convolutions, so 470 tensors (see fid_inception_convs() for the names, shapes, strides
and paddings), all stored as float32. Dropped (and listed on stdout): fc.* (the 1008-way
classifier), AuxLogits.* (if present) and every *.num_batches_tracked; any other name is
dropped too, with a warning. A missing or misshapen tensor is an error naming it.

The output is a safetensors file written by the small writer below (no safetensors
package needed): an 8-byte little-endian header length, a JSON header (each tensor's
dtype "F32", shape and data_offsets, and "__metadata__": {"format":
"dpvae-fid-inception-1", "source": <input file name>, "sha256": <hex digest>}) padded with
spaces to a multiple of 8 bytes, then the tensors, contiguous and row-major, in sorted-name
order.

Needs numpy, and torch to read PTH (torch.load(..., map_location="cpu")). On Debian:
apt-get install python3-torch python3-numpy, then run it with /usr/bin/python3 when
another python3 comes first on PATH. torch is never a dependency of the dpvae library.

Importable helpers (the file name has a dash, so load it with importlib from its path):
    write_safetensors(path, tensors, metadata)   tensors: name -> numpy float32 array
    fid_inception_state(state_dict)              -> name -> numpy float32 array
    fid_inception_convs()                        -> the 94 convolutions, in network order
"""
import argparse
import hashlib
import json
import os
import struct
import sys

import numpy as np

FORMAT = "dpvae-fid-inception-1"
EXPECTED_SHA256_PREFIX = "6726825d"
BN_TENSORS = ("weight", "bias", "running_mean", "running_var")


def fid_inception_convs():
    """The BasicConv2d layers of the FID Inception-v3, in network order.

    Each entry is (name, out_channels, in_channels, (kh, kw), (stride_h, stride_w),
    (pad_h, pad_w)). The names are torchvision's Inception3 module names.
    """
    convs = []

    def conv(name, cin, cout, k, stride=1, pad=0):
        k = (k, k) if isinstance(k, int) else tuple(k)
        stride = (stride, stride) if isinstance(stride, int) else tuple(stride)
        pad = (pad, pad) if isinstance(pad, int) else tuple(pad)
        convs.append((name, cout, cin, k, stride, pad))

    # Stem (the two 3x3 stride-2 max pools between them carry no weights).
    conv("Conv2d_1a_3x3", 3, 32, 3, stride=2)
    conv("Conv2d_2a_3x3", 32, 32, 3)
    conv("Conv2d_2b_3x3", 32, 64, 3, pad=1)
    conv("Conv2d_3b_1x1", 64, 80, 1)
    conv("Conv2d_4a_3x3", 80, 192, 3)

    def block_a(p, cin, pool_features):  # output 64 + 64 + 96 + pool_features channels
        conv(p + ".branch1x1", cin, 64, 1)
        conv(p + ".branch5x5_1", cin, 48, 1)
        conv(p + ".branch5x5_2", 48, 64, 5, pad=2)
        conv(p + ".branch3x3dbl_1", cin, 64, 1)
        conv(p + ".branch3x3dbl_2", 64, 96, 3, pad=1)
        conv(p + ".branch3x3dbl_3", 96, 96, 3, pad=1)
        conv(p + ".branch_pool", cin, pool_features, 1)

    def block_b(p, cin):  # output 384 + 96 + cin
        conv(p + ".branch3x3", cin, 384, 3, stride=2)
        conv(p + ".branch3x3dbl_1", cin, 64, 1)
        conv(p + ".branch3x3dbl_2", 64, 96, 3, pad=1)
        conv(p + ".branch3x3dbl_3", 96, 96, 3, stride=2)

    def block_c(p, cin, c7):  # output 4 x 192
        conv(p + ".branch1x1", cin, 192, 1)
        conv(p + ".branch7x7_1", cin, c7, 1)
        conv(p + ".branch7x7_2", c7, c7, (1, 7), pad=(0, 3))
        conv(p + ".branch7x7_3", c7, 192, (7, 1), pad=(3, 0))
        conv(p + ".branch7x7dbl_1", cin, c7, 1)
        conv(p + ".branch7x7dbl_2", c7, c7, (7, 1), pad=(3, 0))
        conv(p + ".branch7x7dbl_3", c7, c7, (1, 7), pad=(0, 3))
        conv(p + ".branch7x7dbl_4", c7, c7, (7, 1), pad=(3, 0))
        conv(p + ".branch7x7dbl_5", c7, 192, (1, 7), pad=(0, 3))
        conv(p + ".branch_pool", cin, 192, 1)

    def block_d(p, cin):  # output 320 + 192 + cin
        conv(p + ".branch3x3_1", cin, 192, 1)
        conv(p + ".branch3x3_2", 192, 320, 3, stride=2)
        conv(p + ".branch7x7x3_1", cin, 192, 1)
        conv(p + ".branch7x7x3_2", 192, 192, (1, 7), pad=(0, 3))
        conv(p + ".branch7x7x3_3", 192, 192, (7, 1), pad=(3, 0))
        conv(p + ".branch7x7x3_4", 192, 192, 3, stride=2)

    def block_e(p, cin):  # output 320 + 2 x 384 + 2 x 384 + 192 = 2048
        conv(p + ".branch1x1", cin, 320, 1)
        conv(p + ".branch3x3_1", cin, 384, 1)
        conv(p + ".branch3x3_2a", 384, 384, (1, 3), pad=(0, 1))
        conv(p + ".branch3x3_2b", 384, 384, (3, 1), pad=(1, 0))
        conv(p + ".branch3x3dbl_1", cin, 448, 1)
        conv(p + ".branch3x3dbl_2", 448, 384, 3, pad=1)
        conv(p + ".branch3x3dbl_3a", 384, 384, (1, 3), pad=(0, 1))
        conv(p + ".branch3x3dbl_3b", 384, 384, (3, 1), pad=(1, 0))
        conv(p + ".branch_pool", cin, 192, 1)

    block_a("Mixed_5b", 192, 32)
    block_a("Mixed_5c", 256, 64)
    block_a("Mixed_5d", 288, 64)
    block_b("Mixed_6a", 288)
    block_c("Mixed_6b", 768, 128)
    block_c("Mixed_6c", 768, 160)
    block_c("Mixed_6d", 768, 160)
    block_c("Mixed_6e", 768, 192)
    block_d("Mixed_7a", 768)
    block_e("Mixed_7b", 1280)
    block_e("Mixed_7c", 2048)
    return convs


def fid_inception_tensor_shapes():
    """Every kept tensor name -> its shape, in network order (conv, then its BN)."""
    shapes = {}
    for name, cout, cin, (kh, kw), _, _ in fid_inception_convs():
        shapes[name + ".conv.weight"] = (cout, cin, kh, kw)
        for t in BN_TENSORS:
            shapes[name + ".bn." + t] = (cout,)
    return shapes


def _to_numpy(value):
    """A torch tensor or array-like -> numpy array (on the CPU, detached)."""
    if hasattr(value, "detach"):  # a torch tensor; no torch import needed here
        value = value.detach().cpu()
        if value.dtype.is_floating_point:
            value = value.float()
        return value.numpy()
    return np.asarray(value)


def fid_inception_state(state_dict):
    """Keep exactly the tensors that the pool3 features need, as float32 numpy arrays.

    state_dict: name -> torch tensor (or numpy array), e.g. torch.load() of pytorch-fid's
    weight file or Inception3.state_dict(). Returns name -> C-contiguous float32 array for
    the 470 names of fid_inception_tensor_shapes(), in that order. Raises KeyError naming
    the first missing tensor (in network order), ValueError for a misshapen, non-floating
    or non-finite one.
    """
    out = {}
    for name, shape in fid_inception_tensor_shapes().items():
        if name not in state_dict:
            raise KeyError(f"FID Inception state: the tensor {name!r} is missing (expected shape {shape})")
        a = _to_numpy(state_dict[name])
        if a.dtype.kind != "f":
            raise ValueError(f"FID Inception state: {name!r} has dtype {a.dtype}, expected a floating type")
        if tuple(a.shape) != shape:
            raise ValueError(f"FID Inception state: {name!r} has shape {tuple(a.shape)}, expected {shape}")
        a = np.ascontiguousarray(a, dtype=np.float32)
        if not np.all(np.isfinite(a)):
            raise ValueError(f"FID Inception state: {name!r} holds a non-finite value")
        out[name] = a
    return out


def dropped_names(state_dict):
    """The names fid_inception_state() leaves out, split into (expected, unexpected).

    expected: fc.*, AuxLogits.*, *.num_batches_tracked; unexpected: anything else.
    """
    kept = fid_inception_tensor_shapes()
    expected, unexpected = [], []
    for name in state_dict:
        if name in kept:
            continue
        if name.startswith("fc.") or name.startswith("AuxLogits.") or name.endswith(".num_batches_tracked"):
            expected.append(name)
        else:
            unexpected.append(name)
    return expected, unexpected


def write_safetensors(path, tensors, metadata=None):
    """Write name -> numpy float32 array as a safetensors file.

    Layout: u64 little-endian header length N, N bytes of JSON (padded with spaces to a
    multiple of 8), then the tensors' bytes, little-endian float32, row-major, one after
    another in sorted-name order; each header entry is {"dtype": "F32", "shape": [...],
    "data_offsets": [begin, end]} relative to the start of the data. metadata (str -> str)
    goes under "__metadata__". The file is written to a temporary name and renamed.
    """
    header = {}
    if metadata:
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise TypeError(f"safetensors metadata must map str to str (got {k!r}: {v!r})")
        header["__metadata__"] = dict(metadata)
    names = sorted(tensors)
    arrays = []
    offset = 0
    for name in names:
        if name == "__metadata__":
            raise ValueError("'__metadata__' cannot name a tensor")
        a = np.asarray(tensors[name])
        if a.dtype != np.float32:
            raise TypeError(f"write_safetensors: {name!r} has dtype {a.dtype}; only float32 is written")
        a = np.ascontiguousarray(a, dtype="<f4")
        header[name] = {"dtype": "F32", "shape": [int(s) for s in a.shape],
                        "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
        arrays.append(a)
    blob = json.dumps(header, separators=(",", ":")).encode("utf-8")
    blob += b" " * (-len(blob) % 8)
    tmp = str(path) + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        for a in arrays:
            f.write(a.tobytes(order="C"))
    os.replace(tmp, path)


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_state_dict(path):
    """torch.load on the CPU; accepts a plain state_dict or a module."""
    import torch  # only the conversion itself needs torch

    obj = torch.load(path, map_location="cpu")
    if hasattr(obj, "state_dict") and callable(obj.state_dict):
        obj = obj.state_dict()
    if not hasattr(obj, "keys"):
        raise TypeError(f"{path}: expected a state_dict (a mapping of names to tensors), got {type(obj).__name__}")
    return obj


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pth", help="pytorch-fid's pt_inception-2015-12-05-6726825d.pth")
    ap.add_argument("out", help="the safetensors file to write")
    ap.add_argument("--no-check", action="store_true",
                    help=f"accept a file whose SHA-256 does not start with {EXPECTED_SHA256_PREFIX}")
    args = ap.parse_args(argv)

    digest = sha256_of(args.pth)
    print(f"sha256 {digest}  {args.pth}")
    if not digest.startswith(EXPECTED_SHA256_PREFIX):
        if not args.no_check:
            print(f"error: the SHA-256 does not start with {EXPECTED_SHA256_PREFIX}: not pytorch-fid's "
                  "pt_inception-2015-12-05-6726825d.pth (use --no-check to convert it anyway)", file=sys.stderr)
            return 1
        print(f"warning: the SHA-256 does not start with {EXPECTED_SHA256_PREFIX} (--no-check given)")

    state = load_state_dict(args.pth)
    try:
        kept = fid_inception_state(state)
    except (KeyError, ValueError) as e:
        print(f"error: {e.args[0] if e.args else e}", file=sys.stderr)
        return 1
    expected, unexpected = dropped_names(state)
    print(f"dropped {len(expected)} tensors the features do not use:")
    for name in expected:
        print(f"  {name}")
    if unexpected:
        print(f"warning: dropped {len(unexpected)} tensors of unknown names:")
        for name in unexpected:
            print(f"  {name}")
    params = sum(a.size for a in kept.values())
    write_safetensors(args.out, kept, {"format": FORMAT, "source": os.path.basename(args.pth), "sha256": digest})
    print(f"wrote {args.out}: {len(kept)} float32 tensors ({len(fid_inception_convs())} convolutions), "
          f"{params} values, {os.path.getsize(args.out)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
