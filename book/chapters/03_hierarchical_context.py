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
# # 3. Hierarchical contextualisation
#
# Self-attention lets every token look at every other token. Focal
# modulation gets its context differently: it first summarises the
# neighbourhood of every token at several sizes, with a stack of cheap
# depthwise convolutions, and only then lets each token pick from these
# summaries. This chapter builds the first half, the *hierarchical
# contextualisation*, one step at a time: the linear projection that makes
# the query, the context and the gates; the depthwise levels, each followed
# by an exact GELU and each fed by the one before; and the global level. We
# rebuild all of it by hand from the weights of the package's
# `FocalModulation` layer and check every intermediate against it. Then we
# measure, with gradients, how far each level can see.
#
# From the previous chapter you need the patch embedding (images become a
# `(batch, height, width, channels)` grid of tokens). The note under the
# setup cell gives the chapter's run time, measured by its last code cell.

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

import keras
import matplotlib.pyplot as plt
import numpy as np
from keras import ops

from focal_utils import FocalModulation, PatchEmbedding
from focal_utils.analysis import (
    level_contexts,
    receptive_field,
    receptive_field_extent,
    receptive_field_radius,
    theoretical_receptive_fields,
    value_and_input_gradient,
)
from focal_utils.registry import CIFAR10_MEAN, CIFAR10_STD
from focal_utils.timing import ChapterTimer
from focal_utils.viz import load_sample_image, overlay, receptive_field_plot
from focal_utils.widgets import FrameStepper

keras.utils.set_random_seed(0)
timer = ChapterTimer(CHAPTER_START)  # a note here, which the last code cell fills in
print("keras", keras.__version__, "on", keras.backend.backend())

# %% [markdown]
# ## The paper's idea
#
# For a token $x_i$ the FocalNet paper writes focal modulation as
# ([Yang et al., 2022](../bibliography.md))
#
# $$
# y_i = q(x_i) \odot h\Big(\sum_{\ell=1}^{L+1} g_i^{\ell} \, z_i^{\ell}\Big),
# $$
#
# where $q$ is a linear query, $z^{\ell}$ is the context at focal level
# $\ell$, $g^{\ell}$ a gate and $h$ a linear map. This chapter is about the
# $z^{\ell}$. They are built recursively from $Z^0 = f_z(X)$, a linear
# projection of the input:
#
# $$
# Z^{\ell} = \mathrm{GELU}\big(\mathrm{DWConv}_{\ell}(Z^{\ell - 1})\big),
# \quad \ell = 1, \dots, L,
# \qquad
# Z^{L+1} = \mathrm{GELU}\big(\mathrm{AvgPool}(Z^{L})\big).
# $$
#
# Level $\ell$'s depthwise convolution has kernel size
# $k_\ell = \text{focal\_factor} \cdot (\ell - 1) + \text{focal\_window}$: 3,
# 5 and 7 with the defaults (`focal_window=3`, `focal_factor=2`). Because
# each level convolves the previous level's output, the region a level sees
# grows faster than its own kernel.
#
# **How the book counts.** Focal levels are counted as in the paper, from 1: level 1 is the first
# depthwise convolution (3x3), level $L$ the last, level $L + 1$ the global one, and $Z^0$ the projected
# input they start from. Python counts from 0, so in code the gate of level $\ell$ is `gates[..., ℓ - 1]`
# and its kernel `kernel_sizes[ℓ - 1]`. Stages and blocks are counted from 0 everywhere, in the text, the
# figures and the code's keys (`stage_0/block_0` is the first block of the first stage), because they
# exist only in code. Every chapter uses these two conventions.
#
# ## Tokens to work on
#
# We take three small real pictures (they ship with matplotlib, in place of
# CIFAR-10 samples), standardise them with the CIFAR-10 statistics and embed
# them with a 2x2 patch embedding into 16x16 tokens of 64 channels: exactly
# what the first block of the book's CIFAR-10 model receives.

