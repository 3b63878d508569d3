#!/usr/bin/env bash
# Installs dpvae's build and run dependencies from Debian 12's packages (uses sudo when not root).
set -euo pipefail
pkgs=(build-essential cmake ninja-build pkg-config libeigen3-dev libtbb-dev nlohmann-json3-dev zlib1g-dev
      doctest-dev libbenchmark-dev libcli11-dev libcairo2-dev libstb-dev npm curl ca-certificates python3)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
