#!/usr/bin/env python3
"""Start a chapter: book/chapters/NN_slug.py with the header, title, install and setup cells.

Usage: python scripts/new_chapter.py 09_dense_prediction "Dense prediction"
       python scripts/new_chapter.py --sync-install-cells

Then add `book/chapters/09_dense_prediction` to _toc.yml, write the chapter, and run
`make notebook NB=book/chapters/09_dense_prediction.py`.

The install cell (the first code cell of every chapter, checked by tests/test_book_structure.py) is made
here from the two facts it holds, each kept in one place: the repository (`repository.url` in _config.yml,
which the launch buttons use too) and the release it installs (the tag `v` + pyproject.toml's version;
tag that commit when you release). `--sync-install-cells` rewrites it in every chapter, the .py and the
.ipynb (only that cell's source: the outputs stay).
"""

import json
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ROOT / "book" / "chapters"
# The environment variable that replaces the install source: a wheel, a folder, another tag or commit
# (CI points it at a wheel built from the clone: scripts/run_chapters.py).
SOURCE_ENV_VAR = "FOCAL_BOOK_PACKAGE"

# Why each line: the cell changes nothing when focal_utils is importable (the build, a local clone). pip
# installs without upgrading what is already there (the package's floors admit Colab's versions), so
# numpy, pillow, ipywidgets, IPython, which Colab's kernel has loaded, stay as they are; only if pip did
# change one of the loaded packages does the cell ask for a restart, in one line.
INSTALL_CELL = """\
# Colab or a fresh runtime: install the book's package if it is missing.
import importlib.metadata
import importlib.util
import os
import subprocess
import sys

BOOK_PACKAGE = "git+{url}@{ref}"

if importlib.util.find_spec("focal_utils") is None:
    owners = importlib.metadata.packages_distributions()
    loaded = {{d for m in list(sys.modules) for d in owners.get(m.partition(".")[0], ())}}
    before = {{d: importlib.metadata.version(d) for d in loaded}}
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    "--root-user-action=ignore", os.environ.get("{env}", BOOK_PACKAGE)],
                   check=True)
    changed = sorted(d for d in before if importlib.metadata.version(d) != before[d])
    if changed:
        print("Restart the session (Colab: Runtime > Restart session), then run all: pip changed",
              ", ".join(changed))"""


def repository_url():
    """The book's repository: _config.yml's `repository.url` (read without a YAML parser)."""
    text = (ROOT / "_config.yml").read_text()
    block = re.search(r"^repository:\n((?:[ \t]+.*\n?)+)", text, re.M)
    url = block and re.search(r"^\s+url:\s*(\S+)", block.group(1), re.M)
    if not url:
        sys.exit("_config.yml has no repository.url")
    return url.group(1)


def release_tag():
    """The tag the install cell installs: `v` + the package version in pyproject.toml."""
    return "v" + tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def install_cell():
    return INSTALL_CELL.format(url=repository_url(), ref=release_tag(), env=SOURCE_ENV_VAR)


def sync_install_cells():
    """Rewrite the first code cell of every chapter (.py and .ipynb) to install_cell()."""
    cell = install_cell()
    for py in sorted(CHAPTERS.glob("[0-9][0-9]_*.py")):
        text = py.read_text()
        # The first `# %%` code cell, up to the next cell marker.
        match = re.search(r"^# %%\n(.*?)(?=\n\n# %%)", text, re.M | re.S)
        if not match or "install the book's package" not in match.group(1):
            sys.exit(f"{py}: no install cell found")
        py.write_text(text[:match.start(1)] + cell + text[match.end(1):])
        ipynb = py.with_suffix(".ipynb")
        notebook = json.loads(ipynb.read_text())
        first = next(c for c in notebook["cells"] if c["cell_type"] == "code")
        first["source"] = cell.splitlines(keepends=True)
        ipynb.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
        print(f"install cell synced: {py.name}, {ipynb.name}")

TEMPLATE = '''\
# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # {number}. {title}
#
# The question this chapter answers, and what it needs from earlier chapters. The note under the setup
# cell gives the chapter's run time, measured by its last code cell.

# %%
{install_cell}

# %%
import time

CHAPTER_START = time.perf_counter()  # the last code cell measures the chapter's run time from here
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np

import focal_utils
from focal_utils.timing import ChapterTimer

keras.utils.set_random_seed(0)
timer = ChapterTimer(CHAPTER_START)  # a note here, which the last code cell fills in

# %%
run_seconds = timer.stop()  # the chapter's run time, also written under the setup cell

# %% [markdown]
# ## Summary
#
# -
#
# ## Exercises
#
# 1.
'''


def main(argv):
    if argv[1:] == ["--sync-install-cells"]:
        return sync_install_cells()
    if len(argv) != 3 or not re.fullmatch(r"\d\d_[a-z0-9_]+", argv[1]):
        sys.exit(__doc__)
    stem, title = argv[1], argv[2]
    path = CHAPTERS / f"{stem}.py"
    if path.exists():
        sys.exit(f"{path} exists already")
    path.write_text(TEMPLATE.format(number=int(stem[:2]), title=title, install_cell=install_cell()))
    print(f"wrote {path}; add book/chapters/{stem} to _toc.yml")


if __name__ == "__main__":
    main(sys.argv)