# %%
# NBVAL_CHECK_OUTPUT
names = ["grace_hopper", "grace_hopper_face", "present"]
images = np.stack([load_sample_image(name, size=32) for name in names])
pixels = (images * 255.0 - np.array(CIFAR10_MEAN)) / np.array(CIFAR10_STD)
x = ops.convert_to_numpy(PatchEmbedding(64, patch_size=2)(pixels.astype("float32")))
print("images:", images.shape, "-> tokens x:", x.shape)

# %% [markdown]
# The layer under study is the package's `FocalModulation` with three focal
# levels, the "large receptive field" (LRF) setting of the paper. Its
# weights, after building it on our tokens:

# %%
# NBVAL_CHECK_OUTPUT
layer = FocalModulation(focal_level=3, focal_window=3, focal_factor=2)
out = layer(x)
print("kernel sizes:", layer.kernel_sizes)
for weight in layer.weights:
    print(f"  {weight.path:42s} {tuple(weight.shape)}")
print("output:", tuple(out.shape), " parameters:", layer.count_params())

# %% [markdown]
# Here is the layer's `call`. This chapter follows it down to the line
# `ctx_global = ...`; the gated sum and the modulator are the next chapter's
# subject, though we reuse them at the end to check the whole layer.

# %%
print(inspect.getsource(FocalModulation.call))

# %% [markdown]
# The `gelu` in it is the package's exact GELU, `keras.ops.gelu(x, approximate=False)`, which on TensorFlow
# runs as one fused loop forward and one backward (`focal_utils.layers.fused`; Chapter 7 measures what that
# buys); Step 2 below checks it against the formula.
#
# ## Step 1: one projection, three roles
#
# A single linear map `f` (a `Dense` with bias) takes each token's $C = 64$
# channels to $2C + L + 1 = 132$ numbers, which are split in this order:
# the query $q$ ($C$), the initial context $Z^0$ ($C$) and the $L + 1$ gates.
# One matrix product instead of three is only an implementation choice; the
# order of the split is what matters when weights are shared with the
# official code. We redo it with numpy and the layer's own weights.

# %%
# NBVAL_CHECK_OUTPUT
C, L = x.shape[-1], layer.focal_level
W_f, b_f = (ops.convert_to_numpy(w) for w in layer.f.weights)
projected = x @ W_f + b_f
q, z0, gates = projected[..., :C], projected[..., C:2 * C], projected[..., 2 * C:]
print("f kernel:", W_f.shape, " bias:", b_f.shape)
print("projected:", projected.shape, "->  q", q.shape, " Z^0", z0.shape,
      " gates", gates.shape)

# %%
parts = level_contexts(layer, x)        # the package's measurement helper
for name, mine in [("query", q), ("context", z0), ("gates", gates)]:
    np.testing.assert_allclose(mine, ops.convert_to_numpy(parts[name]), rtol=1e-5, atol=1e-5)
print("q, Z^0 and gates by hand == the layer's f, split: ok")

# %% [markdown]
# `level_contexts` (in `focal_utils.analysis`) runs the layer's own
# sublayers and returns every intermediate; we use it as the reference for
# the hand-made steps below, and the tests of the package check it against
# the layer's output.
#
# ## Step 2: depthwise convolutions, level by level
#
# A depthwise convolution filters each channel on its own with its own
# $k \times k$ kernel: no mixing across channels, $k^2 C$ weights instead of
# the $k^2 C^2$ of a full convolution. With stride 1 and "same" zero padding,
# the token grid keeps its size. Written out, it is a sum of $k^2$ shifted
# copies of the input, each scaled per channel. We write exactly that in
# numpy, with no framework convolution.

# %%
def depthwise_same(z, kernel):
    """Depthwise conv, stride 1, zero 'same' padding. z (B,H,W,C), kernel (k,k,C,1)."""
    k = kernel.shape[0]
    r = k // 2
    height, width = z.shape[1:3]
    padded = np.pad(z, ((0, 0), (r, r), (r, r), (0, 0)))
    out = np.zeros_like(z)
    for dy in range(k):
        for dx in range(k):
            out += padded[:, dy:dy + height, dx:dx + width, :] * kernel[dy, dx, :, 0]
    return out


