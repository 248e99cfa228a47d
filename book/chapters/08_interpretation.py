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
# # 8. Looking inside a trained FocalNet
#
# Focal modulation computes, at every position of every block, **gates** that say how much of each focal
# level (near context, wider context, the global average) the token takes, and a **modulator** that carries
# that mixed context to the query. The paper's claim is that these quantities are interpretable for free:
# no extra pass, no gradients, they are part of the forward computation ([Yang et al., 2022](../bibliography.md)). This chapter
# checks that claim on the model trained in [chapter 7](07_training.ipynb): **where do the gates open, where is the
# modulator strong, and does any of it change with training, with the class, or when the model is wrong?**
# It ends with an explorer that lets you scrub through images, blocks and maps with sliders, in Colab and in
# this page alike. You need [chapter 4](04_gated_aggregation.ipynb) (gates and modulator) and the trained weights of
# [chapter 7](07_training.ipynb), which ship with the package.
#
# The note under the setup cell gives the chapter's run time (most of it classifying the 10,000 test images
# once), measured by its last code cell.

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
import csv
import inspect
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display

import focal_utils
from focal_utils import data, evaluation, interpretation, pretrained, viz
from focal_utils.timing import ChapterTimer
from focal_utils.widgets import FrameStepper, GateExplorer

keras.utils.set_random_seed(0)
timer = ChapterTimer(CHAPTER_START)  # a note here, which the last code cell fills in

# %% [markdown]
# ## 8.1 The trained model
#
# Chapter 7 trained `focalnet_cifar_conv` (2.7 M parameters; the official overlapping 7x7 stride-4 stem, so
# 8x8 tokens; three stages of 2, 3 and 2 blocks; two focal levels with 3x3 and 5x5 kernels) and saved it,
# without optimiser state, inside the package (the cell below prints how many epochs it trained). `load_pretrained` reads it with `keras.saving.load_model`; the model takes images as
# CIFAR-10 gives them (32x32x3, 0-255) and returns logits. Before reading its gates we check that it is the
# model we think it is: its accuracy on the 10,000 test images must be the one stored with it when it
# shipped (`focal_utils/weights/runs.csv`, which chapter 7 reads too).

# %%
model = pretrained.load_pretrained()
(_, _), (x_test, y_test) = data.load_cifar10()
logits = model.predict(x_test, batch_size=250, verbose=0)
predictions = logits.argmax(axis=-1)
test_accuracy = float((predictions == y_test).mean())
print(f"{model.name}: {model.count_params():,} parameters ({model.count_params() / 1e6:.1f} M), "
      f"test accuracy {test_accuracy:.2%}")
with open(pretrained.WEIGHTS_DIR / "runs.csv", newline="") as f:
    shipped = list(csv.DictReader(f))[-1]  # the last run is the shipped one
print(f"stored when it shipped, after {shipped['epochs']} epochs: {float(shipped['test_accuracy']):.2%}")
assert abs(test_accuracy - float(shipped["test_accuracy"])) < 1e-4, (test_accuracy, shipped)

# %% [markdown]
# `focal_utils.modulation_maps` runs one inference pass and returns, for every block, the gates
# `(N, h, w, L + 1)` and the modulator `(N, h, w, C)` that the block computed on the way (Chapter 6 shows
# how the model hands them out; nothing is stored on the layers). For one image:

# %%
# NBVAL_CHECK_OUTPUT
maps = focal_utils.modulation_maps(model, x_test[:1])
for key, block in maps.items():
    print(f"{interpretation.block_label(key)}: gates {block['gates'].shape}, "
          f"modulator {block['modulator'].shape}")

# %% [markdown]
# ## 8.2 What we draw, and how
#
# Each block gives us four maps per image: the gate of level 1 (context gathered by a 3x3 depthwise
# convolution), the gate of level 2 (5x5 on top of it, 7x7 in all), the global gate (the average of the
# whole feature map), and the **modulator norm**, the L2 norm over channels of the modulator
# $m = h\left(\sum_{\ell} g^{\ell} \odot z^{\ell}\right)$: large where the block injects a lot of context
# into the query, small where the query passes almost unchanged. The gates are raw linear outputs (no
# softmax, Chapter 4), so they can be negative, and the levels do not compete for a fixed budget.

# %%
print(inspect.getsource(interpretation.block_panels))

