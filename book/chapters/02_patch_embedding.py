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
# # 2. Patch embedding: from pixels to tokens
#
# A FocalNet, like a Vision Transformer, never looks at single pixels: its
# first layer cuts the image into small square patches and maps each patch
# to a vector, a *token*. Everything that follows (focal modulation, the
# MLPs, the downsampling between stages) works on this grid of tokens. This
# chapter answers three questions: what exactly happens to an image in that
# first layer, why a convolution whose kernel equals its stride *is* a
# per-patch linear map, and what changes with the overlapping variant of the
# official code. We follow one real picture through every step and print the
# shape of every tensor.
#
# You need nothing from earlier chapters beyond a working install. The note
# under the setup cell gives the chapter's run time, measured by its last
# code cell.

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

import focal_utils
from focal_utils import PatchEmbedding, create_model
from focal_utils.analysis import receptive_field, receptive_field_extent
from focal_utils.registry import CIFAR10_MEAN, CIFAR10_STD
from focal_utils.timing import ChapterTimer
from focal_utils.viz import (
    exploded_patches,
    image_grid,
    load_sample_image,
    show_patches,
)

keras.utils.set_random_seed(0)
timer = ChapterTimer(CHAPTER_START)  # a note here, which the last code cell fills in
print("keras", keras.__version__, "on", keras.backend.backend())

# %% [markdown]
# ## Pictures to work with
#
# The book's model is trained on CIFAR-10 ([Krizhevsky, 2009](../bibliography.md)):
# 32x32 colour pictures of ten kinds of objects. We want the same kind of
# picture here without downloading anything, so we use photographs that ship
# with matplotlib: Grace Hopper's portrait (whole, and a crop of the face)
# and a gift box, shrunk to 32x32 with `keras.ops.image.resize` (bilinear,
# antialiased). For the ImageNet-sized model we also keep a 224x224 copy.

# %% mystnb={"figure": {"caption": "The pictures used in this chapter: three 32x32 images, the size of a CIFAR-10 sample, and a 224x224 copy of the portrait, the size of an ImageNet input.", "name": "fig-patch-inputs"}}
names = ["grace_hopper", "grace_hopper_face", "present"]
images32 = np.stack([load_sample_image(name, size=32) for name in names])
image224 = load_sample_image("grace_hopper", size=224)
fig = image_grid(list(images32) + [image224],
                 titles=[f"{n}\n32x32" for n in names] + ["grace_hopper\n224x224"])
plt.show()

# %% [markdown] tags=["remove-cell"]
# *Figure: The pictures used in this chapter: three 32x32 images, the size of a CIFAR-10 sample, and a
# 224x224 copy of the portrait, the size of an ImageNet input.*

# %%
# NBVAL_CHECK_OUTPUT
print("images32:", images32.shape, images32.dtype)
print("image224:", image224.shape, image224.dtype)

# %% [markdown]
# The network does not take pixels in [0, 1]: each colour channel is
# standardised with the CIFAR-10 statistics (the `focalnet_cifar` model does
# this inside itself, on 0-255 inputs). We do the same by hand so that the
# layers below see what they would see inside the model.

# %%
def standardise(images):
    """0-1 RGB to CIFAR-10-standardised channels, as focalnet_cifar does."""
    mean = np.array(CIFAR10_MEAN, dtype="float32")
    std = np.array(CIFAR10_STD, dtype="float32")
    return (images * 255.0 - mean) / std


x32 = standardise(images32)
x224 = standardise(image224[None])
print("per-channel mean of the three pictures:", x32.mean(axis=(0, 1, 2)).round(2))
print("per-channel std:                        ", x32.std(axis=(0, 1, 2)).round(2))