def gelu_exact(v):
    """x * Phi(x), with Phi the standard normal CDF (Hendrycks and Gimpel, 2016)."""
    return 0.5 * v * (1.0 + ops.convert_to_numpy(ops.erf(v / np.sqrt(2.0))))


# %% [markdown]
# Each level takes the previous level's output, applies its depthwise
# kernel and the exact GELU ([Hendrycks and Gimpel, 2016](../bibliography.md)). We print the shapes
# and the parameter count of each level and compare with the layer.

# %%
# NBVAL_CHECK_OUTPUT
levels_by_hand, z = [], z0
for level, focal_layer in enumerate(layer.focal_layers):
    kernel = ops.convert_to_numpy(focal_layer.kernel)
    z = gelu_exact(depthwise_same(z, kernel))
    levels_by_hand.append(z)
    print(f"level {level + 1}: kernel {kernel.shape}  ({kernel.size:5d} weights)  "
          f"Z^{level} {z0.shape if level == 0 else levels_by_hand[level - 1].shape}"
          f" -> Z^{level + 1} {z.shape}")

# %%
for level, (mine, ref) in enumerate(zip(levels_by_hand, parts["levels"])):
    np.testing.assert_allclose(mine, ops.convert_to_numpy(ref), rtol=1e-4, atol=1e-5)
    rel = np.abs(mine - ops.convert_to_numpy(ref)).max() / np.abs(mine).max()
    print(f"level {level + 1}: numpy depthwise conv + exact GELU == layer "
          f"(max |diff| / max |value| = {rel:.1e})")

# %% [markdown]
# ## Why the exact GELU
#
# GELU is $x \, \Phi(x)$ with $\Phi$ the standard normal CDF. Its paper also
# gives a cheaper approximation, $0.5\,x\,\big(1 + \tanh[\sqrt{2/\pi}\,(x +
# 0.044715\,x^3)]\big)$ ([Hendrycks and Gimpel, 2016](../bibliography.md)). PyTorch's `nn.GELU()`,
# which the official FocalNet uses everywhere, is the exact one by default.
# Keras is split: `keras.activations.gelu` defaults to exact, but
# `keras.ops.gelu` defaults to `approximate=True`, the tanh form. The keras-io
# example calls `keras.ops.gelu` for its global level and so gets the
# approximation without asking for it ([Gosthipaty and Raha, 2023](../bibliography.md)). The
# package always passes `approximate=False`.

# %%
print("keras.ops.gelu defaults:        ", inspect.signature(ops.gelu))
print("keras.activations.gelu defaults:", inspect.signature(keras.activations.gelu))
grid = np.linspace(-6, 6, 12001).astype("float32")
exact = ops.convert_to_numpy(ops.gelu(grid, approximate=False))
approx = ops.convert_to_numpy(ops.gelu(grid, approximate=True))
diff = approx - exact
worst = np.abs(diff).argmax()
print(f"max |tanh - exact| on [-6, 6]: {np.abs(diff).max():.2e} at x = {grid[worst]:+.2f}")
np.testing.assert_allclose(gelu_exact(grid), exact, atol=1e-6)
print("our gelu_exact == keras.ops.gelu(approximate=False): ok")
from focal_utils.layers.fused import gelu as package_gelu  # what FocalModulation.call uses

np.testing.assert_allclose(ops.convert_to_numpy(package_gelu(grid)), exact, atol=1e-6)
print(f"the package's gelu == keras.ops.gelu(approximate=False) on {keras.backend.backend()}: ok")

# %% mystnb={"figure": {"caption": "Left: exact GELU and its tanh approximation, indistinguishable at this scale. Right: their difference, small but not zero.", "name": "fig-gelu"}}
fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
axes[0].plot(grid, exact, label="exact: x Phi(x)")
axes[0].plot(grid, approx, "--", label="tanh approximation")
axes[0].set_xlabel("x")
axes[0].legend(fontsize=8)
axes[1].plot(grid, diff, color="C3")
axes[1].axhline(0, color="gray", lw=0.5)
axes[1].set_xlabel("x")
axes[1].set_title("tanh approximation - exact", fontsize=9)
fig.tight_layout()
plt.show()