# %% [markdown]
# A stage-0 map has 8x8 values for a 32x32 image: the stem moves in steps of 4 pixels, so token $(i, j)$
# stands for the 4x4 cell of pixels $(4i..4i+3, 4j..4j+3)$ (its 7x7 window reaches 2 pixels beyond the cell
# on the top and left, 1 on the bottom and right, so it is centred within half a pixel of the cell's
# centre); a stage-1 map has 4x4 values, one per 8x8 cell, and a stage-2 map 2x2, one per image quarter.
# To draw a map over the image we upsample it bilinearly with half-pixel centres and give `imshow` the
# image's own extent, so each value sits over the cell it came from (`focal_utils.viz.overlay`). The
# keras-io example draws its maps with a second `imshow` and no extent ([Gosthipaty and Raha, 2023](../bibliography.md)): Matplotlib then puts map token $(i, j)$ on
# image pixel $(i, j)$ and zooms the axes to the map, so the panel shows only the top-left corner of the
# image, with every value off its patch. The figure shows both on a stage-0-sized map whose hot tokens come
# from a known patch of the image.

# %% mystnb={"figure": {"caption": "An 8x8 map that is hot on token (2, 5), i.e. on the cell of image pixels rows 8-11, columns 20-23 (outlined, left). Middle: `viz.overlay` upsamples it bilinearly onto the image's extent, and the hot spot covers the outlined pixels. Right: the keras-io way, `imshow(map)` over `imshow(image)`: the axes shrink to the map's 8x8 pixels, so only the image's top-left 8x8 corner is shown and the hot spot lands on pixel (2, 5).", "name": "fig-overlay-alignment"}}
probe = np.zeros((8, 8), dtype="float32")
probe[2, 5] = 1.0  # image rows 8-11, columns 20-23
image = x_test[0]
fig, axes = plt.subplots(1, 3, figsize=(9, 3.2))
axes[0].imshow(image)
axes[0].add_patch(plt.Rectangle((19.5, 7.5), 4, 4, fill=False, color="white", lw=2))
axes[0].set_title("image, source pixels outlined", fontsize=9)
viz.overlay(image, probe, ax=axes[1], alpha=0.6, title="viz.overlay (image extent)")
axes[2].imshow(image)
axes[2].imshow(probe, alpha=0.6, cmap="jet")  # the keras-io example's overlay
axes[2].set_title("keras-io overlay (no extent)", fontsize=9)
for ax in axes:
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()

# %% [markdown] tags=["remove-cell"]
# *Figure: An 8x8 map that is hot on token (2, 5), i.e. on the cell of image pixels rows 8-11, columns
# 20-23 (outlined, left). Middle: `viz.overlay` upsamples it bilinearly onto the image's extent, and the
# hot spot covers the outlined pixels. Right: the keras-io way, `imshow(map)` over `imshow(image)`: the
# axes shrink to the map's 8x8 pixels, so only the image's top-left 8x8 corner is shown and the hot spot
# lands on pixel (2, 5).*

# %% [markdown]
# ## 8.3 One image, every block
#
# We take a test image the model classifies correctly and with confidence, and draw all four maps of all
# seven blocks over it. Each panel is scaled to its own range: colour says where a map is high *within
# this image*, not how two panels compare (Section 8.5 compares values).

# %%
probs = evaluation.softmax(logits)
confidence = probs.max(axis=-1)
correct = predictions == y_test
names = interpretation.panel_names(model)
print(names)
# A confident, correct example among the first test images (a ship, if one qualifies).
candidates = np.flatnonzero(correct[:200] & (confidence[:200] > 0.9))
example = int(next((i for i in candidates if y_test[i] == 8), candidates[0]))
print(f"test image {example}: {data.CLASS_NAMES[y_test[example]]}, "
      f"predicted with probability {confidence[example]:.1%}")

# %% mystnb={"figure": {"caption": "The gates of the two focal levels, the global gate and the modulator norm (columns) of every block (rows) for one correctly classified test image. Each panel is scaled to its own range (blue low, red high).", "name": "fig-one-image"}}
one = focal_utils.modulation_maps(model, x_test[example:example + 1])
fig = interpretation.plot_block_maps(x_test[example], one, 0, names, size=1.7)

# %% [markdown] tags=["remove-cell"]
# *Figure: The gates of the two focal levels, the global gate and the modulator norm (columns) of every
# block (rows) for one correctly classified test image. Each panel is scaled to its own range (blue low,
# red high).*

