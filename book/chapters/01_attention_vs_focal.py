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
# # 1. Self-attention vs. focal modulation
#
# Self-attention lets every token look at every other token. That is what
# made the Transformer ([Vaswani et al., 2017](../bibliography.md)) and the Vision
# Transformer ([Dosovitskiy et al., 2021](../bibliography.md)) so general, and it is also why
# their cost grows with the *square* of the number of tokens. Focal
# modulation ([Yang et al., 2022](../bibliography.md)) keeps the two ingredients, interaction
# and aggregation, but swaps their order, and the cost becomes linear. This
# chapter answers two questions: what exactly changes when the order is
# swapped, and what it is worth on a real machine as the token grid grows
# from 7x7 to 64x64. We write attention from scratch on a tiny tensor cut
# from a real photograph and check it against the package, run focal
# modulation on the same tokens, count the multiply-accumulates of both, and
# then time both layers and measure their peak memory on this computer.
#
# You need nothing from earlier chapters beyond a working install. The note
# under the setup cell gives the chapter's run time (most of it the
# benchmark), measured by its last code cell.

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
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import inspect
import math

import keras
import matplotlib.pyplot as plt
import numpy as np
from keras import ops

import focal_utils
from focal_utils import benchmarks, flops, memory
from focal_utils.viz import load_sample_image
from focal_utils.timing import ChapterTimer

keras.utils.set_random_seed(0)
timer = ChapterTimer(CHAPTER_START)  # a note here, which the last code cell fills in
print("keras", keras.__version__, "on", keras.backend.backend())

# %% [markdown]
# ## Two orders of the same two steps
#
# A *token mixer* takes $N$ tokens $X = (x_1, \dots, x_N)$, each a vector of
# $C$ channels, and returns $N$ new tokens in which every $y_i$ has seen some
# of the others. The FocalNet paper describes self-attention with two
# operations: an *interaction* $\mathcal{T}_1$ between the query token $x_i$
# and all tokens, followed by an *aggregation* $\mathcal{M}_1$ over all
# tokens:
#
# $$
# y_i = \mathcal{M}_1\big(\mathcal{T}_1(x_i, X), X\big).
# $$
#
# Concretely, $\mathcal{T}_1$ scores the query $q_i$ against every key,
# $a_{ij} = \mathrm{softmax}_j(q_i \cdot k_j / \sqrt{d})$, and
# $\mathcal{M}_1$ is the weighted sum $\sum_j a_{ij} v_j$. The interaction
# comes first and it is *query-specific*: every one of the $N$ queries meets
# every one of the $N$ keys.
#
# Focal modulation swaps the order, *aggregation first, then interaction*:
#
# $$
# y_i = \mathcal{T}_2\big(\mathcal{M}_2(i, X), x_i\big), \qquad
# \text{in FocalNet: } y_i = q(x_i) \odot m(i, X).
# $$
#
# $\mathcal{M}_2$ gathers the context around location $i$ into a
# *modulator* $m_i$, using depthwise convolutions of growing size, a global
# average and per-token gates; $\mathcal{T}_2$ is a plain element-wise
# product of the modulator with the query $q(x_i)$. The aggregation never
# compares a token with all the others: it is the same convolution at every
# location, weighted by gates that each location computes from its own
# token, so it runs once over the whole map. The interaction then involves
# one token and its own modulator. Nothing in it is $N \times N$.
#
# The rest of the chapter makes both equations concrete, then counts and
# measures what the swap buys.

# %% [markdown]
# ## Self-attention from scratch
#
# Our tokens come from a real picture: Grace Hopper's face, shrunk to 16x16
# pixels and cut into a 4x4 grid of 4x4-pixel patches. Each patch, flattened,
# is a token of $4 \cdot 4 \cdot 3 = 48$ numbers (a learned patch embedding
# would map it to another width; here the raw pixels are enough). Each token
# is normalised to zero mean and unit variance, as the LayerNorm in front of
# every token mixer would do. So $N = 16$ tokens and $C = 48$ channels,
# split into 2 heads of 24.