# %% [markdown] tags=["remove-cell"]
# *Figure: Left: exact GELU and its tanh approximation, indistinguishable at this scale. Right: their
# difference, small but not zero.*

# %% [markdown]
# The two agree to within $5 \cdot 10^{-4}$, and far better near 0 (both
# are $x/2 + x^2/\sqrt{2\pi} + O(x^4)$ there); the gap is largest around
# $|x| \approx 2.7$. So why care? Because the gap is systematic and it
# compounds through levels and blocks, and a model trained with one form and
# run with the other computes a slightly different function. To see the
# size of the effect where it matters, we run the three levels on contexts of
# unit scale, the order of a trained network's activations (we standardise
# each level's input; an untrained layer's contexts are much smaller, and
# there the two forms agree almost exactly), once with each GELU:

# %%
def run_levels(approximate):
    z, outs = z0 / z0.std(), []
    for focal_layer in layer.focal_layers:
        h = depthwise_same(z, ops.convert_to_numpy(focal_layer.kernel))
        z = ops.convert_to_numpy(ops.gelu(h / h.std(), approximate=approximate))
        outs.append(z)
    return outs


for level, (e, a) in enumerate(zip(run_levels(False), run_levels(True))):
    print(f"level {level + 1}: tanh vs exact GELU, relative difference "
          f"{np.linalg.norm(a - e) / np.linalg.norm(e):.1e}, max |diff| {np.abs(a - e).max():.1e}")

# %% [markdown]
# A few parts in $10^4$ relative at every level, and the largest single
# difference grows from $5 \cdot 10^{-4}$ to $2 \cdot 10^{-3}$ over the three
# levels: harmless for training from
# scratch, but three orders of magnitude above float32 round-off, which is
# the tolerance at which this book checks its layers. Loading official
# weights and reproducing their published accuracy needs the function they
# were trained with, so the package matches it exactly.
#
# ## Step 3: the global level
#
# The last level has seen a 13x13 neighbourhood. To give every token a
# summary of the whole image as well, the global level averages the last
# level over all positions and applies GELU once more: one vector per image,
# shape `(B, 1, 1, C)`, which broadcasts to every token when it is added to
# the others.

# %%
# NBVAL_CHECK_OUTPUT
z_global = gelu_exact(levels_by_hand[-1].mean(axis=(1, 2), keepdims=True))
print("Z^L", levels_by_hand[-1].shape, "-> mean over (H, W) -> GELU -> Z^(L+1)", z_global.shape)
np.testing.assert_allclose(z_global, ops.convert_to_numpy(parts["global"]), rtol=1e-4, atol=1e-6)
print("global context by hand == layer: ok")

# %% [markdown]
# ## Checking the whole layer
#
# With all $L + 1$ contexts built by hand, the rest of the layer is short
# (the next chapter explains it): weight each context by its gate and sum,
# map the sum with $h$ (a per-token linear map, the official 1x1
# convolution), multiply with the query, and project. If every piece above
# is right, this reproduces the layer's output.

# %%
W_h, b_h = (ops.convert_to_numpy(w) for w in layer.h.weights)
W_p, b_p = (ops.convert_to_numpy(w) for w in layer.proj.weights)
aggregated = sum(levels_by_hand[l] * gates[..., l:l + 1] for l in range(L))
aggregated = aggregated + z_global * gates[..., L:]
modulator = aggregated @ W_h + b_h
y = (q * modulator) @ W_p + b_p
y_layer, maps = layer(x, return_maps=True)
np.testing.assert_allclose(modulator, ops.convert_to_numpy(maps["modulator"]), rtol=1e-4, atol=1e-5)
np.testing.assert_allclose(y, ops.convert_to_numpy(y_layer), rtol=1e-4, atol=1e-5)
print("output:", y.shape, " max |by hand - FocalModulation| / max |output| = "
      f"{np.abs(y - ops.convert_to_numpy(y_layer)).max() / np.abs(y).max():.1e}")