# %% [markdown]
# Read the figure row by row. The image is a rowing boat lying on a grassy bank, with buildings and trees
# behind it. In **stage 0** (8x8 tokens, one per 4x4 cell) the maps follow the scene's parts: in the first
# block the level-1 gate, the global gate and the modulator norm are highest on the boat's dark inside, and
# the level-2 gate traces the boat's outline instead; in the second block the modulator picks out the rim
# of the boat and the building at the top. The two levels' gates are often high in different places, so a
# token mixes near and wider context in its own proportion. In **stage 1** (4x4 tokens) the maps separate
# the background from the boat: in its first block the level-2 and global gates are high along the top of
# the image and low on the boat, and in its last block the modulator is strongest on the boat itself. In
# **stage 2** (2x2 tokens, one per image quarter) a map has four values and can only say which quarter: in
# the last block the modulator is highest in the lower-left quarter. The gates are raw values, so blue means
# "low", not "off".

# %% [markdown]
# ## 8.4 Where the model looks, across images
#
# One image proves little. The next figure shows, for ten test images (the first correctly classified one of each
# class), the modulator norm of the last block of each stage: the block whose output the next stage (or
# the classifier) reads.

# %%
shown = [int(np.flatnonzero(correct & (y_test == c))[0]) for c in range(10)]
shown_maps = focal_utils.modulation_maps(model, x_test[shown])
last_blocks = interpretation.last_block_keys(shown_maps)
print("last block of each stage:", [interpretation.block_label(k) for k in last_blocks])


# %% mystnb={"figure": {"caption": "The modulator norm of the last block of each stage for the first correctly classified test image of each class. Each panel is scaled to its own range.", "name": "fig-modulator-classes"}}
fig = interpretation.plot_modulator_norms(x_test[shown], shown_maps, last_blocks,
                           [data.CLASS_NAMES[y_test[i]] for i in shown])

# %% [markdown] tags=["remove-cell"]
# *Figure: The modulator norm of the last block of each stage for the first correctly classified test
# image of each class. Each panel is scaled to its own range.*

# %% [markdown]
# In stage 0 the last block's modulator norm picks out parts: the airplane's fuselage, the car's front
# wheel, the bird's and the dog's heads, the deer's body, the ship's hull; for the cluttered images (cat,
# frog, horse) it is scattered over several spots. By stage 1 it has gathered into one blob that sits on the
# object for every class, most tightly for the deer, the bird and the ship; for the truck it lies on the cab
# and the front of the load, for the dog along its side. Stage 2's 2x2 maps can only name a quarter. The
# modulator is not a saliency map: it is the context a block adds to each query, and the most useful
# context can lie next to an object as well as on it.

# %% [markdown]
# ## 8.5 Trained against untrained
#
# Maps of a network always look like *something*: an untrained network's maps follow edges and colours
# too, because its convolutions respond to them. What training adds is what matters. We build the same
# architecture with fresh weights (the initialisation of Chapter 6) and compare the two on the same 1,000
# test images, 100 per class.

# %%
sample = np.concatenate([np.flatnonzero(y_test == c)[:100] for c in range(10)])
trained_maps = focal_utils.modulation_maps(model, x_test[sample])
untrained = type(model).from_config(model.get_config())  # same architecture, fresh weights
untrained_maps = focal_utils.modulation_maps(untrained, x_test[sample])
print(f"{len(sample)} images; stage-0 modulator of the trained model: "
      f"{trained_maps['stage_0/block_0']['modulator'].shape}")

# %% mystnb={"figure": {"caption": "The image of Section 8.3 through the untrained model: the same four maps per block, each scaled to its own range.", "name": "fig-untrained-image"}}
fig = interpretation.plot_block_maps(x_test[example], focal_utils.modulation_maps(untrained, x_test[example:example + 1]),
                                     0, names, size=1.7)

# %% [markdown] tags=["remove-cell"]
# *Figure: The image of Section 8.3 through the untrained model: the same four maps per block, each scaled
# to its own range.*

# %% [markdown]
# Two numbers summarise the maps. The **mean absolute gate** per focal level and block says how strongly
# each level is mixed in (the sign of a gate can be absorbed by the 1x1 convolution $h$ that follows, so
# the magnitude is what tells "used" from "ignored"); the **share of the modulator norm in the image's centre** (the
# central half of height and width, a quarter of the area) says whether the context concentrates where
# CIFAR-10 puts its objects. A map that ignores the image would put 25% there.

# %%
print(inspect.getsource(interpretation.modulator_centre_mass))

# %% mystnb={"figure": {"caption": "Left: mean absolute gate value of each focal level in every block over 1,000 test images, trained (solid) and untrained (dashed). Right: share of the modulator norm inside the central quarter of the image, per block (mean over the same images, bars from the 10th to the 90th percentile); 25% is what a uniform map gives.", "name": "fig-trained-vs-untrained"}}
means_trained = interpretation.gate_means_by_block(trained_maps)
abs_trained = interpretation.gate_means_by_block(trained_maps, absolute=True)
abs_untrained = interpretation.gate_means_by_block(untrained_maps, absolute=True)
centre_trained = interpretation.modulator_centre_mass(trained_maps)
centre_untrained = interpretation.modulator_centre_mass(untrained_maps)
keys = list(trained_maps)
short = [interpretation.block_label(k).replace("stage ", "s").replace(" · block ", ".b") for k in keys]

