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
# # 6. The full network
#
# The previous chapters built the parts one at a time: the patch embedding that turns pixels into
# tokens, the focal modulation that mixes them, and the block and stage that wrap it in residual
# branches. This chapter answers the question that is left: **how do these parts compose into an
# image classifier, how large is the result, and how do we keep it?** We assemble the book's
# CIFAR-10 model by hand and check it against the package, justify its one unusual choice (a
# patch size of 2), look at where its parameters live, rebuild the paper's six ImageNet
# models and compare their parameters and FLOPs with the published numbers
# ([Yang et al., 2022](../bibliography.md)), and finally save, reload and probe a model. You need
# [chapter 2](02_patch_embedding.ipynb) and [chapter 5](05_block_and_stage.ipynb); the rest is
# self-contained.
#
# The note under the setup cell gives the chapter's run time, measured by its last code cell.

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
import tempfile

import keras
import matplotlib.pyplot as plt
import numpy as np
from keras import ops

import focal_utils as fu
from focal_utils.report import compare_with_paper, describe_model, parameter_breakdown
from focal_utils.tables import Table
from focal_utils.timing import ChapterTimer

keras.utils.set_random_seed(0)
timer = ChapterTimer(CHAPTER_START)  # a note here, which the last code cell fills in
print("keras", keras.__version__, "backend", keras.backend.backend())

# %% [markdown]
# ## 6.1 From stages to a classifier
#
# FocalNet keeps the hierarchical layout that Swin Transformer made standard for vision
# transformers ([Liu et al., 2021](../bibliography.md)), and only swaps the token mixer
# ([Yang et al., 2022](../bibliography.md)). An image goes through four pieces, in order:
#
# 1. **Stem.** A `PatchEmbedding` with kernel = stride = `patch_size` cuts the image into
#    non-overlapping patches and projects each to `embed_dim` channels, then a LayerNorm.
# 2. **Stages.** Stage $i$ holds `depths[i]` FocalNet blocks at a fixed resolution and
#    $C_i = 2^i C_0$ channels, with $C_0$ = `embed_dim`. Every stage but the last ends with a
#    downsampling `PatchEmbedding` of patch 2: the token grid halves in each direction (four times
#    fewer tokens) while the channels double, and since a block's cost per token grows with $C^2$,
#    a block costs about the same in every stage.
# 3. **Final norm.** A LayerNorm over the channels of the last feature map.
# 4. **Head.** Global average pooling over the token grid and one `Dense` layer that returns
#    **logits**, not probabilities: the softmax belongs to the loss.
#
# The two CIFAR-10 models of the book, drawn from their own configurations (on the right, the model that
# [chapter 7](07_training.ipynb) trains; the next section explains the difference):

# %% mystnb={"figure": {"caption": "The book's two CIFAR-10 networks, drawn by `focal_utils.diagrams` from the models themselves: `focalnet_cifar` (this chapter, patch-2 stem) and `focalnet_cifar_conv` (trained in chapter 7, overlapping stem), with the token grid and width after every step.", "name": "fig-network-diagrams"}}
from focal_utils import diagrams

fig, axes = plt.subplots(1, 2, figsize=(15, 7.6))
for name, ax in zip(("focalnet_cifar", "focalnet_cifar_conv"), axes):
    diagrams.draw_network(fu.create_model(name), ax=ax)
keras.backend.clear_session()

# %% [markdown] tags=["remove-cell"]
# *Figure: The book's two CIFAR-10 networks, drawn by `focal_utils.diagrams` from the models themselves:
# `focalnet_cifar` (this chapter, patch-2 stem) and `focalnet_cifar_conv` (trained in chapter 7,
# overlapping stem), with the token grid and width after every step.*

# %% [markdown]
# In the package the first three pieces are `FocalNet.forward_features` and the last is
# `FocalNet.forward_head`; `call` is just the two in a row.

# %%
print(inspect.getsource(fu.FocalNet.forward_features))
print(inspect.getsource(fu.FocalNet.forward_head))
print(inspect.getsource(fu.FocalNet.call))

# %% [markdown]
# (`apply_norm(self.norm, x)` is the final LayerNorm, `self.norm(x)`, in the fused form of Chapter 5.)
#
# We build the book's CIFAR-10 model and push a batch through the pieces ourselves, printing the
# shape after each. The model standardises its inputs itself (more on that below), so for the
# hand-made pass we do the standardisation with the registered CIFAR-10 statistics.