# %% [markdown]
# ## What each level looks like
#
# The contexts are 64-channel maps; a simple way to look at one is its
# length per token, $\lVert Z^{\ell}_i \rVert$, drawn over the picture. The
# 16x16 token map is upsampled bilinearly and drawn on the image's own pixel
# extent, so each token's value sits over the 2x2 patch it came from
# (`focal_utils.viz.overlay`). The layer is untrained, so these maps show
# only geometry: each level is a smoother, wider summary than the last.

# %% mystnb={"figure": {"caption": "Length of the context vector per token, for the projected context Z^0 and the three focal levels of an untrained layer, drawn over the 32x32 pictures (bilinear upsampling, registered on the image's pixel grid). Each level blurs more than the one before.", "name": "fig-level-maps"}}
contexts = [z0] + levels_by_hand
fig, axes = plt.subplots(len(images), len(contexts) + 1, figsize=(11, 6.6))
for row, image in enumerate(images):
    axes[row, 0].imshow(image)
    axes[row, 0].set_xticks([])
    axes[row, 0].set_yticks([])
    for col, ctx in enumerate(contexts, start=1):
        norm = np.linalg.norm(ctx[row], axis=-1)
        overlay(image, norm, ax=axes[row, col], alpha=0.6, cmap="viridis",
                title=("Z^0 (projection)" if col == 1 else
                       f"level {col - 1}: k={layer.kernel_sizes[col - 2]}") if row == 0 else None)
axes[0, 0].set_title("input", fontsize=9)
fig.tight_layout()
plt.show()

# %% [markdown] tags=["remove-cell"]
# *Figure: Length of the context vector per token, for the projected context Z^0 and the three focal
# levels of an untrained layer, drawn over the 32x32 pictures (bilinear upsampling, registered on the
# image's pixel grid). Each level blurs more than the one before.*

# %% [markdown]
# ## How far each level sees: measured receptive fields
#
# A stride-1 convolution with kernel $k$ widens what a position depends on
# by $k - 1$, i.e. by $\lfloor k/2 \rfloor$ on each side. Stacked, level
# $\ell$ sees a square of side $1 + \sum_{i \le \ell} (k_i - 1)$: 3, then
# $3 + 5 - 1 = 7$, then $7 + 7 - 1 = 13$. The GELU in between does not
# change this reach (it acts per position).
#
# Rather than trust the arithmetic we measure it. The receptive field of
# output position $p$ is the set of inputs with non-zero $\partial y_p /
# \partial x$: we differentiate the sum over channels of one level's output
# at the centre position with respect to the layer's input, for a random
# input of 32x32 tokens (`focal_utils.analysis.receptive_field`, which uses
# TensorFlow's `GradientTape` or `jax.grad` depending on the Keras backend;
# here is the function that hides the difference).

# %%
print(inspect.getsource(value_and_input_gradient))

# %%
# NBVAL_CHECK_OUTPUT
size, centre = 32, (16, 16)
shape = (1, size, size, C)
theory = theoretical_receptive_fields(layer.kernel_sizes)
grads, radius = [], 0
for level, kernel in enumerate(layer.kernel_sizes):
    radius += kernel // 2
    grad = receptive_field(lambda t, l=level: level_contexts(layer, t)["levels"][l],
                           shape, centre)
    grads.append(grad)
    measured = receptive_field_extent(grad)
    print(f"level {level + 1}: kernel {kernel}  theory {theory[level]}x{theory[level]} "
          f"(radius {radius})  measured {measured[0]}x{measured[1]} "
          f"(radius {receptive_field_radius(grad, centre)})")
    assert measured == (theory[level], theory[level]) == (2 * radius + 1,) * 2
    assert receptive_field_radius(grad, centre) == radius
