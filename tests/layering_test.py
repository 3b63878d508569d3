#!/usr/bin/env python3
"""layering_test.py INCLUDE_DIR: the header groups of include/dpvae include only the groups
below them, and the core (everything dpvae::core covers: foundation, backend, nn, prior,
objectives, the model) includes no I/O, metrics or plotting, and no library but Eigen, oneTBB
and the C++ standard library. Exit 1 naming each violation.

Layers, bottom up (a group may include its own headers and those of lower layers):
  foundation  core.hpp rng.hpp
  backend     backend.hpp backend/          (backend/cuda.hpp: the optional CUDA backend)
  nn          nn.hpp nn/
  prior       prior.hpp prior/
  objectives  objectives.hpp objectives/
  model       model.hpp
  io          io.hpp io/                     + nlohmann-json, POSIX file I/O
  data        data.hpp data/                 + zlib, POSIX file I/O
  models      any_model.hpp                  model + io (declares dpvae::models, the compiled part)
  images      images.hpp images/             data (declares dpvae::images, compiled: stb, libmatio, libzip)
  eval        eval.hpp eval/                 + io
  umbrella    dpvae.hpp
"""
import os
import re
import sys

LAYERS = ["foundation", "backend", "nn", "prior", "objectives", "model", "io", "data", "models", "images", "eval", "umbrella"]
CORE = {"foundation", "backend", "nn", "prior", "objectives", "model"}
# Lower layers a group may include besides the core ones below it.
EXTRA = {"io": {"foundation"}, "data": {"foundation"}, "models": CORE | {"io"}, "images": {"foundation", "data"},
         "eval": CORE | {"io"}, "umbrella": set(LAYERS) - {"eval", "models", "images"}}
# Headers the core must not include: anything that reads or writes files, or is not Eigen,
# oneTBB or the standard library.
CORE_FORBIDDEN = re.compile(r"^(nlohmann/|zlib\.h|cairo|stb|CLI/|mpi\.h|fstream|iostream|filesystem|cstdio|"
                            r"fcntl\.h|unistd\.h|sys/)")
CORE_ALLOWED_EXTERNAL = re.compile(r"^(Eigen/|tbb/|immintrin\.h|cuda|cublas|[a-z_]+(\.h)?$)")


def group(rel):
    top = rel.split("/")[0]
    if rel in ("core.hpp", "rng.hpp"):
        return "foundation"
    if rel == "dpvae.hpp":
        return "umbrella"
    if rel == "model.hpp":
        return "model"
    if rel == "any_model.hpp":
        return "models"
    name = top[:-4] if top.endswith(".hpp") else top
    return name if name in LAYERS else None


def allowed(src, dst):
    if src == dst:
        return True
    if src in EXTRA:
        return dst in EXTRA[src]
    return src in CORE and dst in CORE and LAYERS.index(dst) < LAYERS.index(src)


def main():
    root = os.path.join(sys.argv[1], "dpvae")
    errors, checked = [], 0
    for dirpath, _, files in os.walk(root):
        for f in sorted(files):
            if not f.endswith(".hpp"):
                continue
            rel = os.path.relpath(os.path.join(dirpath, f), root)
            src = group(rel)
            if src is None:
                errors.append(f"{rel}: in no layer")
                continue
            checked += 1
            for line in open(os.path.join(dirpath, f), encoding="utf-8"):
                m = re.match(r'\s*#\s*include\s*[<"]([^>"]+)[>"]', line)
                if not m:
                    continue
                inc = m.group(1)
                if inc.startswith("dpvae/"):
                    dst = group(inc[len("dpvae/"):])
                    if dst is None or not allowed(src, dst):
                        errors.append(f"{rel} ({src}) includes {inc} ({dst})")
                elif src in CORE and rel != "backend/cuda.hpp":
                    if CORE_FORBIDDEN.match(inc) or not CORE_ALLOWED_EXTERNAL.match(inc):
                        errors.append(f"{rel} ({src}, core) includes <{inc}>")
    for e in errors:
        print("layering:", e)
    print(f"layering: {checked} headers checked, {len(errors)} violations")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