# %%
model = fu.create_model("focalnet_cifar")
rng = np.random.default_rng(0)
# uint8 images on the 0-255 scale, as a dataset gives them
images = rng.integers(0, 256, size=(8, 32, 32, 3), dtype=np.uint8)
mean = np.array(fu.CIFAR10_MEAN, "float32")
std = np.array(fu.CIFAR10_STD, "float32")
standardised = (images.astype("float32") - mean) / std

x = standardised
print(f"{'input (standardised)':<28}{tuple(x.shape)}")
x = model.patch_embed(x)
print(f"{'stem':<28}{tuple(x.shape)}")
for stage in model.stages:
    for block in stage.blocks:
        x = block(x, training=False)
    print(f"{stage.name + f' ({stage.depth} blocks)':<28}{tuple(x.shape)}")
    if stage.downsample is not None:
        x = stage.downsample(x)
        print(f"{stage.name + ' downsample':<28}{tuple(x.shape)}")
x = model.norm(x)
print(f"{'final norm':<28}{tuple(x.shape)}")
pooled = ops.mean(x, axis=(1, 2))
print(f"{'global average pool':<28}{tuple(pooled.shape)}")
by_hand = model.head(pooled)
print(f"{'head (logits)':<28}{tuple(by_hand.shape)}")

logits = model(images, training=False)
np.testing.assert_allclose(ops.convert_to_numpy(by_hand), ops.convert_to_numpy(logits),
                           rtol=1e-5, atol=1e-5)
print("hand-made pass == model(images):", True)

# %% [markdown]
# The hand-made pass and `model(images)` agree. Note the order inside a stage: the blocks run at
# the stage's own resolution and the downsampling comes *last*, as in the official code, so the
# output of `stage_0` is already the $8\times 8\times 128$ input of `stage_1`, and the last stage,
# which has no downsampling, hands its $4\times 4\times 256$ map to the final norm.
#
# ## 6.2 The book's CIFAR-10 model
#
# The paper's models are built for $224\times 224$ ImageNet images. The book trains on CIFAR-10
# ([Krizhevsky, 2009](../bibliography.md)), whose images are $32\times 32$, so it registers its own
# configuration:

# %%
# NBVAL_CHECK_OUTPUT
config = fu.model_config("focalnet_cifar")
for key, value in config.items():
    print(f"{key:<16}{value}")

# %% [markdown]
# Three stages of 64, 128 and 256 channels with 2, 3 and 2 blocks, focal level 2 (depthwise
# kernels 3 and 5 plus the global level) in every block, as in the paper's "srf" models.
#
# ### Why patch 2
#
# The ImageNet stem uses patch 4: a $224\times 224$ image becomes $56\times 56$ tokens, and the
# four stages work on $56^2, 28^2, 14^2, 7^2$ tokens. The same stem on a $32\times 32$ image would
# leave only $8\times 8$ tokens, and after two downsamplings the last stage would work on a
# $2\times 2$ grid: four tokens, where the 5x5 kernel of the second focal level sees mostly zero
# padding and the "global" level averages four numbers. `describe_model` (from the package's
# `report` module) reads the token grid of every stage, the parameters and the FLOPs of a built
# model, so we can set patch sizes 1, 2 and 4 side by side; `Table` shows such rows as a table.

# %%
print(inspect.getsource(describe_model))

# %%
# NBVAL_CHECK_OUTPUT
patch_rows = [describe_model(fu.create_model("focalnet_cifar", patch_size=p))
              for p in (1, 2, 4)]
keras.backend.clear_session()
Table(patch_rows, [
    ("patch", "patch_size", "d"),
    ("tokens per stage", "tokens", "d"),
    ("grid of the last stage", "grids", lambda g: f"{g[-1][0]}x{g[-1][1]}"),
    ("parameters", "params", ",d"),
    ("MFLOPs / image", "flops", lambda f: f"{f / 1e6:.1f}"),
])