fig, (ax_gates, ax_centre) = plt.subplots(1, 2, figsize=(11, 3.8))
interpretation.plot_gate_means([abs_trained, abs_untrained], names, short, ax=ax_gates,
                               labels=("trained", "untrained"), ylabel="mean |gate|")
positions = np.arange(len(keys))
for offset, (shares, label) in zip((-0.18, 0.18), ((centre_trained, "trained"), (centre_untrained, "untrained"))):
    mean = np.array([shares[k].mean() for k in keys])
    low = mean - np.array([np.percentile(shares[k], 10) for k in keys])
    high = np.array([np.percentile(shares[k], 90) for k in keys]) - mean
    ax_centre.bar(positions + offset, mean, width=0.36, yerr=[low, high], capsize=2, label=label)
ax_centre.axhline(0.25, color="0.3", ls=":", label="uniform map")
ax_centre.set_xticks(positions)
ax_centre.set_xticklabels(short, fontsize=7)
ax_centre.set_ylabel("share of modulator norm in centre")
ax_centre.legend(fontsize=8)
fig.tight_layout()

print("block   mean gate (trained)        mean |gate| trained / untrained   centre share trained / untrained")
for b, k in enumerate(keys):
    print(f"{short[b]:6s}  " + " ".join(f"{v:+6.2f}" for v in means_trained[b])
          + "    " + " ".join(f"{v:5.2f}" for v in abs_trained[b])
          + " / " + " ".join(f"{v:5.3f}" for v in abs_untrained[b])
          + f"    {centre_trained[k].mean():.1%} / {centre_untrained[k].mean():.1%}")

# %% [markdown] tags=["remove-cell"]
# *Figure: Left: mean absolute gate value of each focal level in every block over 1,000 test images,
# trained (solid) and untrained (dashed). Right: share of the modulator norm inside the central quarter of
# the image, per block (mean over the same images, bars from the 10th to the 90th percentile); 25% is what
# a uniform map gives.*

# %% tags=["remove-input"]
def span(values, digits=1):
    """'low-high' of ``values``, rounded alike."""
    return f"{np.nanmin(values):.{digits}f}-{np.nanmax(values):.{digits}f}"


level1, level2, wide_global = abs_trained[:, 0], abs_trained[:, 1], abs_trained[:, -1]
wider = int(np.sum((level2 > level1) & (wide_global > level1)))
ratio = float(np.median(np.minimum(level2, wide_global) / level1))
if wider == len(keys):
    where = "more than level 1 in every block"
else:
    where = f"more than level 1 in {wider} of the {len(keys)} blocks"
opened = (f"- **Training opens the gates{', the wide ones most' if wider == len(keys) else ''}.** In the "
          f"untrained model every level's mean $|g|$ is {span(abs_untrained, 2)} (the scale of the initial "
          f"projection $f$); after training, level 1 sits at {span(level1)} while level 2 reaches "
          f"{span(level2)} and the global level {span(wide_global)}, {where} (the smaller of the two wide "
          f"levels is {ratio:.1f} times level 1 in the median block). The level-2 gate of the last block "
          f"averages {level2[-1]:.1f}.")
structured = ("- **The untrained maps already look structured** ([the figure](#fig-untrained-image)): its "
              "convolutions respond to edges and colours. Structure in a map proves nothing by itself; the "
              "comparison does.")
# Stages 0 and 1: stage 2's 2x2 maps give 25% whatever they hold (each token's cell is a quarter
# inside the centre), so they cannot say.
fine = [k for k in keys if interpretation.stage_index(k) < 2]
share_t = np.array([centre_trained[k].mean() for k in fine]) * 100
share_u = np.array([centre_untrained[k].mean() for k in fine]) * 100
moved = share_t - share_u
if np.abs(moved).max() < 5:
    verdict = ("**The centre share does not rise.**", "the modulators are not more object-centred than "
               "chance structure would make them")
elif moved.min() > 0:
    verdict = ("**Training moves the modulator to the centre.**", "the modulators concentrate where "
               "CIFAR-10 puts its objects")
else:
    verdict = ("**The centre share changes in both directions.**", "training does not move the "
               "modulators towards the centre as a rule")