grad_global = receptive_field(lambda t: level_contexts(layer, t)["global"], shape, (0, 0))
grad_layer = receptive_field(layer, shape, centre)
print("global level: measured", receptive_field_extent(grad_global),
      "  whole layer output: measured", receptive_field_extent(grad_layer))
assert receptive_field_extent(grad_global) == receptive_field_extent(grad_layer) == (size, size)

# %% [markdown]
# The measurement agrees exactly with the arithmetic, and the global level
# (and so the layer's output) depends on every one of the 32x32 input
# tokens. The heatmaps show more than the reach: inside its square, the
# gradient is far from uniform.

# %% mystnb={"figure": {"caption": "Measured receptive field of the centre token (cross) at each focal level and at the global level: the absolute gradient of the level's output at the centre with respect to the 32x32 input tokens, normalised per panel. Dashed squares: the theoretical reach 3x3, 7x7 and 13x13.", "name": "fig-rf"}}
fig = receptive_field_plot(
    grads + [grad_global],
    titles=[f"level {l + 1}: k={k}, {s}x{s}" for l, (k, s) in
            enumerate(zip(layer.kernel_sizes, theory))] + ["global level: 32x32"],
    sizes=theory + [None])
plt.show()

# %% [markdown] tags=["remove-cell"]
# *Figure: Measured receptive field of the centre token (cross) at each focal level and at the global
# level: the absolute gradient of the level's output at the centre with respect to the 32x32 input tokens,
# normalised per panel. Dashed squares: the theoretical reach 3x3, 7x7 and 13x13.*

# %% [markdown]
# What does that reach cover in a picture? The slider below steps one token through the levels, from
# the projected context $Z^0$ (which sees only its own token) to the global level. Each frame shows the
# measured receptive field at that level (left, as above, with $Z^0$'s measured the same way) and the
# same reach drawn on the first picture around its centre token, over that level's context map (right;
# a token is a 2x2 patch of pixels, so the picture's 16x16 tokens fill it). Every frame was drawn in
# advance, so the slider also works in the HTML book, without a kernel.

