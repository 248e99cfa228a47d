#!/usr/bin/env bash
# Print the folder that holds CIFAR-10 for the training chapter, or nothing (then Keras downloads it).
# Usage: scripts/cifar10_dir.sh PYTHON
#
# Order: $FOCAL_CIFAR10_DIR if set; else the cache ~/.cache/focal-book/cifar10, built once from the
# JPEG archive in ../shared/data (offline CI machines) if that builder exists. The copy is built in a
# temporary folder and moved into place, so an interrupted build leaves no half-written cache.
set -euo pipefail
python=${1:-python3}
if [ -n "${FOCAL_CIFAR10_DIR:-}" ]; then
    echo "$FOCAL_CIFAR10_DIR"
    exit 0
fi
cache=${FOCAL_CIFAR10_CACHE:-$HOME/.cache/focal-book/cifar10}
builder=../shared/data/build_cifar10.py
if [ ! -f "$cache/cifar-10-batches-py/test_batch" ] && [ -f "$builder" ]; then
    mkdir -p "$(dirname "$cache")"
    tmp=$(mktemp -d "$cache.partial.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    "$python" "$builder" "$tmp" >&2
    mkdir -p "$cache"
    mv "$tmp/cifar-10-batches-py" "$cache/"
fi
if [ -f "$cache/cifar-10-batches-py/test_batch" ]; then
    echo "$cache"
fi
