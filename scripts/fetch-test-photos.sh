#!/usr/bin/env bash
# Test photos (dog.jpg etc.) come from Debian's `darknet` package, unpacked into test-fixtures/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
dest=test-fixtures/darknet
[ -f "$dest/dog.jpg" ] && exit 0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get download darknet >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get download darknet >/dev/null; })
dpkg -x "$tmp"/darknet_*.deb "$tmp/x"
mkdir -p "$dest"
cp "$tmp"/x/usr/share/darknet/data/*.jpg "$dest/"
echo "test photos: $(ls "$dest" | wc -l) files in $dest"