centre = (f"- {verdict[0]} In stages 0 and 1, trained, {span(share_t, 0)}% of the modulator norm falls in "
          f"the central quarter; untrained, {span(share_u, 0)}%, with wide spreads in both. Training moves "
          f"it by {moved.min():+.0f} to {moved.max():+.0f} points: {verdict[1]}. Stage 2's 2x2 maps give "
          f"25% whatever they hold, since each token's cell is a quarter inside the centre.")
display(Markdown("Three things stand out.\n\n" + "\n".join([opened, structured, centre])))

# %% [markdown]
# ## 8.6 Maps over training
#
# The keras-io example says that its gate pictures "get better as training goes on", but it shows them at
# one epoch. The shipped run kept the maps of twenty fixed test images, the first two of each class (chosen
# before training, so the choice cannot depend on what the model gets right: `snapshots.fixed_indices`), at
# the end of its epochs. A callback, `snapshots.MapSnapshots`, reads them from the moving average of the
# weights (the weights that are validated and shipped) and stores their panels in one small `.npz` beside
# the log, so no checkpoint per epoch is needed. The package ships a spread of the epochs
# (`snapshots.spread_epochs`): every epoch at first, where the maps change fastest, then every tenth, and the
# last.

# %%
from focal_utils import snapshots

snap = snapshots.load_snapshots(pretrained.snapshots_path())
kept = [int(e) + 1 for e in snap["epochs"]]  # 1-based, as the log prints them
print(f"{len(snap['images'])} images ({', '.join(data.CLASS_NAMES[c] for c in snap['labels'][::2])}: two "
      f"each), {len(kept)} epochs kept: {kept}; "
      f"{os.path.getsize(pretrained.snapshots_path()) / 1024:.0f} KB")
# The last kept epoch is the end of training, so its maps are the shipped model's: computed again now,
# they must agree with the stored ones to the float16 rounding the file keeps.
now = interpretation.all_panels(focal_utils.modulation_maps(model, snap["images"]))
worst = max(float(np.abs(now[k] - snap["panels"][k][-1].astype("float32")).max() / np.abs(now[k]).max())
            for k in now)
assert snap["epochs"][-1] + 1 == int(shipped["epochs"]) and worst < 2e-3, (snap["epochs"][-1], worst)
print(f"the last kept epoch's maps are the shipped model's, to {worst:.0e} of each block's largest value")
snap_keys = interpretation.last_block_keys(snap["panels"])
one_each = list(range(0, len(snap["images"]), 2))  # the first image of each class

# %% [markdown]
# Step through the epochs with the slider: the modulator norm of the last block of each stage (rows) for the
# first kept image of each class (columns). Each row and image keeps one colour scale over all epochs, so a
# map that grows, fades or moves shows it.

# %%
frames = interpretation.plot_snapshot_epochs(snap, snap_keys, one_each,
                                             titles=[data.CLASS_NAMES[snap["labels"][i]] for i in one_each])
epoch_slider = FrameStepper(frames, [str(e) for e in kept], description="epoch", value=len(kept) - 1)
epoch_slider

# %% [markdown]
# Two numbers say what the slider shows. **Agreement with the end**: for every block, the correlation between
# an image's modulator-norm map at an epoch and the same image's map at the last epoch, averaged over the
# twenty images (`snapshots.agreement_with_last`; 1 is the final layout, whatever its scale). **Gate
# strength**: the mean absolute gate of each focal level (`snapshots.panel_magnitudes`), as in Section 8.5.

# %%
print(inspect.getsource(snapshots.agreement_with_last))

# %% mystnb={"figure": {"caption": "Left: agreement of each block's modulator-norm maps with their final layout, per kept epoch (mean correlation over the twenty images). Right: mean absolute gate of each focal level in the last block, per kept epoch.", "name": "fig-maps-over-training"}}
agreement = snapshots.agreement_with_last(snap)
magnitudes = snapshots.panel_magnitudes(snap)
fig, (ax_r, ax_g) = plt.subplots(1, 2, figsize=(11, 3.6))
for key, r in agreement.items():
    ax_r.plot(kept, r, marker=".", label=interpretation.block_label(key))
ax_r.set(xscale="log", xlabel="epoch", ylabel="correlation with the last epoch's map")
ax_r.legend(fontsize=7)
last_key = list(magnitudes)[-1]
for p, name in enumerate(snap["names"][:-1]):
    ax_g.plot(kept, magnitudes[last_key][:, p], marker=".", label=name)