# %% [markdown]
# Three things stand out.
#
# * **Parameters barely move** (2,480,671 / 2,481,247 / 2,483,551). Every layer after the stem
#   acts per token or as a small shared kernel, so its size does not depend on how many tokens
#   there are; only the stem's $p\times p\times 3\times 64$ kernel grows with the patch.
# * **FLOPs scale with the tokens.** Every stage has $4\times$ fewer tokens with patch 4 than with
#   patch 2, so the whole forward pass costs $4\times$ less (24.0 vs 95.3 MFLOPs), and patch 1
#   costs $4\times$ more again (380.7 MFLOPs). A FLOP here is one multiply-accumulate, the
#   convention of the paper's tables.
# * **Patch 2 is the compromise.** The focal levels are stacked (level 2's 5x5 kernel works on
#   level 1's 3x3 output), so in stage 0 they see $3\times 3$ and $7\times 7$ tokens. With patch 2
#   that is $6\times 6$ and $14\times 14$ pixels, a fifth and under half of the image's width, and
#   the stages above still have room to widen the context down to a last stage of $4\times 4$
#   tokens. With patch 4 the second level already spans $28\times 28$ of the 32 pixels in the
#   *first* stage, and the last stage is the $2\times 2$ grid above. Patch 1 would keep every
#   detail, at $4\times$ the compute of patch 2 and $16\times$ that of patch 4.
#
# The price of the extra tokens is time, and on a CPU time decides how many epochs a training run gets.
# [Chapter 7](07_training.ipynb) measures that trade and settles it the other way: it trains
# `focalnet_cifar_conv`, which keeps this chapter's stages but puts the official overlapping stem
# (`use_conv_embed`: a 7x7 convolution with stride 4) in front of them. The stem gives patch 4's $8\times 8$
# tokens and about its FLOPs, and its overlapping windows see the neighbourhood that a plain 4x4 patch
# lacks; what it does not change is the $2\times 2$ last stage above. The trained model pays for that
# there: [chapter 8](08_interpretation.ipynb) finds that its last stage's maps can only point at a quarter
# of the image. The patch-2 model of this chapter stays the book's reference for the mechanics; the
# trained model is the CPU-budget compromise.
#
# ### Preprocessing inside the model
#
# `input_mean` and `input_std` are the CIFAR-10 channel statistics on the 0-255 scale. The model
# applies $(x - \mu)/\sigma$ itself, so it takes images exactly as the dataset stores them
# (`uint8`, 0-255), and a saved model carries its preprocessing with it: nobody has to remember
# to normalise before calling it. We check that this is all it does: a twin without the
# statistics, given the same weights and inputs standardised by hand, returns the same logits.

# %%
raw_twin = fu.create_model("focalnet_cifar", input_mean=None, input_std=None)
raw_twin.set_weights(model.get_weights())
twin_logits = ops.convert_to_numpy(raw_twin(standardised, training=False))
np.testing.assert_allclose(twin_logits, ops.convert_to_numpy(logits),
                           rtol=1e-5, atol=1e-5)
# uint8 and float32 inputs with the same values give the same logits.
np.testing.assert_array_equal(
    ops.convert_to_numpy(model(images.astype("float32"), training=False)),
    ops.convert_to_numpy(logits))
print("input dtype:", images.dtype, "range:", images.min(), "-", images.max())
print(f"standardised: mean {standardised.mean():.3f}, std {standardised.std():.3f}")
del raw_twin

# %% [markdown]
# ## 6.3 The model summary
#
# `model.summary()` lists the model's direct sublayers. Because `FocalNet` is a subclassed
# `keras.Model` that was built with a known input shape, Keras can show each sublayer's output
# shape and parameter count. A stage's count includes its downsampling layer, and its output
# shape is the one *after* downsampling.

# %%
# With a print_fn, Keras prints plain text: no terminal colour codes in the stored output or the HTML.
model.summary(print_fn=lambda text, line_break=True: print(text))

# %%
# NBVAL_CHECK_OUTPUT
print(f"parameters: {model.count_params():,}")
print(f"float32 weights: {model.count_params() * 4 / 2**20:.2f} MiB")
print(f"FLOPs per 32x32 image: {fu.count_flops(model):,}")
assert model.count_params() == 2_481_247

