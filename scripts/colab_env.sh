#!/usr/bin/env bash
# Make (or reuse) a virtual environment that reproduces Google Colab's CPU runtime, and print its path.
# Usage: scripts/colab_env.sh [FREEZE]     (default ../shared/colab/pip-freeze.txt, Colab's `pip freeze`)
#
# Why: readers run the book in Colab, whose kernel differs from the build environment (Python 3.13,
# TensorFlow 2.20, Keras 3.13, ipywidgets 7.7.1, IPython 7.34, ipykernel 6.17, pip 24.1). The venv holds
# Colab's own versions of everything a chapter's kernel loads: the packages below and all their
# dependencies, pinned by the freeze (`pip install -c`). Left out: the rest of Colab's ~650 packages
# (torch, spaCy, ...: gigabytes the book never imports) and the lines that name no version on PyPI
# (`pkg @ URL`, local `+cpu` builds). focal_utils is NOT installed here: the chapters' install cell does
# that, as in Colab (scripts/run_chapters.py).
#
# The venv lives outside the clone, in $COLAB_VENV_CACHE (default ~/.cache/focal-book/colab-venv), in a
# folder named after a hash of the freeze, the package list and Python's version, so CI reuses it between runs
# and a new freeze makes a new one. It is built in a temporary folder and renamed, so an interrupted
# build leaves nothing half-made. Python: $COLAB_PYTHON, else pyenv's newest 3.13, else python3.13.
set -euo pipefail
cd "$(dirname "$0")/.."

freeze=$(realpath "${1:-../shared/colab/pip-freeze.txt}")
[ -f "$freeze" ] || { echo "error: no Colab package list at $freeze (see ../shared/colab/README.md)" >&2; exit 1; }

# What a chapter's kernel imports in Colab: the book's dependencies, TensorFlow (Colab's default Keras
# backend) with JAX beside it, and Colab's notebook stack (kernel, widgets, classic Notebook 6.5.7 for
# the browser test; nbclient runs the chapters).
PACKAGES=(
    pip setuptools wheel
    tensorflow keras jax jaxlib numpy matplotlib pillow tqdm
    ipykernel ipython ipywidgets widgetsnbextension jupyter_client jupyter_core traitlets tornado pyzmq
    notebook nbclient nbformat
)

python=${COLAB_PYTHON:-}
if [ -z "$python" ]; then
    python=$(ls -d "$HOME"/.pyenv/versions/3.13*/bin/python 2>/dev/null | sort -V | tail -n 1 || true)
    python=${python:-$(command -v python3.13 || true)}
fi
[ -n "$python" ] && "$python" -c 'import sys; assert sys.version_info[:2] == (3, 13)' 2>/dev/null \
    || { echo "error: Colab's runtime is Python 3.13: install it (pyenv install 3.13) or set COLAB_PYTHON" >&2; exit 1; }

# Bump LAYOUT when a change to this script must rebuild the venv.
LAYOUT=1
key=$( { cat "$freeze"; echo "${PACKAGES[*]}" "$LAYOUT"; "$python" --version; } | sha256sum | cut -c1-16)
cache=${COLAB_VENV_CACHE:-$HOME/.cache/focal-book/colab-venv}
venv=$cache/$key
if [ -x "$venv/bin/python" ] && [ -f "$venv/.complete" ]; then
    echo "$venv"
    exit 0
fi

mkdir -p "$cache"
tmp=$(mktemp -d "$cache/.partial.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# Pins: every `name==version` line of the freeze that is a plain PyPI release.
grep -E '^[A-Za-z0-9_.-]+==[^+[:space:]]+$' "$freeze" > "$tmp/constraints.txt"
echo "Building Colab's runtime in $venv ($("$python" --version), $(wc -l < "$tmp/constraints.txt") pins)" >&2
# The venv is made in place ($venv) since a venv's scripts hold its absolute path; $tmp marks the build.
rm -rf "$venv"
"$python" -m venv "$venv"
{
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -c "$tmp/constraints.txt" pip
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -c "$tmp/constraints.txt" "${PACKAGES[@]}"
} >&2 || { rm -rf "$venv"; exit 1; }
"$venv/bin/python" -m pip freeze --all > "$venv/colab-freeze.txt"
# Every package installed must be at Colab's version.
"$venv/bin/python" - "$tmp/constraints.txt" "$venv/colab-freeze.txt" >&2 <<'EOF' || { rm -rf "$venv"; exit 1; }
import re, sys
norm = lambda n: re.sub(r"[-_.]+", "-", n).lower()
pins = dict(norm(l).split("==") for l in open(sys.argv[1]).read().split())
got = dict(norm(l).split("==") for l in open(sys.argv[2]).read().split() if "==" in l)
off = {n: (v, pins[n]) for n, v in got.items() if n in pins and pins[n] != v}
unpinned = sorted(set(got) - set(pins))
assert not off, f"not at Colab's version (installed, Colab): {off}"
print(f"{len(got)} packages at Colab's versions; not in Colab's list: {unpinned or 'none'}")
EOF
touch "$venv/.complete"
echo "$venv"
