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
# # Preface
#
# This book takes one idea from a 2022 paper, *Focal Modulation Networks* ([Yang et al., 2022](../bibliography.md)), and builds
# it from nothing to a trained image classifier, one runnable step at a time. The idea is a replacement for
# self-attention ([Vaswani et al., 2017](../bibliography.md)) in vision models: instead of letting every token look at every
# other token, each token asks its surroundings for a summary and lets that summary *modulate* it. Every
# chapter is a Jupyter notebook that you can read here, open in Colab, or run on a laptop; every piece of
# code is checked against `focal_utils`, the small Keras 3 package that comes with the book.
#
# This preface says what focal modulation is, who the book is for, how to read it, and what each chapter
# does. The note under the setup cell gives the run time of its code, measured by its last code cell.

# %%
# Colab or a fresh runtime: install the book's package if it is missing.
import importlib.metadata
import importlib.util
import os
import subprocess
import sys

BOOK_PACKAGE = "git+https://github.com/focal-modulation-book/focal-modulation-book@v0.1.0"

if importlib.util.find_spec("focal_utils") is None:
    owners = importlib.metadata.packages_distributions()
    loaded = {d for m in list(sys.modules) for d in owners.get(m.partition(".")[0], ())}
    before = {d: importlib.metadata.version(d) for d in loaded}
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    "--root-user-action=ignore", os.environ.get("FOCAL_BOOK_PACKAGE", BOOK_PACKAGE)],
                   check=True)
    changed = sorted(d for d in before if importlib.metadata.version(d) != before[d])
    if changed:
        print("Restart the session (Colab: Runtime > Restart session), then run all: pip changed",
              ", ".join(changed))

# %%
import time

CHAPTER_START = time.perf_counter()  # the last code cell measures the chapter's run time from here
import inspect
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import matplotlib.pyplot as plt
import numpy as np

import focal_utils
from focal_utils.timing import ChapterTimer

keras.utils.set_random_seed(0)
timer = ChapterTimer(CHAPTER_START)  # a note here, which the last code cell fills in
print(f"Keras {keras.__version__}, backend: {keras.backend.backend()}")

# %% [markdown]
# ## What focal modulation is
#
# A vision Transformer ([Dosovitskiy et al., 2021](../bibliography.md)) cuts an image into patches, turns each patch into a
# vector (a *token*), and mixes information between tokens with self-attention. For a token $x_i$ among
# $N$ tokens $X = (x_1, \dots, x_N)$, self-attention computes
#
# $$
# y_i = \sum_{j=1}^{N} a(x_i, x_j)\, v(x_j),
# $$
#
# where $a(x_i, x_j)$ is a softmax-normalised similarity between query and key. The order of work is
# **interaction first, aggregation second**: token $i$ first scores all $N$ tokens, then sums their values
# with those scores. The scores form an $N \times N$ matrix per head, so time and memory grow with the
# square of the number of tokens, and a 56 x 56 grid of tokens (the first stage of a 224 x 224 model) already
# means almost ten million scores per head and per image.
#
# Focal modulation turns the order around, **aggregation first, interaction second**:
#
# $$
# y_i = q(x_i) \odot m(i, X).
# $$
#
# The *modulator* $m(i, X)$ summarises the context around position $i$ before the token itself takes part,
# and the token's query $q(x_i)$ then interacts with that summary through an element-wise product. The
# paper builds the modulator from three parts, and the first half of the book takes them one at a time:
#
# 1. **Hierarchical contextualisation.** A stack of $L$ depthwise convolutions with growing kernels
#    (3, then 5, then 7 ...) gives context maps $z^1, \dots, z^L$ that see farther and farther, and a global
#    average pool on top gives a last level $z^{L+1}$ that sees the whole image.
# 2. **Gated aggregation.** Each position computes $L + 1$ gates from its own token and mixes the levels,
#    $\sum_\ell g_i^\ell\, z_i^\ell$, so a token chooses how much near and far context it wants. A linear
#    map $h$ turns that mix into the modulator $m(i, X)$.
# 3. **Element-wise affine transformation.** The query is multiplied by the modulator and projected.
#
# Nothing in this costs $N^2$: convolutions, a mean and per-token linear maps are all linear in the number
# of tokens. FocalNets built from this operator match or beat attention-based vision Transformers of the
# same size on ImageNet ([Yang et al., 2022](../bibliography.md)); the package keeps the paper's numbers:

# %%
# NBVAL_CHECK_OUTPUT
print(f"{'model':<20}{'params':>12}{'GFLOPs':>8}{'top-1':>7}")
for name, metrics in focal_utils.PAPER_METRICS.items():
    print(f"{name:<20}{metrics['params']:>12,}{metrics['gflops']:>8.1f}{metrics['top1']:>7.1f}")