# %% [markdown]
# ## 6.4 An untrained forward pass
#
# Before training, a classifier should be *uninformed*: it should spread its probability evenly
# over the ten classes, so that the first loss is the cross-entropy of a uniform guess,
# $-\ln(1/10) = \ln 10 \approx 2.303$. A much larger first loss means some layer starts with
# outputs far from zero, and the first optimisation steps are spent undoing that. The FocalNet
# head is initialised as in the official code (truncated normal weights with standard deviation
# 0.02, zero bias), so the logits start close to zero. We check it on a larger batch with random
# labels.

# %%
batch = rng.integers(0, 256, size=(64, 32, 32, 3), dtype=np.uint8)
labels = rng.integers(0, 10, size=(64,))
batch_logits = model(batch, training=False)
probabilities = ops.convert_to_numpy(ops.softmax(batch_logits, axis=-1))
loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
loss = float(ops.convert_to_numpy(loss_fn(labels, batch_logits)))

print("logits:", tuple(batch_logits.shape), "dtype", batch_logits.dtype)
print(f"logit std: {ops.convert_to_numpy(batch_logits).std():.4f}")
sums = probabilities.sum(-1)
print(f"softmax sums: min {sums.min():.6f}, max {sums.max():.6f}")
print(f"largest probability: {probabilities.max():.4f} (uniform: 0.1)")
print(f"initial loss: {loss:.4f}   ln(10) = {math.log(10):.4f}")
np.testing.assert_allclose(sums, 1.0, rtol=1e-5)
assert abs(loss - math.log(10)) < 0.05

# %% [markdown]
# The model is in inference mode above (`training=False`). In training mode, stochastic depth
# ([Huang et al., 2016](../bibliography.md)) drops whole residual branches at random (rates rising from 0 to
# `drop_path_rate=0.1` over the seven blocks), so two training-mode calls on the same images
# differ, while inference is deterministic:

# %%
first, second = model(images, training=False), model(images, training=False)
train_a, train_b = model(images, training=True), model(images, training=True)
print("inference twice, max |diff|:", float(ops.max(ops.abs(first - second))))
print("training twice,  max |diff|:", float(ops.max(ops.abs(train_a - train_b))))
rates = [block.drop_path_rate for stage in model.stages for block in stage.blocks]
print("drop path rates per block:", [round(rate, 3) for rate in rates])

# %% [markdown]
# ## 6.5 Where the parameters live
#
# The summary stops at the stages. `parameter_breakdown` goes one level deeper and splits each
# stage into its focal modulations, MLPs, LayerNorms and downsampling layer.

# %%
print(inspect.getsource(parameter_breakdown))

# %%
# NBVAL_CHECK_OUTPUT
cifar_parts = parameter_breakdown(model)
for part, counts in cifar_parts.items():
    print(f"{part:<12}", ", ".join(f"{name} {n:,}" for name, n in counts.items()))
assert sum(sum(c.values()) for c in cifar_parts.values()) == model.count_params()
stages = [cifar_parts[f"stage_{i}"] for i in range(3)]
block_params = sum(c["mlp"] + c["modulation"] + c["norms"] for c in stages)
mlp_share = sum(c["mlp"] for c in stages) / block_params
last_share = sum(cifar_parts["stage_2"].values()) / model.count_params()
print(f"MLP share of the block parameters: {mlp_share:.1%}")
print(f"last stage share of all parameters: {last_share:.1%}")

tiny = fu.create_model("focalnet_tiny_srf")
tiny_parts = parameter_breakdown(tiny)
assert sum(sum(c.values()) for c in tiny_parts.values()) == tiny.count_params()
del tiny
keras.backend.clear_session()

# %% [markdown]
# A back-of-the-envelope count explains the numbers. In a block with $C$ channels, focal level
# $L$ and MLP ratio 4, the MLP holds $2\cdot 4C^2$ weights, while the focal modulation holds about
# $4C^2$: $C(2C + L + 1)$ for the projection $f$ to query, context and gates, $C^2$ each for $h$
# and the output projection, plus only $C(3^2 + 5^2)$ for the depthwise kernels. So **about two
# thirds of every block is MLP**, and the spatial mixing itself, the part that replaces attention,
# is almost free in parameters. And since a block's size grows with $C^2$, each stage's blocks are
# four times larger than the previous stage's: the last stage of the CIFAR model holds nearly two
# thirds of its parameters with 2 of its 7 blocks.

