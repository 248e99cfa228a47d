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
# # 4. Gated aggregation and the modulator
#
# Chapter 3 gave every token $L + 1$ context vectors: one per depthwise level, from a 3x3 neighbourhood up
# to 7x7 and beyond, plus one global vector shared by the whole image. This chapter answers the next
# question: how does focal modulation turn those $L + 1$ vectors into a single *modulator* per token, and
# how does the modulator act on the token? The answer is three small operations (gates, a weighted sum, a
# 1x1 convolution) and one multiplication. We build the layer step by step with the weights of a real
# `FocalModulation` layer, check every step against the package, and then look at a design decision that
# is easy to miss: the gates are raw numbers, not a softmax. You need Chapter 3 (the context levels) and
# the notation of Chapter 1 (query, context, modulator). The note under the setup cell gives the
# chapter's run time, measured by its last code cell.

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

import keras
import matplotlib.pyplot as plt
import numpy as np
from keras import ops

import focal_utils
from focal_utils import FocalModulation
from focal_utils.timing import ChapterTimer
from focal_utils.widgets import FrameStepper

keras.utils.set_random_seed(0)
timer = ChapterTimer(CHAPTER_START)  # a note here, which the last code cell fills in
np.set_printoptions(precision=4, suppress=True)


def to_np(x):
    return ops.convert_to_numpy(x)


# %% [markdown]
# ## The equation
#
# For a token $x_i$ with $C$ channels, focal modulation computes ([Yang et al., 2022](../bibliography.md))
#
# $$
# y_i = q(x_i) \odot h\Big(\sum_{\ell=1}^{L+1} g_i^{\ell} \, z_i^{\ell}\Big).
# $$
#
# Reading from the inside out:
#
# - $z_i^{\ell} \in \mathbb{R}^C$ is the context of token $i$ at level $\ell$: levels $1..L$ are the
#   depthwise-convolution levels of Chapter 3, level $L + 1$ is the global average.
# - $g_i^{\ell} \in \mathbb{R}$ is a *gate*: one number per token and level, produced from $x_i$ by a linear
#   layer. Stacked over the image the gates form $G \in \mathbb{R}^{H \times W \times (L+1)}$.
# - The weighted sum $Z^{\text{out}} = \sum_\ell G^{\ell} \odot Z^{\ell}$ is the **gated aggregation**: each
#   token decides how much of each range of context it wants.
# - $h$ is a linear map on channels (a 1x1 convolution). Its output $m_i = h(Z^{\text{out}}_i)$ is the
#   **modulator**: the levels were computed channel by channel (depthwise), and $h$ lets channels talk.
# - $q(x_i)$ is the query, a linear projection of the token; $\odot$ multiplies element by element. A final
#   linear layer `proj` mixes the channels of $q \odot m$.
#
# So the token is never compared with other tokens, as in attention; it is *scaled*, channel by channel,
# by a summary of its surroundings.

# %% [markdown]
# The same computation as a picture, drawn from a layer's own configuration (its kernel sizes, its number of
# gates, its options), so that it changes if the layer does:

# %% mystnb={"figure": {"caption": "The focal modulation layer, drawn by `focal_utils.diagrams` from a `FocalModulation` layer with two focal levels: one projection gives the query, the initial context and the gates; each level's context is weighted by its gate and summed; $h$ turns the sum into the modulator, which scales the query.", "name": "fig-modulation-diagram"}}
from focal_utils import diagrams

fig, boxes = diagrams.draw_modulation(FocalModulation(focal_level=2, name="modulation"))

# %% [markdown] tags=["remove-cell"]
# *Figure: The focal modulation layer, drawn by `focal_utils.diagrams` from a `FocalModulation` layer with
# two focal levels: one projection gives the query, the initial context and the gates; each level's
# context is weighted by its gate and summed; $h$ turns the sum into the modulator, which scales the
# query.*

