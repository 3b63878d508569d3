#!/usr/bin/env bash
# fetch-celeba.sh — CelebA's aligned and cropped release for dpvae (--dataset celeba): DEST
# must end up holding list_eval_partition.txt and img_align_celeba.zip (or the unpacked
# img_align_celeba/ folder; dpvae reads either).
#
# Usage: scripts/fetch-celeba.sh [DEST]        (default: data/celeba)
#
# The canonical host is the authors' Google Drive folder
# (https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html), whose downloads need a browser's
# confirmation for large files; the script tries the two files by their Drive ids (as
# torchvision does) and checks them against the MD5 sums torchvision publishes. When that
# fails (quota, no network), download the two files by hand into DEST: the script then only
# verifies them. Files are written under a temporary name and renamed. Exit status: 0 when
# both files are present and verified, 2 otherwise, 1 on a usage error.
set -euo pipefail

if [[ $# -gt 1 || ${1:-} == -h || ${1:-} == --help ]]; then
  echo "usage: $0 [DEST]   (default DEST: data/celeba)" >&2
  exit 1
fi
DEST=${1:-data/celeba}
declare -A MD5=([img_align_celeba.zip]=00d2c5bc6d35e252742224ab0c1e8fcb [list_eval_partition.txt]=d32c9cbf5e040fd4025c592c306e6668)
declare -A DRIVE_ID=([img_align_celeba.zip]=0B7EVK8r0v71pZjFTYXZWM3FlRnM [list_eval_partition.txt]=0B7EVK8r0v71pY0NSMzRuSXJEVkk)
for tool in md5sum curl; do
  command -v "$tool" >/dev/null || { echo "fetch-celeba: $tool is required but not installed" >&2; exit 2; }
done
mkdir -p "$DEST"
PARTIAL="$DEST/.fetch-celeba.$$"
trap 'rm -f "$PARTIAL"' EXIT
verified() { [[ -f $1 ]] && [[ $(md5sum "$1" | cut -d' ' -f1) == "${MD5[$2]}" ]]; }

status=0
for f in list_eval_partition.txt img_align_celeba.zip; do
  if verified "$DEST/$f" "$f"; then echo "fetch-celeba: $DEST/$f is present and verified"; continue; fi
  if [[ $f == img_align_celeba.zip && -d $DEST/img_align_celeba ]]; then
    echo "fetch-celeba: $DEST/img_align_celeba/ is present (dpvae checks it against the partition file when it loads)"
    continue
  fi
  url="https://drive.usercontent.google.com/download?id=${DRIVE_ID[$f]}&export=download&confirm=t"
  echo "fetch-celeba: downloading $f from Google Drive"
  if curl -fL --retry 2 --connect-timeout 20 -o "$PARTIAL" "$url" && verified "$PARTIAL" "$f"; then
    mv "$PARTIAL" "$DEST/$f"
    echo "fetch-celeba: $DEST/$f verified (MD5 ${MD5[$f]})"
  else
    echo "fetch-celeba: could not obtain $f (MD5 ${MD5[$f]}); download it from https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html into $DEST" >&2
    status=2
  fi
done
exit $status