# %% mystnb={"figure": {"caption": "Where the parameters live: per stage and component, for the book's CIFAR-10 model (left) and the paper's FocalNet-T (srf) at 224x224 (right). The MLPs dominate every stage, and the deepest stages dominate the model.", "name": "fig-params-per-stage"}}
components = ["patch embedding", "modulation", "mlp", "norms", "downsample",
              "final norm", "head"]
colours = dict(zip(components, plt.cm.tab10.colors))
fig, axes = plt.subplots(1, 2, figsize=(11, 3.9))
for ax, parts, title in [(axes[0], cifar_parts, "focalnet_cifar (2.48 M)"),
                         (axes[1], tiny_parts, "focalnet_tiny_srf (28.4 M)")]:
    names = list(parts)
    left = np.zeros(len(names))
    for component in components:
        values = np.array([parts[n].get(component, 0) for n in names]) / 1e6
        if values.any():
            ax.barh(names, values, left=left, color=colours[component])
            left += values
    for y, total in enumerate(left):
        label = f" {total:.2f} M" if total >= 0.01 else f" {total * 1e3:.1f} k"
        ax.text(total, y, label, va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, left.max() * 1.2)
    ax.set_xlabel("parameters (millions)")
    ax.set_title(title)
handles = [plt.Rectangle((0, 0), 1, 1, color=colours[c]) for c in components]
fig.legend(handles, components, loc="lower center", ncol=len(components),
           fontsize=8, frameon=False)
fig.tight_layout(rect=(0, 0.08, 1, 1))
plt.show()

# %% [markdown] tags=["remove-cell"]
# *Figure: Where the parameters live: per stage and component, for the book's CIFAR-10 model (left) and
# the paper's FocalNet-T (srf) at 224x224 (right). The MLPs dominate every stage, and the deepest stages
# dominate the model.*

# %% [markdown]
# ## 6.6 The paper's models: parameters and FLOPs
#
# The paper reports three sizes, tiny (T), small (S) and base (B), each with a small receptive
# field (srf: focal level 2, kernels 3 and 5) and a large one (lrf: focal level 3, kernels 3, 5
# and 7) ([Yang et al., 2022](../bibliography.md)). Their depths and widths are those of Swin-T/S/B
# ([Liu et al., 2021](../bibliography.md)): embed dim 96, 96 and 128, and depths 2-2-6-2 for T and 2-2-18-2 for S and
# B. The registry holds all six, and `compare_with_paper` builds each with `create_model` at
# $224\times 224$ and 1000 classes, counts its parameters and FLOPs, and frees it
# (`del` and `keras.backend.clear_session()`) before building the next. The base models hold
# tens of millions of float32 parameters each (counted below); building them one at a time keeps the peak
# memory at that of one model.

# %%
print(inspect.getsource(compare_with_paper))

# %%
start = time.perf_counter()
paper_rows = compare_with_paper(clear_session=True)
elapsed = time.perf_counter() - start
print(f"built and measured {len(paper_rows)} models in {elapsed:.1f} s")

# %%
# NBVAL_CHECK_OUTPUT
for row in paper_rows:
    assert row["params"] == row["paper_params"], row["name"]
    assert abs(row["gflops_rel_diff"]) < 0.02, row["name"]
Table(paper_rows, [
    ("model", "name", lambda n: n.replace("focalnet_", "")),
    ("params (ours)", "params", ",d"),
    ("params (paper)", "paper_params", ",d"),
    ("GFLOPs (ours)", "gflops", ".3f"),
    ("GFLOPs (paper)", "paper_gflops", ".1f"),
    ("FLOPs diff", "gflops_rel_diff", "+.2%"),
    ("top-1 (paper)", "paper_top1", ".1f"),
])

# %% [markdown]
# The cell's assertions hold: every parameter count matches the official models to the last
# weight, a strong check that every layer, bias and norm is where the official code puts it. The
# FLOPs differ from the paper by at most 0.4%, and only because the paper rounds to 0.1 G: our
# 4.413 G for the tiny srf model prints as 4.4.
# (The top-1 column is the paper's ImageNet-1K accuracy, quoted, not measured here.)
#
# The lrf models cost little more than the srf ones. Going from focal level 2 to 3 adds, per
# block, one $7\times 7$ depthwise kernel without bias ($49C$ weights) and one more gate, a column
# of $f$ ($C$ weights and a bias). We can check that formula against the table exactly:

# %%
# NBVAL_CHECK_OUTPUT
by_name = {row["name"]: row for row in paper_rows}
for size in ("tiny", "small", "base"):
    srf, lrf = by_name[f"focalnet_{size}_srf"], by_name[f"focalnet_{size}_lrf"]
    predicted = sum(depth * (49 * channels + channels + 1)
                    for depth, channels in zip(lrf["depths"], lrf["stage_dims"]))
    measured = lrf["params"] - srf["params"]
    share = measured / srf["params"]
    print(f"{size:<6} lrf - srf: {measured:,} parameters (+{share:.2%}); "
          f"formula: {predicted:,}")
    assert measured == predicted

# %% [markdown]
# ## 6.7 Features without the head
#
# For transfer learning, detection or the probes of later chapters we often want the features,
# not the ImageNet or CIFAR-10 logits. There are two ways. On any model, `forward_features`
# returns the normalised last feature map and `forward_head(..., pre_logits=True)` pools it
# without applying the head. Or we build the model with `num_classes=0`, which has no head at
# all: its output *is* the pooled feature vector, and it has exactly the head's
# $256\cdot 10 + 10 = 2570$ parameters fewer.

# %%
features = model.forward_features(images, training=False)
pooled_features = model.forward_head(features, pre_logits=True)
headless = fu.create_model("focalnet_cifar", num_classes=0)
# every weight but the head's kernel and bias, which come last
headless.set_weights(model.get_weights()[:-2])
headless_out = headless(images, training=False)

print("forward_features:", tuple(features.shape))
print("forward_head(pre_logits=True):", tuple(pooled_features.shape))
print("num_classes=0 output:", tuple(headless_out.shape))
print(f"parameters: {model.count_params():,} with head, "
      f"{headless.count_params():,} without")
np.testing.assert_allclose(ops.convert_to_numpy(headless_out),
                           ops.convert_to_numpy(pooled_features), rtol=1e-5, atol=1e-5)
assert model.count_params() - headless.count_params() == 256 * 10 + 10
del headless

# %% [markdown]
# ## 6.8 Saving and loading
#
# Every layer of the package is registered with `keras.saving.register_keras_serializable` and
# has a `get_config` that lists all its constructor arguments, so the native `.keras` format
# stores the architecture (as a config), the weights, and the preprocessing statistics, and
# `keras.saving.load_model` rebuilds the same model with no `custom_objects`, as long as
# `focal_utils` is imported. We save into a temporary directory, reload, and ask for *identical*
# outputs, not merely close ones: the same weights and the same operations give the same bits.

# %%
with tempfile.TemporaryDirectory() as directory:
    path = os.path.join(directory, "focalnet_cifar.keras")
    model.save(path)
    size_mb = os.path.getsize(path) / 2**20
    reloaded = keras.saving.load_model(path)

original_out = ops.convert_to_numpy(model(images, training=False))
reloaded_out = ops.convert_to_numpy(reloaded(images, training=False))
max_diff = float(np.abs(original_out - reloaded_out).max())
print(f"file size: {size_mb:.1f} MiB")
print("reloaded:", type(reloaded).__name__, reloaded.name)
print("max |original - reloaded|:", max_diff)
assert isinstance(reloaded, fu.FocalNet)
assert max_diff == 0.0
assert reloaded.get_config() == model.get_config()

# %% [markdown]
# The config alone is the architecture without the weights. `from_config(get_config())` gives a
# model of the same shape and size (including the preprocessing statistics) with freshly
# initialised weights:

# %%
# NBVAL_CHECK_OUTPUT
clone = fu.FocalNet.from_config(model.get_config())
clone.build((None, 32, 32, 3))
print("same config:", clone.get_config() == model.get_config())
print(f"same parameter count: {clone.count_params():,}")
same_weights = all(np.array_equal(a, b)
                   for a, b in zip(clone.get_weights(), model.get_weights()))
print("same weights:", same_weights)
assert clone.get_config() == model.get_config() and not same_weights
print({key: model.get_config()[key] for key in ("patch_size", "depths", "input_mean")})
del clone, reloaded

