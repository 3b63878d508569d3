#!/usr/bin/env python3
"""checkpoint_tensors_equal.py A B [--prefix P ...]: exit 0 when every tensor of safetensors
file A (or only those whose names start with a prefix) has the same dtype, shape and bytes in B.
Prints the first difference otherwise (exit 1). Metadata is not compared."""
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


def main():
    args = sys.argv[1:]
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
        if a[k] != b[k]:
            print(f"{k}: differs ({a[k][0]} {a[k][1]} vs {b[k][0]} {b[k][1]})")
            return 1
    print(f"{len(names)} tensors equal")
    return 0


if __name__ == "__main__":
    sys.exit(main())