# %% [markdown]
# ## A real input
#
# We take the first block of the book's CIFAR-10 model (`focalnet_cifar`, 64 channels, focal level 2: kernels
# 3 and 5) with its initial weights. Its input is a feature map: four small synthetic 32x32 images (a disc on a
# colour gradient, plus noise) go through the model's normalisation and patch embedding (patch 2, so 16x16
# tokens), and then through the block's `norm1`, exactly as the block feeds its modulation. The trained model
# and real photographs come in Chapters 7 and 8; here the point is the arithmetic.

# %%
from focal_utils.data import toy_images  # discs on colour gradients, plus noise

model = focal_utils.create_model("focalnet_cifar")
block = model.stages[0].blocks[0]
mod = block.modulation

images = toy_images(4)
mean = np.array(focal_utils.CIFAR10_MEAN, dtype="float32")
std = np.array(focal_utils.CIFAR10_STD, dtype="float32")
tokens = model.patch_embed((images - mean) / std)
x = block.norm1(tokens)
print("images:", images.shape, "-> tokens:", tuple(tokens.shape), "-> modulation input:", tuple(x.shape))

# %% [markdown]
# ## Step 1: one linear layer, three outputs
#
# The official code computes query, context and gates with *one* linear layer `f` with $2C + L + 1$ outputs
# and splits the result in this order. With $C = 64$ and $L = 2$ that is $64 + 64 + 3 = 131$ outputs.

# %%
# NBVAL_CHECK_OUTPUT
C, L = x.shape[-1], mod.focal_level
projected = mod.f(x)
q = projected[..., :C]
z0 = projected[..., C:2 * C]
gates = projected[..., 2 * C:]
print("f kernel:", tuple(mod.f.kernel.shape))
print("query q:", tuple(q.shape), "| context z0:", tuple(z0.shape), "| gates:", tuple(gates.shape))
assert gates.shape[-1] == L + 1

# %% [markdown]
# ## Step 2: the context levels (from Chapter 3)
#
# Level $\ell$ is a depthwise convolution and a GELU applied to the previous level; the global level is the
# GELU of the spatial mean of the last level. We only recompute them here to have $z^1, z^2, z^3$ in hand.

# %%
levels = []
z = z0
for focal_layer in mod.focal_layers:
    z = ops.gelu(focal_layer(z), approximate=False)
    levels.append(z)
z_global = ops.gelu(ops.mean(z, axis=(1, 2), keepdims=True), approximate=False)
levels.append(z_global)
for name, level in zip(["level 1 (3x3)", "level 2 (5x5)", "global"], levels):
    print(f"{name:14s} {tuple(level.shape)}")

# %% [markdown]
# The global context has shape `(4, 1, 1, 64)`: one vector per image, which broadcasting spreads over all
# 16x16 tokens.
#
# ## Step 3: the gates are raw linear outputs
#
# A gate is a plain number out of `f`: no sigmoid, no softmax, any sign. One gate per token and level
# scales *all* $C$ channels of that level's context, so the gate tensor has $L + 1$ channels, not
# $(L + 1) \times C$. At initialisation `f` has weights of standard deviation 0.02 on inputs of unit
# variance, so the raw gates start small and centred on zero.

# %%
g = to_np(gates)
print("gate values: mean %.4f, std %.4f, min %.4f, max %.4f" % (g.mean(), g.std(), g.min(), g.max()))
print("sum of the 3 gates per token: mean %.4f, std %.4f" % (g.sum(-1).mean(), g.sum(-1).std()))
print("fraction of negative gates: %.2f" % (g < 0).mean())

# %% [markdown]
# ## Step 4: the weighted sum over levels
#
# The aggregation multiplies each level by its gate, broadcast over channels, and adds. Written as a loop,
# as the official code does it:

# %%
ctx_all = 0.0
for level_index, level in enumerate(levels):
    ctx_all = ctx_all + level * gates[..., level_index:level_index + 1]
print("aggregated context:", tuple(ctx_all.shape))

# %% [markdown]
# The same thing as one `einsum` makes the structure explicit: for every token, a weighted sum over the
# level axis $\ell$ of vectors in $\mathbb{R}^C$, with weights that the token chose.