# %%
# NBVAL_CHECK_OUTPUT
image = load_sample_image("grace_hopper_face", size=16)  # (16, 16, 3) in [0, 1]
grid, patch = 4, 4
patches = image.reshape(grid, patch, grid, patch, 3).transpose(0, 2, 1, 3, 4)
x = patches.reshape(1, grid * grid, patch * patch * 3)
x = ((x - x.mean(-1, keepdims=True)) / x.std(-1, keepdims=True)).astype("float32")
batch, num_tokens, channels = x.shape
num_heads = 2
head_dim = channels // num_heads
print("image:", image.shape, "-> tokens x:", x.shape,
      f"(batch, N={num_tokens}, C={channels}); {num_heads} heads of {head_dim}")

# %% [markdown]
# The package's layer, `focal_utils.MultiHeadSelfAttention`, is written with
# `keras.ops` so that each step can be read off. The score function is a
# separate helper:

# %%
print(inspect.getsource(focal_utils.attention_weights))
print(inspect.getsource(focal_utils.MultiHeadSelfAttention.call))

# %% [markdown]
# We build the layer and give it weights of a useful scale. The official
# initialisation (truncated normal, std 0.02) makes every score almost zero
# before training, so every weight would be $\approx 1/16$ and the picture
# below would be flat. A seeded normal with std $1/\sqrt{C}$ keeps the
# scores of order one. The layer has one joint projection `qkv` (its output
# is $[q \mid k \mid v]$, each $C$ wide, heads side by side) and an output
# projection `proj`.

# %%
# NBVAL_CHECK_OUTPUT
attention = focal_utils.MultiHeadSelfAttention(num_heads=num_heads, name="attention")
attention.build(x.shape)
rng = np.random.default_rng(0)
attention.set_weights([
    (rng.standard_normal(w.shape) / math.sqrt(channels)).astype("float32")
    for w in attention.get_weights()
])
for weight in attention.weights:
    print(f"{weight.path:22s} {tuple(weight.shape)}")

# %% [markdown]
# Now the computation by hand, with the layer's own weights. Shapes are in
# the comments; the two lines marked *interaction* and *aggregation* are
# $\mathcal{T}_1$ and $\mathcal{M}_1$.

# %%
# NBVAL_CHECK_OUTPUT
w_qkv, b_qkv, w_proj, b_proj = attention.get_weights()

qkv = ops.matmul(x, w_qkv) + b_qkv  # (1, 16, 144): one projection, three roles
q, k, v = ops.split(qkv, 3, axis=-1)  # each (1, 16, 48)


def split_heads(t):
    """(batch, N, C) -> (batch, heads, N, head_dim)."""
    t = ops.reshape(t, (batch, num_tokens, num_heads, head_dim))
    return ops.transpose(t, (0, 2, 1, 3))


q, k, v = split_heads(q), split_heads(k), split_heads(v)  # (1, 2, 16, 24)
scores = ops.matmul(q, ops.swapaxes(k, -1, -2)) / math.sqrt(head_dim)  # interaction
weights = ops.softmax(scores, axis=-1)  # (1, 2, 16, 16): each row sums to 1
mixed = ops.matmul(weights, v)  # aggregation: (1, 2, 16, 24)
merged = ops.reshape(ops.transpose(mixed, (0, 2, 1, 3)), (batch, num_tokens, channels))
y_manual = ops.matmul(merged, w_proj) + b_proj  # (1, 16, 48)

for name, t in [("qkv", qkv), ("q, k, v per head", q), ("scores", scores),
                ("weights", weights), ("weighted sum", mixed), ("y", y_manual)]:
    print(f"{name:17s} {tuple(t.shape)}")

# %% [markdown]
# The layer, called with `return_attention_scores=True`, gives the same
# output and the same weights:

# %%
y_layer, weights_layer = attention(x, return_attention_scores=True)
np.testing.assert_allclose(ops.convert_to_numpy(y_layer), ops.convert_to_numpy(y_manual),
                           rtol=1e-5, atol=1e-5)
np.testing.assert_allclose(ops.convert_to_numpy(weights_layer),
                           ops.convert_to_numpy(weights), rtol=1e-5, atol=1e-6)
row_sums = ops.convert_to_numpy(ops.sum(weights, axis=-1))
np.testing.assert_allclose(row_sums, 1.0, rtol=1e-5)
print("manual attention == MultiHeadSelfAttention; every row of weights sums to 1")
print("weights of query 5, head 0:", ops.convert_to_numpy(weights)[0, 0, 5].round(3))