ax_g.set(xscale="log", xlabel="epoch", ylabel=f"mean |gate|, {interpretation.block_label(last_key)}")
ax_g.legend(fontsize=7)
ticks = [t for t in (1, 2, 5, 10, 20, 50, 100, 200) if t < kept[-1] / 1.5] + [kept[-1]]  # apart on a log axis
for ax in (ax_r, ax_g):
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.minorticks_off()
fig.tight_layout()
print(f"{'block':20s} " + " ".join(f"{e:>5d}" for e in kept))
for key, r in agreement.items():
    print(f"{interpretation.block_label(key):20s} " + " ".join(f"{v:5.2f}" for v in r))

# %% [markdown] tags=["remove-cell"]
# *Figure: Left: agreement of each block's modulator-norm maps with their final layout, per kept epoch (mean
# correlation over the twenty images). Right: mean absolute gate of each focal level in the last block, per
# kept epoch.*

# %% tags=["remove-input"]
# The first kept epoch from which a block's agreement stays at 0.9 or more (the last epoch has 1).
settled = {key: next(e for i, e in enumerate(kept) if np.all(r[i:] >= 0.9)) for key, r in agreement.items()}
first_key, deep = list(agreement)[0], list(agreement)[-1]
gates_first, gates_last = magnitudes[deep][0, :-1], magnitudes[deep][-1, :-1]
order = list(settled.values())
settle_order = ("from the first block to the last" if order == sorted(order) else
                "from the last block to the first" if order == sorted(order, reverse=True) else
                "in no order of depth")
text = [f"The maps settle {settle_order}: the agreement with the end stays at 0.9 or more from epoch "
        f"{settled[first_key]} in the first block and from epoch {settled[deep]} in the last "
        f"({', '.join(f'{interpretation.block_label(k)}: {e}' for k, e in settled.items())})."]
text.append(f"In the last block the mean absolute gates go " + ", ".join(
    f"{name.split(' (')[0]} from {a:.2f} to {b:.2f}" for name, a, b in
    zip(snap["names"][:-1], gates_first, gates_last)) + f" between epochs {kept[0]} and {kept[-1]}.")
display(Markdown(" ".join(text)))


# %% [markdown]
# ## 8.7 Right and wrong
#
# Are the maps different when the model is wrong? We take the test images it misclassifies with the highest
# confidence (Chapter 7 showed them) and draw the modulator norms the same way.

# %%
worst = evaluation.worst_mistakes(logits, y_test, count=6)
worst_maps = focal_utils.modulation_maps(model, x_test[worst])
titles = [f"{data.CLASS_NAMES[y_test[i]]}→{data.CLASS_NAMES[predictions[i]]}" for i in worst]
print(", ".join(f"{t} ({confidence[i]:.0%})" for t, i in zip(titles, worst)))

# %% mystnb={"figure": {"caption": "The modulator norm of the last block of each stage for the six test images the model gets wrong with the highest confidence (true class → predicted class).", "name": "fig-mistake-maps"}}
fig = interpretation.plot_modulator_norms(x_test[worst], worst_maps, last_blocks, titles)

# %% [markdown] tags=["remove-cell"]
# *Figure: The modulator norm of the last block of each stage for the six test images the model gets wrong
# with the highest confidence (true class → predicted class).*

# %% mystnb={"figure": {"caption": "Share of the modulator norm in the image centre at the last block of stage 1 (the last map fine enough to resolve the centre), for the correct and the wrong predictions among the 1,000 sampled test images.", "name": "fig-right-wrong"}}
# Stage 2's 2x2 map cannot say where the centre is: each token's cell is a
# quarter inside it, so its share is 25% for every image. Stage 1 (4x4) can.
last = [k for k in last_blocks if trained_maps[k]["modulator"].shape[1] >= 4][-1]
right_mask = correct[sample]
fig, ax = plt.subplots(figsize=(5.5, 3.2))
bins = np.linspace(0, 1, 41)
ax.hist(centre_trained[last][right_mask], bins=bins, alpha=0.6, density=True,
        label=f"correct ({right_mask.sum()})")
ax.hist(centre_trained[last][~right_mask], bins=bins, alpha=0.6, density=True,
        label=f"wrong ({(~right_mask).sum()})")
ax.axvline(0.25, color="0.3", ls=":")
ax.set_xlabel(f"share of modulator norm in centre ({interpretation.block_label(last)})")
ax.set_ylabel("density")
ax.legend(fontsize=8)
fig.tight_layout()
right_share = centre_trained[last][right_mask].mean() * 100
wrong_share = centre_trained[last][~right_mask].mean() * 100
print(f"centre share at {interpretation.block_label(last)}: correct {right_share:.1f}%, wrong {wrong_share:.1f}%")