# %%
stacked = ops.stack([ops.broadcast_to(level, z0.shape) for level in levels], axis=3)  # (N, H, W, L+1, C)
ctx_einsum = ops.einsum("nhwl,nhwlc->nhwc", gates, stacked)
print("stacked levels:", tuple(stacked.shape))
np.testing.assert_allclose(to_np(ctx_einsum), to_np(ctx_all), rtol=1e-5, atol=1e-6)
print("loop and einsum agree: max |diff| = %.2e" % np.abs(to_np(ctx_einsum) - to_np(ctx_all)).max())

# %% [markdown]
# ## Step 5: the modulator $m = h(Z^{\text{out}})$
#
# The official `h` is a 1x1 `Conv2d` with bias. On channels-last tokens a 1x1 convolution is a `Dense`
# layer applied at every position, which is how the package stores it. We check that claim by running the
# same kernel as an actual 1x1 convolution.

# %%
modulator = mod.h(ctx_all)
kernel_1x1 = ops.reshape(mod.h.kernel, (1, 1, C, C))
as_conv = ops.conv(ctx_all, kernel_1x1, padding="valid") + mod.h.bias
np.testing.assert_allclose(to_np(as_conv), to_np(modulator), rtol=1e-5, atol=1e-6)
print("modulator:", tuple(modulator.shape), "| Dense == 1x1 conv: max |diff| = %.2e"
      % np.abs(to_np(as_conv) - to_np(modulator)).max())

# %% [markdown]
# ## Step 6: modulate the query, then project
#
# The modulation itself is one element-wise product, $q \odot m$, followed by the output projection (and a
# dropout that is the identity at inference).

# %%
out_by_hand = mod.proj(q * modulator)
print("output:", tuple(out_by_hand.shape))

# %% [markdown]
# ## The whole layer, written once
#
# The six steps fit in one small Keras layer. `__init__` keeps the options and the kernel sizes
# ($k_\ell = \text{focal\_factor} \cdot (\ell - 1) + \text{focal\_window}$, Chapter 3); `build` makes the
# sublayers once the number of channels $C$ is known: `f` (query, context and gates), one depthwise
# convolution per level, `h` (written here as the official 1x1 convolution) and `proj`; `call` runs
# steps 1 to 6. It keeps only the official defaults: no dropout, no layer norm inside the modulation, no
# normalised modulator, raw gates.

# %%
class MiniFocalModulation(keras.layers.Layer):
    """Focal modulation in one page: the steps of this chapter, official defaults only."""

    def __init__(self, focal_level=2, focal_window=3, focal_factor=2, **kwargs):
        super().__init__(**kwargs)
        self.focal_level = focal_level
        self.kernel_sizes = [focal_factor * level + focal_window for level in range(focal_level)]

    def build(self, input_shape):
        channels = input_shape[-1]
        self.f = keras.layers.Dense(2 * channels + self.focal_level + 1, name="f")
        self.focal_layers = [keras.layers.DepthwiseConv2D(k, padding="same", use_bias=False,
                                                          name=f"focal_layer_{i}")
                             for i, k in enumerate(self.kernel_sizes)]
        self.h = keras.layers.Conv2D(channels, 1, name="h")
        self.proj = keras.layers.Dense(channels, name="proj")
        for layer in [self.f, *self.focal_layers, self.h, self.proj]:
            layer.build(input_shape)

    def call(self, x):
        channels = x.shape[-1]
        projected = self.f(x)                                   # step 1: one projection, split
        q, ctx = projected[..., :channels], projected[..., channels:2 * channels]
        gates = projected[..., 2 * channels:]                   # step 3: raw gates, L + 1 per token
        ctx_all = 0.0
        for level, focal_layer in enumerate(self.focal_layers):  # step 2: level l from level l - 1
            ctx = ops.gelu(focal_layer(ctx), approximate=False)
            ctx_all = ctx_all + ctx * gates[..., level:level + 1]  # step 4: gated sum
        ctx_global = ops.gelu(ops.mean(ctx, axis=(1, 2), keepdims=True), approximate=False)
        ctx_all = ctx_all + ctx_global * gates[..., self.focal_level:]
        modulator = self.h(ctx_all)                             # step 5: the modulator
        return self.proj(q * modulator)                         # step 6: modulate, project