# %% [markdown]
# The count of multiply-accumulates of one token mixer makes the difference in cost concrete. For $N$
# tokens of $C$ channels, multi-head self-attention spends $4NC^2$ on its four projections (query, key,
# value, output) and $2N^2C$ on the scores and the weighted sum. Focal modulation with two levels (kernels 3
# and 5) spends $NC(2C + 3)$ on its input projection, $NC(3^2 + 1) + NC(5^2 + 1)$ on the depthwise levels,
# $NC$ on the global level, and $NC(C + 1) + NC^2$ on $h$ and the output projection. (Chapter 6 checks
# counts like these against the whole network.) Let us plot both, with $C = 96$ as in the first stage of
# FocalNet-T:

# %%
from focal_utils.flops import attention_flops, focal_modulation_flops

print(inspect.getsource(attention_flops))
print(inspect.getsource(focal_modulation_flops))

# %%
# NBVAL_CHECK_OUTPUT
channels = 96
print(f"{'grid':>9}{'tokens':>8}{'attention':>12}{'focal mod.':>12}{'ratio':>7}  (GMACs per image)")
for side in (7, 14, 28, 56):
    n = side * side
    att, foc = attention_flops(n, channels), focal_modulation_flops(n, channels)
    print(f"{side:>4} x {side:<2}{n:>8}{att / 1e9:>12.3f}{foc / 1e9:>12.3f}{att / foc:>7.1f}")

# %% mystnb={"figure": {"caption": "Multiply-accumulates of one token mixer with C = 96 channels, for a square grid of tokens. Attention grows with the square of the number of tokens, focal modulation linearly; the dotted lines mark the four stages of FocalNet-T on a 224 x 224 image.", "name": "fig-preface-cost"}}
sides = np.arange(4, 113)
tokens = sides**2
fig, ax = plt.subplots(figsize=(6.4, 3.8))
ax.plot(sides, attention_flops(tokens, channels) / 1e9, label="self-attention", color="tab:red")
ax.plot(sides, focal_modulation_flops(tokens, channels) / 1e9, label="focal modulation (L = 2)",
        color="tab:blue")
for side in (7, 14, 28, 56):
    ax.axvline(side, color="0.7", linestyle=":", linewidth=1)
ax.set_yscale("log")
ax.set_xlabel("grid side (tokens per row)")
ax.set_ylabel("GMACs per image")
ax.legend()
ax.grid(True, which="major", alpha=0.3)
fig.tight_layout()
plt.show()

# %% [markdown] tags=["remove-cell"]
# *Figure: Multiply-accumulates of one token mixer with C = 96 channels, for a square grid of tokens.
# Attention grows with the square of the number of tokens, focal modulation linearly; the dotted lines
# mark the four stages of FocalNet-T on a 224 x 224 image.*