# %% [markdown]
# The object to remember is `weights`: for each head, an $N \times N$ matrix
# with one row per query. Here it is 16x16; for a 224x224 image cut into
# 4x4 patches (FocalNet's and Swin's first stage) it would be
# $3136 \times 3136$ per head, per image, per layer.

# %% mystnb={"figure": {"caption": "Self-attention on the 16 tokens of a 16x16 photograph. Left: the tokens, 4x4-pixel patches. Middle: the 16x16 attention weights of head 0, one row per query; this matrix is what grows as N squared. Right: the row of the query marked in red, laid back on the 4x4 grid; every token receives some weight.", "name": "fig-attention-weights"}}
query = 5  # row 1, column 1 of the 4x4 grid
head0 = ops.convert_to_numpy(weights)[0, 0]
fig, axes = plt.subplots(1, 3, figsize=(10, 3.4))
axes[0].imshow(image, extent=(-0.5, grid - 0.5, grid - 0.5, -0.5))
axes[0].add_patch(plt.Rectangle((query % grid - 0.5, query // grid - 0.5), 1, 1,
                                fill=False, edgecolor="red", linewidth=2, zorder=3))
for edge in np.arange(grid - 1) + 0.5:  # patch boundaries
    axes[0].axhline(edge, color="white", linewidth=0.8)
    axes[0].axvline(edge, color="white", linewidth=0.8)
axes[0].set_title("16 tokens (4x4 patches)")
im = axes[1].imshow(head0, cmap="viridis")
axes[1].axhline(query, color="red", linewidth=1)
axes[1].set(title="weights, head 0 (N x N)", xlabel="key j", ylabel="query i",
            xticks=range(0, 16, 5), yticks=range(0, 16, 5))
fig.colorbar(im, ax=axes[1], fraction=0.046)
im = axes[2].imshow(head0[query].reshape(grid, grid), cmap="viridis")
axes[2].add_patch(plt.Rectangle((query % grid - 0.5, query // grid - 0.5), 1, 1,
                                fill=False, edgecolor="red", linewidth=2, zorder=3))
axes[2].set_title(f"row of query {query} on the grid")
fig.colorbar(im, ax=axes[2], fraction=0.046)
for ax in axes[[0, 2]]:
    ax.set_xticks(range(grid))
    ax.set_yticks(range(grid))
fig.tight_layout()
plt.show()

# %% [markdown] tags=["remove-cell"]
# *Figure: Self-attention on the 16 tokens of a 16x16 photograph. Left: the tokens, 4x4-pixel patches.
# Middle: the 16x16 attention weights of head 0, one row per query; this matrix is what grows as N
# squared. Right: the row of the query marked in red, laid back on the 4x4 grid; every token receives some
# weight.*

# %% [markdown]
# ## Focal modulation at a glance
#
# Focal modulation works on the same tokens laid out as the map they came
# from, `(batch, height, width, channels)`, because its aggregation is made
# of convolutions. The later chapters take it apart one piece at a time;
# here we only run `focal_utils.FocalModulation` with two focal levels
# (kernels 3 and 5, plus the global level) and look at what it produces.
# With `return_maps=True` the layer also returns the gates and the
# modulator:

# %%
# NBVAL_CHECK_OUTPUT
x_map = ops.reshape(x, (batch, grid, grid, channels))  # the same 16 tokens
modulation = focal_utils.FocalModulation(focal_level=2, name="modulation")
y_focal, maps = modulation(x_map, return_maps=True)
print("kernel sizes of the levels:", modulation.kernel_sizes)
print("input   ", tuple(x_map.shape))
print("output  ", tuple(y_focal.shape))
print("gates   ", tuple(maps["gates"].shape), " (batch, H, W, L + 1)")
print("modulator", tuple(maps["modulator"].shape), "(batch, H, W, C)")

# %% [markdown]
# The gates hold $L + 1 = 3$ numbers per location (one per level), the
# modulator $C$ numbers per location: everything is a map over the grid.
# The interaction $\mathcal{T}_2$ is then a single element-wise product. We
# redo it by hand from the returned modulator and the query part of the
# first projection `f` (whose output is $[q \mid z \mid g]$: query, context,
# gates), and compare with the layer's output:

# %%
w_f, b_f = modulation.f.get_weights()
q_map = (ops.matmul(x_map, w_f) + b_f)[..., :channels]  # query q(x_i): (1, 4, 4, 48)
y_by_hand = modulation.proj(q_map * maps["modulator"])  # T2: q * m, then proj
np.testing.assert_allclose(ops.convert_to_numpy(y_by_hand), ops.convert_to_numpy(y_focal),
                           rtol=1e-5, atol=1e-6)
print("proj(q * modulator) == FocalModulation output, shape", tuple(y_by_hand.shape))

# %% mystnb={"figure": {"caption": "What focal modulation keeps per location for the same 16 tokens (untrained layer). The gates are three 4x4 maps (levels 1 and 2 and the global level), the modulator is a 4x4 map of 48-channel vectors, drawn as its L2 norm. Every map has one entry per token: nothing is N x N.", "name": "fig-focal-maps"}}
gates = ops.convert_to_numpy(maps["gates"])[0]
modulator_norm = np.linalg.norm(ops.convert_to_numpy(maps["modulator"])[0], axis=-1)
panels = [gates[..., 0], gates[..., 1], gates[..., 2], modulator_norm]
titles = ["gate, level 1 (3x3)", "gate, level 2 (5x5)", "gate, global", "|modulator|"]
fig, axes = plt.subplots(1, 4, figsize=(11, 2.9))
for ax, panel, title in zip(axes, panels, titles):
    im = ax.imshow(panel, cmap="RdBu_r" if title.startswith("gate") else "viridis")
    ax.set(title=title, xticks=range(grid), yticks=range(grid))
    fig.colorbar(im, ax=ax, fraction=0.046)
fig.tight_layout()
plt.show()

# %% [markdown] tags=["remove-cell"]
# *Figure: What focal modulation keeps per location for the same 16 tokens (untrained layer). The gates
# are three 4x4 maps (levels 1 and 2 and the global level), the modulator is a 4x4 map of 48-channel
# vectors, drawn as its L2 norm. Every map has one entry per token: nothing is N x N.*

# %% [markdown]
# Where does this layer sit? The picture below is drawn from the book's CIFAR-10 model itself, not by hand:
# the stem turns the image into tokens, stages of blocks mix them, and every block holds one focal
# modulation layer. Chapters 2 to 6 build these pieces in this order.

# %% mystnb={"figure": {"caption": "The network this book builds (`focalnet_cifar`), drawn by `focal_utils.diagrams` from the model's own configuration: each stage is a stack of blocks, and each block holds one focal modulation layer, the layer of this chapter.", "name": "fig-network-overview"}}
from focal_utils import diagrams

fig, boxes = diagrams.draw_network(focal_utils.create_model("focalnet_cifar"))

# %% [markdown] tags=["remove-cell"]
# *Figure: The network this book builds (`focalnet_cifar`), drawn by `focal_utils.diagrams` from the
# model's own configuration: each stage is a stack of blocks, and each block holds one focal modulation
# layer, the layer of this chapter.*

# %% [markdown]
# ## The cost argument
#
# Count multiply-accumulates (MACs), the unit in which the FocalNet and Swin
# papers report "FLOPs", for one image with $N$ tokens and $C$ channels.
#
# **Self-attention.** The projections to $q, k, v$ and the output
# projection cost $4NC^2$. The interaction computes $N^2$ scores of length
# $d$ per head, $N^2 C$ over all heads, and the aggregation the same again
# for the weighted sum: in total ([Liu et al., 2021](../bibliography.md))
#
# $$
# \Omega_\text{attention} = 4NC^2 + 2N^2C .
# $$
#
# **Focal modulation.** The projection `f` to $2C + L + 1$ channels, the
# 1x1 `h` and the output projection together cost about $4NC^2$ as well.
# Each depthwise level with kernel $k_\ell$ costs $NC k_\ell^2$ (plus $NC$
# for its gate), the global level $NC$:
#
# $$
# \Omega_\text{focal} = NC(2C + L + 1) + NC\textstyle\sum_\ell (k_\ell^2 + 1)
# + NC + NC(C + 1) + NC^2 \;\approx\; 4NC^2 + NC\textstyle\sum_\ell k_\ell^2 .
# $$
#
# The projections are the same for both and linear in $N$. The difference is
# the term $2N^2C$ against $NC\sum_\ell k_\ell^2$: attention pays $2N$ MACs
# per token and channel, focal modulation a constant ($41$ for kernels 3 and
# 5). So attention already costs more from $N = 21$ tokens on, and the gap
# grows linearly with $N$. Memory tells the same story: the attention
# weights are $h N^2$ numbers per image, while focal modulation's largest
# tensor is the output of `f`, $N(2C + L + 1)$ numbers.
#
# The two functions below are the ones the benchmark uses; the focal count is
# the one `focal_utils.count_flops` uses for whole models (a unit test keeps
# the two equal).

# %%
print(inspect.getsource(flops.attention_flops))
print(inspect.getsource(flops.focal_modulation_flops))

# %% [markdown]
# The table uses the sizes of the benchmark below: $C = 96$ channels and 3
# heads, the first stage of FocalNet-T and Swin-T, whose token grid is
# 56x56 for a 224x224 image. (ViT-B/16 keeps its grid at 14x14 by cutting
# 16x16 patches.)

# %%
# NBVAL_CHECK_OUTPUT
C, HEADS, LEVELS = 96, 3, 2
print(f"{'grid':>6s} {'N':>5s} {'attention':>11s} {'focal mod.':>11s} {'ratio':>6s}"
      f" {'attn weights':>13s} {'focal f(x)':>11s}")
print(f"{'':>6s} {'':>5s} {'MMACs':>11s} {'MMACs':>11s} {'':>6s} {'MiB':>13s} {'MiB':>11s}")
for side in (7, 14, 28, 56, 64):
    n = side * side
    macs_attention = flops.attention_flops(n, C)
    macs_focal = flops.focal_modulation_flops(n, C, LEVELS)
    weights_mib = HEADS * n * n * 4 / 2**20  # float32
    f_mib = n * (2 * C + LEVELS + 1) * 4 / 2**20
    print(f"{side:>3d}x{side:<2d} {n:>5d} {macs_attention / 1e6:>11.1f} {macs_focal / 1e6:>11.1f}"
          f" {macs_attention / macs_focal:>6.2f} {weights_mib:>13.2f} {f_mib:>11.2f}")
crossing = next(n for n in range(1, 100)
                if flops.attention_flops(n, C) > flops.focal_modulation_flops(n, C))
print(f"attention needs more MACs than focal modulation from N = {crossing} tokens on")

# %% [markdown]
# At 7x7 the two are nearly even (1.13x); at 56x56 attention needs 15.7x the
# MACs, and its attention weights dwarf focal modulation's (the table above). Counting,
# however, is not measuring: a CPU does not run every MAC at the same speed,
# small tensors pay fixed costs per operation, and memory traffic matters as
# much as arithmetic. So we measure.

# %% [markdown]
# ## Measured: time and memory on this machine
#
# `focal_utils.benchmarks.compare_token_mixers` builds a fresh layer of each
# kind for every grid size, with the same $C = 96$ channels, and feeds it
# random tokens: `(batch, N, C)` for attention, `(batch, side, side, C)` for
# focal modulation. For each it
#
# - compiles the inference call (`tf.function` on TensorFlow, `jax.jit` on
#   JAX), so that we time the computation and not Python;
# - runs one untimed warm-up call (which traces the graph) and measures the
#   peak memory of one more call with `peak_memory`;
# - times it with `time_interleaved`: 7 timed repeats, reported as the
#   **median**. Calls faster than 50 ms are run several times within each
#   repeat (and averaged), so that the clock's resolution matters less.
#
# This CPU may be shared with other work, which makes single timings
# unreliable in two ways. A repeat can be slowed down by a burst of load:
# the median ignores it. And the load can drift for seconds, long enough to
# slow every repeat of one grid size if the sizes were timed one after the
# other: so the repeats go round-robin, one repeat of every layer and grid
# per round, and a drift is shared by all of them.
#
# Peak memory is measured by `peak_memory`, in a way that depends on the allocator; the details are
# folded below, and the two measuring functions follow.
#
# <details>
# <summary><b>Aside: how peak memory is measured on a CPU</b> (click to open)</summary>
#
# <p>Peak memory on a CPU has no single portable counter, and the naive one fails. TensorFlow's default CPU
# allocator on x86 Linux (oneDNN builds, Colab included) keeps freed memory in a pool, so the resident
# memory of the process does not grow on a repeated call even when the call needs hundreds of megabytes.
# Where that allocator is in use, we read its own statistics, reset before the call; otherwise (NumPy, JAX,
# TensorFlow with <code>TF_ENABLE_ONEDNN_OPTS=0</code>) we reset the kernel's resident-memory high-water
# mark with <code>echo 5 &gt; /proc/self/clear_refs</code> and read <code>VmHWM</code> after the call. Both
# measure the bytes needed beyond the inputs and the weights.</p>
#
# <p>Two limits: the allocator's statistics skip blocks of 256 KiB or less (a separate pool serves them; the
# smallest grids read 0 bytes, which the log-log plot leaves out), and on macOS or Windows neither method
# exists, so memory is reported as <code>None</code> with a warning.</p>
#
# </details>

# %%
print(inspect.getsource(memory._peak_tensorflow))
print(inspect.getsource(memory._peak_vmhwm))
print("method used on this machine:", memory.memory_method())

# %% [markdown]
# The grids run from 7x7 (49 tokens) to 64x64 (4096 tokens). The batch is 4
# images: at 64x64 the attention weights alone are
# $4 \times 3 \times 4096^2 \times 4$ bytes $= 768$ MiB, so a larger batch
# would need several gigabytes. The cell prints how long the whole run took.

# %%
GRIDS = [7, 14, 21, 28, 42, 56, 64]
BATCH = 4
bench_start = time.perf_counter()
rows = benchmarks.compare_token_mixers(GRIDS, channels=C, num_heads=HEADS,
                                       batch_size=BATCH, focal_level=LEVELS, repeats=7,
                                       min_repeat_seconds=0.05)
print(f"{len(rows)} measurements over {len(GRIDS)} grids in "
      f"{time.perf_counter() - bench_start:.0f} s")

# %%
time_ratio = benchmarks.ratios(rows, "seconds")
memory_ratio = benchmarks.ratios(rows, "peak_bytes")
by_key = {(row["grid"], row["mixer"]): row for row in rows}


def mib(value):
    return "n/a" if value is None else f"{value / 2**20:.1f}"


print(f"{'grid':>6s} {'N':>5s} | {'attention':>10s} {'focal mod.':>10s} {'ratio':>6s} |"
      f" {'attention':>10s} {'focal mod.':>10s}")
print(f"{'':>6s} {'':>5s} | {'ms':>10s} {'ms':>10s} {'':>6s} | {'MiB':>10s} {'MiB':>10s}")
for side in GRIDS:
    attn, focal = by_key[side, "attention"], by_key[side, "focal_modulation"]
    print(f"{side:>3d}x{side:<2d} {attn['tokens']:>5d} | {attn['seconds'] * 1e3:>10.2f}"
          f" {focal['seconds'] * 1e3:>10.2f} {time_ratio[side]:>6.1f} |"
          f" {mib(attn['peak_bytes']):>10s} {mib(focal['peak_bytes']):>10s}")

# %% [markdown]
# Each column is then summarised by the exponent $b$ of a power law
# $\text{cost} \approx a N^b$, fitted by least squares on log-log axes
# (`benchmarks.loglog_fit`). On such axes a power law is a straight line
# whose slope is $b$: 2 for a quadratic cost, 1 for a linear one. We fit the
# grids from 28x28 (784 tokens) up, because below that fixed per-call costs
# dominate, and print the slope of the MAC counts over the same range for
# reference: attention's is not yet 2 there, since its $4NC^2$ projections
# still count.

# %%
FIT_FROM = 28 * 28
fits = {value: benchmarks.fit_slopes(rows, value, min_tokens=FIT_FROM)
        for value in ("seconds", "peak_bytes", "flops")}
for value, label in [("seconds", "time"), ("peak_bytes", "peak memory"),
                     ("flops", "MACs (counted)")]:
    slopes = ", ".join(f"{mixer} {fit[0]:.2f}" for mixer, fit in fits[value].items())
    print(f"log-log slope of {label:15s} for N >= {FIT_FROM}: {slopes or 'n/a'}")
for side in (56, 64):
    memory = f", memory x{memory_ratio[side]:.1f}" if side in memory_ratio else ""
    print(f"{side}x{side}: attention / focal modulation: time x{time_ratio[side]:.1f}{memory}")

# %% mystnb={"figure": {"caption": "Forward time (left) and peak memory (right) of multi-head self-attention and focal modulation with 96 channels, batch 4, as the token grid grows from 7x7 to 64x64, on log-log axes. Dashed lines: the power laws fitted from 28x28 up, with their slopes in the legend: a slope of 2 means quadratic growth, 1 linear. Measured on this machine; the numbers vary from run to run.", "name": "fig-benchmark"}}
COLORS = {"attention": "tab:red", "focal_modulation": "tab:blue"}
LABELS = {"attention": "self-attention", "focal_modulation": "focal modulation"}
fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
for ax, value, unit, scale in [(axes[0], "seconds", "forward time (ms)", 1e3),
                               (axes[1], "peak_bytes", "peak memory (MiB)", 2.0**-20)]:
    for mixer in benchmarks.MIXERS:
        points = [(r["tokens"], r[value] * scale) for r in rows
                  if r["mixer"] == mixer and r[value]]
        if not points:
            continue
        tokens, values = np.array(points).T
        label = LABELS[mixer]
        if mixer in fits[value]:
            slope, intercept = fits[value][mixer]
            fitted = np.array([t for t in tokens if t >= FIT_FROM])
            ax.plot(fitted, np.exp(intercept) * fitted**slope * scale, "--",
                    color=COLORS[mixer], linewidth=1)
            label += f" (slope {slope:.2f})"
        ax.plot(tokens, values, "o-", color=COLORS[mixer], label=label)
    if not ax.lines:
        ax.text(0.5, 0.5, "no memory measurement on this system", ha="center",
                transform=ax.transAxes)
    ax.set(xscale="log", yscale="log", ylabel=unit,
           xlabel="tokens N (log scale; grid side x side)")
    ax.set_xticks([s * s for s in GRIDS], [f"{s}x{s}" for s in GRIDS], rotation=45)
    ax.minorticks_off()
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="upper left")
axes[0].set_title("time of one forward pass (median)")
axes[1].set_title("peak memory of one forward pass")
fig.tight_layout()
plt.show()

# %% [markdown] tags=["remove-cell"]
# *Figure: Forward time (left) and peak memory (right) of multi-head self-attention and focal modulation
# with 96 channels, batch 4, as the token grid grows from 7x7 to 64x64, on log-log axes. Dashed lines: the
# power laws fitted from 28x28 up, with their slopes in the legend: a slope of 2 means quadratic growth, 1
# linear. Measured on this machine; the numbers vary from run to run.*

# %% [markdown]
# The numbers in the table and the figure change from run to run, and more so
# on a shared machine, but their shape does not. The cell below checks only
# facts that hold on any reasonable CPU: from 28x28 up, attention's time and
# memory grow with a clearly larger exponent than focal modulation's, it is
# slower at 56x56 and 64x64, and its peak memory holds at least the
# attention weights that we predicted above.

# %%
seconds_fit, memory_fit = fits["seconds"], fits["peak_bytes"]
assert seconds_fit["attention"][0] > seconds_fit["focal_modulation"][0] + 0.5, seconds_fit
assert time_ratio[56] > 2 and time_ratio[64] > 2, time_ratio
if {"attention", "focal_modulation"} <= set(memory_fit):
    assert memory_fit["attention"][0] > memory_fit["focal_modulation"][0] + 0.5, memory_fit
    predicted_weights = BATCH * HEADS * 4096**2 * 4
    assert by_key[64, "attention"]["peak_bytes"] >= predicted_weights
first_slower = next(side for side in GRIDS if all(time_ratio[s] > 1 for s in GRIDS
                                                  if s >= side))
print(f"attention is slower than focal modulation from {first_slower}x{first_slower} on"
      " in this run")

# %% [markdown]
# **Reading the plot.** At the smallest grids the two curves nearly touch.
# A 7x7 map of 4 images is so little work (about 2 million MACs per image
# for either) that each layer takes about a millisecond, most of it the
# fixed cost of launching operations, and focal modulation launches more, smaller ones
# (slices, two depthwise convolutions, GELUs, a mean, products) than
# attention's few matrix products. There the ratio is close to 1 and tips
# either way from run to run, so the crossing that the MAC count puts at 21
# tokens, below our smallest grid, is blurred on a real machine: the
# curves meet somewhere between 7x7 and 21x21 (the printed line above says
# where in this run) and separate from there. From 21x21 on, attention is
# clearly slower in every run, and the gap widens with every step.
#
# **The slopes.** Focal modulation's time and memory grow with a slope
# near 1: every tensor it makes has one row per token, so twice the tokens
# cost about twice the time. (Its time slope is the noisier of the two: its
# calls take only milliseconds, so a busy machine moves them the most.)
# Attention's time slope approaches 2 and can exceed the 1.89 of its MAC
# count: once the $N \times N$ weights no longer fit in the processor's
# caches, the softmax and the weighted sum stream hundreds of megabytes
# through main memory, and time grows faster than the arithmetic. Its
# memory slope stays under 2: the projections and the output still take a
# linear share, and at the largest grids the peak is barely more than one
# copy of the $N \times N$ weights (at the largest grid), because TensorFlow
# lets element-wise steps such as the scaling and the softmax write into
# their input's buffer when nothing else needs it. At 56x56, the first
# stage of FocalNet-T, attention takes several times to an order of
# magnitude more time, and many times the memory, for the same job.
# This is the cost that made Swin restrict attention to local windows
# ([Liu et al., 2021](../bibliography.md)), and that focal modulation avoids by aggregating
# first: its global context comes from one average over the map, not from
# $N^2$ comparisons.

# %%
run_seconds = timer.stop()  # the chapter's run time, also written under the setup cell

# %% [markdown]
# ## Summary
#
# - Self-attention is *interaction, then aggregation*: each query is scored
#   against every key ($\mathcal{T}_1$), and the values are summed with the
#   softmax weights ($\mathcal{M}_1$). Our from-scratch version with
#   `keras.ops` matches `focal_utils.MultiHeadSelfAttention` with the same
#   weights.
# - Focal modulation is *aggregation, then interaction*: the context of each
#   location is gathered into a modulator by depthwise convolutions, a global
#   average and gates ($\mathcal{M}_2$), then multiplied element-wise into
#   the query ($\mathcal{T}_2$); `proj(q * modulator)` reproduces the layer.
# - Counted in MACs, attention costs $4NC^2 + 2N^2C$ and focal modulation
#   about $4NC^2 + NC\sum_\ell k_\ell^2$: the same projections, but a
#   quadratic against a linear mixing term; attention's $h N^2$ weights are
#   its largest tensor.
# - Measured here with 96 channels and batch 4, the fitted log-log slopes
#   from 28x28 up are close to 2 for attention and close to 1 for focal
#   modulation, in time and in memory. The curves meet at the smallest
#   grids, where fixed per-operation costs dominate; at 56x56 attention is
#   several times to an order of magnitude slower and needs many times
#   the memory.
# - Measuring peak memory on a CPU needs care: pooling allocators hide
#   reused memory from the process's resident size, so we read the
#   allocator's statistics when it keeps them and `VmHWM` otherwise.
#
# ## Exercises
#
# 1. Give the attention layer the official initialisation (rebuild it
#    without `set_weights`) and redraw the middle panel of the first figure.
#    Why are the weights so uniform, and what does this say about attention
#    at the start of training?
# 2. Rerun the benchmark with `channels=192` and 6 heads (FocalNet-T's
#    second stage). Where does the MAC count say the curves should cross
#    now, and where do the measured curves cross?
# 3. Attention within non-overlapping 7x7 windows (Swin) costs
#    $4NC^2 + 2 \cdot 49 NC$. Implement it by reshaping the `(B, H, W, C)`
#    map into windows and calling `MultiHeadSelfAttention` on each window as
#    a batch; time it with `benchmarks.time_forward` and fit its slope.
# 4. Set `os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"` before importing Keras
#    in a fresh kernel and rerun the benchmark. Which memory method does
#    `memory.memory_method()` pick now, and how do the times change?
#
# ## References
#
# Full entries with every chapter that cites them: the [bibliography](../bibliography.md).
#
# ```{bibliography}
# :filter: key in {"dosovitskiy2021image", "liu2021swin", "vaswani2017attention", "yang2022focal"}
# ```
