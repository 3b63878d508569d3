#!/usr/bin/env bash
# fetch-svhn.sh — download SVHN's cropped digits (format 2: train_32x32.mat, test_32x32.mat,
# and with --extra extra_32x32.mat) into DEST from the data set's host,
# http://ufldl.stanford.edu/housenumbers/.
#
# Usage: scripts/fetch-svhn.sh [--extra] [DEST]        (default: data/svhn)
#
# A copy already in DEST is kept when its MD5 matches; otherwise the file is downloaded to a
# temporary name in DEST, checked against the MD5 the data set's users publish (torchvision's
# SVHN class lists the same three sums), and renamed into place. SVHN is on no package
# registry: without access to its host the script fails, naming the file, and dpvae's tests use
# generated files of the real layout instead. Exit status: 0 on success, 2 if a file could not
# be obtained or failed its check, 1 on a usage error.
set -euo pipefail

EXTRA=0
if [[ ${1:-} == --extra ]]; then EXTRA=1; shift; fi
if [[ $# -gt 1 || ${1:-} == -h || ${1:-} == --help ]]; then
  echo "usage: $0 [--extra] [DEST]   (default DEST: data/svhn)" >&2
  exit 1
fi
DEST=${1:-data/svhn}
HOST=http://ufldl.stanford.edu/housenumbers
declare -A MD5=(
  [train_32x32.mat]=e26dedcc434d2e4c54c9b2d4a06d8373
  [test_32x32.mat]=eb5a983be6a315427106f1b164d9cef3
  [extra_32x32.mat]=a93ce644f1a588dc4d68dda5feec44a7
)
FILES=(train_32x32.mat test_32x32.mat)
[[ $EXTRA == 1 ]] && FILES+=(extra_32x32.mat)
for tool in md5sum curl; do
  command -v "$tool" >/dev/null || { echo "fetch-svhn: $tool is required but not installed" >&2; exit 2; }
done
mkdir -p "$DEST"
PARTIAL="$DEST/.fetch-svhn.$$"
trap 'rm -f "$PARTIAL"' EXIT
verified() { [[ -f $1 ]] && [[ $(md5sum "$1" | cut -d' ' -f1) == "${MD5[$2]}" ]]; }

status=0
for f in "${FILES[@]}"; do
  if verified "$DEST/$f" "$f"; then echo "fetch-svhn: $DEST/$f is present and verified"; continue; fi
  echo "fetch-svhn: downloading $HOST/$f"
  if curl -fL --retry 2 --connect-timeout 20 -o "$PARTIAL" "$HOST/$f" && verified "$PARTIAL" "$f"; then
    mv "$PARTIAL" "$DEST/$f"
    echo "fetch-svhn: $DEST/$f verified (MD5 ${MD5[$f]})"
  else
    echo "fetch-svhn: could not obtain $f from $HOST (or its MD5 differs from ${MD5[$f]}); download it by hand into $DEST" >&2
    status=2
  fi
done
exit $status
