#!/usr/bin/env python3
"""Start a chapter: book/chapters/NN_slug.py with the header, title, install and setup cells.

Usage: python scripts/new_chapter.py 09_dense_prediction "Dense prediction"

Then add `book/chapters/09_dense_prediction` to _toc.yml, write the chapter, and run
`make notebook NB=book/chapters/09_dense_prediction.py`.
"""

import re
import sys
from pathlib import Path

CHAPTERS = Path(__file__).resolve().parents[1] / "book" / "chapters"

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
# The question this chapter answers, and what it needs from earlier chapters. Run time on a 2-core CPU:
# under a minute.

# %%
# Colab or a fresh runtime: install the book's package if it is missing.
import importlib.util
import subprocess
import sys

if importlib.util.find_spec("focal_utils") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "git+https://github.com/focal-modulation-book/focal-modulation-book"],
                   check=True)

# %%
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np

import focal_utils

keras.utils.set_random_seed(0)

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
    if len(argv) != 3 or not re.fullmatch(r"\d\d_[a-z0-9_]+", argv[1]):
        sys.exit(__doc__)
    stem, title = argv[1], argv[2]
    path = CHAPTERS / f"{stem}.py"
    if path.exists():
        sys.exit(f"{path} exists already")
    path.write_text(TEMPLATE.format(number=int(stem[:2]), title=title))
    print(f"wrote {path}; add book/chapters/{stem} to _toc.yml")


if __name__ == "__main__":
    main(sys.argv)