# %% [markdown] tags=["remove-cell"]
# *Figure: Share of the modulator norm in the image centre at the last block of stage 1 (the last map fine
# enough to resolve the centre), for the correct and the wrong predictions among the 1,000 sampled test
# images.*

# %% tags=["remove-input"]
ANIMALS = {"bird", "cat", "deer", "dog", "frog", "horse"}
pairs = [(data.CLASS_NAMES[y_test[i]], data.CLASS_NAMES[predictions[i]]) for i in worst]
among = [f"{true} for {predicted}" for true, predicted in pairs if {true, predicted} <= ANIMALS]
others = [f"{true} for {predicted}" for true, predicted in pairs if not {true, predicted} <= ANIMALS]
text = [f"Of the {len(worst)} most confident mistakes, {len(among)} take an animal for another animal"
        + (f" ({', '.join(among)})" if among else "")
        + (f"; {'the other is' if len(others) == 1 else 'the others are'} {', '.join(others)}"
           if others else "") + " (true class first)."]
if abs(right_share - wrong_share) < 3:
    text.append(f"The centre share at the last block of stage 1 is about the same for wrong and right "
                f"predictions ({wrong_share:.0f}% against {right_share:.0f}%), so on this measure the "
                f"model does not look elsewhere when it errs: what fails is telling the classes apart.")
else:
    side = "less" if wrong_share < right_share else "more"
    text.append(f"The centre share at the last block of stage 1 is {side} for wrong predictions than for "
                f"right ones ({wrong_share:.0f}% against {right_share:.0f}%): when the model errs, its "
                f"context lies {'away from' if side == 'less' else 'more on'} the centre of the image.")
display(Markdown(" ".join(text)))

# %% [markdown]
# In the figure, look at stages 0 and 1: for five of the six mistakes the maps lie on the animal or object,
# as they do for the correct images of Section 8.4 (for the ship, on its red mast). The exception is the
# cat taken for a bird: its stage-0 map picks out the yellow flowers around the cat.

# %% [markdown]
# ## 8.8 Gates by class
#
# Finally, do the classes use the focal levels differently? We average the gates per class over the 100
# sampled images of each class, for every stage.

# %% mystnb={"figure": {"caption": "Mean gate value per class (rows) and focal level (columns) in each stage, over 100 test images per class, as the difference from the stage's mean over all classes.", "name": "fig-gates-by-class"}}
by_class = interpretation.gate_means_by_class(trained_maps, y_test[sample], num_classes=10)
fig = interpretation.plot_gate_means_by_class(by_class, names, data.CLASS_NAMES)
spread = by_class.max(axis=1) - by_class.min(axis=1)
for s in range(by_class.shape[0]):
    print(f"stage {s}: range over classes " + ", ".join(
        f"{n.split(' (')[0]} {v:.3f}" for n, v in zip(names, spread[s])))

# %% [markdown] tags=["remove-cell"]
# *Figure: Mean gate value per class (rows) and focal level (columns) in each stage, over 100 test images
# per class, as the difference from the stage's mean over all classes.*

# %% tags=["remove-input"]
deviation = by_class - by_class.mean(axis=1, keepdims=True)  # what the figure shows
last_stage = by_class.shape[0] - 1
short_names = [n.split(" (")[0] for n in names[:by_class.shape[2]]]
widest = int(np.nanargmax(spread[last_stage]))  # the level on which the classes differ most
order = np.argsort(deviation[last_stage, :, -1])  # classes by their global gate, lowest first
high = [data.CLASS_NAMES[c] for c in order[::-1][:2]]
low = [data.CLASS_NAMES[c] for c in order[:2]]
text = [f"In stages {' and '.join(str(s) for s in range(last_stage))} the classes differ by at most {np.nanmax(spread[:last_stage]):.1f} "
        f"in any level's mean gate (the ranges printed above): they see much the same edges and textures. "
        f"In the last stage they differ by up to {np.nanmax(spread[last_stage]):.1f}, most on the "
        f"{short_names[widest]}. The global gate opens furthest for {high[0]} and {high[1]} images and "
        f"closes most for {low[0]} and {low[1]} images."]
sky = data.CLASS_NAMES.index("airplane")
if order[-1] == sky:  # the class with the largest uniform background leads
    ship = deviation[last_stage, data.CLASS_NAMES.index("ship"), -1]
    text.append(f"Airplanes are the class with the largest uniform background, sky, where the best context "
                f"for a token is the whole image. The gates learned such differences without being told, "
                f"but they are not a simple story: ships, on equally uniform water, sit at {ship:+.2f} from "
                f"the stage's mean, against {deviation[last_stage, sky, -1]:+.2f} for airplanes.")