# %%
grad_z0 = receptive_field(lambda t: level_contexts(layer, t)["context"], shape, centre)
assert receptive_field_extent(grad_z0) == (1, 1)
picture, tokens_side = images[0], z0.shape[1]
token = (tokens_side // 2, tokens_side // 2)  # the picture's centre token, (8, 8)
steps = ([("Z^0 (projection)", grad_z0, 1, z0)]
         + [(f"level {l + 1} (k={k})", grads[l], theory[l], levels_by_hand[l])
            for l, k in enumerate(layer.kernel_sizes)]
         + [("global level", grad_global, None, z_global)])


def level_frame(name, grad, reach, context):
    """One slider frame: the measured receptive field, and the same reach on the picture."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(6.4, 3.4))
    extent = receptive_field_extent(grad)
    receptive_field_plot([grad], titles=[f"{name}: {extent[0]}x{extent[1]} tokens"],
                         sizes=[reach], axes=[left])
    norm = np.broadcast_to(np.linalg.norm(context[0], axis=-1), (tokens_side, tokens_side))
    overlay(picture, norm, ax=right, alpha=0.6, cmap="viridis",
            title="its reach on the picture, over ||Z||")
    pixels_per_token = picture.shape[0] // tokens_side
    if reach is None:  # the global level: the whole picture
        corner, side = (-0.5, -0.5), picture.shape[0]
    else:
        middle = pixels_per_token * token[0] + (pixels_per_token - 1) / 2
        side = pixels_per_token * reach
        corner = (middle - side / 2, middle - side / 2)
    right.add_patch(plt.Rectangle(corner, side, side, fill=False, edgecolor="cyan", ls="--", lw=1.5))
    right.plot(*[pixels_per_token * t + (pixels_per_token - 1) / 2 for t in token[::-1]], "c+")
    fig.tight_layout()
    return fig


level_slider = FrameStepper([level_frame(*step) for step in steps], [step[0] for step in steps],
                            description="focal level", value=len(steps) - 2, dpi=90)
print(f"{len(steps)} frames, {level_slider.nbytes / 1024:.0f} KB of PNG; mode: {level_slider.mode}")
level_slider

# %% [markdown]
# Two things show beyond the reach. Inside its square, the gradient is not
# uniform: a token near the centre reaches the output through many paths
# through the stacked kernels, a token at the border of the square through
# only one. This is the *effective* receptive field of Luo et al.
# ([Luo et al., 2016](../bibliography.md)), which for a deep stack of convolutions is
# roughly Gaussian and smaller than the theoretical one. And the global level
# weighs the tokens at the image border less: with zero padding, they enter
# fewer of the convolution windows that the mean averages.
#
# With random kernels of both signs, one gradient map is noisy, so we
# average over rings: the mean gradient at each Chebyshev distance $d$ from
# the centre (the ring of tokens exactly $d$ steps away, counting diagonal
# steps), relative to the ring at $d = 0$.

# %% mystnb={"figure": {"caption": "Mean absolute gradient on each ring at Chebyshev distance d from the centre token, relative to the centre, for the three focal levels (log scale). Dashed lines: the theoretical radius of each level; beyond it the gradient is exactly zero.", "name": "fig-rf-profile"}}
rows, cols = np.indices((size, size))
ring = np.maximum(np.abs(rows - centre[0]), np.abs(cols - centre[1]))
fig, ax = plt.subplots(figsize=(6.5, 3.2))
for level, grad in enumerate(grads):
    r = theory[level] // 2
    profile = np.array([grad[ring == d].mean() for d in range(r + 1)])
    profile = profile / profile[0]
    inner = grad[ring <= r // 2].sum() / grad.sum()
    area = (2 * (r // 2) + 1) ** 2 / theory[level] ** 2
    print(f"level {level + 1}: mean |grad| on the outermost ring = {profile[-1]:.2f} x centre; "
          f"the inner {2 * (r // 2) + 1}x{2 * (r // 2) + 1} holds {inner:.0%} of the gradient "
          f"({area:.0%} of the area)")
    ax.semilogy(np.arange(r + 1), profile, marker="o", color=f"C{level}", label=f"level {level + 1}")
    ax.axvline(r, color=f"C{level}", lw=0.7, ls="--")
ax.set_xlabel("Chebyshev distance d from the centre token")
ax.set_ylabel("mean |gradient| on ring d / centre")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown] tags=["remove-cell"]
# *Figure: Mean absolute gradient on each ring at Chebyshev distance d from the centre token, relative to
# the centre, for the three focal levels (log scale). Dashed lines: the theoretical radius of each level;
# beyond it the gradient is exactly zero.*

# %% [markdown]
# ## Comparing focal levels
#
# The paper's small-receptive-field models (SRF) use two levels (kernels 3
# and 5), the large ones (LRF) three (3, 5, 7). What does each extra level
# buy, and what does it cost? Below, $L = 1 \dots 4$ with the default
# window and factor: the reach of the last local level, measured as above,
# and the depthwise weights per channel. The last column is what one
# depthwise kernel with the same reach would cost: the stack is cheaper, and
# it also yields the intermediate levels for free, each with its own gate.

# %%
# NBVAL_CHECK_OUTPUT
comparison = {}
for focal_level in (1, 2, 3, 4):
    probe = FocalModulation(focal_level=focal_level)
    probe.build((1, size, size, 16))
    last = receptive_field(lambda t, p=probe: level_contexts(p, t)["levels"][-1],
                           (1, size, size, 16), centre)
    reach = theoretical_receptive_fields(probe.kernel_sizes)[-1]
    assert receptive_field_extent(last) == (reach, reach)
    comparison[focal_level] = (probe.kernel_sizes, reach, last)
    print(f"focal_level={focal_level}: kernels {str(probe.kernel_sizes):14s} "
          f"last level sees {receptive_field_extent(last)[0]:2d}x{receptive_field_extent(last)[1]:<2d} "
          f"depthwise weights/channel {sum(k * k for k in probe.kernel_sizes):4d}  "
          f"(one {reach}x{reach} kernel: {reach * reach})")

# %% mystnb={"figure": {"caption": "Measured receptive field of the last local level for focal_level = 1 to 4 (kernels 3; 3,5; 3,5,7; 3,5,7,9), 32x32 input tokens. Dashed squares: the theoretical reach 3, 7, 13 and 21.", "name": "fig-rf-levels"}}
fig = receptive_field_plot(
    [v[2] for v in comparison.values()],
    titles=[f"L={L_}: kernels {v[0]}" for L_, v in comparison.items()],
    sizes=[v[1] for v in comparison.values()])
plt.show()

# %% [markdown] tags=["remove-cell"]
# *Figure: Measured receptive field of the last local level for focal_level = 1 to 4 (kernels 3; 3,5;
# 3,5,7; 3,5,7,9), 32x32 input tokens. Dashed squares: the theoretical reach 3, 7, 13 and 21.*

# %% [markdown]
# On the 16x16 token grid of the book's CIFAR-10 model, two levels already
# reach 7x7 tokens and three reach 13x13, most of the image; the global
# level covers the rest. On ImageNet's 56x56 grid of the first stage, the
# local levels cover a small neighbourhood and the global level is the only
# long-range path, until downsampling shrinks the grid: at the last stage,
# stage 3 (7x7 tokens), a 13x13 reach covers everything.

# %%
run_seconds = timer.stop()  # the chapter's run time, also written under the setup cell

# %% [markdown]
# ## Summary
#
# - One linear projection `f` produces the query ($C$), the initial context
#   $Z^0$ ($C$) and $L + 1$ gates, split in that order.
# - Level $\ell$ is a depthwise convolution with kernel
#   $\text{focal\_factor}\cdot(\ell - 1) + \text{focal\_window}$ (3, 5, 7) applied to
#   level $\ell - 1$'s output ($Z^0$ for level 1), followed by the exact GELU; the global level is
#   GELU of the spatial mean of the last level. Rebuilt in numpy from the
#   layer's weights, every intermediate and the layer's output match
#   `FocalModulation` to float32 precision.
# - `keras.ops.gelu` is the tanh approximation unless told otherwise; it
#   differs from the exact GELU by up to $4.7 \cdot 10^{-4}$, which is why the
#   package always asks for `approximate=False`.
# - The measured receptive fields are exactly the theoretical squares, 3x3,
#   7x7 and 13x13 (radius $\sum_{i \le \ell} \lfloor k_i/2 \rfloor$), with
#   more weight near the centre (at level 3 the inner 7x7 carries about half
#   of the gradient on 29% of the area); the global level and the layer
#   output see the whole input.
# - Stacking small depthwise kernels reaches far for few weights (83 per
#   channel for 13x13, against 169 for one kernel) and yields a context at
#   every scale on the way.
#
# ## Exercises
#
# 1. Set `focal_factor=0` (every level a 3x3 kernel). What are the reaches
#    of the levels for $L = 3$? Measure them with `receptive_field`.
# 2. Replace the random input of `receptive_field` by the real tokens `x[:1]`
#    padded to 32x32. Does the reach change? Does the shape of the
#    effective receptive field?
# 3. Remove the GELU between levels (compose the depthwise kernels
#    directly). Show that the three levels then collapse into one linear
#    depthwise convolution, and compute its 13x13 kernel from the three
#    small ones. What does the non-linearity add?
# 4. Build `FocalModulation(focal_level=2)` and give it a 56x56 input, the
#    first stage of an ImageNet model. What fraction of the tokens does the
#    last local level of the centre token see?
#
# ## References
#
# Full entries with every chapter that cites them: the [bibliography](../bibliography.md).
#
# ```{bibliography}
# :filter: key in {"hendrycks2016gelu", "kerasio2023focalnet", "luo2016understanding", "yang2022focal"}
# ```