# %% [markdown]
# To check it, we give it the package layer's weights. Every weight has the same shape in both layers
# except `h`'s kernel: the package stores the 1x1 convolution as a `Dense` kernel of shape $(C, C)$, our
# `Conv2D` as $(1, 1, C, C)$, the same numbers (Step 5).

# %%
# NBVAL_CHECK_OUTPUT
mini = MiniFocalModulation(focal_level=mod.focal_level)
mini.build(x.shape)
assert mini.kernel_sizes == list(mod.kernel_sizes)
for mine, theirs in [(mini.f, mod.f), *zip(mini.focal_layers, mod.focal_layers), (mini.proj, mod.proj)]:
    mine.set_weights(theirs.get_weights())
h_kernel, h_bias = mod.h.get_weights()
mini.h.set_weights([h_kernel.reshape(1, 1, C, C), h_bias])
print(f"{len(mini.weights)} weights copied, {mini.count_params():,} parameters "
      f"(package layer: {len(mod.weights)} weights, {mod.count_params():,} parameters)")

# %%
out_mini, out_pkg = to_np(mini(x)), to_np(mod(x))
scale = np.abs(out_pkg).max()  # an untrained layer's outputs are small: compare relative to them
np.testing.assert_allclose(out_mini, out_pkg, rtol=1e-5, atol=1e-5 * scale)
print(f"MiniFocalModulation == focal_utils.FocalModulation on the 4 images: "
      f"max |diff| / max |output| = {np.abs(out_mini - out_pkg).max() / scale:.1e}")

# %% [markdown]
# The page-long layer computes what the package computes, to float32 round-off. The package's layer has
# more to carry (every option of the official code, `get_config` for saving, the fast depthwise path on
# JAX), but not more arithmetic. It also returns, when asked with `return_maps=True`, the gates and the
# modulator it computed, without storing them on the layer; our step-by-step tensors match them too.

# %%
out_pkg, maps = mod(x, return_maps=True)
for name, mine, theirs in [("output", out_by_hand, out_pkg), ("gates", gates, maps["gates"]),
                           ("modulator", modulator, maps["modulator"])]:
    diff = np.abs(to_np(mine) - to_np(theirs)).max()
    np.testing.assert_allclose(to_np(mine), to_np(theirs), rtol=1e-5, atol=1e-6)
    print(f"{name:9s} max |by hand - package| = {diff:.1e}")

# %% [markdown]
# The official visualisations show one map per gate and the modulator as its L2 norm over channels
# ([Yang et al., 2022](../bibliography.md)). [The figure](#fig-gate-maps) draws them for our first image. The weights are untrained,
# so these maps show the machinery, not learned focus: the gates follow the colours of the input, because
# `f` is a random linear function of each token. Chapter 8 draws the same maps for the trained model.

# %% mystnb={"figure": {"caption": "One input image (left), its three raw gate maps (levels 1 and 2 and the global level) and the L2 norm of the modulator, for the first block of the untrained CIFAR-10 model. Gates can be negative (blue); each map has its own colour scale, centred on zero.", "name": "fig-gate-maps"}}
fig, axes = plt.subplots(1, 5, figsize=(15, 3.2))
axes[0].imshow(images[0].astype("uint8"))
axes[0].set_title("input (32x32)")
titles = ["gate, level 1", "gate, level 2", "gate, global"]
for k in range(3):
    gate_map = to_np(maps["gates"])[0, ..., k]
    vmax = np.abs(gate_map).max()
    im = axes[k + 1].imshow(gate_map, cmap="RdBu_r", vmin=-vmax, vmax=vmax)
    axes[k + 1].set_title(titles[k])
    fig.colorbar(im, ax=axes[k + 1], fraction=0.046)
