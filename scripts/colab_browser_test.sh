#!/usr/bin/env bash
# Browser test of the gate explorer running live under Colab's widget stack (classic Notebook 6.5.7,
# widgetsnbextension 3.6.10, ipywidgets 7.7.1): starts a notebook server in Colab's runtime with the
# package installed from WHEEL as the install cell would, and drives it with
# tests/browser/check_colab_explorer.js in headless Chromium. Screenshots go to $SHOTS_DIR.
# Usage: scripts/colab_browser_test.sh COLAB_VENV WHEEL     (COLAB_VENV from scripts/colab_env.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
colab=$(realpath "$1")
wheel=$(realpath "$2")
tmp=$(mktemp -d "${TMPDIR:-/tmp}/colab-browser.XXXXXX")
server=
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

# A throwaway runtime that sees the Colab venv's packages (as scripts/run_chapters.py does), without
# this machine's pip or Jupyter configuration; the Colab venv's own Jupyter data (the widgets'
# nbextension) and config (which enables it) are on the search paths.
for var in $(compgen -e | grep -E '^(PIP_|TF_CPP_|PYTHONPATH$|JUPYTER|IPYTHON|KERAS_BACKEND$)' || true); do unset "$var"; done
"$colab/bin/python" -m venv --without-pip "$tmp/runtime"
site=$(echo "$tmp"/runtime/lib/python3.*/site-packages)
# addsitedir runs the Colab venv's own .pth files too (setuptools' distutils, which Notebook 6 imports).
echo "import site; site.addsitedir('$(echo "$colab"/lib/python3.*/site-packages)')" > "$site/_colab_runtime.pth"
export PIP_CONFIG_FILE=/dev/null PYDEVD_DISABLE_FILE_VALIDATION=1
export JUPYTER_PATH=$colab/share/jupyter JUPYTER_CONFIG_PATH=$colab/etc/jupyter
export JUPYTER_CONFIG_DIR=$tmp/config JUPYTER_DATA_DIR=$tmp/data JUPYTER_RUNTIME_DIR=$tmp/run IPYTHONDIR=$tmp/ipython
python=$tmp/runtime/bin/python
"$python" -m pip install -q --disable-pip-version-check --root-user-action=ignore "$wheel"

mkdir "$tmp/content"
"$python" - "$tmp/content/explorer.ipynb" <<'EOF'
import sys
import nbformat

cells = [
    'import os\nos.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")\n\n'
    "import ipywidgets\nfrom focal_utils import data, pretrained\nfrom focal_utils.widgets import GateExplorer\n\n"
    'assert ipywidgets.__version__.startswith("7."), ipywidgets.__version__',
    'model = pretrained.load_pretrained("focalnet_cifar10")\n'
    "(_, _), (x_test, y_test) = data.load_cifar10()\n"
    "explorer = GateExplorer(model, x_test[:20], labels=y_test[:20], class_names=data.CLASS_NAMES)\n"
    'assert explorer.mode == "live"\nexplorer',
]
notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
nbformat.write(notebook, sys.argv[1])
EOF

port=$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
token=$("$python" -c 'import secrets; print(secrets.token_hex(16))')
"$python" -m notebook --no-browser --allow-root --ip=127.0.0.1 --port="$port" \
    --NotebookApp.token="$token" --notebook-dir="$tmp/content" > "$tmp/server.log" 2>&1 &
server=$!
for _ in $(seq 120); do
    grep -q "is running at" "$tmp/server.log" && break
    kill -0 "$server" 2>/dev/null || { cat "$tmp/server.log" >&2; exit 1; }
    sleep 1
done
"$python" -m notebook --version | sed 's/^/  notebook server /'
status=0
node tests/browser/check_colab_explorer.js "http://127.0.0.1:$port/notebooks/explorer.ipynb?token=$token" || status=$?
if [ "$status" -ne 0 ]; then
    echo "--- notebook server log:" >&2
    tail -n 40 "$tmp/server.log" >&2
fi
exit "$status"
