#!/usr/bin/env bash
# Installs dpvae's build and run dependencies from Debian 12's packages (uses sudo when not root).
# Tools that may already come from elsewhere (npm, curl, python3) are installed only when
# their command is missing: Node.js's own packages ship npm and conflict with Debian's.
set -euo pipefail
pkgs=(build-essential cmake ninja-build pkg-config libeigen3-dev libtbb-dev nlohmann-json3-dev zlib1g-dev
      doctest-dev libbenchmark-dev libcli11-dev libcairo2-dev libstb-dev ca-certificates
      libjpeg62-turbo-dev libmatio-dev libzip-dev  # dpvae::images: JPEG, SVHN .mat files, the CelebA zip
      clang libclang-rt-14-dev   # clang + libFuzzer: the fuzz harnesses (.ci/run)
      libopenmpi-dev openmpi-bin)  # OpenMPI: dpvae_mpi and its 2-rank tests (the library never needs it)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
for c in npm curl python3; do command -v "$c" >/dev/null 2>&1 || missing+=("$c"); done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "installing: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
