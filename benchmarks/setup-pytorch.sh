#!/usr/bin/env bash
# Optional, benchmark-only: installs Debian's PyTorch (CPU) with a threaded OpenBLAS for
# benchmarks/pytorch_reference.py. dpvae itself never needs these packages.
# Without libopenblas0-pthread Debian's python3-torch falls back to the reference BLAS.
set -euo pipefail
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
  python3-torch python3-numpy libopenblas0-pthread
/usr/bin/python3 -c 'import torch; print("torch", torch.__version__)'