# %% [markdown]
# ## An image is a grid of patches
#
# The ViT paper put it in its title: an image is worth 16x16 words
# ([Dosovitskiy et al., 2021](../bibliography.md)). Cut an $H \times W$ image into $P \times P$
# patches and you get $(H/P)(W/P)$ patches, each a vector of $P \cdot P
# \cdot 3$ numbers. FocalNet's ImageNet models use $P = 4$ (a 224x224 image
# becomes 56x56 tokens); the CIFAR-10 model of the next chapters uses
# $P = 2$ (32x32 becomes 16x16 tokens), so that even its last stage keeps a
# 4x4 grid of spatial context. Finer tokens cost compute, though:
# [Chapter 7](07_training.ipynb) weighs them against training time on a CPU, and trains
# a variant whose stem cuts 4x4 patches that overlap.
#
# The grid below is drawn on pixel boundaries: every cell holds exactly the
# pixels of one patch.

# %% mystnb={"figure": {"caption": "The portrait at 32x32 cut into 2x2 patches (16x16 tokens, the book's CIFAR-10 model) and 4x4 patches (8x8 tokens, the ImageNet stem's patch size); right: the 4x4 patches pulled apart.", "name": "fig-patch-grid"}}
fig, axes = plt.subplots(1, 3, figsize=(10, 3.6))
show_patches(images32[0], 2, ax=axes[0])
show_patches(images32[0], 4, ax=axes[1])
exploded_patches(images32[0], 4, gap=1, ax=axes[2])
fig.tight_layout()
plt.show()

# %% [markdown] tags=["remove-cell"]
# *Figure: The portrait at 32x32 cut into 2x2 patches (16x16 tokens, the book's CIFAR-10 model) and 4x4
# patches (8x8 tokens, the ImageNet stem's patch size); right: the 4x4 patches pulled apart.*

# %% [markdown]
# Cutting patches is only a reshape. With `P = 4` a `(1, 32, 32, 3)` batch
# becomes `(1, 8, 4, 8, 4, 3)` (rows of patches, rows inside a patch, columns
# of patches, columns inside a patch, colour), the two "inside" axes move
# next to the colour axis, and the last three axes are flattened into one
# vector of 48 numbers per patch. We print the shape after every step.