display(Markdown(" ".join(text)))

# %% [markdown]
# ## 8.9 The explorer
#
# The figures above fix one choice of image, block and map. The explorer below lets you change all of them:
# the **image** (six test images: three right, three wrong), the **block**, the **map** (either gate level,
# the global gate, or the modulator norm) and the **opacity** of the map over the image. It works in this
# page without a running kernel: every frame was rendered when the book was built, and the controls switch
# between them in your browser (the controls are linked with `ipywidgets.jslink` to nested
# `ipywidgets.Stack`s of images, so nothing needs Python). The widget JavaScript is served by the book
# itself, so the page also works offline.

# %%
picked = np.concatenate([np.flatnonzero(correct)[:3], worst[:3]])
# Static (every frame drawn now) with ipywidgets 8, as in this book; live in Colab (ipywidgets 7.7.1).
explorer = GateExplorer(model, x_test[picked], labels=y_test[picked], class_names=data.CLASS_NAMES)
explorer

# %% [markdown]
# In Jupyter or Colab, a *live* explorer recomputes each frame when a control moves, so it can range over
# all 10,000 test images and any opacity. It needs a running kernel, so this page does not show its output;
# run the cell to get it.

# %% tags=["remove-output"]
live = GateExplorer(model, x_test, labels=y_test, class_names=data.CLASS_NAMES, mode="live")
live

# %% [markdown]
# The two modes show the same frames (a check that the static one is not a different drawing):

# %%
explorer.image_slider.value, explorer.block_select.value, explorer.map_select.value = 4, 3, 1
live.image_slider.value, live.block_select.value, live.map_select.value = int(picked[4]), 3, 1
live.opacity_slider.value = explorer.opacity_slider.value
assert explorer.shown_frame().value == live.shown_frame().value
print("static and live frames are identical")
explorer.image_slider.value = explorer.block_select.value = 0
explorer.map_select.value = len(names) - 1

# %%
run_seconds = timer.stop()  # the chapter's run time, also written under the setup cell

# %% [markdown]
# ## Summary

# %% tags=["remove-input"]
little = np.abs(moved).max() < 5 and abs(right_share - wrong_share) < 3
display(Markdown("\n".join([
    "- `modulation_maps` reads every block's gates and modulator from one inference pass of the trained "
    "model; drawing them faithfully needs bilinear upsampling onto the image's own extent.",
    f"- Training makes the gates of the wide focal levels (level 2 and global) stronger than level 1 in "
    f"{'every block' if wider == len(keys) else f'{wider} of the {len(keys)} blocks'}, {ratio:.1f} times in "
    f"the median block; in stage {last_stage} they depend on the class, the global gate highest for "
    f"{high[0]} and lowest for {low[0]}.",
    "- The modulator norm shows where context is injected, on or around objects; its share in the image "
    + ("centre changes little with training or with mistakes, so it is not a saliency map." if little else
       "centre moves with training or with mistakes (Sections 8.5 and 8.7), but context is not saliency."),
    f"- Over the shipped run the maps settle {settle_order} (Section 8.6): each block's maps agree with their "
    f"final layout (correlation 0.9 or more) from epoch {settled[first_key]} in the first block and from epoch "
    f"{settled[deep]} in the last, of {kept[-1]}.",
    "- A static explorer (precomputed frames in `Stack`s linked to sliders) works in the HTML book with no "
    "kernel and no network; the live one recomputes in Colab."])))

# %% [markdown]
# ## Exercises
#
# 1. Replace the modulator norm by the norm of the *query* $q(x)$ and draw both for the image of Section
#    8.3: which one shows the object, and why (Chapter 4, the modulator is computed from context only)?
# 2. Occlude the central quarter of 100 correctly classified test images (set it to the dataset mean) and
#    measure how often the prediction changes; relate it to the centre share of Section 8.5.
# 3. [Chapter 9](09_mixers_trained.ipynb) trains the same network with global and window attention in
#    place of focal modulation. Load its global-attention model (`comparison.run_model_path`) and draw,
#    for the images of Section 8.4, where each token looks (`comparison.attention_from`) next to the
#    modulator norms ([Dosovitskiy et al., 2021](../bibliography.md)).
#
# ## References
#
# Full entries with every chapter that cites them: the [bibliography](../bibliography.md).
#
# ```{bibliography}
# :filter: key in {"dosovitskiy2021image", "kerasio2023focalnet", "yang2022focal"}
# ```