im = axes[4].imshow(np.linalg.norm(to_np(maps["modulator"])[0], axis=-1), cmap="inferno")
axes[4].set_title("||modulator|| (16x16)")
fig.colorbar(im, ax=axes[4], fraction=0.046)
for ax in axes:
    ax.axis("off")
plt.tight_layout()
plt.show()

# %% [markdown] tags=["remove-cell"]
# *Figure: One input image (left), its three raw gate maps (levels 1 and 2 and the global level) and the
# L2 norm of the modulator, for the first block of the untrained CIFAR-10 model. Gates can be negative
# (blue); each map has its own colour scale, centred on zero.*

# %% [markdown]
# ## Why there is no softmax on the gates
#
# Gates that weigh $L + 1$ alternatives look like attention weights, and attention weights go through a
# softmax. The keras-io example of focal modulation does exactly that ([Gosthipaty and Raha, 2023](../bibliography.md)) (its comment
# says "for numerical stability"). The official implementation does not, and its README lists it as a feature:
#
# > It does not need softmax, multiple attention heads, feature map rolling or unfolding, etc.
#
# A softmax over the $L + 1$ gates makes them positive and forces them to **sum to one** at every token, so
# the aggregated context is a *convex combination* of the levels. Three abilities are lost:
#
# 1. **Volume.** With softmax, adding the same number to all $L + 1$ gate logits changes nothing, so the
#    token can no longer say "use a lot of context here" or "switch context off here": only the *mix* is
#    free. Raw gates have $L + 1$ degrees of freedom, softmax gates $L$.
# 2. **Sign.** A raw gate can be negative: a level can be *subtracted*, which makes the sum a learned
#    filter (e.g. local minus global, a contrast detector). Softmax weights cannot.
# 3. **Independence.** With softmax, raising one level's gate lowers all the others; raw gates are
#    independent numbers, one linear read-out each.
#
# The official code does have an optional `normalize_modulator`, which divides the sum by $L + 1$: a fixed
# rescaling, not a coupling, and off by default. Let us measure all this on the layer we just built. The
# package's `FocalModulation` accepts `gate_activation="softmax"` for exactly this comparison, so we make a
# softmax twin with the *same* weights.

# %%
soft = FocalModulation(focal_level=2, gate_activation="softmax")
soft.build(x.shape)
soft.set_weights(mod.get_weights())

_, soft_maps = soft(x, return_maps=True)
raw_g, soft_g = to_np(maps["gates"]), to_np(soft_maps["gates"])
raw_m = np.linalg.norm(to_np(maps["modulator"]), axis=-1)
soft_m = np.linalg.norm(to_np(soft_maps["modulator"]), axis=-1)
print("                      raw gates        softmax gates")
print("gate value  min/max   %6.3f / %6.3f   %6.3f / %6.3f" % (raw_g.min(), raw_g.max(), soft_g.min(), soft_g.max()))
print("gate sum    min/max   %6.3f / %6.3f   %6.3f / %6.3f" % (raw_g.sum(-1).min(), raw_g.sum(-1).max(),
                                                               soft_g.sum(-1).min(), soft_g.sum(-1).max()))
print("||modulator|| mean    %6.3f            %6.3f" % (raw_m.mean(), soft_m.mean()))
np.testing.assert_allclose(soft_g.sum(-1), 1.0, atol=1e-5)

# %% [markdown]
# At initialisation the raw gates are small numbers of both signs whose per-token sum scatters around zero, so
# the new layer starts with little context in its modulator. The softmax gates all sit near $1/3$ and sum to
# exactly one, which imposes a fixed amount of context from the first step.
#
# **Volume, measured.** The cleanest test of point 1 is to shift every gate by the same constant $c$, which a
# network can do by learning a bias (we add $c$ to the gate part of `f`'s bias). With raw gates the modulator
# grows or shrinks with $c$; with softmax gates it does not move at all, for any $c$.