# %%
# NBVAL_CHECK_OUTPUT
def to_patches(images, patch_size, verbose=False):
    """(B, H, W, C) -> (B, H/P, W/P, P*P*C), patch pixels in (row, col, channel) order."""
    b, h, w, c = images.shape
    p = patch_size
    steps = [("input", images)]
    x = ops.reshape(images, (b, h // p, p, w // p, p, c))
    steps.append(("split rows and columns", x))
    x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
    steps.append(("patch axes first", x))
    x = ops.reshape(x, (b, h // p, w // p, p * p * c))
    steps.append(("flatten each patch", x))
    if verbose:
        for name, value in steps:
            print(f"{name:24s} {tuple(value.shape)}")
    return x


patches = to_patches(x32[:1], 4, verbose=True)

# %% [markdown]
# Check that nothing was mixed up: the patch in token row 2, column 5 must be
# the pixels in rows 8-11 and columns 20-23.

# %%
np.testing.assert_array_equal(
    ops.convert_to_numpy(patches)[0, 2, 5],
    x32[0, 8:12, 20:24].reshape(-1))
print("patch (2, 5) = pixels [8:12, 20:24]: ok")

# %% [markdown]
# ## A convolution with kernel = stride is a linear map per patch
#
# Each patch vector is now mapped to `embed_dim` numbers by one linear layer
# shared by all patches: $t_{ij} = W^\top p_{ij} + b$, with $W$ of shape
# $(P^2 C) \times D$. Nobody implements it that way. A `Conv2D` with
# `kernel_size = strides = P` and no padding visits exactly the same
# non-overlapping windows and computes exactly the same dot products, with
# its kernel of shape $(P, P, C, D)$ being $W$ before flattening
# ([Dosovitskiy et al., 2021](../bibliography.md); [Trockman and Kolter, 2023](../bibliography.md)). This is what the
# package's `PatchEmbedding` does; here is its `call`:

# %%
print(inspect.getsource(PatchEmbedding.call))

# %% [markdown]
# (`apply_norm(self.norm, x)` is `self.norm(x)`, computed faster on TensorFlow; Chapter 5 shows why and
# checks that the two agree.)
#
# We make one with the CIFAR model's width (64 channels) but a 4x4 patch, so
# that the numbers are easy to follow, and switch the LayerNorm off for now.
# Then we redo its convolution as a matrix product with its own weights.

# %%
# NBVAL_CHECK_OUTPUT
embed = PatchEmbedding(embed_dim=64, patch_size=4, use_norm=False)
tokens = embed(x32)
kernel, bias = (ops.convert_to_numpy(w) for w in embed.proj.weights)
print("conv kernel:", kernel.shape, " bias:", bias.shape)
W = kernel.reshape(4 * 4 * 3, 64)        # (P, P, C, D) -> (P*P*C, D), same order as to_patches
print("as a matrix:", W.shape)
print("patches:", tuple(to_patches(x32, 4).shape), "@ W + b ->",
      tuple((to_patches(x32, 4) @ W + bias).shape))
print("conv output:", tuple(tokens.shape))
print("parameters:", embed.count_params(), "=", W.size, "+", bias.size)

# %%
by_matmul = ops.convert_to_numpy(to_patches(x32, 4)) @ W + bias
max_diff = np.abs(by_matmul - ops.convert_to_numpy(tokens)).max()
np.testing.assert_allclose(by_matmul, ops.convert_to_numpy(tokens), rtol=1e-5, atol=1e-4)
print(f"conv == matmul over flattened patches (max |diff| {max_diff:.1e})")

# %% [markdown]
# The flattening order is the one detail that can go wrong: Keras stores a
# `Conv2D` kernel as (rows, columns, input channels, output channels), and
# our patches are flattened in (row, column, channel) order, so a plain
# `reshape` lines them up. A PyTorch checkpoint stores (output, input, rows,
# columns) and needs a transpose first; that is the kind of thing the
# assertion above would catch.
#
# ## LayerNorm after the projection
#
# The official code follows the projection with a LayerNorm over the
# channels of each token ([Ba et al., 2016](../bibliography.md)) (epsilon $10^{-5}$; the
# keras-io example uses $10^{-7}$). It gives every token zero mean and unit
# variance across its channels before a learned scale and shift, whatever the
# contrast of its patch. We check the layer against the formula and look at
# the statistics of the tokens before and after.

# %%
embed_ln = PatchEmbedding(embed_dim=64, patch_size=4)      # use_norm=True, the default
tokens_ln = ops.convert_to_numpy(embed_ln(x32))
raw = ops.convert_to_numpy(embed_ln.proj(x32))
gamma, beta = (ops.convert_to_numpy(w) for w in embed_ln.norm.weights)
mu, var = raw.mean(-1, keepdims=True), raw.var(-1, keepdims=True)
by_hand = (raw - mu) / np.sqrt(var + 1e-5) * gamma + beta
np.testing.assert_allclose(by_hand, tokens_ln, rtol=1e-4, atol=1e-4)
print("LayerNorm epsilon:", embed_ln.norm.epsilon)
print("LayerNorm by hand == PatchEmbedding(use_norm=True): ok")
for name, t in [("before LayerNorm", raw), ("after LayerNorm", tokens_ln)]:
    norms = np.linalg.norm(t, axis=-1)
    print(f"{name:17s} token mean over channels: {np.abs(t.mean(-1)).max():.3f} (max |.|), "
          f"token norm: {norms.min():.2f} .. {norms.max():.2f}")

# %% [markdown]
# Before the norm, the length of a token tracks the contrast and brightness
# of its patch and varies by a large factor over one picture; after it every
# token has length $\sqrt{64} = 8$ (with the initial $\gamma = 1$,
# $\beta = 0$). What survives is the *direction* of the token: which
# channels respond more than others.
#
# ## Shapes through the whole network
#
# The same layer, with `patch_size=2`, is the downsampling between stages:
# it merges 2x2 neighbouring tokens into one and doubles the channels. Here
# is the book's CIFAR-10 model (`focalnet_cifar`) read layer by layer, on the
# three pictures.

# %%
# NBVAL_CHECK_OUTPUT
model = create_model("focalnet_cifar")
x = model._preprocess(ops.convert_to_tensor(images32 * 255.0))
print(f"{'input (standardised)':30s} {tuple(x.shape)}")
x = model.patch_embed(x)
pe = model.patch_embed
print(f"{'stem: ' + f'conv {pe.patch_size}x{pe.patch_size}/{pe.patch_size} + LN':30s} {tuple(x.shape)}")
for i, stage in enumerate(model.stages):
    for block in stage.blocks:
        x = block(x)
    print(f"{f'stage {i}: {stage.depth} blocks':30s} {tuple(x.shape)}")
    if stage.downsample is not None:
        x = stage.downsample(x)
        print(f"{f'  downsample 2x2/2 + LN':30s} {tuple(x.shape)}")
print(f"{'final LayerNorm + mean over tokens':30s} {(x.shape[0], x.shape[-1])}")
print(f"{'head (logits)':30s} {tuple(model(images32 * 255.0).shape)}")

# %% [markdown]
# The `_preprocess` call is the model's own standardisation (the same as
# `standardise` above), and the loop calls the model's own layers in the
# order its `forward_features` does. Let us check that claim rather than
# trust it: our tokens after the last stage and the final LayerNorm must be
# the model's own feature map.

# %%
x = model._preprocess(ops.convert_to_tensor(images32 * 255.0))
x = model.patch_embed(x)
for stage in model.stages:
    x = stage(x)
features = ops.convert_to_numpy(model.forward_features(images32 * 255.0))
print("forward_features:", features.shape)
np.testing.assert_allclose(ops.convert_to_numpy(model.norm(x)), features,
                           rtol=1e-4, atol=1e-5)
print("stem -> stages -> norm == model.forward_features: ok")

# %% [markdown]
# ## The overlapping variant
#
# Non-overlapping patches have a blind spot: an edge that falls on a patch
# boundary is split between two tokens, and neither sees it whole. The
# official code has a switch, `use_conv_embed`, that replaces the stem by a
# 7x7 convolution with stride 4 and padding 2 and each downsampling by a 3x3
# convolution with stride 2 and padding 1: the stride, and so the grid of
# tokens, is unchanged, but each token now looks a little beyond its own
# patch. The official code exposes it as `use_conv_embed`
# ([Microsoft, 2022](../bibliography.md)), and so does `focal_utils`; it is off in the
# models whose parameter counts we reproduce.
#
# We measure which pixels each token depends on, rather than argue it: the
# gradient of one output token with respect to the input image is non-zero
# exactly on the pixels that token sees
# (`focal_utils.analysis.receptive_field`, which we meet again in the next
# chapter).

# %%
print(inspect.getsource(receptive_field))

# %%
# NBVAL_CHECK_OUTPUT
variants = {"patches 4x4/4": PatchEmbedding(64, 4, use_norm=False),
            "overlapping 7x7/4, pad 2": PatchEmbedding(64, 4, use_conv_embed=True, use_norm=False),
            "downsample 2x2/2": PatchEmbedding(64, 2, use_norm=False),
            "overlapping 3x3/2, pad 1": PatchEmbedding(64, 2, use_conv_embed=True, use_norm=False)}
fields = {}
for name, layer in variants.items():
    out_shape = layer.compute_output_shape((1, 32, 32, 3))
    # two horizontally adjacent tokens in the middle of the grid
    i = j = out_shape[1] // 2
    left = receptive_field(layer, (1, 32, 32, 3), (i, j - 1))
    right = receptive_field(layer, (1, 32, 32, 3), (i, j))
    shared = int(((left > 0) & (right > 0)).sum())
    fields[name] = (left, right)
    print(f"{name:26s} kernel {layer.proj.kernel.shape[0]}  tokens {out_shape[1:3]}  "
          f"field {receptive_field_extent(right)}  pixels shared with the left neighbour: {shared}"
          f"  params {layer.count_params()}")

assert receptive_field_extent(fields["patches 4x4/4"][1]) == (4, 4)
assert receptive_field_extent(fields["overlapping 7x7/4, pad 2"][1]) == (7, 7)
assert receptive_field_extent(fields["overlapping 3x3/2, pad 1"][1]) == (3, 3)

# %% mystnb={"figure": {"caption": "Measured input pixels of two neighbouring tokens (red: left token only, blue: right token only, purple: both), for the non-overlapping 4x4 stem and the overlapping 7x7 stride-4 stem. With overlap, neighbouring tokens share a 3-pixel-wide band.", "name": "fig-patch-overlap"}}
fig, axes = plt.subplots(1, 2, figsize=(7, 3.6))
for ax, name in zip(axes, ["patches 4x4/4", "overlapping 7x7/4, pad 2"]):
    left, right = fields[name]
    rgb = np.ones((32, 32, 3))
    rgb[left > 0] = [0.9, 0.3, 0.3]
    rgb[right > 0] = [0.3, 0.4, 0.9]
    rgb[(left > 0) & (right > 0)] = [0.55, 0.2, 0.65]
    ax.imshow(images32[0], extent=(-0.5, 31.5, 31.5, -0.5))
    ax.imshow(rgb, alpha=0.75, extent=(-0.5, 31.5, 31.5, -0.5))
    for k in range(0, 33, 4):
        ax.axhline(k - 0.5, color="white", lw=0.4)
        ax.axvline(k - 0.5, color="white", lw=0.4)
    ax.set_xlim(8, 28)
    ax.set_ylim(24, 8)
    ax.set_title(name, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()
plt.show()

# %% [markdown] tags=["remove-cell"]
# *Figure: Measured input pixels of two neighbouring tokens (red: left token only, blue: right token only,
# purple: both), for the non-overlapping 4x4 stem and the overlapping 7x7 stride-4 stem. With overlap,
# neighbouring tokens share a 3-pixel-wide band.*

# %% [markdown]
# The price is small: a 7x7x3 kernel instead of 4x4x3 (9,472 instead of
# 3,136 parameters at 64 channels, and three times the FLOPs of the stem,
# which is a tiny part of the model's total). What it buys is room for the
# filters that training will learn: an edge on a patch boundary is seen
# whole by at least one token, and a 7x7 filter with stride 4 can smooth
# before it subsamples (a low-pass filter), where a 4x4 filter with stride 4
# cannot look past its own patch.
#
# That benefit belongs to trained filters, not to the geometry alone, and we
# can check that claim. Shift the portrait right by 1, 2 or 3 pixels and
# compare the tokens with those of the unshifted picture (cosine similarity,
# averaged over the tokens away from the border), for both untrained stems:

# %%
def shift_similarity(layer, images, shift):
    shifted = np.roll(images, shift, axis=2)
    a = ops.convert_to_numpy(layer(images))[:, 1:-1, 1:-1]
    b = ops.convert_to_numpy(layer(shifted))[:, 1:-1, 1:-1]
    cos = (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
    return cos.mean()


stems = {"patches 4x4/4": variants["patches 4x4/4"],
         "overlapping 7x7/4": variants["overlapping 7x7/4, pad 2"]}
for name, layer in stems.items():
    sims = [shift_similarity(layer, x224, s) for s in (0, 1, 2, 3)]
    print(f"{name:20s} cosine similarity after a shift of 0/1/2/3 px: "
          + " / ".join(f"{s:.3f}" for s in sims))

# %% [markdown]
# The two rows agree to about 0.01, and which one is ahead changes with the
# random seed: random filters of either size react to a shift the same way,
# because a random filter is no smoother than a random patch. So the overlap
# is an option that lets training find better filters, not a free gain, and
# whether it is worth its cost is an empirical question for each model and
# data set. `create_model(..., use_conv_embed=True)` switches it on for the
# stem and every downsampling at once.
#
# ## What an untrained embedding sees
#
# Before any training the projection is random (PyTorch's default
# initialisation, which the package reproduces). What do its 64 channels
# look like next to the input? Each channel is a fixed random linear filter
# of a 4x4 patch, so each channel map is a coarse filtered copy of the
# picture. Below, the 224x224 portrait through a random 4x4 stem (56x56
# tokens): five channels, before and after the LayerNorm.

# %% mystnb={"figure": {"caption": "A randomly initialised 4x4 patch embedding applied to the 224x224 portrait (56x56 tokens). Left: the input and the brightness of each patch. Right: five of the 64 channels, before (top) and after (bottom) the LayerNorm; red is positive, blue negative, each panel on its own symmetric scale.", "name": "fig-patch-channels"}}
stem = PatchEmbedding(64, patch_size=4)
tokens224 = ops.convert_to_numpy(stem(x224))[0]
raw224 = ops.convert_to_numpy(stem.proj(x224))[0]
brightness = ops.convert_to_numpy(to_patches(x224, 4))[0].mean(-1)     # (56, 56)
print("224x224 image -> tokens", tokens224.shape, "; patch brightness", brightness.shape)

fig, axes = plt.subplots(2, 6, figsize=(12, 4.4))
axes[0, 0].imshow(image224)
axes[0, 0].set_title("input 224x224", fontsize=9)
axes[1, 0].imshow(brightness, cmap="gray")
axes[1, 0].set_title("patch brightness 56x56", fontsize=9)
for row, (label, fmap) in enumerate([("before LN", raw224), ("after LN", tokens224)]):
    for col, channel in enumerate(range(5), start=1):
        panel = fmap[..., channel]
        limit = np.abs(panel).max()
        axes[row, col].imshow(panel, cmap="RdBu_r", vmin=-limit, vmax=limit)
        axes[row, col].set_title(f"channel {channel}, {label}", fontsize=9)
for ax in axes.flat:
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()
plt.show()

# %% [markdown] tags=["remove-cell"]
# *Figure: A randomly initialised 4x4 patch embedding applied to the 224x224 portrait (56x56 tokens).
# Left: the input and the brightness of each patch. Right: five of the 64 channels, before (top) and after
# (bottom) the LayerNorm; red is positive, blue negative, each panel on its own symmetric scale.*

# %% [markdown]
# Many raw channels look like the portrait itself, in positive or negative:
# a random filter's weights do not sum to zero, so its response is largely
# its weight sum times the patch's average colour, plus a smaller part that
# depends on the patch's internal pattern. We measure it with the
# correlation between each channel and the patch brightness (the mean of the
# standardised pixels of the patch), before and after the LayerNorm.

# %%
def brightness_correlation(fmap):
    b = (brightness - brightness.mean()).ravel()
    f = fmap.reshape(-1, fmap.shape[-1])
    f = f - f.mean(0)
    return (b @ f) / (np.linalg.norm(b) * np.linalg.norm(f, axis=0))


for name, fmap in [("before LayerNorm", raw224), ("after LayerNorm", tokens224)]:
    corr = np.abs(brightness_correlation(fmap))
    print(f"{name:17s} |corr(channel, patch brightness)|: median {np.median(corr):.2f}, "
          f"channels above 0.9: {(corr > 0.9).sum()} of 64")

# %% [markdown]
# At initialisation the tokens are a coarse, filtered copy of the picture,
# not noise: most channels follow the brightness of their patch. The
# LayerNorm weakens that only in part. It subtracts each token's mean over
# channels and divides by its spread, so a flat dark patch and a textured
# bright one get tokens of the same length; but a channel whose filter has a
# large weight sum still tracks the sign of the brightness, which is why the
# lower row of the figure still shows the portrait. Training is what turns
# these filters into edge, colour and texture detectors; the block that
# follows, starting in the next chapter, mixes each token with its
# neighbours.
#
# ## The divisibility rule
#
# Patches tile the image only if the patch size divides its height and width.
# The official code pads silently; the package raises an error instead, so a
# wrong input size never goes unnoticed. The error names the layer, the rule
# and the shape it received:

# %%
# NBVAL_CHECK_OUTPUT
try:
    PatchEmbedding(64, patch_size=4, name="stem")(np.zeros((1, 30, 30, 3), "float32"))
except ValueError as error:
    print("ValueError:", error)

# %% [markdown]
# For a whole model the rule compounds: every stage but the last halves the
# grid again, so the image size must be a multiple of
# `patch_size * 2**(stages - 1)`, which is 2 x 4 = 8 for `focalnet_cifar`
# and 4 x 8 = 32 for the ImageNet models:

# %%
# NBVAL_CHECK_OUTPUT
try:
    create_model("focalnet_cifar", image_size=36)
except ValueError as error:
    print("ValueError:", error)
print("image_size=40 is fine:", tuple(create_model("focalnet_cifar", image_size=40)
                                      (np.zeros((1, 40, 40, 3), "float32")).shape))

# %%
run_seconds = timer.stop()  # the chapter's run time, also written under the setup cell

# %% [markdown]
# ## Summary
#
# - The patch embedding cuts an image into $P \times P$ patches (a reshape)
#   and maps each patch vector to `embed_dim` numbers with one shared linear
#   map; a `Conv2D` with kernel = stride = $P$ is exactly that, as the
#   matmul check shows with the layer's own weights.
# - Shapes: `(B, H, W, 3)` -> `(B, H/P, W/P, P*P*3)` -> `(B, H/P, W/P, D)`,
#   then a LayerNorm over the $D$ channels of each token (epsilon $10^{-5}$),
#   which gives every token the same length. The same layer with $P = 2$ is
#   the downsampling between stages.
# - `use_conv_embed` makes the windows overlap (7x7 stride 4 for the stem,
#   3x3 stride 2 between stages) without changing the token grid; measured
#   receptive fields grow from 4x4 to 7x7 and neighbours share pixels. At
#   initialisation it is no more shift-stable than plain patches; what it
#   offers is room for smoother learned filters.
# - At initialisation most channels follow patch brightness: the tokens are
#   a coarse filtered copy of the picture, not noise.
# - Image sizes must be divisible by the patch size (and by
#   `patch_size * 2**(stages-1)` for a model); the package says so in a
#   `ValueError` instead of padding silently.
#
# ## Exercises
#
# 1. Load the weights of a `PatchEmbedding` into a `keras.layers.Dense` with
#    48 inputs and apply it to `to_patches(x32, 4)`. Which reshape of the
#    kernel do you need, and what goes wrong if you flatten the patches in
#    (channel, row, column) order instead?
# 2. Repeat the shift experiment with `patch_size=2` and its overlapping
#    3x3 version. Is the gap between the two variants larger or smaller than
#    with `patch_size=4`? Why?
# 3. Replace the random projection by one whose 64 filters have zero sum
#    (subtract each filter's mean). How do the brightness correlations before
#    the LayerNorm change?
# 4. `create_model("focalnet_cifar", patch_size=4)` gives 8x8 tokens. Print
#    the shapes through the network as above and count the tokens that the
#    last stage works on.
#
# ## References
#
# Full entries with every chapter that cites them: the [bibliography](../bibliography.md).
#
# ```{bibliography}
# :filter: key in {"ba2016layer", "dosovitskiy2021image", "krizhevsky2009cifar", "microsoft2022focalnet", "trockman2022patches"}
# ```
