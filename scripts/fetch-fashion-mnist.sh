#!/usr/bin/env bash
# fetch-fashion-mnist.sh — put Fashion-MNIST (the four IDX files) into DEST.
#
# Usage: scripts/fetch-fashion-mnist.sh [DEST]        (default: data/fashion-mnist)
#
# The files come from the Debian/Ubuntu package dataset-fashion-mnist (installed with
# `apt-get install dataset-fashion-mnist`), which stores them gzip-compressed under
# /usr/share/datasets/fashion-mnist. They are symlinked into DEST under their standard
# names, .gz kept: dpvae's IDX reader reads gzip files directly. The package's copies are
# checked by dpkg (`dpkg --verify dataset-fashion-mnist`), so no checksum is repeated here.
# Exit status: 0 on success, 2 if the package is not installed, 1 on a usage error.
set -euo pipefail

if [[ $# -gt 1 || ${1:-} == -h || ${1:-} == --help ]]; then
  echo "usage: $0 [DEST]   (default DEST: data/fashion-mnist)" >&2
  exit 1
fi
DEST=${1:-data/fashion-mnist}
PACKAGE=dataset-fashion-mnist
FILES=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)

# Where the package put each file (plain or .gz), asked of dpkg, with the usual path as a
# fallback for systems without dpkg.
listing=""
if command -v dpkg >/dev/null; then
  listing=$(dpkg -L "$PACKAGE" 2>/dev/null || true)
fi
[[ -n $listing ]] || listing=$(ls -d /usr/share/datasets/fashion-mnist/* 2>/dev/null || true)

declare -A SOURCE=()
for name in "${FILES[@]}"; do
  src=$(grep -E "/$name(\.gz)?\$" <<<"$listing" | head -n 1 || true)
  if [[ -n $src && -f $src ]]; then
    SOURCE[$name]=$src
  fi
done
if [[ ${#SOURCE[@]} -ne ${#FILES[@]} ]]; then
  echo "fetch-fashion-mnist: the $PACKAGE package is not installed (or is incomplete); install it with: sudo apt-get install $PACKAGE" >&2
  exit 2
fi

mkdir -p "$DEST"
for name in "${FILES[@]}"; do
  src=${SOURCE[$name]}
  target="$DEST/$(basename "$src")"
  # Drop a stale copy under the other spelling (plain vs .gz): the reader prefers plain.
  other="$DEST/$name"
  [[ $target == "$other" ]] && other="$DEST/$name.gz"
  if [[ -e $other || -L $other ]]; then rm -f "$other"; fi
  tmp="$DEST/.fetch-fashion-mnist.$$.$name"
  ln -sfn "$src" "$tmp"
  mv -Tf "$tmp" "$target"
  echo "$name: linked $target -> $src (package $PACKAGE)"
done
echo "Fashion-MNIST is in $DEST"