# %% [markdown]
# At a 7 x 7 grid the two cost about the same; at 56 x 56, attention needs about sixteen times as many
# multiply-accumulates, and that is before counting the memory its score matrices take. That is why vision Transformers either keep the grid coarse or
# restrict attention to windows ([Liu et al., 2021](../bibliography.md)), and why an operator that is linear in the number of
# tokens is worth a book.
#
# ## Who this book is for
#
# The book is for readers who know Python and NumPy, have trained a neural network before (a convolution,
# an MLP, a loss and an optimiser are familiar words), and have met attention at least once. It is also for
# readers who know Transformers well and want to see, in code, what changes when attention goes away.
#
# You do not need a GPU. Every chapter runs top to bottom on a 2-core CPU in minutes, and measures its run time;
# on a CPU the training chapter trains a short demonstration and then uses the shipped weights of its long run. The code is Keras 3 and runs on the
# TensorFlow or the JAX backend; the book's notebooks use TensorFlow unless you set `KERAS_BACKEND` before
# starting them.
#
# ## How to read it
#
# - **In the browser (this site).** Every page is a notebook together with the outputs of a real run. Read
#   it as a book; the code is part of the text.
# - **In Colab.** The rocket button at the top of every chapter opens its notebook in Google Colab. The
#   first code cell of every chapter installs `focal_utils` from the book's repository when it is missing,
#   so *Runtime > Run all* works in a fresh Colab session.
# - **Locally.** Clone the repository and run `make book` (it creates a virtual environment in `.venv`,
#   installs everything and builds this site into `_build/html`), then open any `book/chapters/*.ipynb`
#   in JupyterLab. Each notebook has a twin `.py` file in Jupytext's percent format with the same cells;
#   `make notebook NB=book/chapters/03_hierarchical_context.py` rebuilds one notebook from its twin and
#   runs it in a fresh kernel.
#
# The code runs in order: each chapter depends on its own earlier cells, not on other chapters, so you can
# start anywhere. The chapters build on each other in the text, though, and read best in order.
#
# ## Map of the chapters
#
# | | Chapter | Question it answers |
# |---|---|---|
# | 1 | [Self-attention vs. focal modulation](01_attention_vs_focal.ipynb) | What does attention compute, what does focal modulation compute instead, and what does each cost? |
# | 2 | [Patch embedding](02_patch_embedding.ipynb) | How does an image become a grid of tokens, and how does the grid shrink between stages? |
# | 3 | [Hierarchical context](03_hierarchical_context.ipynb) | How do stacked depthwise convolutions and a global pool give each token context at several ranges? |
# | 4 | [Gated aggregation](04_gated_aggregation.ipynb) | How do the gates mix the levels into a modulator, and how does the modulator act on the query? |
# | 5 | [Block and stage](05_block_and_stage.ipynb) | How do normalisation, the MLP, residuals and stochastic depth turn the operator into a block, and blocks into a stage? |
# | 6 | [The full network](06_full_network.ipynb) | How do the stages form a FocalNet, and do our models match the paper's parameter counts and FLOPs? |
# | 7 | [Training on CIFAR-10](07_training.ipynb) | How do we train the book's FocalNet from scratch on a CPU, with a fast input pipeline and the official recipe scaled to CIFAR-10? |
# | 8 | [Looking inside](08_interpretation.ipynb) | What do the gates and modulators of a trained FocalNet attend to? |
#
# The [API reference](../api.md) documents `focal_utils` from its docstrings, and the
# [bibliography](../bibliography.md) collects every work the book cites.
#
# ## Conventions
#
# - Tensors are channels-last: an image batch is `(batch, height, width, channels)` and so is a grid of
#   tokens. Comments and printed lines give shapes in that order.
# - A step that the book builds by hand is compared with the package (`np.testing.assert_allclose`), so
#   the text and the library cannot drift apart.
# - Models return logits; losses take `from_logits=True`.
# - Timings are from a 2-core CPU and are there to compare, not to quote.
#
# ## A first look
#
# The package registers every model the book uses by name. The CIFAR-10 model, `focalnet_cifar`, is the one
# chapters 2 to 6 build; chapter 7 trains `focalnet_cifar_conv`, the same model behind the official
# overlapping stem, which costs a quarter of the compute on a CPU; the `focalnet_*_srf/lrf` models are the paper's ImageNet models (`srf` and `lrf` stand
# for small and large receptive field: two or three focal levels); `vit_cifar` is the attention baseline.

# %%
# NBVAL_CHECK_OUTPUT
print(focal_utils.list_models())
model = focal_utils.create_model("focalnet_cifar")
baseline = focal_utils.create_model("vit_cifar")
print(f"focalnet_cifar: {model.count_params():,} parameters, "
      f"{focal_utils.count_flops(model) / 1e6:.1f} MFLOPs per 32 x 32 image")
print(f"vit_cifar:      {baseline.count_params():,} parameters")
assert model.count_params() == 2_481_247

# %% [markdown]
# The model takes images as CIFAR-10 stores them (values 0 to 255; it standardises them itself) and returns
# ten logits per image. `focal_utils.modulation_maps` runs the same forward pass and also returns, for every
# block, the gates (one map per focal level, plus the global one) and the modulator: the quantities the
# last chapter looks at in a trained model.

# %%
# NBVAL_CHECK_OUTPUT
images = np.random.default_rng(0).integers(0, 256, size=(4, 32, 32, 3)).astype("float32")
maps, logits = focal_utils.modulation_maps(model, images, return_logits=True)
print("images", images.shape, "-> logits", logits.shape)
for key, block in maps.items():
    print(f"{key}: gates {block['gates'].shape}, modulator {block['modulator'].shape}")
np.testing.assert_allclose(logits, keras.ops.convert_to_numpy(model(images, training=False)),
                           rtol=1e-5, atol=1e-5)

# %% [markdown]
# Seven blocks in three stages: a 16 x 16 grid of 64 channels, then 8 x 8 of 128, then 4 x 4 of 256, each
# block with three gates (two local levels and the global one). By the end of Chapter 6 every one of these
# numbers will have a reason.

# %%
run_seconds = timer.stop()  # the chapter's run time, also written under the setup cell

# %% [markdown]
# ## Acknowledgements and sources
#
# The model follows the official implementation of the paper ([Microsoft, 2022](../bibliography.md)); timm's version
# ([Wightman, 2019](../bibliography.md)) and the Keras example by Gosthipaty and Paul ([Gosthipaty and Raha, 2023](../bibliography.md)) were
# read for comparison, and where the Keras example departs from the paper the book says so. The layout of
# the chapters owes much to *The Annotated Transformer* and *Dive into Deep Learning*: the idea, the code,
# a run on real tensors, a check.