# %%
def with_gate_shift(layer, shift, level=None):
    """A copy of `layer` with `shift` added to the bias of all gates (or of one level)."""
    twin = FocalModulation(focal_level=layer.focal_level, gate_activation=layer.gate_activation)
    twin.build(x.shape)
    twin.set_weights(layer.get_weights())
    bias = to_np(twin.f.bias).copy()
    if level is None:
        bias[2 * C:] += shift
    else:
        bias[2 * C + level] += shift
    twin.f.bias.assign(bias)
    return twin


shifts = np.linspace(-3, 3, 13)
norms = {"raw": [], "softmax": []}
norm_maps = {"raw": [], "softmax": []}  # ||modulator|| per token of the first image, for the slider below
for c in shifts:
    for name, layer in (("raw", mod), ("softmax", soft)):
        _, shifted = with_gate_shift(layer, c)(x, return_maps=True)
        norm_map = np.linalg.norm(to_np(shifted["modulator"]), axis=-1)
        norms[name].append(norm_map.mean())
        norm_maps[name].append(norm_map[0])
norms = {k: np.array(v) for k, v in norms.items()}
print("shift c         " + " ".join(f"{c:6.1f}" for c in shifts[::3]))
for name in norms:
    print(f"{name:8s}||m||   " + " ".join(f"{v:6.3f}" for v in norms[name][::3]))