# %% [markdown]
# ## 6.9 A preview: reading the modulation maps
#
# [Chapter 8](08_interpretation.ipynb) looks inside a *trained* model at the two things each focal
# modulation computes: the **gates**, one map per focal level plus the global one ($L+1 = 3$
# channels here), which say how much each level contributes at each token, and the
# **modulator**, the $C$-channel aggregated context that multiplies the query. `modulation_maps`
# returns both for every block in one inference pass, keyed `"stage_i/block_j"`. On our untrained
# model the values mean nothing yet, but the shapes already tell the structure: one entry per
# block, at the resolution and width of its stage.

# %%
# NBVAL_CHECK_OUTPUT
maps, map_logits = fu.modulation_maps(model, images[:4], return_logits=True)
for key, block_maps in maps.items():
    gates, modulator = block_maps["gates"], block_maps["modulator"]
    print(f"{key:<16} gates {gates.shape}   modulator {modulator.shape}")
np.testing.assert_allclose(
    map_logits, ops.convert_to_numpy(model(images[:4], training=False)),
    rtol=1e-5, atol=1e-5)

# %% [markdown]
# The maps are *returned* by `call(..., return_maps=True)`, never stored on the layers. (The
# keras-io example keeps `self.gates` and `self.modulator` on the layer ([Gosthipaty and Raha, 2023](../bibliography.md)),
# which under a compiled `call` would hold a symbolic tensor.) We can check that reading the maps
# left no trace on any focal modulation layer: their attributes are the same before and after.

# %%
modulations = [block.modulation for stage in model.stages for block in stage.blocks]
before = [set(vars(layer)) for layer in modulations]
fu.modulation_maps(model, images[:2])
after = [set(vars(layer)) for layer in modulations]
assert before == after
print(f"{len(modulations)} focal modulation layers: reading the maps added no attribute")
print("gates/modulator attributes:",
      [name for name in sorted(before[0]) if name in ("gates", "modulator")])

# %%
run_seconds = timer.stop()  # the chapter's run time, also written under the setup cell

# %% [markdown]
# ## Summary
#
# * A FocalNet is a stem (patch embedding), stages of blocks that end in a 2x downsampling with
#   channel doubling (except the last), a final LayerNorm, and a pooled linear head that returns
#   logits; `forward_features` and `forward_head` expose the two halves.
# * The book's CIFAR-10 model uses patch 2 on $32\times 32$ images: 16/8/4 tokens per side,
#   2,481,247 parameters and 95.3 MFLOPs per image, 4x the compute of patch 4 for a last stage that
#   is still a $4\times 4$ map. It standardises 0-255 inputs itself. ([chapter 7](07_training.ipynb) trains
#   `focalnet_cifar_conv`, the same stages behind the official overlapping stride-4 stem: on a CPU
#   budget, more epochs on 8x8 tokens beat fewer on 16x16.)
# * Untrained, it predicts a near-uniform distribution: the first loss is $\ln 10$.
# * Two thirds of every block is MLP, and the deepest stages hold most of the parameters.
# * The registry rebuilds the paper's six ImageNet models with exactly their published parameter
#   counts and FLOPs within 0.4%; a `.keras` file reloads to bit-identical outputs.
#
# ## Exercises
#
# 1. Add a fourth stage to the CIFAR model (`depths=(2, 2, 2, 2)`). What does its token grid
#    become with patch 2, and how do its parameters and FLOPs compare with the three-stage model?
#    Use `describe_model`.
# 2. Derive by hand the number of parameters of one FocalNet block with $C = 64$ and $L = 2$, and
#    check it against `parameter_breakdown(model)["stage_0"]` (two such blocks plus the
#    downsampling layer).
# 3. The paper's FLOPs ignore activations and element-wise sums. Estimate how many extra
#    operations the GELUs and the gating multiplications of `focalnet_tiny_srf` would add, as a
#    fraction of its 4.41 GFLOPs.
# 4. Build `focalnet_tiny_srf` with `image_size=384`. How do its parameters and FLOPs change, and
#    why does one of them not change at all?
#
# ## References
#
# Full entries with every chapter that cites them: the [bibliography](../bibliography.md).
#
# ```{bibliography}
# :filter: key in {"huang2016deep", "kerasio2023focalnet", "krizhevsky2009cifar", "liu2021swin", "yang2022focal"}
# ```
