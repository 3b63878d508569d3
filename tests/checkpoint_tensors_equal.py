#!/usr/bin/env python3
"""checkpoint_tensors_equal.py A B [--prefix P ...] [--rtol R]: exit 0 when every tensor of
safetensors file A (or only those whose names start with a prefix) has the same dtype, shape
and bytes in B; with --rtol, floating-point tensors need only agree to R relative to the
tensor's largest magnitude (integer tensors stay exact). Prints the first difference
otherwise (exit 1). Metadata is not compared."""
import array
import json
import struct
import sys


def read(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    body = data[8 + n:]
    return {k: (v["dtype"], v["shape"], body[v["data_offsets"][0]:v["data_offsets"][1]]) for k, v in header.items()}


def close(x, y, rtol):
    dtype, _, a = x
    _, _, b = y
    if dtype not in ("F32", "F64") or len(a) != len(b):
        return a == b
    code = "f" if dtype == "F32" else "d"
    va, vb = array.array(code, a), array.array(code, b)
    scale = max([abs(v) for v in va] + [1e-30])
    return max((abs(p - q) for p, q in zip(va, vb)), default=0.0) <= rtol * scale


def main():
    args = sys.argv[1:]
    rtol = None
    if "--rtol" in args:
        i = args.index("--rtol")
        rtol = float(args[i + 1])
        del args[i:i + 2]
    prefixes = []
    while "--prefix" in args:
        i = args.index("--prefix")
        prefixes.append(args[i + 1])
        del args[i:i + 2]
    a, b = read(args[0]), read(args[1])
    names = [k for k in a if not prefixes or any(k.startswith(p) for p in prefixes)]
    if not names:
        print("no tensors to compare")
        return 1
    for k in sorted(names):
        if k not in b:
            print(f"{k}: missing in {args[1]}")
            return 1
        same = a[k] == b[k] if rtol is None else (a[k][:2] == b[k][:2] and close(a[k], b[k], rtol))
        if not same:
            print(f"{k}: differs ({a[k][0]} {a[k][1]} vs {b[k][0]} {b[k][1]})")
            return 1
    print(f"{len(names)} tensors equal" + ("" if rtol is None else f" to {rtol} relative"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