np.testing.assert_allclose(norms["softmax"], norms["softmax"][len(shifts) // 2], rtol=1e-4)
assert norms["raw"].max() > 10 * norms["raw"].min()

# %% [markdown]
# Near $c = 0$ the raw modulator is smallest: gates of opposite signs cancel part of each other's context, and
# the bias of `h` starts at zero. In [the figure](#fig-gate-shift) the raw curve is V-shaped: a negative shift makes
# all gates negative and the modulator grows again, with the context subtracted. The softmax curve is flat: no
# bias can turn the context up or down.

# %% mystnb={"figure": {"caption": "Mean L2 norm of the modulator when the same constant is added to all gate logits. Raw gates (official) let the layer turn its context up, down or negative; softmax gates (keras-io) are blind to a common shift.", "name": "fig-gate-shift"}}
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(shifts, norms["raw"], "o-", label="raw gates (official)")
ax.plot(shifts, norms["softmax"], "s--", label="softmax gates (keras-io)")
ax.set_xlabel("shift c added to every gate")
ax.set_ylabel("mean ||modulator||")
ax.grid(alpha=0.3)
ax.legend()
plt.tight_layout()
plt.show()

# %% [markdown] tags=["remove-cell"]
# *Figure: Mean L2 norm of the modulator when the same constant is added to all gate logits. Raw gates
# (official) let the layer turn its context up, down or negative; softmax gates (keras-io) are blind to a
# common shift.*

# %% [markdown]
# Behind each point of the curve is a map: the modulator's norm at every token. The slider steps through
# the shifts $c$ for the first image, with the raw-gate map (left) and the softmax-gate map (middle) on
# one colour scale, shared by every frame, and the point of the curve it belongs to (right). Every frame
# was drawn in advance, so the slider also works in the HTML book, without a kernel.

# %%
map_max = max(m.max() for maps_of in norm_maps.values() for m in maps_of)


def shift_frame(index):
    """One slider frame: the ||modulator|| maps at shift shifts[index], and where they sit on the curve."""
    fig, axes = plt.subplots(1, 3, figsize=(9.6, 3.0), gridspec_kw={"width_ratios": [1, 1, 1.4]},
                             layout="constrained")
    for ax, name in zip(axes, ("raw", "softmax")):
        im = ax.imshow(norm_maps[name][index], cmap="inferno", vmin=0.0, vmax=map_max)
        ax.set_title(f"{name} gates: mean {norms[name][index]:.3f}", fontsize=9)
        ax.axis("off")
    fig.colorbar(im, ax=axes[:2], fraction=0.025, label="||modulator||")
    axes[2].plot(shifts, norms["raw"], "-", color="C0", label="raw")
    axes[2].plot(shifts, norms["softmax"], "--", color="C1", label="softmax")
    for name, colour in (("raw", "C0"), ("softmax", "C1")):
        axes[2].plot(shifts[index], norms[name][index], "o", color=colour)
    axes[2].axvline(shifts[index], color="gray", lw=0.7)
    axes[2].set_xlabel("shift c added to every gate", fontsize=9)
    axes[2].set_title("mean ||modulator||", fontsize=9)
    axes[2].legend(fontsize=8)
    return fig


shift_slider = FrameStepper([shift_frame(i) for i in range(len(shifts))], [f"{c:+.1f}" for c in shifts],
                            description="gate shift c", value=len(shifts) // 2, dpi=80)
print(f"{len(shifts)} frames, {shift_slider.nbytes / 1024:.0f} KB of PNG; mode: {shift_slider.mode}")
shift_slider

# %% [markdown]
# **Coupling, measured.** Now raise the gate of level 1 alone by 2. With raw gates only that gate moves;
# the other two are untouched. With softmax, the level-1 weight rises and *both* others fall, although
# nothing about them changed.

# %%
print("mean gate per level          level 1   level 2   global")
for name, layer in (("raw", mod), ("softmax", soft)):
    _, before = layer(x, return_maps=True)
    _, after = with_gate_shift(layer, 2.0, level=0)(x, return_maps=True)
    b = to_np(before["gates"]).mean(axis=(0, 1, 2))
    a = to_np(after["gates"]).mean(axis=(0, 1, 2))
    print(f"{name:8s} before            " + "  ".join(f"{v:8.4f}" for v in b))
    print(f"{name:8s} after +2 on lvl 1 " + "  ".join(f"{v:8.4f}" for v in a))
    if name == "raw":
        np.testing.assert_allclose(a[1:], b[1:], atol=1e-6)

# %% [markdown]
# The official design is therefore the *more* expressive one: a softmax adds no stability that the layer
# needs (`norm1` normalises the input of `f` and `f` starts with small weights, so the raw gates start small),
# and it removes the token's control over how much context it takes. Chapter 5 measures the keras-io
# example's other departures.

# %%
run_seconds = timer.stop()  # the chapter's run time, also written under the setup cell

# %% [markdown]
# ## Summary
#
# - One linear layer `f` gives the query, the context and $L + 1$ gates; the gates are raw numbers, one per
#   token and level, shared by all channels.
# - Gated aggregation is a per-token weighted sum over levels, $Z^{\text{out}} = \sum_\ell G^\ell \odot Z^\ell$;
#   the modulator is $m = h(Z^{\text{out}})$ with $h$ a 1x1 convolution (a `Dense` on channels-last tokens).
# - The output is $\mathrm{proj}(q \odot m)$: the token is scaled by its context, never compared with other
#   tokens. Our step-by-step version, and the one-page `MiniFocalModulation` written from it, match
#   `focal_utils.FocalModulation` to float32 round-off.
# - Softmax gates sum to one per token: they cannot change the amount of context (a common shift has
#   exactly no effect), cannot subtract a level, and couple the levels. The official code has no softmax.
#
# ## Exercises
#
# 1. Build `FocalModulation(focal_level=3)` and repeat the step-by-step computation. How many gates are there,
#    and what are the kernel sizes of the levels?
# 2. Replace the softmax by a sigmoid (positive, but not summing to one). Which of the three lost abilities
#    come back? Implement it by applying `ops.sigmoid` to the raw gates in a copy of Step 4.
# 3. Set `normalize_modulator=True` and repeat the shift experiment. Does the curve change shape, or only scale?
# 4. Make the gates negative for the global level only (shift that one gate by $-3$) and plot the modulator norm
#    map. Where in the image does subtracting the global context matter most?
#
# ## References
#
# Full entries with every chapter that cites them: the [bibliography](../bibliography.md).
#
# ```{bibliography}
# :filter: key in {"kerasio2023focalnet", "yang2022focal"}
# ```
